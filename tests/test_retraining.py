"""Closing the loop: lines verified since a model, its retraining as a job (asked for, or
automatic after ``[recognition] retrain_after`` lines), and each model's CER history.

The models here are real kraken files (random weights, tests/builders.py) kept through
``training.keep`` with records written as a training writes them; none is loaded, since
counting, naming and queueing need only their records. A real retraining runs in
tests/test_retraining_end_to_end.py (slow).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.builders import keep_model, make_manuscript, untrained_model
from workbench.cli import cli
from workbench.edition import Edition
from workbench.htr import training
from workbench.jobs import JobStore
from workbench.model import WorkbenchError

MS = "ms1"


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return untrained_model(tmp_path_factory.mktemp("weights"))


@pytest.fixture
def manuscript(edition: Edition) -> Edition:
    """10 pages of 10 lines, every line with text; pages 1–4 verified, the rest machine text."""
    manuscript = make_manuscript(MS, pages=10, lines=10)
    person, machine = manuscript.source("transcription", "maria"), manuscript.source("recognition", "ms1-a")
    for page in manuscript.pages:
        for line in page.lines:
            line.text = f"редъ {line.id}"
            verified = int(page.n) <= 4
            line.status, line.resp = ("verified", person.id) if verified else ("automatic", machine.id)
    edition.create(manuscript, who="tester")
    return edition


def verify(edition: Edition, count: int, who: str = "maria") -> int:
    """Verify the first ``count`` lines of machine text (in page order); how many of them a training takes."""
    taken = 0
    with edition.edit(MS, who=who) as current:
        lines = [line for line in current.lines() if line.status == "automatic"][:count]
        for line in lines:
            line.status, line.resp = "verified", current.source("transcription", who).id
            taken += training.learns_from(line)
    return taken


def learnable(edition: Edition) -> int:
    split = training.split_lines([edition.load(MS)])
    return len(split.training) + len(split.validation)


# -- counting -----------------------------------------------------------------------------


def test_the_count_is_the_splits_training_and_validation_lines_kept_page_by_page(manuscript):
    counts = training.TrainableLines(manuscript)
    assert counts.count(MS) == learnable(manuscript) > 0
    verify(manuscript, 15)
    assert counts.count(MS) == learnable(manuscript)
    # Lines not learnt from: machine text, empty text, held-out lines (even verified).
    with manuscript.edit(MS, who="kraken") as current:
        page = current.pages[0]
        page.lines[0].status = "automatic"
        page.lines[1].text = ""
        held_out = next(line for line in current.lines() if training.bucket(line.id) == training.HELD_OUT)
        held_out.status = "verified"
    assert counts.count(MS) == learnable(manuscript)
    assert not training.learns_from(held_out)
    # Markup: what a training reads is the diplomatic text (an expansion alone is none).
    with manuscript.edit(MS, who="maria") as current:
        line = next(line for line in current.pages[0].lines[2:] if training.bucket(line.id) != training.HELD_OUT)
        line.text = '<choice xmlns="http://www.tei-c.org/ns/1.0"><abbr/><expan>господь</expan></choice>'
    assert counts.count(MS) == learnable(manuscript)
    # Another process's save (another Edition over the same folder) is counted too.
    verify(Edition(manuscript.root), 5)
    assert counts.count(MS) == learnable(manuscript)


def test_new_lines_since_a_model_are_what_it_did_not_learn_from(manuscript, weights):
    record = keep_model(manuscript, weights, "ms1-a", learnable(manuscript))
    counts = training.TrainableLines(manuscript)
    assert training.new_lines_since(record, counts.of(record.manuscripts)) == 0
    taken = verify(manuscript, 12)
    assert taken > 8  # about one line in ten is held out
    assert training.new_lines_since(record, counts.of(record.manuscripts)) == taken
    # A manuscript removed since the model was trained counts nothing.
    assert counts.of([MS, "gone"]) == counts.of([MS])


# -- names and histories -----------------------------------------------------------------------


def test_a_retraining_is_named_after_its_lineage_and_never_takes_a_name(manuscript, weights):
    store = training.ModelStore.of(manuscript)
    first = keep_model(manuscript, weights, "letters", 40)
    assert training.retraining_name(store, first) == "letters-2"
    second = keep_model(manuscript, weights, "letters-2", 50, base="letters")
    assert training.retraining_name(store, second) == "letters-3"
    keep_model(manuscript, weights, "letters-3", 10)  # taken by a model of its own
    assert training.retraining_name(store, second) == "letters-4"
    # A name of 64 characters, the most a name may have: shortened to fit.
    longest = keep_model(manuscript, weights, "x" * 64, 40)
    name = training.retraining_name(store, longest)
    assert name == "x" * 62 + "-2" and training.MODEL_NAME.fullmatch(name)


def test_keep_records_the_lineage_and_an_older_record_gets_it_from_its_bases(manuscript, weights):
    store = training.ModelStore.of(manuscript)
    keep_model(manuscript, weights, "a", 40, cer=0.5, created="2026-01-01T00:00:00Z")
    keep_model(manuscript, weights, "a-2", 60, base="a", cer=0.3, created="2026-01-02T00:00:00Z")
    third = keep_model(manuscript, weights, "a-3", 90, base="a-2", cer=0.2, created="2026-01-03T00:00:00Z")
    assert [(p["name"], p["training_lines"], p["cer"]) for p in third.history] == [
        ("a", 36, 0.5),
        ("a-2", 54, 0.3),
        ("a-3", 81, 0.2),
    ]
    assert json.loads((manuscript.models_dir / "a-3" / "model.json").read_text())["history"] == third.history
    # Models kept before histories were recorded: model.json without one.
    for name in ("a", "a-2", "a-3"):
        path = manuscript.models_dir / name / "model.json"
        data = json.loads(path.read_text())
        del data["history"]
        path.write_text(json.dumps(data))
    old = store.get("a-3")
    assert old.history is None
    assert store.history(old) == third.history
    # A base that is gone (or a model file from elsewhere) ends the derived lineage there.
    shutil.rmtree(manuscript.models_dir / "a")
    assert [point["name"] for point in store.history(store.get("a-3"))] == ["a-2", "a-3"]
    assert [tip.name for tip in training.lineages(store.list())] == ["a-3"]


# -- the retraining job ---------------------------------------------------------------------------


def test_a_retraining_fine_tunes_the_model_on_the_same_manuscripts_as_a_job(manuscript, weights):
    record = keep_model(manuscript, weights, "ms1-a", learnable(manuscript))
    with pytest.raises(WorkbenchError, match="nothing new to retrain it on") as refused:
        training.submit_retraining(manuscript, "ms1-a", "ivan")
    assert refused.value.code == "no-new-lines" and not JobStore.of(manuscript).list()
    with pytest.raises(WorkbenchError) as unknown:
        training.submit_retraining(manuscript, "nothing", "ivan")
    assert unknown.value.code == "no-such-model"
    verify(manuscript, 10)
    job = training.submit_retraining(manuscript, "ms1-a", "ivan")
    assert (job.kind, job.state, job.model, job.name) == ("train", "queued", "ms1-a", "ms1-a-2")
    assert job.manuscripts == record.manuscripts and job.total == record.epochs == 7
    assert job.options == {"retrain": "asked", "since": "ms1-a", "lines": learnable(manuscript)}
    assert JobStore.of(manuscript).get(job.id).options == job.options
    # One training at a time: a second is refused while it waits.
    with pytest.raises(WorkbenchError) as running:
        training.submit_retraining(manuscript, "ms1-a", "maria")
    assert running.value.code == "job-running"


def test_the_automatic_retraining_is_off_unless_set(manuscript, weights):
    keep_model(manuscript, weights, "ms1-a", learnable(manuscript))
    verify(manuscript, 40)
    assert training.AutoRetrain(manuscript, after=0).after_save(MS, "maria") is None
    assert JobStore.of(manuscript).list() == []


def test_the_automatic_retraining_starts_once_when_n_lines_are_new(manuscript, weights):
    keep_model(manuscript, weights, "ms1-a", learnable(manuscript))
    auto = training.AutoRetrain(manuscript, after=10)
    taken = 0
    while taken < 9:
        taken += verify(manuscript, 1)
        assert auto.after_save(MS, "maria") is None
    while taken < 10:
        taken += verify(manuscript, 1)
    job = auto.after_save(MS, "maria")
    assert job is not None and (job.kind, job.model, job.name, job.who) == ("train", "ms1-a", "ms1-a-2", "maria")
    assert job.options["retrain"] == "auto" and job.options["since"] == "ms1-a"
    # Not again on the following saves while it waits (or runs), in this process or another.
    for _ in range(3):
        verify(manuscript, 5)
        assert auto.after_save(MS, "maria") is None
    assert auto._quiet_until == {}  # not even asked, and refused as a second training
    assert training.AutoRetrain(manuscript, after=10).after_save(MS, "ivan") is None
    assert [j.id for j in JobStore.of(manuscript).list()] == [job.id]


def test_a_retraining_that_ended_without_a_model_is_tried_again_only_after_n_more_lines(manuscript, weights):
    keep_model(manuscript, weights, "ms1-a", learnable(manuscript))
    auto = training.AutoRetrain(manuscript, after=10)
    verify(manuscript, 15)
    first = auto.after_save(MS, "maria")
    assert first is not None
    JobStore.of(manuscript).cancel(first.id, "ivan")
    lines_then = first.options["lines"]
    while training.TrainableLines(manuscript).count(MS) < lines_then + 10:
        assert auto.after_save(MS, "maria") is None
        verify(manuscript, 1)
    again = auto.after_save(MS, "maria")
    assert again is not None and again.id != first.id and again.name == "ms1-a-2"


def test_no_automatic_retraining_while_another_training_runs(manuscript, weights):
    keep_model(manuscript, weights, "ms1-a", learnable(manuscript))
    other = JobStore.of(manuscript).submit(manuscript, "train", MS, "ivan", name="by-hand", epochs=3)
    verify(manuscript, 20)
    auto = training.AutoRetrain(manuscript, after=5)
    assert auto.after_save(MS, "maria") is None
    assert [job.id for job in JobStore.of(manuscript).list()] == [other.id]
    # Refused once, it is not asked again on every save (QUIET seconds).
    assert auto._quiet_until["ms1-a"] > 0
    JobStore.of(manuscript).cancel(other.id)
    assert auto.after_save(MS, "maria") is None
    auto._quiet_until.clear()
    assert auto.after_save(MS, "maria") is not None


def test_lines_count_from_the_default_model_and_then_from_its_newest_retraining(manuscript, weights):
    now = learnable(manuscript)
    keep_model(manuscript, weights, "ms1-a", now, created="2026-01-01T00:00:00Z")
    keep_model(manuscript, weights, "other", now - 30, created="2026-01-02T00:00:00Z")
    store = training.ModelStore.of(manuscript)
    auto = training.AutoRetrain(manuscript, after=10)
    # No default: the newest model trained on the manuscript, 30 lines behind.
    job = auto.after_save(MS, "maria")
    assert job.model == "other"
    JobStore.of(manuscript).cancel(job.id)
    # The default model, which has seen every line: nothing to do.
    store.set_default(MS, "ms1-a")
    assert training.reference_model(store.list(), store._defaults(), MS).name == "ms1-a"
    assert auto.after_save(MS, "maria") is None
    # Its retraining kept (the default still names ms1-a): the lines count from ms1-a-2.
    verify(manuscript, 12)
    keep_model(manuscript, weights, "ms1-a-2", learnable(manuscript), base="ms1-a", created="2026-01-03T00:00:00Z")
    assert training.reference_model(store.list(), store._defaults(), MS).name == "ms1-a-2"
    assert auto.after_save(MS, "maria") is None
    verify(manuscript, 13)
    job = auto.after_save(MS, "maria")
    assert (job.model, job.name) == ("ms1-a-2", "ms1-a-3")


# -- the command line ----------------------------------------------------------------------------


def test_retrain_command_queues_the_job_and_models_list_shows_the_history(manuscript, weights):
    first = keep_model(manuscript, weights, "ms1-a", learnable(manuscript) - 20, cer=0.4)
    second = keep_model(manuscript, weights, "ms1-a-2", learnable(manuscript), base="ms1-a", cer=0.25)
    runner = CliRunner()
    base = ["--edition", str(manuscript.root), "--user", "maria"]
    refused = runner.invoke(cli, [*base, "retrain", "ms1-a-2", "--job"])
    assert refused.exit_code == 1 and "nothing new to retrain it on" in str(refused.exception)
    verify(manuscript, 10)
    result = runner.invoke(cli, [*base, "retrain", "ms1-a-2", "--job"])
    assert result.exit_code == 0, result.output
    job = JobStore.of(manuscript).list()[0]
    assert (job.model, job.name, job.who, job.options["retrain"]) == ("ms1-a-2", "ms1-a-3", "maria", "asked")
    assert f"job {job.id}: training ms1-a-3 from ms1-a-2" in result.output
    listed = runner.invoke(cli, [*base, "models", "list"])
    assert listed.exit_code == 0, listed.output
    lines = (first.training_lines, second.training_lines)
    assert f"history: ms1-a ({lines[0]} lines, CER 40.00%) → ms1-a-2 ({lines[1]} lines, CER 25.00%)" in listed.output
    new_lines = training.new_lines_since(second, training.TrainableLines(manuscript).count(MS))
    assert new_lines >= 8 and f"{new_lines} new line(s) since" in listed.output
