"""A user's kraken model file from an older kraken: recognising with it, and fine-tuning from it.

kraken 2 (2019-2020, e.g. the models of many public HTR projects) wrote a
``kraken_meta`` block without ``model_type``; kraken 7 refuses such a block. The
file here is built the way those were: a real CoreML model whose metadata has the
accuracy record and no type.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.builders import REPO
from workbench.cli import cli
from workbench.htr import kraken, training
from workbench.sample import rendered_manuscript

LATIN = "abcdefghijklmnopqrstuvwxyz ,.!"


def kraken_2_model(folder: Path) -> Path:
    """A CoreML recognition model (random weights, a Latin alphabet) as kraken 2 wrote it."""
    script = """
import json, sys
from coremltools.models.utils import load_spec, save_spec
from kraken.lib.vgsl import TorchVGSLModel
alphabet = sys.argv[2]
codec = {c: [i + 1] for i, c in enumerate(alphabet)}
spec = f"[1,48,0,1 Cr3,3,16 Mp2,2 S1(1x24)1,3 Lbx32 O1c{len(alphabet) + 1}]"
TorchVGSLModel(vgsl=spec, codec=codec).save_model(sys.argv[1])
coreml = load_spec(sys.argv[1])
coreml.description.metadata.userDefined["kraken_meta"] = json.dumps(
    {"accuracy": [[120, 0.41]], "completed_epochs": 1}
)
save_spec(coreml, sys.argv[1])
"""
    path = folder / "kraken2.mlmodel"
    result = subprocess.run([sys.executable, "-c", script, str(path), LATIN], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    return path


@pytest.fixture
def old_model(tmp_path) -> Path:
    path = kraken_2_model(tmp_path)
    # What the workbench has to deal with: kraken itself refuses the file as it is.
    from kraken.models import load_models

    with pytest.raises(ValueError, match="model_type"):
        load_models(path)
    return path


def test_a_kraken_2_model_file_reads_pages_and_is_left_as_it_was(edition, tmp_path, old_model):
    rendered_manuscript(edition, tmp_path / "scans", pages=1, transcribed=0)
    before = old_model.read_bytes()
    base = ["--edition", str(edition.root), "--user", "maria"]
    result = CliRunner().invoke(cli, [*base, "recognize", "letters", "--model", str(old_model)])
    assert result.exit_code == 0, result.output
    lines = edition.load("letters").lines()
    # Random weights read noise, but every line went through the model and got its confidence.
    assert lines and all(line.status == "automatic" and line.cert is not None for line in lines)
    assert old_model.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".mlmodel") == ["kraken2.mlmodel"]


def test_fine_tuning_starts_from_a_kraken_2_model_file_and_grows_its_alphabet(edition, tmp_path, old_model):
    rendered_manuscript(edition, tmp_path / "scans", pages=2, transcribed=2)
    record = training.train(edition, ["letters"], "from-kraken-2", "maria", base=str(old_model), epochs=1)
    assert record.base == str(old_model) and record.epochs_run == 1 and record.scores is not None
    from kraken.models import load_models

    (model,) = load_models(training.ModelStore.of(edition).weights("from-kraken-2"))
    known = set(model.codec.c2l)
    # The base's letters are kept, and the manuscript's Cyrillic ones were added.
    assert set(LATIN) <= known
    assert {"ж", "ъ"} <= known


def test_a_file_that_is_no_model_is_refused_by_name_for_reading_and_for_fine_tuning(edition, tmp_path):
    rendered_manuscript(edition, tmp_path / "scans", pages=2, transcribed=2)
    not_a_model = tmp_path / "notes.mlmodel"
    not_a_model.write_bytes(b"\x0a\x05hello, not a model")
    with pytest.raises(kraken.NotAModel, match="notes.mlmodel is not a kraken recognition model"):
        kraken.load_recognizer(not_a_model)
    with pytest.raises(kraken.NotAModel, match="notes.mlmodel is not a kraken recognition model"):
        training.train(edition, ["letters"], "from-notes", "maria", base=str(not_a_model), epochs=1)
    assert not training.ModelStore.of(edition).folder.joinpath("from-notes").exists()
