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


def text_of(edition: Edition, page: str, line: int) -> str:
    return edition.read("ms1", page).pages[0].lines[line].text


def test_a_read_during_a_save_does_not_wait_for_it_and_sees_the_manuscript_as_it_was(four_lines):
    # Readers (the reading room, the editor's own page) must not queue behind a save's
    # validation and fsyncs: the save changes a copy until its file is in place.
    import threading

    seen: list[str] = []
    with four_lines.edit("ms1", who="ivan", pages=["1"]) as manuscript:
        manuscript.pages[0].lines[1].text = "новъ текстъ"
        reader = threading.Thread(target=lambda: seen.append(text_of(four_lines, "1", 1)))
        reader.start()
        reader.join(timeout=10)
        assert not reader.is_alive(), "the read waited for the save"
    assert seen == [""]
    assert text_of(four_lines, "1", 1) == "новъ текстъ"


def test_a_refused_save_leaves_nothing_changed_for_readers(four_lines):
    with pytest.raises(WorkbenchError, match="not well-formed markup"):
        with four_lines.edit("ms1", who="ivan", pages=["1"]) as manuscript:
            manuscript.pages[0].lines[1].text = "<del>unclosed"
            manuscript.title = "Друго заглавие"
    assert text_of(four_lines, "1", 1) == ""
    assert four_lines.header("ms1").title == "Test manuscript"
    with pytest.raises(OSError, match="disk full"):
        with four_lines.edit("ms1", who="ivan", pages=["1"]) as manuscript:
            manuscript.pages[0].lines[1].text = "не се записа"
            os_replace = os.replace

            def full(*args):
                os.replace = os_replace
                raise OSError("disk full")

            os.replace = full
    assert text_of(four_lines, "1", 1) == ""
    assert four_lines.problems("ms1") == []


def test_a_read_between_the_rename_and_the_swap_neither_reads_the_file_nor_sees_the_save(four_lines, monkeypatch):
    # After the rename the new file is on disk, but the save is not done (its folder is
    # not yet fsynced): a read then keeps the manuscript as it was, and does not take the
    # unknown file for another process's save (a 15,000-line file takes 4 s to read).
    import threading

    from workbench import files

    four_lines.read("ms1")
    reads_before, seen = four_lines.full_reads, []
    real_fsync = files._fsync

    def fsync(path: Path) -> None:
        if path == four_lines.tei_dir:  # the folder: the file was renamed into place
            reader = threading.Thread(target=lambda: seen.append(text_of(four_lines, "1", 2)))
            reader.start()
            reader.join(timeout=10)
        real_fsync(path)

    monkeypatch.setattr(files, "_fsync", fsync)
    with four_lines.edit("ms1", who="ivan", pages=["1"]) as manuscript:
        manuscript.pages[0].lines[2].text = "прѣименуванъ"
    assert seen == [""] and four_lines.full_reads == reads_before
    assert text_of(four_lines, "1", 2) == "прѣименуванъ" and four_lines.full_reads == reads_before


def test_reads_never_see_half_a_save(edition):
    # One save changes a line on each of two pages and the header; readers, reading all
    # the while, see every save whole or not at all.
    import threading

    edition.create(make_manuscript(pages=3, lines=2), who="tester")

    def save(k: int) -> None:
        with edition.edit("ms1", who="ivan", pages=["1", "3"]) as manuscript:
            manuscript.pages[0].lines[0].text = manuscript.pages[2].lines[1].text = manuscript.title = f"v{k}"

    def state(manuscript) -> set[str]:
        return {manuscript.pages[0].lines[0].text, manuscript.pages[2].lines[1].text, manuscript.title}

    save(0)
    stop, seen = threading.Event(), []

    def reader() -> None:
        while not stop.is_set():
            seen.append(state(edition.read("ms1")))

    readers = [threading.Thread(target=reader) for _ in range(3)]
    for thread in readers:
        thread.start()
    try:
        for k in range(1, 30):
            save(k)
    finally:
        stop.set()
        for thread in readers:
            thread.join()
    assert len(seen) > 30 and [s for s in seen if len(s) != 1] == []
    assert len({next(iter(s)) for s in seen}) > 1  # the readers saw saves happen
    assert state(edition.read("ms1")) == {"v29"}


