"""Saving: validated, atomic, serialised per manuscript, journalled; nothing lost on failure."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.builders import REPO, make_manuscript
from workbench.edition import Edition
from workbench.model import WorkbenchError
from workbench.tei import codec
from workbench.tei.validation import InvalidDocument


@pytest.fixture
def four_lines(edition: Edition) -> Edition:
    edition.create(make_manuscript(lines=4), who="tester")
    return edition


def tei_bytes(edition: Edition) -> bytes:
    return edition.tei_path("ms1").read_bytes()


def test_edit_saves_valid_tei_and_journals_each_changed_line(four_lines):
    with four_lines.edit("ms1", who="ivan") as manuscript:
        line = manuscript.pages[0].lines[1]
        line.text, line.status, line.resp = (
            "потъненъ въ кърви",
            "corrected",
            manuscript.source("transcription", "ivan").id,
        )
    assert four_lines.problems("ms1") == []
    assert four_lines.load("ms1").pages[0].lines[1].text == "потъненъ въ кърви"
    entries = list(four_lines.journal.entries("ms1"))
    assert [(e.line, e.old, e.new, e.who, e.status) for e in entries] == [
        ("ms1_p1_l2", "", "потъненъ въ кърви", "ivan", "corrected")
    ]


def test_invalid_content_is_refused_and_the_file_stays_as_it_was(four_lines):
    before = tei_bytes(four_lines)
    with pytest.raises(WorkbenchError, match="not well-formed markup"):
        with four_lines.edit("ms1", who="ivan") as manuscript:
            manuscript.pages[0].lines[1].text = "<del>unclosed"
    with pytest.raises(InvalidDocument, match="outside its page"):
        with four_lines.edit("ms1", who="ivan") as manuscript:
            manuscript.pages[0].lines[1].boundary = [(0, 0), (5000, 0), (5000, 10)]
    assert tei_bytes(four_lines) == before
    assert list(four_lines.journal.entries("ms1")) == []


def test_a_failed_write_leaves_the_old_file_and_no_temporary(four_lines, monkeypatch):
    before = tei_bytes(four_lines)

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        with four_lines.edit("ms1", who="ivan") as manuscript:
            manuscript.pages[0].lines[1].text = "new text"
    assert tei_bytes(four_lines) == before
    assert [p.name for p in four_lines.tei_dir.iterdir()] == ["ms1.xml"]


SAVE_LOOP = """
import sys
from workbench.edition import Edition
edition = Edition(sys.argv[1])
for i in range(100000):
    with edition.edit("ms1", who="loop") as manuscript:
        for line in manuscript.pages[0].lines:
            line.text = f"version {i} " + "ѣ" * (i % 500)
"""


def test_a_crash_mid_save_never_leaves_a_broken_file(four_lines):
    # A real crash: a process saving in a loop is killed with SIGKILL at some instant.
    for delay in (1.5, 2.3, 3.1):
        child = subprocess.Popen([sys.executable, "-c", SAVE_LOOP, str(four_lines.root)], cwd=REPO)
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert four_lines.problems("ms1") == []
        text = four_lines.load("ms1").pages[0].lines[0].text
        assert text.startswith("version ")


def test_concurrent_editors_never_lose_each_others_lines(four_lines):
    # Two processes edit different lines of the same manuscript at the same time.
    script = """
import sys
from workbench.edition import Edition
edition = Edition(sys.argv[1])
line_index = int(sys.argv[2])
for i in range(15):
    with edition.edit("ms1", who=f"editor{line_index}") as manuscript:
        manuscript.pages[0].lines[line_index].text = f"editor {line_index}, save {i}"
