"""The bibliography's TEI, its saves (validated, journalled, version-checked) and the links
between entries and manuscripts, on a copy of the sample edition."""

from __future__ import annotations

import pytest
from lxml import etree

from workbench.bibliography import (
    BadEntry,
    Bibliography,
    Conflict,
    Entry,
    Holding,
    Original,
    Person,
    document,
    duplicate_key,
    fold,
    from_tei,
    manuscript_links,
    matches,
    to_tei,
)
from workbench.edition import Edition
from workbench.model import WorkbenchError
from workbench.tei import validation
from workbench.tei.xml import NSMAP, parse_xml

MS = "trifonov-sample"


def hamlet(**changes) -> Entry:
    values = dict(
        title="Хамлетъ, принцъ датски",
        type="translation",
        title_modern="Хамлет, принц датски",
        authors=[Person("Шекспиръ, Уилямъ")],
        translators=[Person("Трифоновъ, Трифонъ Ц.", "register.xml#trifonov")],
        place="София",
        publisher="Печатница на Хр. Г. Данова",
        year=1900,
        pages="180",
        language="bg",
        original=Original("William Shakespeare", "Hamlet, Prince of Denmark", "en"),
        holdings=[Holding("Регионална библиотека – Русе", "II 1234", "https://catalogue.example/record/1")],
        notes=["Made for the examples of this test."],
    )
    values.update(changes)
    return Entry(**values)


def article(**changes) -> Entry:
    values = dict(
        title="Нѣколко думи за превода",
        authors=[Person("Трифоновъ, Трифонъ")],
        periodical="Периодическо списание",
        volume="12",
        issue="3",
        pages="45–60",
        year=1895,
    )
    values.update(changes)
    return Entry(**values)


@pytest.fixture
def bibliography(sample_edition: Edition) -> Bibliography:
    return Bibliography(sample_edition)


def test_an_entry_survives_tei_and_the_document_is_valid_for_the_project_schema():
    entries = [hamlet(id="b001"), article(id="b002")]
    tree = document(entries)
    assert validation.check_project(tree) == []
    again = [from_tei(bibl) for bibl in tree.iterfind(".//tei:biblStruct", NSMAP)]
    for before, after in zip(entries, again, strict=True):
        assert after.version
        assert after == Entry(**{**vars(before), "version": after.version})
    # The periodical's contribution is an analytic with the journal in monogr.
    bibl = to_tei(entries[1])
    assert bibl.findtext("tei:analytic/tei:title[@type='main']", namespaces=NSMAP) == "Нѣколко думи за превода"
    assert bibl.findtext("tei:monogr/tei:title[@level='j']", namespaces=NSMAP) == "Периодическо списание"


def test_the_schema_refuses_an_entry_type_outside_the_odd_list():
    tree = document([hamlet(id="b001")])
    tree.find(".//tei:biblStruct", NSMAP).set("type", "poem")
    problems = validation.check_project(parse_xml(etree.tostring(tree)))
    assert any("type must be one of work, translation, edition, about" in problem.message for problem in problems)


def test_entries_are_added_with_ids_and_saved_valid_and_journalled(bibliography, sample_edition):
    added = bibliography.add([hamlet(), article()], "ivan")
    assert [entry.id for entry in added] == ["b001", "b002"]
    assert bibliography.entries() == added
    tree = parse_xml(bibliography.path.read_bytes())
    assert validation.check_project(tree) == []
    journal = list(sample_edition.journal.entries("bibliography"))
    assert [(entry.line, entry.who, entry.old) for entry in journal] == [("b001", "ivan", ""), ("b002", "ivan", "")]
    assert "Хамлетъ, принцъ датски" in journal[0].new
    # The bibliography is the edition's file, not a manuscript.
    assert sample_edition.manuscript_ids() == [MS]
    with pytest.raises(WorkbenchError, match="not a manuscript"):
        sample_edition.require("bibliography")


def test_a_save_over_a_stale_version_is_a_conflict_and_saves_nothing(bibliography, sample_edition):
    [entry] = bibliography.add([hamlet()], "ivan")
    first = bibliography.update(Entry(**{**vars(entry), "year": 1901}), "ivan", expected_version=entry.version)
    assert first.year == 1901 and first.version != entry.version
    before = bibliography.path.read_bytes()
    with pytest.raises(Conflict) as conflict:
        bibliography.update(Entry(**{**vars(entry), "year": 1902}), "maria", expected_version=entry.version)
    assert conflict.value.current.year == 1901
    with pytest.raises(Conflict):
        bibliography.delete(entry.id, "maria", expected_version=entry.version)
    assert bibliography.path.read_bytes() == before
    bibliography.delete(entry.id, "ivan", expected_version=first.version)
    assert bibliography.entries() == []
    with pytest.raises(Conflict, match="removed"):
        bibliography.update(first, "ivan", expected_version=first.version)
    assert [entry.event for entry in sample_edition.journal.entries("bibliography")] == ["text", "text", "removed"]


