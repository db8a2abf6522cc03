"""Keeping the index in step with tei/ (indexing.py): published manuscripts, changed pages only."""

from __future__ import annotations

import time

from tests.builders import make_manuscript
from workbench import transcription
from workbench.search import index as search_index
from workbench.search.index import Query
from workbench.search.indexing import Indexer, IndexerThread, line_records
from workbench.tei.text import diplomatic_text


def published_manuscript(edition, manuscript_id="ms1", pages=2):
    manuscript = make_manuscript(manuscript_id, pages=pages)
    manuscript.pages[0].lines[1].text = "бѣли <choice><abbr>рѫк.</abbr><expan>рѫкави</expan></choice> <del>градъ</del>"
    manuscript.pages[0].lines[1].status = "corrected"
    manuscript.pages[0].lines[1].resp = manuscript.pages[0].lines[0].resp
    edition.create(manuscript, who="tester")
    edition.set_published(manuscript_id, True, "tester")
    return manuscript


def found(indexer: Indexer, text: str, **options) -> list[str]:
    return [hit.line_id for hit in indexer.index.search(Query(text, **options)).hits]


def test_publishing_is_recorded_in_the_tei_and_survives_a_reload(edition):
    published_manuscript(edition)
    assert edition.load("ms1").published
    assert b'<revisionDesc status="published">' in edition.tei_path("ms1").read_bytes()
    assert edition.problems("ms1", tei_all=True) == []
    edition.set_published("ms1", False, "tester")
    assert not edition.load("ms1").published
    assert [c.text for c in edition.load("ms1").changes][-2:] == [
        "published for readers by tester",
        "withdrawn from readers by tester",
    ]


def test_only_published_manuscripts_are_indexed(edition):
    published_manuscript(edition, "ms1")
    edition.create(make_manuscript("ms2"), who="tester")  # "Живъ е той", not published
    indexer = Indexer(edition)
    indexer.catch_up()
    assert found(indexer, "жив") == ["ms1_p1_l1", "ms1_p2_l1"]
    edition.set_published("ms2", True, "tester")
    indexer.catch_up()
    assert len(found(indexer, "жив")) == 3
    edition.set_published("ms1", False, "tester")
    indexer.catch_up()
    assert found(indexer, "жив") == ["ms2_p1_l1"]


def test_reading_text_is_searched_and_exact_mode_searches_as_written(edition):
    published_manuscript(edition)
    indexer = Indexer(edition)
    indexer.catch_up()
    assert found(indexer, "ръкави") == ["ms1_p1_l2"]  # the expansion
    assert found(indexer, "град") == []  # deleted
    assert found(indexer, "рѫк.", exact=True) == ["ms1_p1_l2"]  # the abbreviation, as written
    assert found(indexer, "градъ", exact=True) == ["ms1_p1_l2"]  # deleted, but written


def test_a_saved_line_is_reindexed_with_its_page_only(edition, monkeypatch):
    published_manuscript(edition)
    indexer = Indexer(edition)
    assert indexer.catch_up() == 2
    line = edition.load("ms1").pages[1].lines[2]
    transcription.save_line(edition, "ms1", line.id, "пѫть къмъ морето", transcription.line_version(line), "ivan")
    replaced = []
    original = indexer.index.replace_pages
    monkeypatch.setattr(
        indexer.index, "replace_pages", lambda m, ns, rs, **o: replaced.append(list(ns)) or original(m, ns, rs, **o)
    )
    assert indexer.catch_up() == 1
    assert replaced == [["2"]]
    assert found(indexer, "път") == ["ms1_p2_l3"]
    assert indexer.catch_up() == 0  # nothing changed since


def test_of_a_saved_page_only_the_changed_line_is_written_again(edition):
    # Writing the page's every line again made each save a segment of ~1,500 terms
    # (~0.1 s of the indexer's CPU, most of a core under eight editors).
    published_manuscript(edition)
    with edition.edit("ms1", "ivan", pages=["2"]) as manuscript:
        for k, line in enumerate(manuscript.page("2").lines, start=1):
            line.text = f"редъ {k} отъ страницата"
    indexer = Indexer(edition)
    indexer.catch_up()
    index = indexer.index.index

    def written_since(segments: set[str]) -> int:
        return sum(segment.doc_count() for segment in index._segments() if segment.segment_id() not in segments)

    lines = edition.load("ms1").pages[1].lines
    assert len(lines) >= 3
    saved, last = lines[1], lines[-1]
    transcription.save_line(edition, "ms1", saved.id, "пѫть къмъ морето", transcription.line_version(saved), "ivan")
    before = {segment.segment_id() for segment in index._segments()}
    assert indexer.catch_up() == 1
    assert written_since(before) == 1  # the saved line, not its page
    assert found(indexer, "път") == [saved.id]
    assert found(indexer, "страницата") == [ln.id for ln in lines if ln.id != saved.id]

    with edition.edit("ms1", "ivan", pages=["2"]) as manuscript:
        manuscript.page("2").lines.pop()
    before = {segment.segment_id() for segment in index._segments()}
    assert indexer.catch_up() == 1
    assert written_since(before) == 0  # a line gone is only deleted
    assert found(indexer, "страницата") == [ln.id for ln in lines if ln.id not in (saved.id, last.id)]


