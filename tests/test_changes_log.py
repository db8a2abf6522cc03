"""Several processes on one edition: a save made by one is seen by the others from the
changes log (the saved pages only), and anything the log does not account for (a hand
edit, a torn or missing log, a whole-document save) makes them read the whole file again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.builders import REPO, make_manuscript
from workbench.edition import Edition
from workbench.tei import codec, validation


def _text(edition: Edition, page_n: str, line: int) -> str:
    return edition.read("ms1", page_n).pages[0].lines[line].text


def _set_text(edition: Edition, page_n: str, line: int, text: str) -> None:
    with edition.edit("ms1", "tester", pages=[page_n]) as manuscript:
        manuscript.page(page_n).lines[line].text = text


@pytest.fixture
def two(tmp_path: Path) -> tuple[Edition, Edition]:
    """Two Edition objects on one folder, as two server processes have; both have read it."""
    first = Edition(tmp_path / "edition")
    first.create(make_manuscript(pages=6, lines=4), "tester")
    second = Edition(tmp_path / "edition")
    assert _text(second, "1", 0) == "Живъ е той"
    return first, second


def test_a_save_in_one_process_is_read_by_another_from_the_log(two):
    first, second = two
    reads = second.full_reads
    _set_text(first, "3", 1, "нѣщо ново")
    _set_text(first, "5", 2, "и още")
    first.set_metadata("ms1", {"title": "Ново заглавие"}, "tester")  # a header-only save
    assert _text(second, "3", 1) == "нѣщо ново"
    assert _text(second, "5", 2) == "и още"
    assert second.header("ms1").title == "Ново заглавие"
    assert second.full_reads == reads  # the two pages and the header only
    # What the second process now holds is the file, byte for byte: its next save keeps
    # the first's changes.
    _set_text(second, "1", 3, "от втория")
    assert _text(first, "1", 3) == "от втория"
    assert _text(first, "3", 1) == "нѣщо ново"
    on_disk = first.tei_path("ms1").read_bytes()
    assert codec.document_bytes(Edition(first.root).load("ms1")) == on_disk
    assert second.full_reads == reads and first.full_reads == 0  # first wrote the file it holds


def test_pages_caught_up_carry_new_revisions_for_the_indexer(two):
    first, second = two
    before = second.page_revisions("ms1")
    _set_text(first, "4", 0, "нова")
    after = second.page_revisions("ms1")
    assert after.generation == before.generation
    assert [n for n in after.pages if after.pages[n] != before.pages[n]] == ["4"]


def test_a_hand_edit_after_a_save_is_read_whole_and_validated(two):
    first, second = two
    _set_text(first, "2", 0, "запазено")
    path = first.tei_path("ms1")
    path.write_bytes(path.read_bytes().replace("запазено".encode(), "ръчно".encode()))
    reads = second.full_reads
    assert _text(second, "2", 0) == "ръчно"
    assert second.full_reads == reads + 1
    # An invalid hand edit is refused, as before the log.
    path.write_bytes(path.read_bytes().replace(b'type="line"', b'type="lines"', 1))
    with pytest.raises(validation.InvalidDocument):
        second.read("ms1")


def test_a_torn_or_missing_log_falls_back_to_a_whole_read(two):
    first, second = two
    log = first.changes_log("ms1")
    _set_text(first, "2", 0, "първо")
    log.write_bytes(log.read_bytes()[:-20])  # the last record torn
    reads = second.full_reads
    assert _text(second, "2", 0) == "първо"
    assert second.full_reads == reads + 1
    _set_text(first, "3", 0, "второ")
    log.unlink()
    assert _text(second, "3", 0) == "второ"
    assert second.full_reads == reads + 2
    # The log starts again with the next save, and the other process is back on it.
    _set_text(first, "4", 0, "трето")
    assert _text(second, "4", 0) == "трето"
    assert second.full_reads == reads + 2


def test_a_log_that_lies_about_sizes_is_not_believed(two):
    first, second = two
    _set_text(first, "2", 0, "първо")
    log = first.changes_log("ms1")
    record = json.loads(log.read_bytes().splitlines()[-1])
    record["pages"]["ms1_p2"][1] -= 3  # the text part 3 bytes short: the sizes no longer add up
    log.write_text(json.dumps(record) + "\n")
    reads = second.full_reads
    assert _text(second, "2", 0) == "първо"
    assert second.full_reads == reads + 1


def test_a_whole_document_save_leaves_a_gap(two):
    first, second = two
    with first.edit("ms1", "tester") as manuscript:  # no pages named: the whole document
        manuscript.pages[0].lines[0].text = "цяло"
    reads = second.full_reads
    assert _text(second, "1", 0) == "цяло"
    assert second.full_reads == reads + 1


def test_two_real_processes(tmp_path: Path):
    """A process that saves, another that reads: the reader sees each save without parsing the file again."""
    root = tmp_path / "edition"
    Edition(root).create(make_manuscript(pages=20, lines=4), "tester")
    script = """