def test_bad_entries_are_refused_with_a_message_and_nothing_is_saved(bibliography):
    bibliography.add([hamlet()], "ivan")
    before = bibliography.path.read_bytes()
    with pytest.raises(BadEntry, match="no title"):
        bibliography.add([article(), hamlet(title=" ")], "ivan")
    with pytest.raises(BadEntry, match="not one of work, translation, edition, about"):
        bibliography.add([hamlet(type="poem")], "ivan")
    with pytest.raises(BadEntry, match="no manuscript nowhere"):
        bibliography.add([article(manuscripts=["nowhere"])], "ivan")
    assert bibliography.path.read_bytes() == before


def test_a_file_made_invalid_by_hand_is_refused_not_overwritten(bibliography):
    bibliography.add([hamlet()], "ivan")
    bibliography.path.write_text(bibliography.path.read_text().replace('type="translation"', 'type="poem"'))
    with pytest.raises(validation.InvalidDocument, match="changed outside the workbench"):
        bibliography.add([article()], "ivan")
    assert 'type="poem"' in bibliography.path.read_text()


def test_the_manuscript_header_links_back_to_its_entries_and_stays_valid(bibliography, sample_edition):
    [entry, other] = bibliography.add([hamlet(manuscripts=[MS]), article()], "ivan")
    assert manuscript_links(sample_edition, MS) == [entry.id]
    header = etree.fromstring(sample_edition.header(MS).header_xml)
    [bibl] = header.iterfind(".//tei:msDesc/tei:additional/tei:listBibl/tei:bibl", NSMAP)
    assert bibl.get("corresp") == f"bibliography.xml#{entry.id}" and bibl.text == entry.title
    assert sample_edition.problems(MS) == []
    other = bibliography.update(Entry(**{**vars(other), "manuscripts": [MS]}), "ivan", other.version)
    assert manuscript_links(sample_edition, MS) == [entry.id, other.id]
    bibliography.delete(entry.id, "ivan", entry.version)
    bibliography.update(Entry(**{**vars(other), "manuscripts": []}), "ivan", other.version)
    assert manuscript_links(sample_edition, MS) == []
    assert sample_edition.header(MS).header_xml.count(b"additional") == 0
    assert sample_edition.problems(MS) == []


def test_merge_keeps_one_entry_with_what_both_knew(bibliography, sample_edition):
    keep, other = bibliography.add(
        [
            hamlet(holdings=[Holding("Национална библиотека", "III 55")], place=None),
            hamlet(title="Хамлет", holdings=[Holding("Регионална библиотека – Русе")], manuscripts=[MS]),
        ],
        "ivan",
    )
    merged = bibliography.merge(keep.id, other.id, "ivan", keep.version, other.version)
    assert [entry.id for entry in bibliography.entries()] == [keep.id]
    assert merged.title == keep.title and merged.place == "София"
    assert [holding.library for holding in merged.holdings] == ["Национална библиотека", "Регионална библиотека – Русе"]
    assert manuscript_links(sample_edition, MS) == [keep.id]
    with pytest.raises(Conflict):
        bibliography.merge(keep.id, other.id, "ivan", merged.version, other.version)


def test_spelling_folding_finds_duplicates_and_search_hits_across_orthographies(bibliography):
    old = hamlet(title_modern=None)
    modern = hamlet(title="Хамлет, принц датски", title_modern=None, authors=[Person("Уилям Шекспир")])
    assert fold("Хамлетъ, принцъ датски") == fold("Хамлет, принц датски")
    assert duplicate_key(old) == duplicate_key(modern)
    assert duplicate_key(old) != duplicate_key(hamlet(year=1901))
    bibliography.add([old], "ivan")
    assert bibliography.duplicates([article(), modern, modern]) == {
        1: bibliography.entries()[0],
        2: bibliography.entries()[0],
    }
    assert matches(old, "датски принц")
    assert matches(article(), "няколко думи")  # ѣ typed as я
    assert matches(article(), "НЕКОЛКО")  # or as е, in capitals
    assert not matches(article(), "хамлет")