def test_a_save_in_this_process_copies_only_its_page_for_the_index(edition, monkeypatch):
    # A published 15,000-line manuscript is corrected for years: the indexer must not copy
    # every page after each save (it held the manuscript's lock for ~0.1 s).
    published_manuscript(edition, pages=5)
    indexer = Indexer(edition)
    assert indexer.catch_up() == 5
    copied = []
    read = edition.read
    monkeypatch.setattr(edition, "read", lambda m, n=None: copied.append(n) or read(m, n))
    line = edition.load("ms1").pages[3].lines[0]
    transcription.save_line(edition, "ms1", line.id, "пѫть къмъ морето", transcription.line_version(line), "ivan")
    assert indexer.catch_up() == 1
    assert copied == ["4"]
    assert found(indexer, "път") == ["ms1_p4_l1"]
    assert found(indexer, "жив") == [f"ms1_p{n}_l1" for n in (1, 2, 3, 5)]  # the other pages kept


def test_a_save_by_another_process_is_still_found_page_by_page(edition, tmp_path):
    from workbench.edition import Edition

    published_manuscript(edition, pages=3)
    indexer = Indexer(edition)
    indexer.catch_up()
    other = Edition(edition.root)  # another process's view: this process's revisions cannot tell
    line = other.load("ms1").pages[2].lines[0]
    time.sleep(0.01)  # a distinct mtime
    transcription.save_line(other, "ms1", line.id, "пѫть къмъ морето", transcription.line_version(line), "ivan")
    assert indexer.catch_up() == 1  # read in full, but only the changed page replaced
    assert found(indexer, "път") == ["ms1_p3_l1"]
    line = edition.load("ms1").pages[0].lines[0]
    transcription.save_line(edition, "ms1", line.id, "морето", transcription.line_version(line), "ivan")
    assert indexer.catch_up() == 1
    assert sorted(found(indexer, "море")) == ["ms1_p1_l1", "ms1_p3_l1"]


def test_pages_added_or_renamed_by_a_whole_save_are_all_reconsidered(edition):
    published_manuscript(edition, pages=2)
    indexer = Indexer(edition)
    indexer.catch_up()
    edition.set_metadata("ms1", {"title": "Друго заглавие"}, "ivan")  # the title is on every record
    assert indexer.catch_up() == 2
    assert {hit.title for hit in indexer.index.search(Query("жив")).hits} == {"Друго заглавие"}


def test_a_fresh_indexer_finds_the_index_up_to_date(edition):
    published_manuscript(edition)
    Indexer(edition).catch_up()
    assert Indexer(edition).catch_up() == 0


def test_rebuild_indexes_everything_again(edition):
    published_manuscript(edition)
    indexer = Indexer(edition)
    indexer.catch_up()
    progress = []
    assert indexer.rebuild(progress=lambda m, done, total: progress.append((m, done, total))) == 2
    assert progress[-1] == ("ms1", 2, 2)
    assert found(indexer, "жив") == ["ms1_p1_l1", "ms1_p2_l1"]


def test_a_removed_manuscript_leaves_the_index(edition):
    published_manuscript(edition)
    indexer = Indexer(edition)
    indexer.catch_up()
    edition.tei_path("ms1").unlink()
    indexer.catch_up()
    assert found(indexer, "жив") == []


def test_an_invalid_file_on_disk_keeps_what_was_indexed(edition):
    published_manuscript(edition)
    indexer = Indexer(edition)
    indexer.catch_up()
    edition.tei_path("ms1").write_text("<TEI>broken")
    assert indexer.catch_up() == 0
    assert found(indexer, "жив") == ["ms1_p1_l1", "ms1_p2_l1"]


def test_lines_without_text_are_not_indexed(edition):
    manuscript = published_manuscript(edition)
    records = line_records(manuscript, manuscript.pages[1])
    assert [r.line_id for r in records] == ["ms1_p2_l1"]
    assert records[0].diplomatic == diplomatic_text("Живъ е той")


def test_background_thread_makes_a_save_findable_without_being_told(edition):
    # How fast is bench/search.py's business; here only that it happens.
    published_manuscript(edition)
    indexer = Indexer(edition)
    thread = IndexerThread(indexer, interval=0.2)
    thread.start()
    try:
        line = edition.load("ms1").pages[0].lines[2]
        saved_at = time.monotonic()
        transcription.save_line(edition, "ms1", line.id, "звѣздитѣ грѣятъ", transcription.line_version(line), "ivan")
        while not found(indexer, "звездите") and time.monotonic() - saved_at < 30:
            time.sleep(0.05)
        assert found(indexer, "звездите") == ["ms1_p1_l3"]
    finally:
        thread.stop()
        thread.join()


def test_an_index_of_another_version_is_filled_again_from_tei(edition, monkeypatch):
    published_manuscript(edition)
    Indexer(edition).catch_up()
    monkeypatch.setattr(search_index, "SCHEMA_VERSION", search_index.SCHEMA_VERSION + 1)
    indexer = Indexer(edition)
    assert indexer.catch_up() == 2
    assert found(indexer, "жив") == ["ms1_p1_l1", "ms1_p2_l1"]