import sys
from workbench.edition import Edition
edition = Edition(sys.argv[1])
for k in range(10):
    with edition.edit("ms1", "saver", pages=[str(k + 1)]) as manuscript:
        manuscript.page(str(k + 1)).lines[2].text = f"от другия процес {k}"
"""
    reader = Edition(root)
    assert reader.read("ms1").pages[0].lines[2].text == ""
    subprocess.run(
        [sys.executable, "-c", script, str(root)], check=True, cwd=REPO, env={"PYTHONPATH": str(REPO)}, timeout=120
    )
    reads = reader.full_reads
    texts = [page.lines[2].text for page in reader.read("ms1").pages]
    assert texts[:10] == [f"от другия процес {k}" for k in range(10)] and texts[10:] == [""] * 10
    assert reader.full_reads == reads


def test_the_old_file_is_freed_after_the_save_and_leftovers_with_it(tmp_path: Path):
    """A save renames the new TEI over a second link to the old one (the rename then frees
    nothing) and a thread unlinks that link afterwards, with any left by a process that died."""
    edition = Edition(tmp_path / "edition")
    edition.create(make_manuscript(pages=3), "tester")
    leftover = edition.tei_dir / ".ms1.xml.deadbeef.old.tmp"
    leftover.write_bytes(b"an old copy a killed process left")
    freed = []
    real_link = os.link
    os.link = lambda source, target: (freed.append(Path(target)), real_link(source, target))[1]
    try:
        _set_text(edition, "2", 1, "ново")
    finally:
        os.link = real_link
    [old] = freed
    assert old.parent == edition.tei_dir and old.name.startswith(".ms1.xml.") and old.name.endswith(".old.tmp")
    deadline = time.monotonic() + 10
    while (old.exists() or leftover.exists()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not old.exists() and not leftover.exists()
    assert sorted(p.name for p in edition.tei_dir.iterdir()) == ["ms1.xml"]
    assert Edition(edition.root).read("ms1", "2").pages[0].lines[1].text == "ново"


def test_a_record_of_the_wrong_shape_is_not_believed(two):
    first, second = two
    _set_text(first, "2", 0, "първо")
    log = first.changes_log("ms1")
    record = json.loads(log.read_bytes().splitlines()[-1])
    record["pages"] = [record["pages"]]  # a list where a mapping belongs
    log.write_text(json.dumps(record) + "\n")
    reads = second.full_reads
    assert _text(second, "2", 0) == "първо"
    assert second.full_reads == reads + 1


def test_the_log_is_cut_back_and_a_process_too_far_behind_reads_the_file(two, monkeypatch):
    import workbench.edition

    monkeypatch.setattr(workbench.edition, "CHANGES_LOG_LIMIT", 2000)
    first, second = two
    third = Edition(first.root)
    assert _text(third, "1", 0) == "Живъ е той"  # third has read the file before the saves
    reads = second.full_reads
    for k in range(40):
        _set_text(first, str(k % 6 + 1), 2, f"поправка {k}")
        assert _text(second, str(k % 6 + 1), 2) == f"поправка {k}"  # second keeps up after each save
    log = first.changes_log("ms1")
    assert log.stat().st_size <= 2000 + 300 and len(log.read_bytes().splitlines()) < 40
    assert second.full_reads == reads
    reads = third.full_reads
    assert _text(third, "4", 2) == "поправка 39"  # its first saves were cut from the log
    assert third.full_reads == reads + 1


def test_a_save_during_another_process_whole_read_is_neither_missed_nor_undone(tmp_path: Path, monkeypatch):
    # A whole read validates and parses for seconds at 15,000 lines; a save by another
    # process meanwhile replaced the file, and the reader took the new file's key for
    # the old content: it served the old text, and its next save wrote it back over the
    # other process's (bench/mixed_load.py: the indexer re-read the file again and again).
    first = Edition(tmp_path / "edition")
    first.create(make_manuscript(pages=6, lines=4), "tester")
    second = Edition(tmp_path / "edition")
    check = validation.check_project
    saved = []

    def check_while_another_process_saves(tree, *args, **kwargs):
        if not saved:
            saved.append(True)
            _set_text(first, "2", 0, "записано другаде")
        return check(tree, *args, **kwargs)

    monkeypatch.setattr(validation, "check_project", check_while_another_process_saves)
    assert _text(second, "1", 0) == "Живъ е той"  # the whole read, during which the other saved
    assert saved
    assert _text(second, "2", 0) == "записано другаде"  # not the text read before that save
    _set_text(second, "3", 0, "и тукъ")
    assert _text(Edition(tmp_path / "edition"), "2", 0) == "записано другаде"  # not undone
    assert _text(Edition(tmp_path / "edition"), "3", 0) == "и тукъ"