def test_a_line_save_validates_only_its_changed_lines_yet_refuses_all_a_page_check_would(four_lines):
    from workbench.edition import _changed_part

    before = four_lines.read("ms1", "1").pages[0]
    page = before.copy()
    page.lines[2].text = "<hi>нѣщо</hi>"
    part = _changed_part("ms1", before, page, codec.page_parts("ms1", page))
    assert part.text.count(b"<lb ") == 1 and b"ms1_p1_l3_t" in part.text  # one line of four
    page.regions[0].boundary = [(0, 0), (900, 0), (900, 900)]
    assert _changed_part("ms1", before, page, codec.page_parts("ms1", page)).text.count(b"<lb ") == 4

    refusals = [
        (lambda line: setattr(line, "boundary", [(0, 0), (5000, 0), (5000, 10)]), "outside its page"),
        (lambda line: setattr(line, "region", "ms1_p1_r9"), "does not point at a region zone"),
        (lambda line: setattr(line, "id", "ms1_p1_l1"), "ms1_p1_l1"),  # another line's id on the page
        (lambda line: setattr(line, "text", '<hi xml:id="ms1_p1">x</hi>'), "xml:id is not allowed inside a line"),
    ]
    saved = tei_bytes(four_lines)
    for change, complaint in refusals:
        with pytest.raises((WorkbenchError, InvalidDocument), match=complaint):
            with four_lines.edit("ms1", who="ivan", pages=["1"]) as manuscript:
                change(manuscript.pages[0].lines[2])
    assert tei_bytes(four_lines) == saved and four_lines.problems("ms1") == []


def test_the_file_is_replaced_only_once_the_journal_has_the_change(four_lines, monkeypatch):
    # The journal's append runs beside the writing of the new file: the rename still
    # waits for it, and a journal that cannot be written stops the save.
    from workbench import files
    from workbench.journal import Journal

    order: list[str] = []
    real_append, real_replace = Journal.append, os.replace

    def append(journal, manuscript_id, entries):
        time.sleep(0.3)  # slower than writing the new file
        real_append(journal, manuscript_id, entries)
        order.append("journal")

    def replace(source, target):
        order.append("rename")
        real_replace(source, target)

    monkeypatch.setattr(Journal, "append", append)
    monkeypatch.setattr(files.os, "replace", replace)
    with four_lines.edit("ms1", who="ivan", pages=["1"]) as manuscript:
        manuscript.pages[0].lines[1].text = "първо"
    assert order == ["journal", "rename"]

    def fail(journal, manuscript_id, entries):
        raise OSError("journal disk full")

    monkeypatch.setattr(Journal, "append", fail)
    before = tei_bytes(four_lines)
    with pytest.raises(OSError, match="journal disk full"):
        with four_lines.edit("ms1", who="ivan", pages=["1"]) as manuscript:
            manuscript.pages[0].lines[1].text = "второ"
    assert tei_bytes(four_lines) == before and text_of(four_lines, "1", 1) == "първо"


def test_a_large_manuscript_read_whole_is_left_out_of_full_garbage_collections(edition):
    # Millions of objects that every full collection walked, stopping all the server's
    # threads for 110-175 ms at 15,000 lines (bench/mixed_load.py).
    import gc

    from workbench.edition import LARGE_MANUSCRIPT

    edition.create(make_manuscript(pages=LARGE_MANUSCRIPT // 20 + 1, lines=20), who="tester")
    small = Edition(edition.root)
    small.create(make_manuscript("ms2"), who="tester")
    try:
        gc.unfreeze()
        Edition(edition.root).read("ms2")
        assert gc.get_freeze_count() == 0
        reader = Edition(edition.root)
        reader.read("ms1")
        frozen = gc.get_freeze_count()
        lines = reader._documents["ms1"].manuscript.pages[0].lines
        collected = {id(thing) for thing in gc.get_objects()}  # what full collections walk
        assert frozen > LARGE_MANUSCRIPT and not any(id(line) in collected for line in lines)
    finally:
        gc.unfreeze()


def test_a_process_forked_after_saves_can_save(four_lines):
    # The journal's thread is the parent's: a forked child (multiprocessing's default on
    # Linux) needs one of its own, or its first save waits for good.
    import multiprocessing

    with four_lines.edit("ms1", who="ivan", pages=["1"]) as manuscript:
        manuscript.pages[0].lines[1].text = "въ родителя"
    child = multiprocessing.get_context("fork").Process(target=_save_in_child, args=(four_lines.root,))
    child.start()
    child.join(timeout=60)
    if child.exitcode is None:
        child.kill()
    assert child.exitcode == 0
    assert Edition(four_lines.root).read("ms1", "1").pages[0].lines[2].text == "въ детето"


def _save_in_child(root: Path) -> None:
    edition = Edition(root)
    with edition.edit("ms1", who="ivan", pages=["1"]) as manuscript:
        manuscript.pages[0].lines[2].text = "въ детето"
