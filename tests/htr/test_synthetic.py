"""Synthetic lines of pre-1945 Bulgarian: their texts, fonts, geometry, and that a seed redraws them.

Real fonts (Old Standard, installed by the set-up; DejaVu, which fontconfig brings),
real drawing; fontconfig's own reading of a font's character map checks the glyph test.
"""

from __future__ import annotations

import random
import subprocess
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from workbench.htr import synthetic
from workbench.model import WorkbenchError
from workbench.sample import FONT_DIR, FONT_FILES

OLD_STANDARD = [FONT_DIR / FONT_FILES["regular"], FONT_DIR / FONT_FILES["italic"]]
# DejaVu Serif has ѣ and ѫ but not ѧ (U+0467): a font the lines must do without.
DEJAVU_SERIF = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")


@pytest.fixture(scope="module")
def old_standard() -> synthetic.FontChoice:
    choice = synthetic.choose_fonts(OLD_STANDARD)
    assert choice.fonts == sorted(OLD_STANDARD) and not choice.skipped
    return choice


def fontconfig_charset(path: Path) -> set[int]:
    """The code points fontconfig reads from the font's character map."""
    ranges = subprocess.run(
        ["fc-query", "--format", "%{charset}", str(path)], capture_output=True, text=True, check=True
    ).stdout.split()
    points: set[int] = set()
    for item in ranges:
        first, _, last = item.partition("-")
        points.update(range(int(first, 16), int(last or first, 16) + 1))
    return points


@pytest.mark.parametrize("path", [DEJAVU_SERIF, *OLD_STANDARD], ids=lambda path: path.name)
def test_a_missing_glyph_is_found_as_fontconfig_reads_the_character_map(path):
    wanted = synthetic.ALPHABET.replace(" ", "")
    charset = fontconfig_charset(path)
    assert synthetic.missing_characters(path, wanted) == {c for c in wanted if ord(c) not in charset}


def test_a_font_lacking_a_letter_of_the_corpus_is_left_out_with_the_reason(caplog):
    caplog.set_level("INFO", logger="workbench.htr.synthetic")
    choice = synthetic.choose_fonts([DEJAVU_SERIF, *OLD_STANDARD])
    assert DEJAVU_SERIF not in choice.fonts and choice.fonts == sorted(OLD_STANDARD)
    assert "ѧ (U+0467)" in choice.skipped[DEJAVU_SERIF] and "Ѧ (U+0466)" in choice.skipped[DEJAVU_SERIF]
    assert f"font {DEJAVU_SERIF} left out: lacks" in caplog.text
    # No font at all: a clear refusal, not an empty set of lines.
    with pytest.raises(WorkbenchError, match="no font to draw"):
        synthetic.render_line(0, 0, synthetic.choose_fonts([DEJAVU_SERIF]))


def test_a_font_lacking_a_mark_draws_only_the_lines_without_it(old_standard):
    regular, italic = OLD_STANDARD
    choice = synthetic.FontChoice([regular, italic], lacking={regular: synthetic.TITLO})
    text = "Г҃ь съ насъ"
    assert {synthetic.render_line(0, index, choice, text=text).font for index in range(12)} == {italic}
    assert len({synthetic.render_line(0, index, choice).font for index in range(40)}) == 2
    with pytest.raises(WorkbenchError, match="no font has every character"):
        synthetic.render_line(0, 0, synthetic.FontChoice([regular], lacking={regular: synthetic.TITLO}), text=text)


