"""The training settings reach kraken: early stopping, a time cap, a schedule, augmentation.

The slow tests are real kraken training runs (no mock) on two rendered pages with the
small network and one torch thread; they check what the settings do, not how well
the model reads.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from workbench.cli import cli
from workbench.htr import kraken, training
from workbench.model import WorkbenchError
from workbench.sample import rendered_manuscript


def test_an_unknown_schedule_is_refused_before_anything_is_loaded(tmp_path):
    with pytest.raises(WorkbenchError, match="unknown learning-rate schedule 'sometimes'.*reduceonplateau"):
        kraken.train_recognizer([], [], tmp_path / "m.safetensors", tmp_path / "work", schedule="sometimes")
    assert not (tmp_path / "work").exists()


@pytest.mark.slow
def test_patience_stops_a_training_that_no_longer_improves_and_keeps_its_best_epoch(edition, tmp_path):
    rendered_manuscript(edition, tmp_path / "scans", pages=2, transcribed=2)
    cers: list[float | None] = []
    record = training.train(
        edition,
        ["letters"],
        "patient",
        "tester",
        epochs=60,
        spec=kraken.SMALL_SPEC,
        patience=2,
        schedule="reduceonplateau",
        augment=True,
        progress=lambda done: cers.append(done.cer),
    )
    # A new network reads nothing for its first epochs: no better CER twice in a row
    # stops it long before the 60 epochs asked for.
    assert record.epochs_run == len(cers) < 60
    assert record.epochs_run == record.kept_epoch + 2
    assert record.validation_cer == pytest.approx(min(cers))
    assert training.ModelStore.of(edition).weights("patient").stat().st_size > 10_000


@pytest.mark.slow
def test_a_time_cap_given_to_the_command_ends_the_training_with_the_best_epoch_so_far(edition, tmp_path):
    rendered_manuscript(edition, tmp_path / "scans", pages=2, transcribed=2)
    arguments = ["--edition", str(edition.root), "--user", "maria", "train", "letters", "--name", "hurried"]
    arguments += ["--epochs", "500", "--spec", kraken.SMALL_SPEC, "--max-minutes", "0.25"]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 0, result.output
    record = training.ModelStore.of(edition).get("hurried")
    assert 1 <= record.epochs_run < 500 and 1 <= record.kept_epoch <= record.epochs_run
    # The cap is on the training; cutting the lines and measuring come on top.
    assert record.training_seconds < 15 + 60
    assert training.ModelStore.of(edition).weights("hurried").stat().st_size > 10_000
