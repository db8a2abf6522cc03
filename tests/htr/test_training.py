"""Recognition models from corrected lines: the split, the model store, and a real training run.

The training run (marked slow) is real kraken training, no mock: rendered pages of
pre-1945 text in Old Standard (installed by the set-up), a small network trained
for 30 epochs on ~200 lines (about 2 minutes on 2 cores, seeded, so each run
learns the same), then measured on
held-out lines against an untrained model, and used to recognise the pages nobody
has transcribed.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tests.builders import untrained_model
from workbench.cli import cli
from workbench.htr import kraken, training
from workbench.model import Manuscript, WorkbenchError
from workbench.sample import rendered_manuscript
from workbench.tei.text import diplomatic_text

# -- the split and the store (fast) -----------------------------------------------------


def test_the_split_is_fixed_by_line_id_and_holds_out_only_verified_lines(edition, tmp_path):
    rendered_manuscript(edition, tmp_path / "scans", pages=2, transcribed=2)
    manuscript = edition.load("letters")
    split = training.split_lines([manuscript])
    assert len(split.training) + len(split.validation) + len(split.held_out) == len(manuscript.lines())
    statuses = {line.id: line.status for line in manuscript.lines()}
    assert split.held_out and all(statuses[ref.line_id] == "verified" for ref in split.held_out)
    assert all(training.bucket(ref.line_id) == training.HELD_OUT for ref in split.held_out)
    assert not {ref.line_id for ref in split.training} & {ref.line_id for ref in split.held_out}
    assert all(training.bucket(ref.line_id) != training.HELD_OUT for ref in split.training + split.validation)
    # Verifying more lines, or editing others, never moves a line between the sets.
    with edition.edit("letters", who="maria") as current:
        current.pages[0].lines[0].text = "другъ текстъ"
    again = training.split_lines([edition.load("letters")])
    assert [ref.line_id for ref in again.held_out] == [ref.line_id for ref in split.held_out]
    # A held-out line that is only corrected yet is not trained on either: once verified,
    # it will measure models, none of which may have seen it.
    with edition.edit("letters", who="maria") as current:
        line = next(line for line in current.lines() if training.bucket(line.id) == training.HELD_OUT)
        line.status = "corrected"
    unverified = training.split_lines([edition.load("letters")])
    everywhere = unverified.training + unverified.validation + unverified.held_out
    assert line.id not in {ref.line_id for ref in everywhere}
    # Machine text and empty lines are never learnt from.
    with edition.edit("letters", who="kraken") as current:
        for line in current.pages[1].lines:
            line.status = "automatic"
    automatic = {line.id for line in edition.load("letters").pages[1].lines}
    final = training.split_lines([edition.load("letters")])
    assert not automatic & {ref.line_id for ref in final.training + final.validation + final.held_out}


def test_training_needs_enough_lines_and_a_free_name(edition, tmp_path):
    rendered_manuscript(edition, tmp_path / "scans", pages=1, transcribed=0)
    with pytest.raises(WorkbenchError, match="too few corrected or verified lines"):
        training.train(edition, ["letters"], "first", "tester")
    with pytest.raises(WorkbenchError, match="not a usable model name"):
        training.train(edition, ["letters"], "../evil", "tester")
    with pytest.raises(WorkbenchError, match="no trained model 'nothing'"):
        training.ModelStore.of(edition).get("nothing")
    with pytest.raises(WorkbenchError, match="no trained model"):
        training.evaluate(edition, "nothing", ["letters"])


def test_error_rates_count_characters_and_words():
    results = [
        training.LineResult("ms", "1", "l1", "живъ е той", "живь е той", 1),
        training.LineResult("ms", "1", "l2", "тамъ", "тамъ", 0),
    ]
    scores = training._scores(results)
    assert scores.characters == 14 and scores.cer == pytest.approx(1 / 14)
    assert scores.wer == pytest.approx(1 / 4)


# -- a real training run (slow) -------------------------------------------------------------


@pytest.mark.slow
def test_train_measure_and_recognise_with_a_model_made_from_corrected_lines(edition, tmp_path):
    truth = rendered_manuscript(edition, tmp_path / "scans", pages=14, transcribed=12)
    runner = CliRunner()
    base = ["--edition", str(edition.root), "--user", "maria"]
    # The small network: fast, and enough for one rendered font.
    arguments = ["train", "letters", "--name", "letters-1", "--epochs", "30", "--spec", kraken.SMALL_SPEC]
    result = runner.invoke(cli, [*base, *arguments])
    assert result.exit_code == 0, result.output
    # Stored with what it was trained on and how well it reads the lines it never saw.
    store = training.ModelStore.of(edition)
    record = store.get("letters-1")
    assert record.held_out and record.who == "maria"
    epochs_seen = [line for line in result.output.splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in epochs_seen] == [f"epoch {n}/30" for n in range(1, 31)]
    assert f"held-out lines: CER {record.scores.cer:.2%}" in result.output
    assert (edition.state_dir / "models" / "letters-1" / "model.safetensors").stat().st_size > 10_000
    assert record.training_lines >= 180 and record.scores is not None

    result = runner.invoke(cli, [*base, "evaluate", "letters-1", "letters", "--images", str(tmp_path / "worst")])
    assert result.exit_code == 0, result.output
    trained = training.evaluate(edition, "letters-1", ["letters"])
    random_weights = untrained_model(tmp_path)
    untrained = training.evaluate(edition, random_weights, ["letters"])
    assert trained.scores.lines == untrained.scores.lines == len(record.held_out)
    assert untrained.scores.cer > 0.8
    assert trained.scores.cer < 0.5 and trained.scores.cer < untrained.scores.cer / 2
    assert f"letters-1: CER {trained.scores.cer:.2%}" in result.output
    assert "letters p.1: CER" in result.output and "truth:" in result.output and "diff:" in result.output
    assert all(path.stat().st_size > 0 for path in (tmp_path / "worst").glob("*.png"))

    result = runner.invoke(cli, [*base, "models", "list"])
    assert "letters-1" in result.output and f"CER {record.scores.cer:.2%}" in result.output

    # Pages 13 and 14: first the untrained model's text, then the trained model's replaces it.
    def machine_cer() -> float:
        lines = [line for page in edition.load("letters").pages[12:] for line in page.lines]
        assert all(line.status == "automatic" and line.cert is not None for line in lines)
        errors = sum(training.Levenshtein.distance(diplomatic_text(line.text), truth[line.id]) for line in lines)
        return errors / sum(len(truth[line.id]) for line in lines)

    result = runner.invoke(cli, [*base, "recognize", "letters", "--model", str(random_weights)])
    assert result.exit_code == 0, result.output
    before = machine_cer()
    runner.invoke(cli, [*base, "models", "default", "letters", "letters-1"])
    verified_before = {line.id: line.text for line in edition.load("letters").lines() if line.status != "automatic"}
    result = runner.invoke(cli, [*base, "recognize", "letters"])  # the default model
    assert result.exit_code == 0, result.output
    after = machine_cer()
    assert after < before / 2, (before, after)
    manuscript = edition.load("letters")
    assert {line.id: line.text for line in manuscript.lines() if line.status != "automatic"} == verified_before
    source = next(s for s in manuscript.sources if s.id == manuscript.pages[13].lines[0].resp)
    assert (source.kind, source.name) == ("recognition", "letters-1")
    assert edition.problems("letters", tei_all=True) == []


# -- training as a job, in a real worker process (slow) ------------------------------------


@pytest.mark.slow
def test_a_training_job_reports_epochs_and_can_be_cancelled_leaving_no_model(edition, tmp_path):
    from tests.builders import consuming, group_members, wait_for, wait_until_ended
    from workbench.jobs import JobStore

    rendered_manuscript(edition, tmp_path / "scans", pages=4, transcribed=4)
    store = JobStore.of(edition)
    with pytest.raises(WorkbenchError, match="not a usable model name"):
        store.submit(edition, "train", "letters", "maria", name="no good", epochs=2)
    edition.create(Manuscript(id="empty", title="Празен"), who="tester")
    with pytest.raises(WorkbenchError, match="too few corrected or verified lines"):
        store.submit(edition, "train", "empty", "maria", name="x", epochs=2)

    with consuming(edition.root):  # the queue's worker, as serve starts it
        done = wait_until_ended(store, store.submit(edition, "train", "letters", "maria", name="two", epochs=2).id, 300)
        assert done.state == "done", done.message
        assert (done.done, done.total) == (2, 2)
        assert done.message.startswith("model two trained on ")
        assert [record.name for record in training.ModelStore.of(edition).list()] == ["two"]

        job = store.submit(edition, "train", "letters", "maria", name="three", model="two", epochs=50)
        assert training.ModelStore.of(edition).get("two")  # the base exists; a second training waits for none
        wait_for(lambda: store.get(job.id).done >= 1, timeout=300)
        cancelled = store.cancel(job.id, "maria")
        assert cancelled.state == "cancelled" and "no model was kept" in cancelled.message
        wait_for(lambda: not group_members(cancelled.pid), timeout=60)
    models = edition.state_dir / "models"
    assert sorted(path.name for path in models.iterdir()) == ["two"]  # no half-made model, no working folder
