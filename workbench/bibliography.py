"""The edition's bibliography: works by the author, his translations, editions, and writings
about him, kept as TEI in ``tei/bibliography.xml`` (a ``listBibl`` of ``biblStruct``).

This is the one module that knows that encoding: everything else (import, export,
citations, the web pages) works with ``Entry``. One entry as TEI::

    <biblStruct xml:id="b001" type="translation">
      <analytic>…</analytic>                   only for a contribution to a periodical
      <monogr>
        <author><persName ref="…">…</persName></author>
        <title level="m" type="main">Хамлетъ</title>     as published
        <title level="m" type="modern">Хамлет</title>    modern spelling, for search
        <editor role="translator"><persName ref="…">…</persName></editor>
        <textLang mainLang="bg"/>
        <imprint><pubPlace/><publisher/><date when="1900"/>
          <biblScope unit="volume"/><biblScope unit="issue"/><biblScope unit="page"/></imprint>
      </monogr>
      <relatedItem type="original"><bibl><author/><title/><textLang/></bibl></relatedItem>
      <note type="holding"><orgName/><idno type="shelfmark"/><ref target="…"/></note>
      <note>…</note>
      <ref type="manuscript" target="trifonov-sample.xml">…</ref>
    </biblStruct>

A manuscript that is a draft of an entry points back from its header:
``msDesc/additional/listBibl/bibl[@corresp="bibliography.xml#b001"]``. Saves take the
bibliography's lock, check each entry's version (``Conflict`` when someone changed or
removed it since it was read), validate the whole document against the project schema,
journal every entry changed (``.workbench/journal/bibliography.jsonl``, old and new TEI)
and replace the file atomically; then the links in the manuscripts' headers are brought
in step through ``Edition.edit``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from lxml import etree

from workbench.edition import Edition, now
from workbench.journal import Entry as JournalEntry
from workbench.model import NotFound, WorkbenchError
from workbench.search import analysis
from workbench.tei.xml import NSMAP, TEI_NS, XML_ID, parser

T = f"{{{TEI_NS}}}"
FILE_NAME = "bibliography.xml"
DOCUMENT_ID = "bibliography"  # the lock's and the journal's name
TYPES = ("work", "translation", "edition", "about")
_ID = re.compile(r"b(\d+)")
_YEAR = re.compile(r"\d{4}")


@dataclass
class Person:
    """An author or translator as the publication names him, with a key into the person
    register (``register.xml#trifonov``) when the editors know who he is."""

    name: str
    ref: str | None = None


@dataclass
class Original:
    """The work a translation was made from."""

    author: str | None = None
    title: str | None = None
    language: str | None = None


@dataclass
class Holding:
    """Where a copy is: the library, its shelfmark, and the record in its catalogue."""

    library: str
    shelfmark: str | None = None
    url: str | None = None


@dataclass
class Entry:
    title: str  # as published, in the publication's spelling
    type: str = "work"  # one of TYPES
    id: str = ""  # xml:id, given when the entry is added
    title_modern: str | None = None  # the title in modern spelling
    authors: list[Person] = field(default_factory=list)
    translators: list[Person] = field(default_factory=list)
    place: str | None = None
    publisher: str | None = None
    year: int | None = None
    pages: str | None = None
    periodical: str | None = None  # set: the entry is a contribution to this periodical
    volume: str | None = None
    issue: str | None = None
    language: str | None = None  # BCP 47, e.g. "bg"
    original: Original | None = None
    holdings: list[Holding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    manuscripts: list[str] = field(default_factory=list)  # ids of manuscripts in the edition
    version: str = ""  # what the entry's TEI hashes to as last read; saves compare it

    @property
    def first_author(self) -> str:
        return self.authors[0].name if self.authors else ""


class Conflict(WorkbenchError):
    """The entry changed (or went) since the editor read it: nothing was saved."""

    def __init__(self, entry_id: str, current: Entry | None):
        super().__init__(
            f"bibliography entry {entry_id} was changed by someone else since you read it"
            if current
            else f"bibliography entry {entry_id} was removed by someone else since you read it"
        )
        self.entry_id, self.current = entry_id, current


class BadEntry(WorkbenchError):
    """An entry the bibliography cannot hold as it is (no title, an unknown type …)."""


# -- spelling folding: duplicates and search -------------------------------------------


def fold(text: str | None) -> str:
    """``text`` in one spelling whatever its orthography: each word's modern stem, so that
    "Хамлетъ, принцъ датскій" and "Хамлет, принц датски" fold alike."""
    return " ".join(analysis.query_terms(token.word)[0] for token in analysis.words(text or ""))


def _folded_name(name: str) -> str:
    # "Трифоновъ, Трифонъ" and "Трифон Трифонов" are one person: the words in any order.
    return " ".join(sorted(fold(name).split()))


def duplicate_key(entry: Entry) -> tuple[str, int | None, str]:
    """What two records of one publication share: title, year and first author, folded."""
    return fold(entry.title_modern or entry.title), entry.year, _folded_name(entry.first_author)


def _search_terms(entry: Entry) -> set[str]:
    texts = [entry.title, entry.title_modern, entry.periodical, entry.publisher, entry.place, *entry.notes]
    texts += [person.name for person in entry.authors + entry.translators]
    if entry.original:
        texts += [entry.original.author, entry.original.title]
    return {
        term for text in texts if text for token in analysis.words(text) for term in analysis.index_terms(token.word)
    }


def matches(entry: Entry, query: str) -> bool:
    """Whether every word of ``query`` (old or modern spelling) is in the entry's titles, names,
    periodical, publisher, place or notes, in any spelling and inflection."""
    wanted = [analysis.query_terms(token.word) for token in analysis.words(query)]
    terms = _search_terms(entry)
    return all(terms.intersection(word) for word in wanted)


# -- TEI ---------------------------------------------------------------------------------


def _sub(parent: etree._Element, name: str, text: str | None = None, **attributes: str) -> etree._Element:
    element = etree.SubElement(parent, f"{T}{name}", {k: v for k, v in attributes.items() if v})
    if text is not None:
        element.text = text
    return element


def _person(parent: etree._Element, wrapper: str, person: Person, **attributes: str) -> None:
    _sub(_sub(parent, wrapper, **attributes), "persName", person.name, ref=person.ref or "")


def to_tei(entry: Entry) -> etree._Element:
    """The entry's ``biblStruct``."""
    bibl = etree.Element(f"{T}biblStruct", {XML_ID: entry.id, "type": entry.type})
    level = "a" if entry.periodical else "m"
    analytic = _sub(bibl, "analytic") if entry.periodical else None
    monogr = etree.Element(f"{T}monogr")
    titled = analytic if analytic is not None else monogr
    for person in entry.authors:
        _person(titled, "author", person)
    _sub(titled, "title", entry.title, level=level, type="main")
    if entry.title_modern:
        _sub(titled, "title", entry.title_modern, level=level, type="modern")
    for person in entry.translators:
        _person(titled, "editor", person, role="translator")
    if entry.periodical:
        _sub(monogr, "title", entry.periodical, level="j")
    if entry.language:
        _sub(monogr, "textLang", mainLang=entry.language)
    bibl.append(monogr)
    imprint = _sub(monogr, "imprint")
    if entry.place:
        _sub(imprint, "pubPlace", entry.place)
    if entry.publisher:
        _sub(imprint, "publisher", entry.publisher)
    if entry.year is not None:
        _sub(imprint, "date", str(entry.year), when=f"{entry.year:04d}")
    for unit, value in (("volume", entry.volume), ("issue", entry.issue), ("page", entry.pages)):
        if value:
            _sub(imprint, "biblScope", value, unit=unit)
    if len(imprint) == 0:
        _sub(imprint, "date")  # imprint must say something: an empty date is "no date known"
    if entry.original and any(vars(entry.original).values()):
        related = _sub(bibl, "relatedItem", type="original")
        original = _sub(related, "bibl")
        if entry.original.author:
            _sub(original, "author", entry.original.author)
        if entry.original.title:
            _sub(original, "title", entry.original.title)
        if entry.original.language:
            _sub(original, "textLang", mainLang=entry.original.language)
    for holding in entry.holdings:
        note = _sub(bibl, "note", type="holding")
        _sub(note, "orgName", holding.library)
        if holding.shelfmark:
            _sub(note, "idno", holding.shelfmark, type="shelfmark")
        if holding.url:
            _sub(note, "ref", holding.url, target=holding.url)
    for text in entry.notes:
        _sub(bibl, "note", text)
    for manuscript_id in entry.manuscripts:
        _sub(bibl, "ref", manuscript_id, type="manuscript", target=f"{manuscript_id}.xml")
    return bibl


def _text(element: etree._Element | None, path: str) -> str | None:
    found = element.find(path, NSMAP) if element is not None else None
    if found is None:
        return None
    return " ".join("".join(found.itertext()).split()) or None


def _people(element: etree._Element | None, path: str) -> list[Person]:
    if element is None:
        return []
    return [
        Person(" ".join("".join(name.itertext()).split()), name.get("ref"))
        for name in element.iterfind(path + "/tei:persName", NSMAP)
    ]


def from_tei(bibl: etree._Element) -> Entry:
    """The entry a ``biblStruct`` written by ``to_tei`` (or by hand, alike) holds."""
    analytic = bibl.find("tei:analytic", NSMAP)
    monogr = bibl.find("tei:monogr", NSMAP)
    titled = analytic if analytic is not None else monogr
    imprint = monogr.find("tei:imprint", NSMAP) if monogr is not None else None
    year = imprint.find("tei:date", NSMAP) if imprint is not None else None
    year_text = (year.get("when") or year.text or "") if year is not None else ""
    found = _YEAR.search(year_text)
    original = bibl.find("tei:relatedItem[@type='original']/tei:bibl", NSMAP)
    language = monogr.find("tei:textLang", NSMAP) if monogr is not None else None
    entry = Entry(
        id=bibl.get(XML_ID, ""),
        type=bibl.get("type", "work"),
        title=_text(titled, "tei:title[@type='main']") or _text(titled, "tei:title") or "",
        title_modern=_text(titled, "tei:title[@type='modern']"),
        authors=_people(titled, "tei:author"),
        translators=_people(titled, "tei:editor[@role='translator']"),
        place=_text(imprint, "tei:pubPlace"),
        publisher=_text(imprint, "tei:publisher"),
        year=int(found.group()) if found else None,
        pages=_text(imprint, "tei:biblScope[@unit='page']"),
        periodical=_text(monogr, "tei:title[@level='j']") if analytic is not None else None,
        volume=_text(imprint, "tei:biblScope[@unit='volume']"),
        issue=_text(imprint, "tei:biblScope[@unit='issue']"),
        language=language.get("mainLang") if language is not None else None,
        notes=[
            " ".join("".join(note.itertext()).split())
            for note in bibl.iterfind("tei:note", NSMAP)
            if not note.get("type")
        ],
        manuscripts=[
            (ref.get("target") or "").removesuffix(".xml")
            for ref in bibl.iterfind("tei:ref[@type='manuscript']", NSMAP)
        ],
    )
    if original is not None:
        language = original.find("tei:textLang", NSMAP)
        entry.original = Original(
            _text(original, "tei:author"),
            _text(original, "tei:title"),
            language.get("mainLang") if language is not None else None,
        )
    for note in bibl.iterfind("tei:note[@type='holding']", NSMAP):
        link = note.find("tei:ref", NSMAP)
        entry.holdings.append(
            Holding(
                _text(note, "tei:orgName") or "",
                _text(note, "tei:idno[@type='shelfmark']"),
                link.get("target") if link is not None else None,
            )
        )
    entry.version = _version(bibl)
    return entry


def _version(bibl: etree._Element) -> str:
    canonical = etree.tostring(bibl, method="c14n")
    return hashlib.sha256(canonical).hexdigest()[:16]


def check(entry: Entry) -> None:
    """Refuse what the TEI could not hold, with a message that says what to change."""
    problems = []
    if not entry.title.strip():
        problems.append("it has no title")
    if entry.type not in TYPES:
        problems.append(f"its type {entry.type!r} is not one of {', '.join(TYPES)}")
    if entry.year is not None and not 0 < entry.year < 10000:
        problems.append(f"its year {entry.year} is not a year")
    if any(not holding.library.strip() for holding in entry.holdings):
        problems.append("a holding names no library")
    if problems:
        raise BadEntry(f"bibliography entry {entry.title or entry.id or '(untitled)'}: {'; '.join(problems)}")


DEFAULT_TITLE = "Bibliography"


def document(entries: list[Entry], title: str = DEFAULT_TITLE) -> etree._ElementTree:
    """The whole bibliography as a TEI document."""
    root = etree.fromstring(
        f'<TEI xmlns="{TEI_NS}" xml:id="{DOCUMENT_ID}"><teiHeader><fileDesc><titleStmt><title/></titleStmt>'
        "<publicationStmt><p>Part of the edition; kept with the manuscript workbench.</p></publicationStmt>"
        "<sourceDesc><p>Compiled by the editors from library catalogues and published bibliographies.</p>"
        "</sourceDesc></fileDesc></teiHeader><text><body/></text></TEI>",
        parser(remove_blank_text=True),
    )
    root.find("tei:teiHeader/tei:fileDesc/tei:titleStmt/tei:title", NSMAP).text = title
    body = root.find("tei:text/tei:body", NSMAP)
    if entries:
        listing = _sub(body, "listBibl")
        for entry in entries:
            listing.append(to_tei(entry))
    else:
        _sub(body, "p")  # a listBibl may not be empty
    return etree.ElementTree(root)


# -- the bibliography of an edition -------------------------------------------------------


class Bibliography:
    """The bibliography of ``edition``: read it, and change it through validated, journalled saves."""

    def __init__(self, edition: Edition):
        self.edition = edition
        self.path = edition.tei_dir / FILE_NAME

    def _read(self) -> tuple[str, list[Entry]]:
        tree = self.edition.read_document(self.path)
        if tree is None:
            return DEFAULT_TITLE, []
        title = _text(tree.getroot(), "tei:teiHeader/tei:fileDesc/tei:titleStmt/tei:title") or DEFAULT_TITLE
        return title, [from_tei(bibl) for bibl in tree.iterfind(".//tei:listBibl/tei:biblStruct", NSMAP)]

    def entries(self) -> list[Entry]:
        """Every entry, in the file's order."""
        return self._read()[1]

    def get(self, entry_id: str) -> Entry:
        for entry in self.entries():
            if entry.id == entry_id:
                return entry
        raise NotFound(f"no bibliography entry {entry_id!r}")

    def for_manuscript(self, manuscript_id: str) -> list[Entry]:
        return [entry for entry in self.entries() if manuscript_id in entry.manuscripts]

    def duplicates(self, candidates: Iterable[Entry]) -> dict[int, Entry]:
        """For each candidate (by position) that the bibliography (or an earlier candidate)
        already holds, the entry it repeats."""
        known = {duplicate_key(entry): entry for entry in self.entries()}
        found = {}
        for position, candidate in enumerate(candidates):
            key = duplicate_key(candidate)
            if key in known:
                found[position] = known[key]
            else:
                known[key] = candidate
        return found

    # -- saves -----------------------------------------------------------------------

    def add(self, new: list[Entry], who: str) -> list[Entry]:
        """Add ``new`` (ids are given here); all of them or, on any problem, none."""
        for entry in new:
            check(entry)
        with self._saving(who) as entries:
            numbers = [int(m.group(1)) for entry in entries if (m := _ID.fullmatch(entry.id))]
            added = []
            for k, entry in enumerate(new, start=max(numbers, default=0) + 1):
                added.append(replace(entry, id=f"b{k:03d}"))
            entries.extend(added)
        return [self.get(entry.id) for entry in added]

    def update(self, entry: Entry, who: str, expected_version: str) -> Entry:
        """Replace the entry ``entry.id`` by ``entry``, if it is still at ``expected_version``."""
        check(entry)
        with self._saving(who) as entries:
            position = _position(entries, entry.id, expected_version)
            entries[position] = entry
        return self.get(entry.id)

    def delete(self, entry_id: str, who: str, expected_version: str) -> None:
        with self._saving(who) as entries:
            del entries[_position(entries, entry_id, expected_version)]

    def merge(self, keep_id: str, other_id: str, who: str, keep_version: str, other_version: str) -> Entry:
        """Fold the entry ``other_id`` into ``keep_id`` (a duplicate): ``keep`` keeps its fields
        and takes the other's where it has none; holdings, notes, people and manuscripts are
        joined. ``other`` goes."""
        if keep_id == other_id:
            raise BadEntry("an entry cannot be merged with itself")
        with self._saving(who) as entries:
            keep = entries[_position(entries, keep_id, keep_version)]
            other = entries[_position(entries, other_id, other_version)]
            merged = _merged(keep, other)
            entries[entries.index(keep)] = merged
            entries.remove(other)
        return self.get(keep_id)

    @contextmanager
    def _saving(self, who: str) -> Iterator[list[Entry]]:
        """The entries under the bibliography's lock, to change in place; saved when the block ends."""
        self.edition.tei_dir.mkdir(parents=True, exist_ok=True)
        with self.edition.lock(DOCUMENT_ID):
            title, entries = self._read()
            before = {entry.id: entry for entry in entries}
            yield entries
            known = set(self.edition.manuscript_ids())
            for entry in entries:
                missing = [ms for ms in entry.manuscripts if ms not in known]
                if missing:
                    raise BadEntry(f"bibliography entry {entry.id}: no manuscript {', '.join(missing)} in the edition")
            after = {entry.id: entry for entry in entries}
            journal = _journal_entries(before, after, who)
            self.edition.save_document(DOCUMENT_ID, self.path, document(entries, title), journal)
        self._link_manuscripts(before, after, who)

    def _link_manuscripts(self, before: dict[str, Entry], after: dict[str, Entry], who: str) -> None:
        """Bring each manuscript whose entries changed in step: its msDesc lists, as
        ``additional/listBibl/bibl[@corresp]``, the entries it is a manuscript of."""
        touched = {ms for entry in [*before.values(), *after.values()] for ms in entry.manuscripts}
        for manuscript_id in sorted(touched & set(self.edition.manuscript_ids())):
            wanted = [entry for entry in after.values() if manuscript_id in entry.manuscripts]
            if _header_links(self.edition, manuscript_id) == [entry.id for entry in wanted]:
                continue
            with self.edition.edit(manuscript_id, who, pages=[]) as manuscript:
                manuscript.header_xml = _with_links(manuscript.header_xml, wanted)


def _position(entries: list[Entry], entry_id: str, expected_version: str) -> int:
    for position, entry in enumerate(entries):
        if entry.id == entry_id:
            if entry.version != expected_version:
                raise Conflict(entry_id, entry)
            return position
    raise Conflict(entry_id, None)


def _merged(keep: Entry, other: Entry) -> Entry:
    merged = replace(keep)
    for name in ("title_modern", "place", "publisher", "year", "pages", "periodical", "volume", "issue", "language"):
        if getattr(merged, name) in (None, ""):
            setattr(merged, name, getattr(other, name))
    if merged.original is None:
        merged.original = other.original

    def joined(mine: list, theirs: list) -> list:
        return mine + [item for item in theirs if item not in mine]

    merged.authors = joined(keep.authors, other.authors)
    merged.translators = joined(keep.translators, other.translators)
    merged.holdings = joined(keep.holdings, other.holdings)
    merged.notes = joined(keep.notes, other.notes)
    merged.manuscripts = joined(keep.manuscripts, other.manuscripts)
    return merged


def _journal_entries(before: dict[str, Entry], after: dict[str, Entry], who: str) -> list[JournalEntry]:
    """One journal entry per entry added, changed or removed, with its TEI before and after."""

    def tei(entry: Entry | None) -> str:
        return etree.tostring(to_tei(entry), encoding="unicode") if entry else ""

    time = now()
    journal = []
    for entry_id in [*after, *(entry_id for entry_id in before if entry_id not in after)]:
        old, new = tei(before.get(entry_id)), tei(after.get(entry_id))
        if old != new:
            event = "removed" if not new else "text"
            journal.append(JournalEntry(time, DOCUMENT_ID, entry_id, old, new, who, who, None, event=event))
    return journal


# -- the manuscripts' side of the links ---------------------------------------------------


def _header_links(edition: Edition, manuscript_id: str) -> list[str]:
    header = edition.header(manuscript_id).header_xml
    if not header:
        return []
    root = etree.fromstring(header, parser())
    return [
        corresp.partition("#")[2]
        for corresp in root.xpath(
            "tei:fileDesc/tei:sourceDesc/tei:msDesc/tei:additional/tei:listBibl/tei:bibl/@corresp", namespaces=NSMAP
        )
        if corresp.startswith(f"{FILE_NAME}#")
    ]


def manuscript_links(edition: Edition, manuscript_id: str) -> list[str]:
    """The bibliography entries the manuscript's header says it is a manuscript of."""
    return _header_links(edition, manuscript_id)


def _with_links(header_xml: bytes | None, entries: list[Entry]) -> bytes | None:
    if header_xml is None:
        return None  # a header the workbench built has no additional part yet; it gets one next time
    header = etree.fromstring(header_xml, parser(remove_blank_text=True))
    ms_desc = header.find("tei:fileDesc/tei:sourceDesc/tei:msDesc", NSMAP)
    if ms_desc is None:
        return header_xml
    additional = ms_desc.find("tei:additional", NSMAP)
    if additional is None:
        additional = etree.Element(f"{T}additional")
        # additional comes after msIdentifier, msContents, physDesc and history, before msPart/msFrag.
        names = [etree.QName(child).localname for child in ms_desc]
        before = ("msIdentifier", "head", "msContents", "physDesc", "history")
        ms_desc.insert(1 + max((k for k, name in enumerate(names) if name in before), default=-1), additional)
    listing = additional.find("tei:listBibl", NSMAP)
    if listing is not None:
        for bibl in listing.findall("tei:bibl", NSMAP):
            if (bibl.get("corresp") or "").startswith(f"{FILE_NAME}#"):
                listing.remove(bibl)
    elif entries:
        listing = _sub(additional, "listBibl")
    for entry in entries:
        _sub(listing, "bibl", entry.title, corresp=f"{FILE_NAME}#{entry.id}")
    if listing is not None and len(listing) == 0:
        additional.remove(listing)
    if len(additional) == 0:
        ms_desc.remove(additional)
    return etree.tostring(header)


def path_of(edition: Edition) -> Path:
    return edition.tei_dir / FILE_NAME
