"""The index's ``refs`` field: the lines that name a person, place or work, found by the
name's @ref (the register pages), alone or with words; an index of the old version is rebuilt."""

from __future__ import annotations

from pathlib import Path

from tests.builders import make_manuscript
from workbench.search import index as search_index
from workbench.search.index import LineRecord, Query, WhooshIndex
from workbench.search.indexing import line_records
from workbench.tei.shorthand import to_tei
from workbench.tei.text import diplomatic_text, line_refs, reading_text

TRIFONOV = "register.xml#trifonov"
RUSE = "register.xml#ruse"


def record(n: int, typed: str) -> LineRecord:
    tei = to_tei(typed)
    return LineRecord(
        manuscript_id="ms",
        title="Ръкопис",
        page_n="1",
        line_id=f"ms_p1_l{n}",
        line_n=n,
        diplomatic=diplomatic_text(tei),
        reading=reading_text(tei),
        refs=line_refs(tei),
    )


LINES = [
    record(1, "писа {@Трифонъ|trifonov} въ {#Русчукъ|ruse}"),
    record(2, "и {@{Тр.|Трифоновъ}|trifonov} отговори"),
    record(3, "градътъ {#Русе|ruse} на брѣга"),
    record(4, "никой не е назованъ"),
]


def test_lines_are_found_by_the_ref_of_a_name_they_tag(tmp_path: Path):
    index = WhooshIndex(tmp_path / "index")
    index.replace_pages("ms", ["1"], LINES)
    found = index.search(Query(text="", ref=TRIFONOV))
    assert [hit.line_id for hit in found.hits] == ["ms_p1_l1", "ms_p1_l2"] and found.total == 2
    # The line as written and its reading (the expansion) both come back.
    assert found.hits[1].diplomatic == "и Тр. отговори" and found.hits[1].snippet == "и Трифоновъ отговори"
    assert [hit.line_id for hit in index.search(Query(text="", ref=RUSE)).hits] == ["ms_p1_l1", "ms_p1_l3"]
    # With words: the lines naming it that also have them (бряг finds брѣга).
    assert [hit.line_id for hit in index.search(Query(text="бряг", ref=RUSE)).hits] == ["ms_p1_l3"]
    assert index.search(Query(text="", ref="register.xml#nobody")).hits == []


def test_an_index_of_the_version_without_refs_is_built_again(tmp_path: Path):
    directory = tmp_path / "index"
    index = WhooshIndex(directory)
    index.replace_pages("ms", ["1"], LINES)
    digest = (directory / "VERSION").read_text().split()[1]
    (directory / "VERSION").write_text(f"{search_index.SCHEMA_VERSION - 1} {digest}\n")
    assert WhooshIndex(directory).open() is True  # new and empty: indexing refills it


def test_the_indexer_takes_the_refs_from_the_lines():
    manuscript = make_manuscript()
    page = manuscript.pages[0]
    page.lines[0].text = to_tei("{@Трифонъ|trifonov} и {~Хамлетъ|b001}")
    records = line_records(manuscript, page)
    assert records[0].refs == (TRIFONOV, "bibliography.xml#b001")
