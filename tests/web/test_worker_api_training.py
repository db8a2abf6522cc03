"""Training on a remote worker, as the worker API sees it (web/worker_api.py, remote.py):
the job's lines on their pages go out as a zip, epochs come back as progress, and the
model comes back once, kept through the same store as a local training's.

The test client plays the worker, call by call, and the model it sends is a real
safetensors file (not a trained one: the API checks the file's form, it loads nothing);
a real training on a real remote worker process is in tests/test_remote_training.py.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy
import pytest
from safetensors.numpy import save_file

from workbench.htr import training
from workbench.jobs import JobStore
from workbench.sample import rendered_manuscript

WORKER = "gpu-host/4242"


@pytest.fixture
def letters(sample_edition, tmp_path):
    """Two rendered pages, every line corrected or verified: enough to train on."""
    return rendered_manuscript(sample_edition, tmp_path / "scans", pages=2, transcribed=2)


def safetensors_file(folder: Path) -> bytes:
    path = folder / "weights.safetensors"
    save_file({"conv.weight": numpy.arange(48, dtype=numpy.float32).reshape(3, 16)}, str(path))
    return path.read_bytes()


def result(**changes) -> dict:
    scores = {"cer": 0.125, "wer": 0.5, "lines": 6, "characters": 160}
    return {
        "worker": WORKER,
        "accuracy": 0.75,
        "epoch": 2,
        "epochs_run": 2,
        "seconds": 12.5,
        "scores": scores,
    } | changes


def upload(worker, job_id: str, weights: bytes, body: dict):
    data = {"model": (io.BytesIO(weights), "model.safetensors"), "result": json.dumps(body)}
    return worker("POST", f"jobs/{job_id}/trained", data=data)


def test_a_remote_training_gets_its_lines_reports_epochs_and_its_model_is_kept_once(
    sample_edition, letters, worker, editor, tmp_path
):
    store = JobStore.of(sample_edition)
    job = store.submit(sample_edition, "train", "letters", "maria", name="letters-remote", epochs=2)
    assert job.queue == "gpu"
    spec = worker("POST", f"jobs/{job.id}/start", {"worker": WORKER}).get_json()
    split = training.split_lines([sample_edition.load("letters")])
    assert (spec["state"], spec["name"], spec["epochs"]) == ("running", "letters-remote", 2)
    counts = {"training": len(split.training), "validation": len(split.validation), "held_out": len(split.held_out)}
    assert spec["lines"] == counts and "base" not in spec

    # The material: each page image once, the lines with their geometry and texts.
    reply = worker("GET", f"jobs/{job.id}/training")
    assert reply.status_code == 200 and reply.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(reply.data)) as archive:
        names = sorted(archive.namelist())
        assert names == ["images/00001.png", "images/00002.png", "material.json"]
        scans = sorted((sample_edition.facsimile_dir / "letters").glob("*.png"))
        assert [archive.read(name) for name in names[:2]] == [path.read_bytes() for path in scans]
        archive.extractall(tmp_path / "worker")
    data = json.loads((tmp_path / "worker" / "material.json").read_text())
    material = training.material_from_json(data, tmp_path / "worker")
    assert material.split() == split  # the same lines, texts and sets as a local training's
    page = sample_edition.load("letters").pages[0]
    sent = material.training[0][2]
    assert sent.image.is_file() and sent.frame is None
    assert [(line.boundary, line.baseline) for line in sent.lines] == [
        (line.boundary, line.baseline) for line in page.lines if line.id in {line.id for line in sent.lines}
    ]

    # An epoch done: the job's progress, as a local training shows it.
    epoch = {"worker": WORKER, "epoch": 1, "epochs": 2, "loss": 3.5, "accuracy": 0.25, "best": True}
    assert worker("POST", f"jobs/{job.id}/epoch", epoch).get_json() == {"state": "running"}
    running = store.get(job.id)
    assert (running.done, running.step["step"], running.step["cer"]) == (1, "epoch", 0.75)
    shown = editor.get(f"/jobs/{job.id}", headers={"Accept-Language": "bg"}).get_data(as_text=True)
    assert "епоха 1 от 2" in shown

    weights = safetensors_file(tmp_path)
    first = upload(worker, job.id, weights, result())
    assert (first.status_code, first.get_json()) == (200, {"applied": True})
    again = upload(worker, job.id, weights, result())  # a second delivery of the same run
    assert (again.status_code, again.get_json()) == (200, {"applied": False, "already": True})
    assert worker("POST", f"jobs/{job.id}/finish", {"worker": WORKER}).get_json() == {"state": "done"}

    store_ = training.ModelStore.of(sample_edition)
    assert [record.name for record in store_.list()] == ["letters-remote"]
    record = store_.get("letters-remote")
    assert store_.weights("letters-remote").read_bytes() == weights
    assert (record.training_lines, record.validation_lines) == (len(split.training), len(split.validation))
    assert record.held_out == [ref.line_id for ref in split.held_out]
    assert (record.who, record.kept_epoch, record.validation_accuracy, record.scores.cer) == ("maria", 2, 0.75, 0.125)
    job = store.get(job.id)
    assert (job.state, job.outcome) == (
        "done",
        {"model": "letters-remote", "lines": len(split.training)}
        | {
            "cer": 0.125,
            "wer": 0.5,
        },
    )
    assert job.message.startswith(f"model letters-remote trained on {len(split.training)} line(s)")
    assert not (store.folder / f"{job.id}.training.json").exists()
    shown = editor.get(f"/jobs/{job.id}", headers={"Accept-Language": "bg"}).get_data(as_text=True)
    assert f"Моделът letters-remote е обучен на {len(split.training)} реда." in shown
    # Hidden working folders of the upload are gone.
    assert sorted(path.name for path in sample_edition.models_dir.iterdir()) == ["letters-remote"]


def test_a_bad_model_or_result_is_refused_and_nothing_is_kept(sample_edition, letters, worker, editor, tmp_path):
    store = JobStore.of(sample_edition)
    job = store.submit(sample_edition, "train", "letters", "maria", name="letters-remote", epochs=2)
    worker("POST", f"jobs/{job.id}/start", {"worker": WORKER})
    weights = safetensors_file(tmp_path)
    for body, sent, why in [
        (result(), b"<html>not a model</html>", "not a safetensors file"),
        (result(), weights[:-10], "cut short"),
        (result(accuracy=1.5), weights, "not a share between 0 and 1"),
        (result(epoch=9), weights, "not a count up to 2"),
        (result(scores={"cer": "x"}), weights, "not a training's result"),
    ]:
        reply = upload(worker, job.id, sent, body)
        assert reply.status_code == 422 and why in reply.get_json()["message"], reply.get_json()
    missing = worker("POST", f"jobs/{job.id}/trained", data={"result": json.dumps(result())})
    assert missing.status_code == 422 and missing.get_json()["reason"] == "bad-result"
    assert training.ModelStore.of(sample_edition).list() == []
    assert list(sample_edition.models_dir.iterdir()) == []  # no half-kept model, no working folder
    assert store.get(job.id).state == "running"  # the worker may still send a good one
    # A worker that ends without sending its model: the job fails saying so.
    assert worker("POST", f"jobs/{job.id}/finish", {"worker": WORKER}).get_json() == {"state": "failed"}
    job = store.get(job.id)
    assert (job.error, job.message) == ("no-model-sent", "the worker ended the training without sending its model")
    shown = editor.get(f"/jobs/{job.id}", headers={"Accept-Language": "bg"}).get_data(as_text=True)
    assert "Изпълнителят завърши обучението, без да изпрати модела; не е запазен модел." in shown


def test_a_cancelled_trainings_model_and_another_runs_are_refused(sample_edition, letters, worker, tmp_path):
    store = JobStore.of(sample_edition)
    job = store.submit(sample_edition, "train", "letters", "maria", name="letters-remote", epochs=2)
    worker("POST", f"jobs/{job.id}/start", {"worker": WORKER})
    weights = safetensors_file(tmp_path)
    other = upload(worker, job.id, weights, result(worker="other/1"))
    assert other.status_code == 409 and other.get_json()["reason"] == "not-running"
    store.cancel(job.id, "maria")
    refused = upload(worker, job.id, weights, result())
    assert refused.status_code == 409 and refused.get_json()["reason"] == "not-running"
    assert worker("GET", f"jobs/{job.id}/training").status_code == 409  # no lines for an ended job
    epoch = {"worker": WORKER, "epoch": 1, "epochs": 2, "accuracy": 0.5}
    assert worker("POST", f"jobs/{job.id}/epoch", epoch).get_json() == {"state": "cancelled"}
    assert training.ModelStore.of(sample_edition).list() == []
    assert store.get(job.id).state == "cancelled"


def test_a_fine_tuning_sends_its_base_model_and_a_taken_name_fails_the_job(
    sample_edition, letters, worker, editor, tmp_path
):
    store = JobStore.of(sample_edition)
    models = training.ModelStore.of(sample_edition)
    weights = safetensors_file(tmp_path)
    first = store.submit(sample_edition, "train", "letters", "maria", name="base", epochs=2)
    worker("POST", f"jobs/{first.id}/start", {"worker": WORKER})
    assert upload(worker, first.id, weights, result()).get_json() == {"applied": True}

    tuned = store.submit(sample_edition, "train", "letters", "maria", name="tuned", model="base", epochs=2)
    spec = worker("POST", f"jobs/{tuned.id}/start", {"worker": WORKER}).get_json()
    assert spec["base"]["name"] == "model.safetensors" and spec["base"]["size"] == len(weights)
    fetched = worker("GET", f"jobs/{tuned.id}/model")
    assert fetched.status_code == 200 and fetched.data == weights
    # Meanwhile a model named "tuned" appears (put there by hand): the upload is refused, the first kept.
    models.folder.joinpath("tuned").mkdir()
    reply = upload(worker, tuned.id, weights, result())
    assert reply.status_code == 422 and "a model named 'tuned' exists already" in reply.get_json()["message"]
    assert models.get("base").base is None and not (models.folder / "tuned" / "model.json").exists()

    store.cancel(tuned.id, "maria")

    # A job whose name is taken by the time a worker starts it fails at once, saying why.
    again = store.submit(sample_edition, "train", "letters", "maria", name="again", epochs=2)
    models.folder.joinpath("again").mkdir()
    assert worker("POST", f"jobs/{again.id}/start", {"worker": "x/1"}).get_json()["state"] == "failed"
    assert store.get(again.id).error == "model-name-taken"
    shown = editor.get(f"/jobs/{again.id}", headers={"Accept-Language": "bg"}).get_data(as_text=True)
    assert "Вече има модел с името again: изберете друго име." in shown
