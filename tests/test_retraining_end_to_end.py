"""The loop closed for real (slow): real ground truth imported, a first model trained with
kraken, more lines verified through the web editor's line save, and the automatic
retraining that save queues run by a real worker through the job system into a
fine-tuned model whose history has both points.

Two pages of an 18th-century French hand (tests/data/ground-truth/alto4-cremma-mss18,
46 lines), kraken's small network, two epochs: a model that reads badly, but a real one,
trained and fine-tuned by the same code a philologist's would be.
"""

from __future__ import annotations

import html
import re

import pytest
from click.testing import CliRunner

from tests.builders import REPO, consuming, wait_until_ended
from tests.web.client import PASSWORD, log_in
from workbench.cli import cli
from workbench.edition import Edition
from workbench.htr import kraken, training
from workbench.jobs import JobStore
from workbench.users import Users
from workbench.web import create_app

GROUND_TRUTH = REPO / "tests/data/ground-truth/alto4-cremma-mss18"
MS = "mss18"
RETRAIN_AFTER = 5
# Text the editor's shorthand would read as markup: such lines are verified in the TEI, not typed.
SHORTHAND = re.compile(r"[\[\]{}<>&|\\/~^_*#@]")


@pytest.mark.slow
def test_verified_lines_retrain_the_model_through_the_job_system(edition: Edition):
    runner = CliRunner()
    base = ["--edition", str(edition.root), "--user", "maria"]
    result = runner.invoke(cli, [*base, "import", str(GROUND_TRUTH), "--id", MS])
    assert result.exit_code == 0, result.output
    lines = edition.load(MS).lines()
    assert len(lines) == 46 and all(line.text and line.status == "automatic" for line in lines)

    # Kept back for later: plain-text lines a training would take; the rest verified now.
    later = [
        line.id for line in lines if training.bucket(line.id) != training.HELD_OUT and not SHORTHAND.search(line.text)
    ][-(RETRAIN_AFTER + 3) :]
    assert len(later) == RETRAIN_AFTER + 3
    last = later.pop()  # verified at the very end, for `workbench retrain`
    with edition.edit(MS, who="maria") as current:
        for line in current.lines():
            if line.id not in later and line.id != last:
                line.status, line.resp = "verified", current.source("transcription", "maria").id
    first_split = training.split_lines([edition.load(MS)])
    assert len(first_split.training) >= training.MIN_TRAINING_LINES and first_split.held_out

    arguments = ["train", MS, "--name", "first", "--epochs", "2", "--spec", kraken.SMALL_SPEC]
    result = runner.invoke(cli, [*base, *arguments])
    assert result.exit_code == 0, result.output
    store = training.ModelStore.of(edition)
    first = store.get("first")
    assert first.scores is not None and [point["name"] for point in first.history] == ["first"]

    # The web editor, with [recognition] retrain_after = 5: verify the kept-back lines.
    Users(edition.users_file).add("ivan", "editor", PASSWORD)
    app = create_app(edition.root, {"TESTING": True, "SESSION_COOKIE_SECURE": False, "RETRAIN_AFTER": RETRAIN_AFTER})
    client = app.test_client()
    assert log_in(client).status_code == 302
    jobs = JobStore.of(edition)
    for line_id in later:
        n = next(page.n for page in edition.load(MS).pages if any(line.id == line_id for line in page.lines))
        page = client.get(f"/m/{MS}/p/{n}/").get_data(as_text=True)
        token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
        row = page[page.index(f'id="line-{line_id}"') :]
        text = html.unescape(re.search(r'<input class="text" name="text" value="([^"]*)"', row).group(1))
        version = re.search(r'name="base" value="([^"]+)"', row).group(1)
        response = client.post(
            f"/m/{MS}/lines/{line_id}",
            data={"text": text, "base": version, "status": "verified"},
            headers={"X-CSRFToken": token, "HX-Request": "true"},
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        new = training.new_lines_since(first, training.TrainableLines(edition).count(MS))
        queued = [job for job in jobs.list() if job.kind == "train"]
        assert len(queued) == (1 if new >= RETRAIN_AFTER else 0), (new, queued)
    [job] = jobs.list()
    assert (job.model, job.name, job.total, job.options["retrain"]) == ("first", "first-2", 2, "auto")

    # A worker takes it from the queue and fine-tunes the first model in a process of its own.
    with consuming(edition.root):
        job = wait_until_ended(jobs, job.id, timeout=1200)
    assert job.state == "done", (job.message, jobs.log_path(job.id).read_text()[-3000:])
    second = store.get("first-2")
    assert second.base == "first" and second.manuscripts == [MS] and second.epochs == 2
    assert second.training_lines + second.validation_lines == training.TrainableLines(edition).count(MS)
    assert second.training_lines > first.training_lines
    assert [(point["name"], point["training_lines"]) for point in second.history] == [
        ("first", first.training_lines),
        ("first-2", second.training_lines),
    ]
    assert second.history[0]["cer"] == first.scores.cer and second.history[1]["cer"] == second.scores.cer
    assert (edition.models_dir / "first-2" / "model.safetensors").stat().st_size > 10_000

    # The models page draws the lineage's two points; nothing new since the new model.
    page = client.get("/models/").get_data(as_text=True)
    figure = page[page.index('id="history-first-2"') :]
    assert len(re.findall(r'<circle class="point"', figure[: figure.index("</figure>")])) == 2
    row = page[page.index('id="model-first-2"') :]
    assert "0 нови реда оттогава" in row[: row.index("</tr>")]

    # The command line: nothing new, refused; one more line verified, fine-tuned here.
    refused = runner.invoke(cli, [*base, "retrain", "first-2"])
    assert refused.exit_code == 1 and "nothing new to retrain it on" in str(refused.exception)
    with edition.edit(MS, who="maria") as current:
        line = next(line for line in current.lines() if line.id == last)
        line.status, line.resp = "verified", current.source("transcription", "maria").id
    result = runner.invoke(cli, [*base, "retrain", "first-2"])
    assert result.exit_code == 0, result.output
    third = store.get("first-3")
    assert third.base == "first-2" and third.epochs == 2 and third.who == "maria"
    assert [point["name"] for point in third.history] == ["first", "first-2", "first-3"]
    assert third.training_lines + third.validation_lines == second.training_lines + second.validation_lines + 1
    listed = runner.invoke(cli, [*base, "models", "list"])
    assert "history: first (" in listed.output and f"first-3 ({third.training_lines} lines, CER" in listed.output
