"""Training on a remote worker, with real processes: `workbench serve`, a real
redis-server, and `workbench worker --remote --queues gpu` in a folder of its own with
no edition. The worker fetches the lines on their pages over HTTP, trains with kraken
(cuda if torch sees one, else cpu) and sends the model back; the workbench keeps it.

A tiny training (two rendered pages, one epoch, one thread) is still real kraken
training, so the test is slow.
"""

from __future__ import annotations

import os

import pytest

from tests.builders import (
    group_members,
    serving,
    start_remote_worker,
    stop,
    wait_for,
    wait_until_ended,
)
from workbench.htr import training
from workbench.jobs import JobStore
from workbench.sample import rendered_manuscript


@pytest.mark.slow
def test_a_model_trained_on_a_remote_worker_is_kept_and_a_cancelled_one_is_not(
    edition, redis_server, tmp_path, monkeypatch
):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the machine is shared: one core for kraken
    edition.root.mkdir(parents=True)
    (edition.root / "workbench.toml").write_text(f'[queue]\nredis = "{redis_server.url}"\nstale_after = 30\n')
    rendered_manuscript(edition, tmp_path / "scans", pages=2, transcribed=2)
    store = JobStore.of(edition)
    models = training.ModelStore.of(edition)
    with serving(edition, tmp_path) as server:
        machine = tmp_path / "gpu-machine"
        worker = start_remote_worker(server, machine, "--queues", "gpu")
        try:
            job = store.submit(edition, "train", "letters", "maria", name="remote-1", epochs=1)
            job = wait_until_ended(store, job.id, timeout=600)
            assert job.state == "done", job.message + store.log_path(job.id).read_text()
            assert job.worker.startswith(os.uname().nodename + "/")

            # Fine-tuning the first model (fetched as the base), cancelled after its first epoch.
            tuned = store.submit(edition, "train", "letters", "maria", name="remote-2", model="remote-1", epochs=50)
            wait_for(lambda: store.get(tuned.id).done >= 1, timeout=600)
            running = store.get(tuned.id)
            process = int(running.worker.rpartition("/")[2])
            store.cancel(tuned.id, "maria")
            wait_for(lambda: not group_members(process), timeout=60)
            wait_for(lambda: not (machine / tuned.id).exists(), timeout=30)  # its working folder, gone
        finally:
            output = stop(worker)
    log = store.log_path(job.id).read_text()
    split = training.split_lines([edition.load("letters")])
    # The model is the edition's, kept as a local training keeps one, with what it learnt from.
    record = models.get("remote-1")
    assert (record.training_lines, record.held_out) == (len(split.training), [r.line_id for r in split.held_out])
    assert record.who == "maria" and record.epochs_run == 1 and record.scores is not None
    assert job.message.startswith(f"model remote-1 trained on {len(split.training)} line(s); held-out lines: CER")
    assert "fetching the training material: " in log and "epoch 1/1: validation CER" in log, log
    assert "sending the model remote-1" in log
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    assert f"train letters on {job.worker} ({device})" in log, output
    # A real kraken model: it loads and reads the held-out lines.
    assert training.evaluate(edition, "remote-1", ["letters"]).scores.lines == len(split.held_out)
    # The cancelled fine-tuning kept nothing, on either machine.
    assert store.get(tuned.id).state == "cancelled"
    assert "fetching the model model.safetensors" in store.log_path(tuned.id).read_text()
    assert sorted(path.name for path in models.folder.iterdir()) == ["remote-1"]
    assert list(machine.glob("*/training-*")) == []
