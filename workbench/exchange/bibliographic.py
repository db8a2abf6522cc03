"""Bibliographic records in and out: MARC 21 (binary and MARCXML, as library catalogues
such as COBISS export them), RIS and BibTeX in; CSL-JSON, RIS, BibTeX and MARCXML out.

Every reader turns a file into a list of ``bibliography.Entry`` (each with the people the
record is about: MARC ``600``, RIS ``KW``, BibTeX ``keywords``) and refuses the whole
file, naming each bad record, if any record cannot be read or lacks a title: nothing is
added from a file half understood. ``preview`` then says what an import would add and
which records the bibliography holds already (same title, year and first author once
the spelling is folded), before anything is saved.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import bibtexparser
import pymarc
import rispy
from bibtexparser import model as bibtex
from lxml import etree

from workbench.bibliography import Bibliography, Entry, Holding, Original, Person, fold
from workbench.model import WorkbenchError
from workbench.tei.xml import parse_xml

FORMATS = ("marc", "marcxml", "ris", "bibtex")
EXPORT_FORMATS = ("csl-json", "ris", "bibtex", "marcxml")
MARC_NS = "http://www.loc.gov/MARC21/slim"
_M = f"{{{MARC_NS}}}"
# MARC's language codes (ISO 639-2/B) for the languages a Bulgarian bibliography meets.
_MARC_LANGUAGES = {
    "bg": "bul",
    "en": "eng",
    "ru": "rus",
    "de": "ger",
    "fr": "fre",
    "it": "ita",
    "el": "gre",
    "tr": "tur",
    "la": "lat",
    "pl": "pol",
    "cs": "cze",
    "sr": "srp",
}
_FROM_MARC_LANGUAGE = {value: key for key, value in _MARC_LANGUAGES.items()}
_YEAR = re.compile(r"\d{4}")
# What ISBD punctuation leaves at the end of a MARC subfield: "Хамлетъ /", "София :".
_ISBD_END = " /:;,.=["
_TRANSLATOR_ROLES = ("trl", "translator", "прев", "преводач")


class BadRecords(WorkbenchError):
    """Records that could not be read, each named; nothing from the file was kept."""

    def __init__(self, name: str, problems: list[str]):
        self.problems = problems
        shown = "\n  ".join(problems[:20])
        more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"{name}: nothing was imported:\n  {shown}{more}")


@dataclass
class Preview:
    """What an import would do: the records it would add, and those already there."""

    new: list[Entry]
    duplicates: list[tuple[Entry, Entry]]  # (the record read, the entry it repeats)


def guess_format(path: Path, data: bytes) -> str:
    """The format of a file, from its name, else from its first bytes."""
    suffix = path.suffix.lower()
    by_suffix = {".mrc": "marc", ".marc": "marc", ".xml": "marcxml", ".ris": "ris", ".bib": "bibtex"}
    if suffix in by_suffix:
        return by_suffix[suffix]
    head = data[:200].lstrip()
    if head.startswith(b"<"):
        return "marcxml"
    if head.startswith(b"TY  -"):
        return "ris"
    if head.startswith(b"@"):
        return "bibtex"
    if head[:5].isdigit():
        return "marc"  # a MARC record starts with its length, five digits
    raise WorkbenchError(f"{path.name}: cannot tell its format; name it (--format {'/'.join(FORMATS)})")


def read(
    data: bytes, file_format: str, name: str = "file", default_type: str = "work", author: Collection[str] = ()
) -> list[Entry]:
    """The entries of a file in ``file_format``. ``author``: the names (any spelling) of the
    person whose bibliography it is: a record whose subject is he (MARC 600, RIS KW, BibTeX
    keywords) and that he neither wrote nor translated is a writing about him; otherwise a
    translator makes it a translation, and ``default_type`` says what the rest are."""
    readers = {"marc": _read_marc, "marcxml": _read_marcxml, "ris": _read_ris, "bibtex": _read_bibtex}
    if file_format not in readers:
        raise WorkbenchError(f"unknown format {file_format!r}: one of {', '.join(FORMATS)}")
    records, problems = readers[file_format](data, name)
    entries = [entry for entry, _subjects in records]
    for position, (entry, subjects) in enumerate(records, start=1):
        if not entry.title:
            problems.append(f"record {position}: it has no title")
        if is_about(entry, subjects, author):
            entry.type = "about"
        elif entry.type == "work":
            entry.type = "translation" if entry.translators else default_type
    if problems:
        raise BadRecords(name, problems)
    if not entries:
        raise BadRecords(name, [f"no {file_format} records in it"])
    return entries


def names_person(said: str, names: Collection[str]) -> bool:
    """Whether ``said`` (a subject heading, a keyword: "Трифоновъ, Трифонъ Ц., 1866-1926")
    names the person called ``names``: two words or more, each a word of one of the names (or
    its initial) once both are folded to one spelling; dates and numbers are not words here."""
    words = [word for word in fold(said).split() if not word.isdigit()]
    if len(words) < 2:
        return False  # a surname alone may be anyone's
    for name in names:
        known = fold(name).split()
        if all(any(word == other or (len(word) == 1 and other.startswith(word)) for other in known) for word in words):
            return True
    return False


def is_about(entry: Entry, subjects: list[str], author: Collection[str]) -> bool:
    """Whether a record is a writing about ``author``: its subjects name him and he is none of
    its authors and translators (his own memoirs, indexed under his name, stay his work)."""
    if not author or not any(names_person(subject, author) for subject in subjects):
        return False
    return not any(names_person(person.name, author) for person in entry.authors + entry.translators)


def preview(bibliography: Bibliography, entries: list[Entry]) -> Preview:
    duplicates = bibliography.duplicates(entries)
    return Preview(
        [entry for position, entry in enumerate(entries) if position not in duplicates],
        [(entries[position], existing) for position, existing in duplicates.items()],
    )


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = " ".join(value.split())
    cleaned = value.rstrip(_ISBD_END).strip()
    # The full stop of an initial or an abbreviation ("Трифонъ Ц.", "180 с.") is the name's own.
    if value[len(cleaned) : len(cleaned) + 1] == "." and re.search(r"(^|\W)\w$", cleaned):
        cleaned += "."
    return cleaned or None


def _year(value: str | None) -> int | None:
    found = _YEAR.search(value or "")
    return int(found.group()) if found else None


# -- MARC 21 ------------------------------------------------------------------------------


# What a reader gives for each record: the entry, and the names of the people it is about.
Records = list[tuple[Entry, list[str]]]


def _read_marc(data: bytes, name: str) -> tuple[Records, list[str]]:
    reader = pymarc.MARCReader(io.BytesIO(data), to_unicode=True, utf8_handling="strict")
    entries, problems = [], []
    for position, record in enumerate(reader, start=1):
        if record is None:
            problems.append(f"record {position}: not a MARC 21 record ({reader.current_exception})")
            continue
        entries.append((_from_marc(record), _marc_subjects(record)))
    return entries, problems


def _read_marcxml(data: bytes, name: str) -> tuple[Records, list[str]]:
    # Through the workbench's hardened parser, never pymarc's own (which reads with xml.sax).
    root = parse_xml(data, name).getroot()
    records = [root] if root.tag == f"{_M}record" else root.findall(f"{_M}record")
    if root.tag not in (f"{_M}record", f"{_M}collection"):
        return [], [f"not MARCXML: its root is {root.tag}, not a record or collection in {MARC_NS}"]
    entries, problems = [], []
    for position, element in enumerate(records, start=1):
        record = pymarc.Record()
        leader = element.findtext(f"{_M}leader")
        if leader and len(leader) == 24:
            record.leader = pymarc.Leader(leader)
        for control in element.findall(f"{_M}controlfield"):
            record.add_field(pymarc.Field(tag=control.get("tag", ""), data=control.text or ""))
        for datafield in element.findall(f"{_M}datafield"):
            tag = datafield.get("tag", "")
            if not re.fullmatch(r"\d{3}", tag):
                problems.append(f"record {position}: a datafield has the tag {tag!r}, not three digits")
                continue
            subfields = [
                pymarc.Subfield(sub.get("code", ""), sub.text or "") for sub in datafield.findall(f"{_M}subfield")
            ]
            indicators = pymarc.Indicators(datafield.get("ind1", " ") or " ", datafield.get("ind2", " ") or " ")
            record.add_field(pymarc.Field(tag=tag, indicators=indicators, subfields=subfields))
        entries.append((_from_marc(record), _marc_subjects(record)))
    return entries, problems


def _marc_subjects(record: pymarc.Record) -> list[str]:
    """The people a record is about: its subject added entries for a personal name (600 $a)."""
    return [name for field in record.get_fields("600") if (name := _clean(field.get("a")))]


def _marc_person(field: pymarc.Field) -> Person:
    return Person(_clean(field.get("a")) or "")


def _is_translator(field: pymarc.Field) -> bool:
    roles = [value.lower().strip(" .,") for value in field.get_subfields("e", "4")]
    return any(role.startswith(_TRANSLATOR_ROLES) for role in roles)


def _from_marc(record: pymarc.Record) -> Entry:
    title_field = record.get("245")
    title = ""
    if title_field is not None:
        title = _clean(title_field.get("a")) or ""
        if title and title_field.get("b"):
            title = f"{title} : {_clean(title_field.get('b'))}"
    entry = Entry(title=title)
    for field in record.get_fields("246"):
        if (field.get("i") or "").lower().startswith("modern"):
            entry.title_modern = _clean(field.get("a"))
    entry.authors = [_marc_person(field) for field in record.get_fields("100")]
    for field in record.get_fields("700"):
        (entry.translators if _is_translator(field) else entry.authors).append(_marc_person(field))
    for field in record.get_fields("260", "264"):
        entry.place = entry.place or _clean(field.get("a"))
        entry.publisher = entry.publisher or _clean(field.get("b"))
        entry.year = entry.year or _year(field.get("c"))
    fixed = record.get("008")
    if entry.year is None and fixed is not None:
        entry.year = _year(fixed.data[7:11])
    language = record.get("041")
    code = language.get("a") if language is not None else (fixed.data[35:38] if fixed is not None else None)
    entry.language = _FROM_MARC_LANGUAGE.get((code or "").strip(), None)
    extent = record.get("300")
    if extent is not None:
        entry.pages = _clean(extent.get("a"))
    host = record.get("773")
    if host is not None:
        entry.periodical = _clean(host.get("t"))
        entry.volume, entry.issue, pages = _enumeration(host.get("g") or "")
        entry.pages = pages or entry.pages
    original = record.get("765")
    if original is not None or (language is not None and language.get("h")):
        entry.original = Original(
            _clean(original.get("a")) if original is not None else None,
            _clean(original.get("t")) if original is not None else None,
            _FROM_MARC_LANGUAGE.get((language.get("h") or "").strip()) if language is not None else None,
        )
    for field in record.get_fields("852"):
        library = _clean(" ".join(field.get_subfields("a", "b")))
        if library:
            entry.holdings.append(Holding(library, _clean(field.get("h") or field.get("j")), field.get("u")))
    for field in record.get_fields("500"):
        note = " ".join((field.get("a") or "").split())  # prose: its full stop is its own
        if note:
            entry.notes.append(note)
    return entry


_ENUMERATION = {
    "volume": re.compile(r"(?:vol\.?|год\.?|т\.|том)\s*([\w–-]+)", re.IGNORECASE),
    "issue": re.compile(r"(?:no\.?|бр\.?|кн\.?|№)\s*([\w–-]+)", re.IGNORECASE),
    "pages": re.compile(r"(?:p\.|pp\.|с\.|стр\.)\s*([\d–-]+)", re.IGNORECASE),
}


def _enumeration(text: str) -> tuple[str | None, str | None, str | None]:
    """Volume, issue and pages of a contribution from MARC 773 $g ("Vol. 12, no. 3, p. 45–60";
    "Год. 12, кн. 3, с. 45–60")."""
    found = [pattern.search(text) for pattern in _ENUMERATION.values()]
    volume, issue, pages = (match.group(1) if match else None for match in found)
    return volume, issue, pages


def _marc_record(entry: Entry) -> pymarc.Record:
    record = pymarc.Record(leader=pymarc.Leader(f"00000na{'a' if entry.periodical else 'm'} a2200000uu 4500"))
    record.add_field(pymarc.Field(tag="001", data=entry.id))
    year = f"{entry.year:04d}" if entry.year else "    "
    language = _MARC_LANGUAGES.get(entry.language or "", "und")
    record.add_field(pymarc.Field(tag="008", data=f"000000s{year}    xx {' ' * 17}{language} d"))
    if entry.original and entry.original.language or entry.language:
        subfields = [pymarc.Subfield("a", language)]
        if entry.original and entry.original.language:
            subfields.append(pymarc.Subfield("h", _MARC_LANGUAGES.get(entry.original.language, "und")))
        record.add_field(pymarc.Field("041", pymarc.Indicators("1" if entry.original else "0", " "), subfields))

    def person(tag: str, who: Person, role: str | None = None) -> None:
        subfields = [pymarc.Subfield("a", who.name)]
        if role:
            subfields += [pymarc.Subfield("e", "translator"), pymarc.Subfield("4", role)]
        record.add_field(pymarc.Field(tag, pymarc.Indicators("1", " "), subfields))

    for k, author in enumerate(entry.authors):
        person("100" if k == 0 else "700", author)
    record.add_field(
        pymarc.Field("245", pymarc.Indicators("1" if entry.authors else "0", "0"), [pymarc.Subfield("a", entry.title)])
    )
    if entry.title_modern:
        subfields = [pymarc.Subfield("i", "Modern spelling:"), pymarc.Subfield("a", entry.title_modern)]
        record.add_field(pymarc.Field("246", pymarc.Indicators("1", " "), subfields))
    imprint = [
        pymarc.Subfield(code, value)
        for code, value in (("a", entry.place), ("b", entry.publisher), ("c", str(entry.year) if entry.year else None))
        if value
    ]
    if imprint:
        record.add_field(pymarc.Field("260", pymarc.Indicators(" ", " "), imprint))
    if entry.pages and not entry.periodical:
        record.add_field(pymarc.Field("300", pymarc.Indicators(" ", " "), [pymarc.Subfield("a", entry.pages)]))
    for text in entry.notes:
        record.add_field(pymarc.Field("500", pymarc.Indicators(" ", " "), [pymarc.Subfield("a", text)]))
    for translator in entry.translators:
        person("700", translator, "trl")
    if entry.original and (entry.original.author or entry.original.title):
        subfields = [
            pymarc.Subfield(code, value)
            for code, value in (("a", entry.original.author), ("t", entry.original.title))
            if value
        ]
        record.add_field(pymarc.Field("765", pymarc.Indicators("0", " "), subfields))
    if entry.periodical:
        parts = [
            f"{label} {value}"
            for label, value in (("Vol.", entry.volume), ("no.", entry.issue), ("p.", entry.pages))
            if value
        ]
        subfields = [pymarc.Subfield("t", entry.periodical)]
        if parts:
            subfields.append(pymarc.Subfield("g", ", ".join(parts)))
        record.add_field(pymarc.Field("773", pymarc.Indicators("0", " "), subfields))
    for holding in entry.holdings:
        subfields = [pymarc.Subfield("a", holding.library)]
        if holding.shelfmark:
            subfields.append(pymarc.Subfield("h", holding.shelfmark))
        if holding.url:
            subfields.append(pymarc.Subfield("u", holding.url))
        record.add_field(pymarc.Field("852", pymarc.Indicators(" ", " "), subfields))
    return record


def to_marcxml(entries: list[Entry]) -> bytes:
    collection = etree.Element(f"{_M}collection", nsmap={None: MARC_NS})
    for entry in entries:
        collection.append(etree.fromstring(pymarc.record_to_xml(_marc_record(entry), namespace=True)))
    return etree.tostring(collection, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def to_marc(entries: list[Entry]) -> bytes:
    """MARC 21 binary (UTF-8): what a library system loads."""
    return b"".join(_marc_record(entry).as_marc() for entry in entries)


# -- RIS ------------------------------------------------------------------------------------

_RIS_START = re.compile(r"^TY  - ", re.MULTILINE)


def _read_ris(data: bytes, name: str) -> tuple[Records, list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return [], [f"not UTF-8 text (byte {error.start})"]
    records = rispy.loads(text)
    started = len(_RIS_START.findall(text))
    if started != len(records):
        # rispy drops a record without its closing "ER  -" line silently.
        return [], [f"{started} records begin (TY) but {len(records)} end (ER): a record is cut off"]
    # KW: one keyword a line; a name is written "Surname, Forename" in one of them.
    return [(_from_ris(record), [kw for kw in record.get("keywords", []) if kw]) for record in records], []


def _from_ris(record: dict) -> Entry:
    entry = Entry(title=_clean(record.get("title") or record.get("primary_title")) or "")
    entry.authors = [Person(name) for name in record.get("authors", []) + record.get("first_authors", [])]
    entry.translators = [Person(name) for name in record.get("subsidiary_authors", [])]
    entry.year = _year(record.get("year") or record.get("publication_year") or record.get("date"))
    entry.place = _clean(record.get("place_published"))
    entry.publisher = _clean(record.get("publisher"))
    if record.get("type_of_reference") in ("JOUR", "MGZN", "NEWS"):
        entry.periodical = _clean(record.get("secondary_title") or record.get("journal_name"))
    start, end = record.get("start_page"), record.get("end_page")
    entry.pages = f"{start}–{end}" if start and end else start
    entry.volume, entry.issue = record.get("volume"), record.get("number")
    entry.language = record.get("language")
    if record.get("original_publication"):
        entry.original = Original(title=_clean(record["original_publication"]))
    entry.notes = [note for note in record.get("notes", []) if note]
    library, shelfmark = _clean(record.get("database_provider")), _clean(record.get("call_number"))
    urls = record.get("urls", [])
    if library:
        entry.holdings.append(Holding(library, shelfmark, urls[0] if urls else None))
    elif shelfmark:
        entry.notes.append(f"Call number: {shelfmark}")  # a shelfmark without its library says little
    return entry


def to_ris(entries: list[Entry]) -> str:
    records = []
    for entry in entries:
        record = {
            "type_of_reference": "JOUR" if entry.periodical else "BOOK",
            "id": entry.id,
            "title": entry.title,
            "authors": [person.name for person in entry.authors],
            "subsidiary_authors": [person.name for person in entry.translators],  # A4: Zotero's translator
            "year": str(entry.year) if entry.year else None,
            "place_published": entry.place,
            "publisher": entry.publisher,
            "secondary_title": entry.periodical,
            "volume": entry.volume,
            "number": entry.issue,
            "language": entry.language,
            "original_publication": entry.original.title if entry.original else None,
            "notes": entry.notes,
        }
        if entry.pages:
            start, _, end = entry.pages.replace("-", "–").partition("–")
            record["start_page"], record["end_page"] = start, end or None
        if entry.holdings:
            holding = entry.holdings[0]
            record.update(database_provider=holding.library, call_number=holding.shelfmark)
            record["urls"] = [holding.url] if holding.url else []
        records.append({key: value for key, value in record.items() if value})
    return rispy.dumps(records)


# -- BibTeX ---------------------------------------------------------------------------------


def _read_bibtex(data: bytes, name: str) -> tuple[Records, list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return [], [f"not UTF-8 text (byte {error.start})"]
    library = bibtexparser.parse_string(text)
    problems = [
        f"the block at line {block.start_line + 1} cannot be read: {block.error}" for block in library.failed_blocks
    ]
    return [(_from_bibtex(record), _bibtex_subjects(record)) for record in library.entries], problems


def _bibtex_subjects(record: bibtex.Entry) -> list[str]:
    """The keywords of a record, as candidates for a name: biblatex separates keywords with
    commas, which also stand inside a name ("Трифонов, Трифон"), so each keyword and each
    keyword with the next (split at ";" instead, where the file uses it)."""
    field = record.fields_dict.get("keywords")
    value = _braces(field.value) if field else None
    if not value:
        return []
    parts = [part.strip() for part in re.split(";" if ";" in value else ",", value) if part.strip()]
    return parts + [f"{first}, {second}" for first, second in zip(parts, parts[1:], strict=False)]


def _braces(value: str | None) -> str | None:
    return _clean(value.replace("{", "").replace("}", "")) if value else None


def _names(value: str | None) -> list[Person]:
    return [Person(name.strip()) for name in re.split(r"\s+and\s+", _braces(value) or "") if name.strip()]


def _from_bibtex(record: bibtex.Entry) -> Entry:
    fields = {key.lower(): _braces(field.value) for key, field in record.fields_dict.items()}
    entry = Entry(title=fields.get("title") or "")
    entry.authors = _names(fields.get("author"))
    entry.translators = _names(fields.get("translator"))
    entry.year = _year(fields.get("year") or fields.get("date"))
    entry.place = fields.get("address") or fields.get("location")
    entry.publisher = fields.get("publisher")
    entry.periodical = fields.get("journaltitle") or fields.get("journal")
    entry.volume, entry.issue, entry.pages = fields.get("volume"), fields.get("number"), fields.get("pages")
    entry.language = fields.get("langid") or fields.get("language")
    if fields.get("origtitle") or fields.get("origlanguage"):
        entry.original = Original(fields.get("origauthor"), fields.get("origtitle"), fields.get("origlanguage"))
    entry.title_modern = fields.get("modern-title")
    if record.fields_dict.get("note"):
        entry.notes.append(" ".join(record.fields_dict["note"].value.replace("{", "").replace("}", "").split()))
    for holding in (fields.get("library") or "").split(";"):
        library, _, shelfmark = holding.partition(":")
        if library.strip():
            entry.holdings.append(Holding(library.strip(), shelfmark.strip() or None))
    if entry.holdings and fields.get("url"):
        entry.holdings[0].url = fields["url"]
    return entry


def to_bibtex(entries: list[Entry]) -> str:
    blocks = []
    for entry in entries:
        values = {
            "author": " and ".join(person.name for person in entry.authors),
            "translator": " and ".join(person.name for person in entry.translators),
            "title": entry.title,
            "modern-title": entry.title_modern,
            "journaltitle": entry.periodical,
            "volume": entry.volume,
            "number": entry.issue,
            "pages": entry.pages,
            "location": entry.place,
            "publisher": entry.publisher,
            "year": str(entry.year) if entry.year else None,
            "langid": entry.language,
            "origauthor": entry.original.author if entry.original else None,
            "origtitle": entry.original.title if entry.original else None,
            "origlanguage": entry.original.language if entry.original else None,
            "note": "; ".join(entry.notes),
            "library": "; ".join(
                f"{holding.library}: {holding.shelfmark}" if holding.shelfmark else holding.library
                for holding in entry.holdings
            ),
            "url": next((holding.url for holding in entry.holdings if holding.url), None),
        }
        fields = [bibtex.Field(key, _bibtex_value(value)) for key, value in values.items() if value]
        blocks.append(bibtex.Entry("article" if entry.periodical else "book", entry.id, fields))
    return bibtexparser.write_string(bibtexparser.Library(blocks))


def _bibtex_value(value: str) -> str:
    # Braces would end the value early; the rest (Cyrillic included) is UTF-8 as biblatex reads it.
    return "{" + value.replace("{", "(").replace("}", ")") + "}"


# -- CSL-JSON -------------------------------------------------------------------------------


def csl_name(person: Person | str) -> dict[str, str]:
    """A name as CSL wants it: "Трифоновъ, Трифонъ" and "Трифонъ Трифоновъ" both as family and given."""
    name = person.name if isinstance(person, Person) else person
    family, comma, given = name.partition(",")
    if comma:
        return {"family": family.strip(), "given": given.strip()}
    words = name.split()
    if len(words) < 2:
        return {"literal": name}
    return {"family": words[-1], "given": " ".join(words[:-1])}


def csl_item(entry: Entry) -> dict:
    item: dict = {"id": entry.id, "type": "article-journal" if entry.periodical else "book", "title": entry.title}
    if entry.authors:
        item["author"] = [csl_name(person) for person in entry.authors]
    if entry.translators:
        item["translator"] = [csl_name(person) for person in entry.translators]
    if entry.year:
        item["issued"] = {"date-parts": [[entry.year]]}
    for key, value in (
        ("publisher", entry.publisher),
        ("publisher-place", entry.place),
        ("container-title", entry.periodical),
        ("volume", entry.volume),
        ("issue", entry.issue),
        ("page" if entry.periodical else "number-of-pages", entry.pages),
        ("language", entry.language),
        ("note", "; ".join(entry.notes)),
    ):
        if value:
            item[key] = value
    if entry.original:
        if entry.original.title:
            item["original-title"] = entry.original.title
        if entry.original.author:
            item["original-author"] = [csl_name(entry.original.author)]
    if entry.holdings:
        holding = entry.holdings[0]
        item["archive"] = holding.library
        if holding.shelfmark:
            item["call-number"] = holding.shelfmark
        # The catalogue link is not given as URL: styles print URL as where the work itself is read.
    return item


def to_csl_json(entries: list[Entry]) -> str:
    return json.dumps([csl_item(entry) for entry in entries], ensure_ascii=False, indent=2)


def export(entries: list[Entry], file_format: str) -> bytes:
    """The entries in one of EXPORT_FORMATS."""
    if file_format == "csl-json":
        return to_csl_json(entries).encode("utf-8")
    if file_format == "ris":
        return to_ris(entries).encode("utf-8")
    if file_format == "bibtex":
        return to_bibtex(entries).encode("utf-8")
    if file_format == "marcxml":
        return to_marcxml(entries)
    raise WorkbenchError(f"unknown export format {file_format!r}: one of {', '.join(EXPORT_FORMATS)}")