def test_the_texts_have_the_old_letters_marks_figures_and_punctuation():
    rng = random.Random(5)
    texts = [synthetic.line_text(rng) for _ in range(1500)]
    letters = set("".join(texts))
    assert set("ѣѫѭѧіѢѪ") <= letters
    assert {synthetic.TITLO, synthetic.ACUTE} <= letters
    assert set("0123456789.,;:!?„“") <= letters
    assert letters <= set(synthetic.ALPHABET), letters - set(synthetic.ALPHABET)
    # Marks at a realistic rate: a few lines in a hundred, not every line.
    with_titlo = sum(synthetic.TITLO in text for text in texts) / len(texts)
    with_stress = sum(synthetic.ACUTE in text for text in texts) / len(texts)
    assert 0.03 < with_titlo < 0.3 and 0.05 < with_stress < 0.4, (with_titlo, with_stress)
    # A mark always sits on a letter, and the text is as Unicode composes it (what a person types).
    for text in texts:
        assert unicodedata.normalize("NFC", text) == text
        for k, c in enumerate(text):
            if unicodedata.combining(c):
                assert k > 0 and text[k - 1].isalpha(), text
    lengths = sorted(len(text) for text in texts)
    assert 15 < lengths[len(lengths) // 2] < 80
    assert len(set(texts)) > 1300  # one line in ten is a line of the project's texts, as it is


def _inside(polygon: list[tuple[int, int]], size: tuple[int, int]) -> np.ndarray:
    mask = Image.new("1", size, 0)
    ImageDraw.Draw(mask).polygon(polygon, fill=1)
    return np.asarray(mask)


def test_each_line_is_a_page_with_its_baseline_and_boundary_around_the_ink(old_standard):
    dark_inside = dark_total = 0
    for index in range(40):
        drawn = synthetic.render_line(7, index, old_standard)
        width, height = drawn.image.size
        line = drawn.line
        assert drawn.image.mode == "L" and line.text and line.id == f"synthetic-7-{index}"
        for x, y in line.boundary + line.baseline:
            assert 0 <= x < width and 0 <= y < height
        assert len(set(line.boundary)) >= 4 and len(set(line.baseline)) >= 2
        # The baseline runs through the band, left to right, along the whole line.
        inside = _inside(line.boundary, drawn.image.size)
        assert all(inside[y, x] or inside[max(0, y - 1), x] for x, y in line.baseline[1:-1])
        assert [x for x, _ in line.baseline] == sorted(x for x, _ in line.baseline)
        assert line.baseline[-1][0] - line.baseline[0][0] > 0.5 * width
        # The ink (the darkest pixels, well below the paper) lies within the boundary.
        pixels = np.asarray(drawn.image, dtype=float)
        paper, ink = np.median(pixels), pixels.min()
        dark = pixels < ink + 0.3 * (paper - ink)
        dark_inside += int((dark & inside).sum())
        dark_total += int(dark.sum())
    assert dark_inside / dark_total > 0.97, dark_inside / dark_total


def test_the_same_seed_draws_the_same_lines_and_another_seed_others(old_standard, tmp_path):
    first = synthetic.write_lines(tmp_path / "a", range(12), 3, old_standard)
    again = synthetic.write_lines(tmp_path / "b", range(12), 3, old_standard)
    for pages_a, pages_b in zip(first, again, strict=True):
        assert [page.lines[0].text for page in pages_a] == [page.lines[0].text for page in pages_b]
        assert [page.lines[0].boundary for page in pages_a] == [page.lines[0].boundary for page in pages_b]
        for page_a, page_b in zip(pages_a, pages_b, strict=True):
            assert page_a.image.read_bytes() == page_b.image.read_bytes()
    # One line in ten chooses the epoch.
    assert [page.image.name for page in first[1]] == ["000001.png", "000011.png"]
    assert len(first[0]) == 10
    # A line depends on its seed and number alone, not on the lines drawn before it.
    alone = synthetic.render_line(3, 7, old_standard)
    assert alone.image.tobytes() == Image.open(tmp_path / "a" / "000007.png").tobytes()

    other = [synthetic.render_line(4, index, old_standard) for index in range(12)]
    same = [synthetic.render_line(3, index, old_standard) for index in range(12)]
    assert all(a.line.text != b.line.text for a, b in zip(same, other, strict=True))
    # Variety within a set: fonts, sizes, paper and ink.
    many = [synthetic.render_line(3, index, old_standard) for index in range(40)]
    assert {drawn.font for drawn in many} == set(OLD_STANDARD)
    assert len({drawn.size for drawn in many}) > 15
    papers = [float(np.median(np.asarray(drawn.image))) for drawn in many]
    inks = [int(np.asarray(drawn.image).min()) for drawn in many]
    assert max(papers) - min(papers) > 30 and max(inks) - min(inks) > 40