"""
    children = [
        subprocess.Popen([sys.executable, "-c", script, str(four_lines.root), str(k)], cwd=REPO) for k in (1, 2)
    ]
    assert [child.wait(timeout=120) for child in children] == [0, 0]
    lines = four_lines.load("ms1").pages[0].lines
    assert lines[1].text == "editor 1, save 14"
    assert lines[2].text == "editor 2, save 14"
    assert len(list(four_lines.journal.entries("ms1"))) == 30


def test_a_hand_edited_invalid_file_is_not_overwritten(four_lines):
    path = four_lines.tei_path("ms1")
    broken = path.read_bytes().replace(b'type="corrected"', b'type="half-done"')
    path.write_bytes(broken)
    with pytest.raises(InvalidDocument, match="changed outside the workbench") as caught:
        with four_lines.edit("ms1", who="ivan") as manuscript:
            manuscript.pages[0].lines[1].text = "anything"
    assert "type must be one of automatic, corrected, verified" in str(caught.value)
    assert path.read_bytes() == broken


def test_unknown_manuscript_and_path_traversal_ids(edition):
    with pytest.raises(WorkbenchError, match="no manuscript 'nothing'"):
        edition.load("nothing")
    for bad in ("../x", "a/b", "", ".hidden", "x" * 65):
        with pytest.raises(WorkbenchError, match="not a valid manuscript id"):
            edition.load(bad)
    assert not (edition.root.parent / "x.xml").exists()


def test_add_pages_copies_images_unchanged_with_checksums(edition, tmp_path):
    edition.create(make_manuscript(pages=0), who="tester")
    jpeg, tiff = tmp_path / "a.jpg", tmp_path / "b.tif"
    Image.new("L", (500, 700), 200).save(jpeg)
    frames = [Image.new("L", (400, 500), s) for s in (10, 20)]
    frames[0].save(tiff, save_all=True, append_images=frames[1:])
    added = edition.add_pages("ms1", [jpeg, tiff], who="tester")
    assert [(p.n, p.image, p.frame) for p in added.pages] == [
        ("1", "a.jpg", None),
        ("2", "b.tif", 0),
        ("3", "b.tif", 1),
    ]
    folder = edition.facsimile_dir / "ms1"
    assert (folder / "a.jpg").read_bytes() == jpeg.read_bytes()
    sums = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True, text=True)
    assert sums.returncode == 0, sums.stdout
    data = tei_bytes(edition)
    assert b'url="../facsimiles/ms1/b.tif#page=2"' in data
    assert [p.frame for p in codec.parse_manuscript(data).pages] == [None, 0, 1]
    again = edition.add_pages("ms1", [jpeg], who="tester")
    assert (again.pages, again.skipped) == ([], ["a.jpg"])


def test_one_bad_image_means_no_page_is_added(edition, tmp_path):
    edition.create(make_manuscript(pages=0), who="tester")
    good, bad = tmp_path / "good.png", tmp_path / "bad.png"
    Image.new("L", (500, 700), 200).save(good)
    bad.write_text("not an image")
    before = tei_bytes(edition)
    with pytest.raises(WorkbenchError, match=r"no pages were added:\n  bad.png: not an image"):
        edition.add_pages("ms1", [good, bad], who="tester")
    assert tei_bytes(edition) == before
    assert not (edition.facsimile_dir / "ms1" / "good.png").exists()


def test_create_refuses_an_existing_manuscript(four_lines):
    with pytest.raises(WorkbenchError, match="already exists"):
        four_lines.create(make_manuscript(), who="tester")


def test_journal_keeps_the_text_of_removed_lines(four_lines):
    with four_lines.edit("ms1", who="ivan") as manuscript:
        manuscript.pages[0].lines = manuscript.pages[0].lines[1:]
    (entry,) = four_lines.journal.entries("ms1")
    assert (entry.event, entry.line, entry.old) == ("removed", "ms1_p1_l1", "Живъ е той")


def test_the_sample_edition_loads(sample_edition):
    manuscript = sample_edition.load("trifonov-sample")
    assert len(manuscript.pages) == 2
    assert all(line.text for line in manuscript.lines())
    assert Path(sample_edition.image_path("trifonov-sample", manuscript.pages[0])).is_file()


def test_a_page_save_writes_the_same_document_as_a_full_save(edition):
    edition.create(make_manuscript(pages=3), who="tester")
    with edition.edit("ms1", who="ivan", pages=["2"]) as manuscript:
        manuscript.pages[1].lines[2].text = '<add place="above">нѣщо</add> ново'
        manuscript.pages[1].lines[2].status = "corrected"
        manuscript.pages[1].lines[2].resp = manuscript.source("transcription", "ivan").id
    on_disk = edition.tei_path("ms1").read_bytes()
    assert on_disk == codec.document_bytes(codec.parse_manuscript(on_disk))
    assert edition.problems("ms1") == []
    assert edition.load("ms1").pages[1].lines[2].text == '<add place="above">нѣщо</add> ново'


def test_a_page_save_validates_the_page_and_refuses_ids_of_other_pages(edition):
    edition.create(make_manuscript(pages=2), who="tester")
    before = edition.tei_path("ms1").read_bytes()
    with pytest.raises(InvalidDocument, match="outside its page"):
        with edition.edit("ms1", who="ivan", pages=["2"]) as manuscript:
            manuscript.pages[1].lines[0].boundary = [(0, 0), (5000, 0), (5000, 10)]
    with pytest.raises(InvalidDocument, match="'ms1_p1_l1' on page 2 is used elsewhere"):
        with edition.edit("ms1", who="ivan", pages=["2"]) as manuscript:
            manuscript.pages[1].lines[0].id = "ms1_p1_l1"
    assert edition.tei_path("ms1").read_bytes() == before
    # The refused changes did not stay behind in memory either.
    with edition.edit("ms1", who="ivan", pages=["1"]) as manuscript:
        manuscript.pages[0].lines[1].text = "fine"
    reloaded = edition.load("ms1")
    assert reloaded.pages[1].lines[0].id == "ms1_p2_l1"
    assert reloaded.pages[1].lines[0].boundary[1] == (900, 110)


def test_a_valid_change_made_by_hand_between_saves_is_kept(four_lines):
    with four_lines.edit("ms1", who="ivan", pages=["1"]) as manuscript:
        manuscript.pages[0].lines[1].text = "first"
    path = four_lines.tei_path("ms1")
    path.write_bytes(path.read_bytes().replace(b"Test manuscript", b"Edited by hand"))
    with four_lines.edit("ms1", who="ivan", pages=["1"]) as manuscript:
        manuscript.pages[0].lines[2].text = "second"
    reloaded = four_lines.load("ms1")
    assert reloaded.title == "Edited by hand"
    assert [line.text for line in reloaded.pages[0].lines[1:3]] == ["first", "second"]


def test_concurrent_line_saves_are_grouped_and_each_is_journalled_under_its_editor(edition):
    import threading

    from workbench import transcription

    edition.create(make_manuscript(pages=4, lines=6), who="tester")
    start = threading.Barrier(12)
    results: dict[str, object] = {}

    def editor(k: int) -> None:
        page, line = k % 4 + 1, k // 4 + 1  # twelve different lines
        line_id = f"ms1_p{page}_l{line}"
        current = next(line for line in edition.load("ms1").lines() if line.id == line_id)
        start.wait()
        results[line_id] = transcription.save_line(
            edition, "ms1", line_id, f"text {k}", transcription.line_version(current), f"editor{k}"
        )

    threads = [threading.Thread(target=editor, args=(k,)) for k in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 12
    lines = {line.id: line for line in edition.load("ms1").lines()}
    journal = {(entry.line, entry.new, entry.who) for entry in edition.journal.entries("ms1")}
    for k in range(12):
        line_id = f"ms1_p{k % 4 + 1}_l{k // 4 + 1}"
        assert lines[line_id].text == f"text {k}"
        assert (line_id, f"text {k}", f"editor{k}") in journal
    assert edition.problems("ms1") == []


def test_in_a_group_a_conflict_fails_alone(edition):
    from workbench import transcription
    from workbench.model import Line as ModelLine

    edition.create(make_manuscript(lines=3), who="tester")
    base = transcription.line_version(edition.load("ms1").pages[0].lines[1])

    def change(text):
        def apply(manuscript):
            line = manuscript.pages[0].lines[1]
            if transcription.line_version(line) != base:
                raise transcription.Conflict(line, None)
            line.text = text
            return ModelLine(line.id, [], [])

        return apply

    from workbench.edition import _Pending

    group = [_Pending("1", change("first"), "a"), _Pending("1", change("second"), "b")]
    edition._save_group("ms1", group)
    assert group[0].error is None and isinstance(group[1].error, transcription.Conflict)
    assert edition.load("ms1").pages[0].lines[1].text == "first"


def test_header_and_page_numbers_without_copying_pages(edition):
    edition.create(make_manuscript("ms1", pages=3), who="tester")
    header = edition.header("ms1")
    assert (header.title, header.pages, header.published) == ("Test manuscript", [], False)
    assert edition.page_numbers("ms1") == ["1", "2", "3"]
    assert [summary.n for summary in edition.summary("ms1").pages] == edition.page_numbers("ms1")
