"""How a training uses the cores, says how it goes, keeps its record and stops on a signal.

The thread rule is tested on numbers and the busy-core measurement against a real busy
process; the rest runs the real ``workbench train`` command in a subprocess (marked
slow: kraken, a few epochs on two rendered pages, one torch thread).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.builders import REPO
from workbench.htr import kraken, training
from workbench.sample import rendered_manuscript

# -- how many threads (fast) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("omp_num_threads", "cores", "busy_elsewhere", "threads"),
    [
        ("3", 2, 1.6, 3),  # OMP_NUM_THREADS decides, whatever the load
        ("1", 16, 0.0, 1),
        ("", 2, 0.1, 2),  # nobody else busy: every core
        ("", 2, 1.2, 1),  # a busy neighbour on one of two cores: one thread
        ("", 2, 0.4, 2),  # a neighbour waking now and then: rounds to no core
        ("", 2, 3.7, 1),  # more busy than there are cores: still one
        ("", 16, 3.4, 13),
        ("many", 4, 1.0, 3),  # not a number: ignored, as OpenMP ignores it
    ],
)
def test_a_training_uses_the_cores_nobody_else_keeps_busy(omp_num_threads, cores, busy_elsewhere, threads):
    assert kraken.training_threads(omp_num_threads, cores, busy_elsewhere) == threads


def test_the_environment_and_the_process_affinity_are_read_when_not_given(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    assert kraken.training_threads() == 5
    monkeypatch.delenv("OMP_NUM_THREADS")
    available = len(os.sched_getaffinity(0))
    assert kraken.training_threads(busy_elsewhere=0.0) == available
    assert kraken.training_threads(busy_elsewhere=float(available)) == 1


def test_a_busy_process_counts_as_a_busy_core():
    neighbour = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # running
        busy = kraken.busy_cores_elsewhere(interval=1.0)
    finally:
        neighbour.kill()
        neighbour.wait()
    assert 0.7 <= busy <= len(os.sched_getaffinity(0)) + 0.1


def test_an_epoch_line_gives_that_epochs_validation_cer_and_marks_the_best():
    assert str(kraken.EpochDone(3, 30, 5.2, 0.25, best=True)) == "epoch 3/30: validation CER 75.0%  (best so far)"
    assert str(kraken.EpochDone(4, 30, 4.0, 0.2)) == "epoch 4/30: validation CER 80.0%"
    assert kraken.EpochDone(4, 30, None, None).cer is None


# -- the command, in a real subprocess (slow) ----------------------------------------------


def _train_command(edition_root: Path, name: str, epochs: int) -> tuple[list[str], dict[str, str]]:
    command = [sys.executable, "-m", "workbench", "--edition", str(edition_root), "--user", "maria"]
    command += ["train", "letters", "--name", name, "--epochs", str(epochs), "--spec", kraken.SMALL_SPEC]
    # One thread: the test machine's cores are shared; the small network: fast.
    return command, {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_the_command_reports_each_epochs_own_cer_keeps_kraken_chatter_in_a_log_and_records_the_kept_epoch(
    edition, tmp_path
):
    rendered_manuscript(edition, tmp_path / "scans", pages=2, transcribed=2)
    split = training.split_lines([edition.load("letters")])
    command, environment = _train_command(edition.root, "small", 3)
    started = time.monotonic()
    result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600)
    wall = time.monotonic() - started
    assert result.returncode == 0, result.stderr

    # Each epoch's line has that epoch's validation CER (the first one too) and nothing of
    # Lightning's or kraken's own output reaches the terminal.
    epoch_lines = [line for line in result.stderr.splitlines() if line.startswith("epoch ")]
    found = [re.fullmatch(r"epoch (\d)/3: validation CER (\d+\.\d)%(  \(best so far\))?", line) for line in epoch_lines]
    assert all(found) and [int(match[1]) for match in found] == [1, 2, 3], epoch_lines
    assert result.stderr.count(kraken.WHAT_IS_NORMAL) == 1
    terminal = result.stdout + result.stderr
    for chatter in ("GPU available", "Trainer", "┏", "Params", "Warning", "alphabet mismatch", "Tip"):
        assert chatter not in terminal, chatter
    log = (edition.state_dir / "logs" / "train-small.log").read_text(encoding="utf-8")
    assert "GPU available" in log and "max_epochs=3" in log

    # model.json records which epoch was kept, its validation CER, the lines and the time.
    recorded = json.loads((edition.state_dir / "models" / "small" / "model.json").read_text(encoding="utf-8"))
    kept = recorded["kept_epoch"]
    cers = [float(match[2]) for match in found]
    assert found[kept - 1][3], "the kept epoch is marked as the best so far"
    assert cers[kept - 1] == min(cers) and all(cer > min(cers) for cer in cers[: kept - 1])
    assert f"{recorded['validation_cer']:.1%}" == f"{cers[kept - 1]}%"
    assert recorded["validation_cer"] == pytest.approx(1 - recorded["validation_accuracy"])
    assert (recorded["training_lines"], recorded["validation_lines"]) == (len(split.training), len(split.validation))
    assert recorded["epochs_run"] == recorded["epochs"] == 3
    assert 0 < recorded["training_seconds"] < wall
    assert f"Model small: kept epoch {kept} of 3, validation CER {cers[kept - 1]}%" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_a_training_stopped_by_a_signal_fails_and_says_no_model_was_kept(edition, tmp_path, signal_name):
    number = getattr(signal, signal_name)
    rendered_manuscript(edition, tmp_path / "scans", pages=2, transcribed=2)
    command, environment = _train_command(edition.root, "stopped", 500)
    process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        said = []
        for line in process.stderr:  # mid-training for certain: an epoch has been reported
            said.append(line)
            if line.startswith("epoch 1/500"):
                break
        assert said and said[-1].startswith("epoch 1/500"), said
        process.send_signal(number)
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 128 + number, (out, err)
    assert f"Stopped by {signal_name}: the training was stopped; no model was kept" in err
    assert "Traceback" not in err and "Model stopped" not in out
    models = edition.state_dir / "models"
    assert not models.exists() or list(models.iterdir()) == []  # no model, no working folder
