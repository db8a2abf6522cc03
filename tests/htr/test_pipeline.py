"""The real pipeline: kraken's bundled model on real page images, through the CLI.

These tests load kraken (10-20 s) and segment pages (about 10 s each on one core);
they are marked slow, and the README's test command runs them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.builders import untrained_model
from workbench import transcription
from workbench.edition import Edition
from workbench.layout import corrections
from workbench.model import WorkbenchError
from workbench.sample import HADZHI_DIMITAR, render_page
from workbench.tei import validation
from workbench.tei.text import text_fragment
from workbench.tei.xml import parse_xml

pytestmark = pytest.mark.slow


def workbench_cli(edition: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).with_name("workbench")), "--edition", str(edition), "--user", "tester", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def segmented(tmp_path_factory) -> tuple[Edition, list]:
    """A manuscript of a rendered page and a blank page, segmented by the real CLI."""
    work = tmp_path_factory.mktemp("pipeline")
    image, drawn = render_page(HADZHI_DIMITAR.splitlines()[:8], width=900, height=1250, seed=7)
    image.save(work / "page.png")
    Image.new("L", (900, 1250), 236).save(work / "blank.jpg")
    root = work / "edition"
    steps = [
        ("new-manuscript", "letters", "--title", "Писма", "--author", "Трифон Трифонов"),
        ("add-pages", "letters", str(work / "page.png"), str(work / "blank.jpg")),
        ("segment", "letters"),
    ]
    outputs = []
    for step in steps:
        result = workbench_cli(root, *step)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout + result.stderr)
    return Edition(root), drawn, outputs[-1]


def test_segment_finds_the_drawn_lines_and_writes_valid_tei(segmented):
    edition, drawn, _ = segmented
    manuscript = edition.load("letters")
    page, blank = manuscript.pages
    assert len(page.lines) == len(drawn)
    for line, truth in zip(page.lines, drawn, strict=True):
        # Reading order and position: each found baseline lies on the drawn one.
        (x0, y0), (x1, y1) = truth.baseline
        assert abs(line.baseline[0][1] - y0) < 15, (line.baseline, truth.baseline)
        assert len(line.baseline) >= 2 and len(line.boundary) >= 3
        assert all(0 <= x <= page.width and 0 <= y <= page.height for x, y in line.boundary)
    ids = [line.id for line in manuscript.lines()] + [region.id for region in page.regions]
    assert len(ids) == len(set(ids))
    tree = parse_xml(edition.tei_path("letters").read_bytes())
    assert validation.check_project(tree) == []
    assert validation.check_tei_all(tree) == []


def test_a_page_without_lines_is_kept_and_the_user_told(segmented):
    edition, _, output = segmented
    blank = edition.load("letters").pages[1]
    assert blank.image == "blank.jpg" and blank.lines == []
    assert "page 2 (blank.jpg): kraken found no lines; the page is kept with none" in output


def test_progress_names_pages_done_and_total(segmented):
    _, _, output = segmented
    assert "Segmenting 2 page(s) of letters" in output
    assert "page 1 (page.png): 8 line(s)" in output
    assert re.search(r"Segmenting: [12]/2, page [12] \(\S+\) done", output)


@pytest.fixture
def segmented_copy(segmented, tmp_path) -> Edition:
    """A copy of the segmented edition that a test may change."""
    root = tmp_path / "copy"
    shutil.copytree(segmented[0].root, root)
    return Edition(root)


def test_resegmenting_keeps_transcribed_text(segmented_copy):
    edition, root = segmented_copy, segmented_copy.root
    with edition.edit("letters", who="ivan") as manuscript:
        person = manuscript.source("transcription", "ivan")
        for line, text in zip(manuscript.pages[0].lines, HADZHI_DIMITAR.splitlines(), strict=False):
            line.text, line.status, line.resp = text_fragment(text), "corrected", person.id
    before = {line.id: line.text for line in edition.load("letters").lines()}
    result = workbench_cli(root, "segment", "letters", "--pages", "1")
    assert result.returncode == 0, result.stderr
    after = {line.id: line.text for line in edition.load("letters").lines()}
    assert after == before
    assert edition.problems("letters") == []


def test_resegmenting_adds_only_missing_lines_or_replaces_showing_what_it_could_not_map(segmented_copy):
    edition, root = segmented_copy, segmented_copy.root
    page = edition.load("letters").pages[0]
    first, _, third = (line.id for line in page.lines[:3])
    # A person deletes line 3 and writes the text of line 1.
    corrections.delete_line(edition, "letters", third, "tester", transcription.line_version(page.lines[2]))
    transcription.save_line(
        edition, "letters", first, "Живъ е той", transcription.line_version(page.lines[0]), "tester"
    )
    kept = {line.id: line for line in edition.load("letters").pages[0].lines}

    result = workbench_cli(root, "segment", "letters", "--pages", "1", "--mode", "add")
    assert result.returncode == 0, result.stderr
    lines = edition.load("letters").pages[0].lines
    assert all(kept[line.id] == line for line in lines if line.id in kept)  # every line as it was
    added = [line for line in lines if line.id not in kept]
    assert len(added) == 1 and abs(added[0].baseline[0][1] - page.lines[2].baseline[0][1]) < 15  # line 3 again
    assert edition.problems("letters") == []

    # Line 1 moved half a line down, between two written lines: no new line matches it.
    spacing = page.lines[1].baseline[0][1] - page.lines[0].baseline[0][1]
    with edition.edit("letters", who="tester", pages=["1"]) as manuscript:
        line = manuscript.page("1").lines[0]
        line.boundary = [(x, y + spacing // 2) for x, y in line.boundary]
        line.baseline = [(x, y + spacing // 2) for x, y in line.baseline]
    lines = edition.load("letters").pages[0].lines
    result = workbench_cli(root, "segment", "letters", "--pages", "1", "--mode", "replace")
    assert result.returncode == 0, result.stderr
    assert f"matched no new line, kept as they were: {first}" in result.stdout
    page_now = edition.load("letters").pages[0]
    assert corrections.unmapped_lines(edition, "letters", page_now) == [first]
    assert next(line.text for line in page_now.lines if line.id == first) == "Живъ е той"
    assert edition.problems("letters") == []
    # The re-segmentation is one change its author can undo.
    assert corrections.undo(edition, "letters", "1", "tester").action == "resegment"
    assert [line.id for line in edition.load("letters").pages[0].lines] == [line.id for line in lines]


def test_recognize_fills_only_empty_lines_with_a_real_kraken_model(segmented_copy, tmp_path):
    edition, root = segmented_copy, segmented_copy.root
    with edition.edit("letters", who="ivan") as manuscript:
        first = manuscript.pages[0].lines[0]
        first.text, first.status, first.resp = "Живъ е той", "verified", manuscript.source("transcription", "ivan").id
    model = untrained_model(tmp_path)
    result = workbench_cli(root, "recognize", "letters", "--model", str(model))
    assert result.returncode == 0, result.stderr
    manuscript = edition.load("letters")
    lines = manuscript.pages[0].lines
    assert lines[0].text == "Живъ е той" and lines[0].status == "verified"
    machine = [line for line in lines[1:] if line.text]
    assert machine, "the model read nothing at all"
    source_ids = {s.id: s for s in manuscript.sources}
    for line in machine:
        assert line.status == "automatic"
        assert source_ids[line.resp].name == model.name and source_ids[line.resp].kind == "recognition"
        assert 0 <= line.cert <= 1
    assert edition.problems("letters") == []


def test_recognize_with_a_file_that_is_not_a_model(segmented, tmp_path):
    source, _, _ = segmented
    fake = tmp_path / "model.mlmodel"
    fake.write_text("not a model")
    before = source.tei_path("letters").read_bytes()
    result = workbench_cli(source.root, "recognize", "letters", "--model", str(fake))
    assert result.returncode == 1
    assert "model.mlmodel is not a kraken recognition model" in result.stderr
    assert source.tei_path("letters").read_bytes() == before


def test_page_lists_are_checked_against_the_pages_without_expanding_ranges():
    from workbench.htr.pipeline import select_pages

    numbers = [str(n) for n in range(1, 501)]
    assert select_pages(numbers, None) == numbers
    assert select_pages(numbers, "3, 1,4-6,5") == ["3", "1", "4", "5", "6"]
    assert select_pages(numbers, "499-500") == ["499", "500"]
    with pytest.raises(WorkbenchError, match="no page 501"):
        select_pages(numbers, "1-999999999")  # answered at once: the range is never expanded
    with pytest.raises(WorkbenchError, match="no page 0"):
        select_pages(numbers, "0")
    with pytest.raises(WorkbenchError, match="ends before it starts"):
        select_pages(numbers, "6-4")
    with pytest.raises(WorkbenchError, match="not a page list"):
        select_pages(numbers, "1-x")
    with pytest.raises(WorkbenchError, match="no page 3"):
        select_pages(["1", "2", "4"], "2-4")
