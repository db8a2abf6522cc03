"""Bibliographic import (MARC 21 binary and MARCXML, RIS, BibTeX) with preview and duplicates,
and export (CSL-JSON, RIS, BibTeX, MARCXML), from files written here."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from workbench.bibliography import Bibliography, Entry, Holding, Original, Person
from workbench.edition import Edition
from workbench.exchange import bibliographic
from workbench.exchange.bibliographic import BadRecords
from workbench.tei.xml import InvalidXML

FIELD, SUBFIELD, RECORD = b"\x1e", b"\x1f", b"\x1d"


def iso2709(fields: list[tuple[str, str | list[tuple[str, str]], str]]) -> bytes:
    """One MARC 21 record in the exchange format (ISO 2709), assembled byte by byte as a
    catalogue writes it: (tag, control data or [(code, value)], indicators)."""
    directory, data = b"", b""
    for tag, content, indicators in fields:
        if isinstance(content, str):
            body = content.encode("utf-8") + FIELD
        else:
            body = indicators.encode() + b"".join(SUBFIELD + code.encode() + v.encode("utf-8") for code, v in content)
            body += FIELD
        directory += f"{tag}{len(body):04d}{len(data):05d}".encode()
        data += body
    base = 24 + len(directory) + 1
    length = base + len(data) + 1
    leader = f"{length:05d}nam a22{base:05d}uu 4500".encode()
    return leader + directory + FIELD + data + RECORD


# A COBISS-like record of Trifonov's Hamlet (made up for the test: the fields are what matter).
HAMLET_MARC = [
    ("001", "COBISS.BG-ID 1234567", ""),
    ("008", "900101s1900    bu            000 0 bul d", ""),
    ("041", [("a", "bul"), ("h", "eng")], "1 "),
    ("100", [("a", "Шекспиръ, Уилямъ,"), ("d", "1564-1616")], "1 "),
    ("245", [("a", "Хамлетъ, принцъ датски :"), ("b", "трагедия /")], "10"),
    ("260", [("a", "София :"), ("b", "Т. Ф. Чипевъ,"), ("c", "1900.")], "  "),
    ("300", [("a", "180 с. ;")], "  "),
    ("500", [("a", "Преводъ отъ английски.")], "  "),
    ("700", [("a", "Трифоновъ, Трифонъ Ц."), ("e", "прев."), ("4", "trl")], "1 "),
    ("765", [("a", "Shakespeare, William"), ("t", "Hamlet")], "0 "),
    ("852", [("a", "Регионална библиотека „Любен Каравелов“"), ("h", "II 1234")], "  "),
]

MARCXML = """<?xml version="1.0" encoding="UTF-8"?>
<collection xmlns="http://www.loc.gov/MARC21/slim">
  <record>
    <leader>00000naa a2200000uu 4500</leader>
    <controlfield tag="008">950101s1895    bu            000 0 bul d</controlfield>
    <datafield tag="100" ind1="1" ind2=" "><subfield code="a">Трифоновъ, Трифонъ.</subfield></datafield>
    <datafield tag="245" ind1="1" ind2="0"><subfield code="a">Нѣколко думи за превода /</subfield></datafield>
    <datafield tag="773" ind1="0" ind2=" ">
      <subfield code="t">Периодическо списание</subfield><subfield code="g">Год. 12, кн. 3, с. 45–60</subfield>
    </datafield>
  </record>
</collection>
"""

RIS = """TY  - BOOK
AU  - Пушкинъ, Александъръ
A4  - Трифоновъ, Трифонъ
TI  - Борисъ Годуновъ
PY  - 1905
CY  - София
LA  - bg
OP  - Борис Годунов
DP  - Национална библиотека „Св. св. Кирил и Методий“
CN  - III 777
UR  - https://catalogue.example/record/777
N1  - A record written for the test.
ER  -\x20

