"""`workbench pretrain`: a base model from synthetic lines, then fine-tuned on real lines.

The slow test is real kraken training, no mock: a small network pretrained on 40
rendered lines for two epochs, kept in the edition's model store, then fine-tuned
on a real eScriptorium set (tests/data/ground-truth) imported through the workbench's
own import; the fine-tuned model names its base and has learnt the real set's letters.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.builders import REPO
from workbench.cli import cli
from workbench.htr import kraken, training
from workbench.model import WorkbenchError

PAGE_SET = REPO / "tests/data/ground-truth/page2019-escriptorium"
DEJAVU_SERIF = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")  # no ѧ


def run(edition, *arguments: str):
    return CliRunner().invoke(cli, ["--edition", str(edition.root), "--user", "maria", *arguments])


def test_pretrain_refuses_unknown_fonts_taken_names_and_too_few_lines(edition):
    result = run(edition, "pretrain", "base", "--fonts", "no-such-font-anywhere")
    assert isinstance(result.exception, WorkbenchError)
    assert "no installed font with Bulgarian letters is named so" in str(result.exception)
    result = run(edition, "pretrain", "bad name")
    assert isinstance(result.exception, WorkbenchError) and "not a usable model name" in str(result.exception)
    result = run(edition, "pretrain", "base", "--lines", "5")
    assert result.exit_code == 2 and "--lines" in result.output
    # A font without every letter of the corpus alone: nothing to draw in, said before any work.
    result = run(edition, "pretrain", "base", "--fonts", str(DEJAVU_SERIF))
    assert isinstance(result.exception, WorkbenchError)
    assert "no font has every letter" in str(result.exception) and "ѧ (U+0467)" in str(result.exception)
    assert not (edition.state_dir / "models").exists() or not list((edition.state_dir / "models").iterdir())


@pytest.mark.slow
def test_pretrain_then_fine_tune_on_real_lines(edition):
    result = run(
        edition,
        "pretrain",
        "bg-base",
        "--lines",
        "40",
        "--seed",
        "11",
        "--epochs",
        "2",
        "--spec",
        kraken.SMALL_SPEC,
        "--fonts",
        "OldStandard",
        "--fonts",
        str(DEJAVU_SERIF),
    )
    assert result.exit_code == 0, result.output
    assert "font DejaVuSerif.ttf left out: lacks ѧ (U+0467)" in result.output
    assert "Rendering 40 line(s) (seed 11) in 3 font(s)" in result.output
    assert "epoch 2/2" in result.output and "Model bg-base: kept epoch" in result.output
    store = training.ModelStore.of(edition)
    base = store.get("bg-base")
    assert base.synthetic["seed"] == 11 and base.synthetic["lines"] == 40
    assert list(base.synthetic["fonts_skipped"]) == [str(DEJAVU_SERIF)]
    assert "ѧ (U+0467)" in base.synthetic["fonts_skipped"][str(DEJAVU_SERIF)]
    assert sorted(base.synthetic["fonts"]) == [
        "/usr/share/fonts/truetype/fonts-oldstandard/" + name
        for name in ("OldStandard-Bold.ttf", "OldStandard-Italic.ttf", "OldStandard-Regular.ttf")
    ]
    assert (base.training_lines, base.validation_lines, base.manuscripts, base.base) == (36, 4, [], None)
    assert base.epochs_run == 2 and base.validation_cer is not None
    assert "(synthetic lines, seed 11, 3 font(s))" in run(edition, "models", "list").output
    base_alphabet = kraken.alphabet(store.weights("bg-base"))
    assert set("ѣѫ") <= base_alphabet

    # A real set, imported as any set is, its lines verified by a person.
    assert run(edition, "import", str(PAGE_SET), "--id", "charters").exit_code == 0
    with edition.edit("charters", who="maria") as manuscript:
        for line in manuscript.lines():
            if line.text:
                line.status = "verified"
    result = run(edition, "train", "charters", "--name", "charters-1", "--base", "bg-base", "--epochs", "1")
    assert result.exit_code == 0, result.output
    tuned = store.get("charters-1")
    assert tuned.base == "bg-base" and tuned.manuscripts == ["charters"] and tuned.synthetic is None
    split = training.split_lines([edition.load("charters")])
    real_letters = set("".join(ref.text for ref in split.training))
    assert real_letters - base_alphabet, "the real set should have letters the base never saw"
    tuned_alphabet = kraken.alphabet(store.weights("charters-1"))
    assert real_letters <= tuned_alphabet and base_alphabet <= tuned_alphabet
