"""The recognition-curve benchmark's own arithmetic: which lines it trains on, and its rank correlation."""

from __future__ import annotations

import importlib.util

import pytest

from tests.builders import REPO
from workbench.htr import training


@pytest.fixture(scope="module")
def curve():
    spec = importlib.util.spec_from_file_location("recognition_curve", REPO / "bench" / "recognition_curve.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_held_out_lines_are_never_trained_on_and_each_size_counts_training_lines(curve):
    line_ids = [f"l{k}" for k in range(2000)]
    held_out, small = curve.choose(line_ids, 100, held_out_cap=50)
    _, large = curve.choose(line_ids, 300, held_out_cap=50)
    _, everything = curve.choose(line_ids, None, held_out_cap=50)
    assert len(held_out) == 50 and all(training.bucket(i) == training.HELD_OUT for i in held_out)
    for chosen, size in ((small, 100), (large, 300)):
        assert not chosen & held_out
        assert sum(training.bucket(i) != training.VALIDATION for i in chosen) == size
        assert any(training.bucket(i) == training.VALIDATION for i in chosen)  # something to choose the epoch by
    # More lines add to the fewer: a curve measures the same lines growing.
    assert small < large < everything
    assert everything == {i for i in line_ids if training.bucket(i) != training.HELD_OUT}


def test_spearman_ranks_with_ties_and_says_nothing_for_a_constant(curve):
    assert curve.spearman([0.9, 0.8, 0.7, 0.1], [0.0, 0.1, 0.3, 0.9]) == pytest.approx(-1.0)
    assert curve.spearman([1, 2, 3, 4], [1, 2, 3, 4]) == pytest.approx(1.0)
    # Ties take their mean rank: ranks (0.5, 0.5, 2, 3) against (0, 1, 2, 3).
    assert curve.spearman([1, 1, 2, 3], [1, 2, 3, 4]) == pytest.approx(4.5 / (4.5 * 5) ** 0.5)
    assert curve.spearman([0.5, 0.5, 0.5], [0.1, 0.2, 0.3]) is None


def test_base_fine_tunes_a_model_file_and_is_refused_when_missing(curve, tmp_path):
    parser = curve.arguments_parser()
    assert curve.training_options(parser.parse_args(["data"])) == {}  # from nothing, the workbench's defaults
    model = tmp_path / "bg-base.safetensors"
    model.write_bytes(b"weights")
    options = curve.training_options(parser.parse_args(["data", "--base", str(model), "--epochs", "40"]))
    assert options == {"base": str(model.resolve()), "epochs": 40}
    # training.train takes it as a model file, not as a name in the fresh edition's store.
    assert training.ModelStore(tmp_path / "models").resolve(options["base"]) == model.resolve()
    with pytest.raises(SystemExit, match="no such model file"):
        curve.training_options(parser.parse_args(["data", "--base", str(tmp_path / "missing.safetensors")]))