TY  - JOUR
AU  - Трифоновъ, Т.
TI  - Рецензия
T2  - Училищенъ прегледъ
VL  - 4
IS  - 2
SP  - 10
EP  - 12
PY  - 1899
ER  -\x20
"""

BIBTEX = """@book{trifonov1910,
  author = {Трифоновъ, Трифонъ},
  title = {{Стихотворения}},
  year = {1910},
  location = {Русе},
  langid = {bg},
  library = {Регионална библиотека – Русе: II 55},
}
@article{about1926,
  author = {Иванов, Иван},
  title = {Трифон Трифонов (1866–1926)},
  journaltitle = {Училищен преглед},
  volume = {25},
  pages = {1--8},
  year = {1926},
}
"""


@pytest.fixture
def bibliography(sample_edition: Edition) -> Bibliography:
    return Bibliography(sample_edition)


def test_a_marc21_record_from_a_catalogue_becomes_a_translation_entry():
    [entry] = bibliographic.read(iso2709(HAMLET_MARC), "marc", "hamlet.mrc")
    assert entry.type == "translation"
    assert entry.title == "Хамлетъ, принцъ датски : трагедия"
    assert entry.authors == [Person("Шекспиръ, Уилямъ")]
    assert entry.translators == [Person("Трифоновъ, Трифонъ Ц.")]
    assert (entry.place, entry.publisher, entry.year, entry.pages) == ("София", "Т. Ф. Чипевъ", 1900, "180 с.")
    assert entry.language == "bg"
    assert entry.original == Original("Shakespeare, William", "Hamlet", "en")
    assert entry.holdings == [Holding("Регионална библиотека „Любен Каравелов“", "II 1234")]
    assert entry.notes == ["Преводъ отъ английски."]


def test_marcxml_is_read_through_the_hardened_parser():
    [entry] = bibliographic.read(MARCXML.encode(), "marcxml", "articles.xml")
    assert (entry.title, entry.periodical, entry.volume, entry.issue, entry.pages, entry.year) == (
        "Нѣколко думи за превода",
        "Периодическо списание",
        "12",
        "3",
        "45–60",
        1895,
    )
    assert entry.type == "work"
    hostile = MARCXML.replace("<collection", '<!DOCTYPE c [<!ENTITY x "x">]><collection', 1)
    with pytest.raises(InvalidXML, match="DOCTYPE"):
        bibliographic.read(hostile.encode(), "marcxml", "hostile.xml")


def test_ris_and_bibtex_files_become_entries():
    boris, review = bibliographic.read(RIS.encode(), "ris", "pushkin.ris")
    assert boris.type == "translation" and boris.translators == [Person("Трифоновъ, Трифонъ")]
    assert boris.holdings == [
        Holding("Национална библиотека „Св. св. Кирил и Методий“", "III 777", "https://catalogue.example/record/777")
    ]
    assert boris.original == Original(title="Борис Годунов")
    assert (review.periodical, review.volume, review.issue, review.pages) == ("Училищенъ прегледъ", "4", "2", "10–12")
    poems, about = bibliographic.read(BIBTEX.encode(), "bibtex", "trifonov.bib", default_type="about")
    assert (poems.title, poems.year, poems.place, poems.language) == ("Стихотворения", 1910, "Русе", "bg")
    assert poems.holdings == [Holding("Регионална библиотека – Русе", "II 55")]
    assert (about.type, about.periodical, about.pages) == ("about", "Училищен преглед", "1--8")


@pytest.mark.parametrize(
    ("file_format", "data", "message"),
    [
        ("marc", iso2709(HAMLET_MARC)[:-40], "record 1: not a MARC 21 record"),
        ("marc", iso2709(HAMLET_MARC) + iso2709([("245", [("b", "no $a")], "10")]), "record 2: it has no title"),
        ("marcxml", b"<record><leader/></record>", "not MARCXML"),
        ("ris", RIS.replace("ER  - \n\nTY", "\nTY", 1).encode(), r"2 records begin \(TY\) but 1 end \(ER\)"),
        ("ris", b"TY  - BOOK\nAU  - X\nER  - \n", "record 1: it has no title"),
        ("ris", "TY  - BOOK\nTI  - Хамлет\nER  - \n".encode("cp1251"), "not UTF-8 text"),
        ("bibtex", BIBTEX.replace("year = {1910},", "year = {1910").encode(), "cannot be read"),
        ("bibtex", b"nothing here\n", "no bibtex records"),
    ],
)
def test_bad_files_are_refused_with_a_message_and_nothing_is_added(bibliography, file_format, data, message):
    with pytest.raises(BadRecords, match=message) as refused:
        bibliographic.read(data, file_format, "bad")
    assert "nothing was imported" in str(refused.value)
    assert not bibliography.path.exists()


def test_the_preview_names_what_is_new_and_what_is_already_there_in_another_spelling(bibliography):
    bibliography.add(
        [Entry(title="Хамлет, принц датски : трагедия", year=1900, authors=[Person("Уилям Шекспир")])], "ivan"
    )
    records = bibliographic.read(iso2709(HAMLET_MARC), "marc") + bibliographic.read(RIS.encode(), "ris")
    preview = bibliographic.preview(bibliography, records)
    assert [entry.title for entry in preview.new] == ["Борисъ Годуновъ", "Рецензия"]
    [(record, existing)] = preview.duplicates
    assert record.title == "Хамлетъ, принцъ датски : трагедия" and existing.id == "b001"
    assert len(bibliography.entries()) == 1  # a preview saves nothing


def sample_entries() -> list[Entry]:
    return [
        Entry(
            id="b001",
            type="translation",
            title="Хамлетъ, принцъ датски",
            title_modern="Хамлет, принц датски",
            authors=[Person("Шекспиръ, Уилямъ")],
            translators=[Person("Трифоновъ, Трифонъ Ц.")],
            place="София",
            publisher="Т. Ф. Чипевъ",
            year=1900,
            pages="180",
            language="bg",
            original=Original("Shakespeare, William", "Hamlet", "en"),
            holdings=[Holding("Регионална библиотека – Русе", "II 1234", "https://catalogue.example/1")],
            notes=["A note."],
        ),
        Entry(
            id="b002",
            title="Нѣколко думи за превода",
            authors=[Person("Трифоновъ, Трифонъ")],
            periodical="Периодическо списание",
            volume="12",
            issue="3",
            pages="45–60",
            year=1895,
        ),
    ]


def _without(entry: Entry, *names: str) -> Entry:
    return replace(entry, id="", version="", **{name: Entry.__dataclass_fields__[name].default for name in names})


def _plain(entry: Entry, *dropped: str) -> Entry:
    empty = Entry(title="")
    return replace(entry, id="", version="", **{name: getattr(empty, name) for name in dropped})


@pytest.mark.parametrize(
    ("export_format", "import_format", "lost"),
    [
        ("marcxml", "marcxml", ()),
        ("marc", "marc", ()),
        ("bibtex", "bibtex", ()),
        # RIS has no modern-spelling title nor original author or language.
        ("ris", "ris", ("title_modern", "original")),
    ],
)
def test_exports_read_back_as_the_same_entries(export_format, import_format, lost):
    entries = sample_entries()
    if export_format == "marc":
        data = bibliographic.to_marc(entries)
    else:
        data = bibliographic.export(entries, export_format)
    again = bibliographic.read(data, import_format, f"export.{export_format}")
    expected = [_plain(entry, *lost) for entry in entries]
    if "original" in lost:
        expected[0].original = Original(title="Hamlet")
    assert [_plain(entry) for entry in again] == expected


def test_csl_json_export_has_the_fields_citation_processors_read():
    hamlet, article = json.loads(bibliographic.export(sample_entries(), "csl-json"))
    assert hamlet["type"] == "book" and article["type"] == "article-journal"
    assert hamlet["author"] == [{"family": "Шекспиръ", "given": "Уилямъ"}]
    assert hamlet["translator"] == [{"family": "Трифоновъ", "given": "Трифонъ Ц."}]
    assert hamlet["issued"] == {"date-parts": [[1900]]}
    assert (hamlet["original-title"], hamlet["archive"], hamlet["call-number"]) == (
        "Hamlet",
        "Регионална библиотека – Русе",
        "II 1234",
    )
    assert (article["container-title"], article["volume"], article["issue"], article["page"]) == (
        "Периодическо списание",
        "12",
        "3",
        "45–60",
    )
