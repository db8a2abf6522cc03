"""Manuscript metadata: typed values checked, written into the TEI header (valid), read back."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.builders import make_manuscript
from workbench import metadata
from workbench.model import Editor, Manuscript, WorkbenchError
from workbench.tei import codec, validation
from workbench.tei.xml import NSMAP

FULL = {
    "title": "Писма до Иван Вазов",
    "author": "Трифон Цанев Трифонов (1866–1926)",
    "date": "1890–1895",
    "language": "bg",
    "settlement": "Русе",
    "repository": "Регионална библиотека „Любен Каравелов“",
    "collection": "Краеведски фонд",
    "shelfmark": "КФ-12/3",
    "material": "хартия",
    "extent": "12 листа",
    "dimensions": "210 x 170",
    "hands": "Трифонов, черно мастило\nнеизвестна ръка, молив",
    "editors": "Мария Иванова: транскрипция\nИван Петров: проверка",
    "licence": "CC-BY-4.0",
}


def test_typed_values_become_fields():
    manuscript = Manuscript(id="ms1", title="x")
    changed = metadata.update(manuscript, FULL)
    assert set(changed) == set(FULL) | {"years"}  # the years come from a date that is a range
    assert manuscript.years == (1890, 1895)
    assert manuscript.dimensions == (210, 170)
    assert manuscript.hands == ["Трифонов, черно мастило", "неизвестна ръка, молив"]
    assert manuscript.editors == [Editor("Мария Иванова", "транскрипция"), Editor("Иван Петров", "проверка")]
    assert manuscript.licence == "https://creativecommons.org/licenses/by/4.0/"
    # What as_text shows is what update reads back without change.
    assert metadata.update(manuscript, metadata.as_text(manuscript)) == []


def test_a_date_in_words_keeps_the_years_given_separately():
    manuscript = Manuscript(id="ms1", title="x")
    metadata.update(manuscript, {"date": "около 1890 г.", "years": "1888–1892"})
    assert (manuscript.date, manuscript.years) == ("около 1890 г.", (1888, 1892))
    metadata.update(manuscript, {"date": "края на XIX век"})
    assert manuscript.years == (1888, 1892)  # not a year: the years stay


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("title", "   ", "required"),
        ("years", "1895–1890", "years"),
        ("date", "1895–1890", "years"),  # a date that is a range gives the years: checked the same way
        ("years", "about 1890", "years"),
        ("dimensions", "210", "dimensions"),
        ("dimensions", "0 x 170", "dimensions"),
        ("language", "bulgarian language", "language"),
        ("editors", "Мария Иванова", "editor"),
        ("editors", ": транскрипция", "editor"),
        ("licence", "free", "licence"),
        ("author", "a\nb", "control"),
        ("shelfmark", "КФ\x0012", "control"),
        ("extent", "x" * 501, "too-long"),
    ],
)
def test_bad_values_are_refused_with_the_field_and_change_nothing(field, value, code):
    manuscript = Manuscript(id="ms1", title="Заглавие", author="А")
    with pytest.raises(metadata.MetadataError) as refused:
        metadata.update(manuscript, {"author": "Б", field: value})
    assert (refused.value.field, refused.value.code) == (field, code)
    assert field in str(refused.value)
    assert (manuscript.title, manuscript.author) == ("Заглавие", "А")


def test_unknown_fields_are_refused():
    with pytest.raises(WorkbenchError, match="unknown metadata field"):
        metadata.update(Manuscript(id="ms1", title="x"), {"colour": "red"})


def test_the_header_carries_every_field_and_stays_valid():
    manuscript = make_manuscript()
    metadata.update(manuscript, FULL)
    tree = codec.build_document(manuscript)
    assert validation.check_project(tree) == []
    assert validation.check_tei_all(tree) == []
    header = tree.getroot().find("tei:teiHeader", NSMAP)
    xml = re.sub(r">\s+<", "><", codec.etree.tostring(header, encoding="unicode"))
    assert '<origDate notBefore="1890" notAfter="1895">1890–1895</origDate>' in xml
    assert '<language ident="bg"/>' in xml
    assert "<support><material>хартия</material></support><extent>12 листа<dimensions" in xml
    assert '<dimensions type="leaf" unit="mm"><height>210</height><width>170</width></dimensions>' in xml
    assert '<handDesc hands="2">' in xml
    assert "<persName>Мария Иванова</persName>" in xml
    assert '<licence target="https://creativecommons.org/licenses/by/4.0/">' in xml
    again = codec.parse_manuscript(codec.document_bytes(manuscript))
    assert metadata.as_text(again) == metadata.as_text(manuscript)
    # Sources stay sources: the lines still point at them.
    assert [s.id for s in again.sources] == [s.id for s in manuscript.sources]


def test_clearing_fields_leaves_no_empty_elements_and_a_valid_header():
    manuscript = make_manuscript()
    metadata.update(manuscript, FULL)
    manuscript = codec.parse_manuscript(codec.document_bytes(manuscript))
    cleared = {name: "" for name in metadata.FIELDS if name != "title"}
    metadata.update(manuscript, cleared)
    tree = codec.build_document(manuscript)
    assert validation.check_project(tree) == [] and validation.check_tei_all(tree) == []
    xml = codec.etree.tostring(tree, encoding="unicode")
    for name in ("physDesc", "history", "profileDesc", "availability", "persName", "author"):
        assert f"<{name}" not in xml
    assert "<publicationStmt><p>" in xml.replace("\n", "").replace(" ", "")


def test_header_elements_the_workbench_does_not_model_are_kept():
    manuscript = make_manuscript()
    root = codec.build_document(manuscript).getroot()
    ms_desc = root.find(".//tei:msDesc", NSMAP)
    alternative = codec.etree.SubElement(ms_desc.find("tei:msIdentifier", NSMAP), f"{codec.T}altIdentifier")
    codec.etree.SubElement(alternative, f"{codec.T}idno").text = "РБ-Русе 1234"
    history = codec.etree.SubElement(ms_desc, f"{codec.T}history")
    codec.etree.SubElement(history, f"{codec.T}provenance").text = "Дарение от наследниците, 1936 г."
    manuscript = codec.parse_manuscript(codec.etree.tostring(root))
    metadata.update(manuscript, {"date": "1890", "shelfmark": "КФ-7"})
    xml = codec.etree.tostring(codec.build_document(manuscript), encoding="unicode")
    assert "Дарение от наследниците" in xml and "РБ-Русе 1234" in xml
    assert xml.index("КФ-7") < xml.index("<altIdentifier>")  # idno before altIdentifier, as TEI wants
    # origin comes before provenance in TEI's order, and the document stays valid.
    assert xml.index("<origin>") < xml.index("<provenance>")
    assert validation.check_project(codec.build_document(manuscript)) == []


@settings(max_examples=60, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "author": st.text(st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]), max_size=40),
            "date": st.text(max_size=20),
            "years": st.sampled_from(["", "1890", "1888–1892", "1900-1901"]),
            "language": st.sampled_from(["", "bg", "chu", "bg-Cyrl"]),
            "extent": st.text(st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]), max_size=40),
            "dimensions": st.sampled_from(["", "210 × 170", "99x1"]),
            "hands": st.lists(st.text("абвгд ,.<>&\"'", min_size=1, max_size=10), max_size=3).map("\n".join),
        },
    )
)
def test_any_typed_metadata_gives_a_valid_header_or_a_clear_refusal(values):
    manuscript = make_manuscript()
    try:
        metadata.update(manuscript, values)
    except metadata.MetadataError as error:
        assert error.field in values
        return
    tree = codec.build_document(manuscript)
    assert validation.check_project(tree) == []
    assert metadata.as_text(codec.parse_manuscript(codec.serialize(tree))) == metadata.as_text(manuscript)


def test_edition_saves_metadata_with_a_change_and_the_cli_shows_it(sample_edition):
    from click.testing import CliRunner

    from workbench.cli import cli

    runner = CliRunner()
    base = ["--edition", str(sample_edition.root), "--user", "tester", "metadata", "trifonov-sample"]
    result = runner.invoke(
        cli,
        [
            *base,
            "--date",
            "1890",
            "--hand",
            "Трифонов",
            "--hand",
            "молив",
            "--editor",
            "Мария Иванова: транскрипция",
            "--licence",
            "CC0-1.0",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Changed: date, hands, editors, licence, years" in result.output
    assert "hands:       Трифонов\n             молив" in result.output
    manuscript = sample_edition.load("trifonov-sample")
    assert manuscript.years == (1890, 1890) and manuscript.licence.endswith("/zero/1.0/")
    assert "metadata changed (date, hands, editors, licence, years) by tester" in manuscript.changes[-1].text
    assert sample_edition.problems("trifonov-sample", tei_all=True) == []

    result = runner.invoke(cli, [*base, "--dimensions", "12"])
    assert isinstance(result.exception, metadata.MetadataError) and "dimensions" in str(result.exception)
    result = runner.invoke(cli, [*base, "--hand", ""])
    assert sample_edition.load("trifonov-sample").hands == []

    result = runner.invoke(
        cli,
        [
            "--edition",
            str(sample_edition.root),
            "new-manuscript",
            "letters",
            "--title",
            "Писма",
            "--date",
            "1901",
            "--language",
            "bg",
        ],
    )
    assert result.exit_code == 0, result.output
    assert sample_edition.load("letters").years == (1901, 1901)
    result = runner.invoke(cli, ["--edition", str(sample_edition.root), "new-manuscript", "letters2"])
    assert result.exit_code != 0 and "--title" in result.output
