"""The edition's registers of people and places, kept as TEI in ``tei/register.xml``: a
``listPerson`` and a ``listPlace`` (works are the bibliography's entries, bibliography.py).

This is the one module that knows that encoding. One person as TEI::

    <person xml:id="trifonov">
      <persName type="modern" xml:lang="bg">Трифон Трифонов</persName>        modern spelling
      <persName type="original" xml:lang="bg">Трифонъ Трифоновъ</persName>    old spelling
      <persName type="transliterated" xml:lang="bg-Latn">Trifon Trifonov</persName>
      <birth when="1866"><placeName ref="#ruse"/></birth>
      <death when="1926"/>
      <note type="biography">…</note>
      <idno type="VIAF">…</idno>  <idno type="Wikidata">Q…</idno>  <idno type="GND">…</idno>
      <bibl type="source">where the facts above come from <ptr target="https://…"/></bibl>
    </person>

and a place is a ``place`` with ``placeName``s of the same three types, a ``note`` and
``idno``s. Both spellings are Bulgarian, so ``xml:lang`` cannot tell them apart: the
orthography is in ``@type`` (``original``: as the sources write it, before the 1945
reform; ``modern``), and ``xml:lang="bg-Latn"`` marks the Latin transliteration the
English pages show. Identifiers are data (``idno``): the pages link to VIAF, Wikidata and
the GND by them; nothing is fetched from those services.

A name in a line points here with ``persName``/``placeName`` ``@ref="register.xml#key"``
(the shorthand ``{@…|key}``, ``{#…|key}``); a work with ``title @ref="bibliography.xml#b001"``.

Saves work as the bibliography's do: under the register's lock, each entity's version
checked (``Conflict``), the whole document validated against the project schema, each
change journalled (``.workbench/journal/register.jsonl``), the file replaced atomically.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from workbench import bibliography
from workbench.edition import Edition, now
from workbench.journal import Entry as JournalEntry
from workbench.model import NotFound, WorkbenchError
from workbench.tei.shorthand import ShorthandError
from workbench.tei.text import NAME_ELEMENTS, line_refs, parse_fragment
from workbench.tei.xml import NSMAP, TEI_NS, XML_ID, XML_NS, parser

T = f"{{{TEI_NS}}}"
XML_LANG = f"{{{XML_NS}}}lang"
FILE_NAME = "register.xml"
DOCUMENT_ID = "register"  # the lock's and the journal's name
KINDS = ("person", "place")
NAME_ELEMENT = {"person": "persName", "place": "placeName"}
# Identifiers the pages know how to link to; the number is kept as the authority writes it.
IDENTIFIERS: dict[str, tuple[re.Pattern[str], str]] = {
    "VIAF": (re.compile(r"[1-9][0-9]{1,21}"), "https://viaf.org/viaf/{}"),
    "Wikidata": (re.compile(r"Q[1-9][0-9]*"), "https://www.wikidata.org/wiki/{}"),
    "GND": (re.compile(r"[0-9]{1,10}[0-9X]|[0-9]{1,9}-[0-9X]"), "https://d-nb.info/gnd/{}"),
}
# A key is an xml:id (an NCName), kept to letters, digits, "-", "_" and "." so that it can
# be typed in the shorthand and stand in a URL.
KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_DATE = re.compile(r"-?[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?")


@dataclass
class Source:
    """Where facts of an entity come from: a citation, and a link to read it at."""

    text: str
    url: str | None = None


@dataclass
class Entity:
    """A person or a place of the register."""

    key: str  # xml:id: what ``@ref="register.xml#key"`` points at
    name: str  # modern spelling
    kind: str = "person"  # one of KINDS
    name_original: str | None = None  # old spelling, as the sources write it
    name_latin: str | None = None  # Latin transliteration
    note: str | None = None  # a short biography, or what a place is
    birth: str | None = None  # ISO date: 1866, 1866-10, 1866-10-05 (people only)
    birth_place: str | None = None  # the key of a place of the register
    death: str | None = None
    death_place: str | None = None
    identifiers: dict[str, str] = field(default_factory=dict)  # {"VIAF": "…", "Wikidata": "Q…"}
    sources: list[Source] = field(default_factory=list)
    version: str = ""  # what the entity's TEI hashes to as last read; saves compare it

    @property
    def ref(self) -> str:
        return f"{FILE_NAME}#{self.key}"

    def names(self) -> list[str]:
        """Every name it goes by, modern spelling first."""
        return [name for name in (self.name, self.name_original, self.name_latin) if name]

    def links(self) -> list[tuple[str, str, str]]:
        """(authority, identifier, URL) for each identifier, for the pages to link to."""
        return [(kind, value, IDENTIFIERS[kind][1].format(value)) for kind, value in self.identifiers.items()]

    @property
    def birth_year(self) -> int | None:
        return _year(self.birth)

    @property
    def death_year(self) -> int | None:
        return _year(self.death)


def _year(date: str | None) -> int | None:
    return int(date.lstrip("-")[:4]) * (-1 if date.startswith("-") else 1) if date else None


class Conflict(WorkbenchError):
    """The entity changed (or went) since the editor read it: nothing was saved."""

    def __init__(self, key: str, current: Entity | None):
        super().__init__(
            f"register entry {key} was changed by someone else since you read it"
            if current
            else f"register entry {key} was removed by someone else since you read it"
        )
        self.key, self.current = key, current


class BadEntity(WorkbenchError):
    """An entity the register cannot hold as it is (no name, a bad key, a bad date …).

    ``code`` is ``bad_entity`` and ``params["problems"]`` the problems as (code, params)
    pairs (codes of PROBLEMS), for the web to word each in the reader's language."""


# Each problem check() can find, in English (the command line's words); the web words the codes.
PROBLEMS = {
    "kind": "its kind {kind!r} is not one of " + ", ".join(KINDS),
    "key": "its key {key!r} is not a key: letters, digits, '-', '_' and '.', beginning with a letter",
    "duplicate_key": "the register has an entry {key!r} already; choose another key",
    "no_name": "it has no name",
    "date": "its {event} date {date!r} is not a date (write 1866, 1866-10 or 1866-10-05)",
    "place_has_no_life": "a place has no birth or death",
    "unknown_place": "its {event} place {place!r} is not a place of the register",
    "identifier_kind": "identifier {authority!r} is not one of " + ", ".join(IDENTIFIERS),
    "identifier": "{value!r} is not a {authority} identifier",
    "empty_source": "a source says nothing",
}


def _refuse(entity: Entity, problems: list[tuple[str, dict[str, str]]]) -> BadEntity:
    said = "; ".join(PROBLEMS[code].format(**params) for code, params in problems)
    return BadEntity(
        f"register entry {entity.key or entity.name or '(unnamed)'}: {said}", code="bad_entity", problems=problems
    )


def check(entity: Entity, places: set[str] | None = None) -> None:
    """Refuse what the TEI could not hold, with a message that says what to change.
    ``places``: the place keys a birth or death place may name."""
    problems: list[tuple[str, dict[str, str]]] = []
    if entity.kind not in KINDS:
        problems.append(("kind", {"kind": entity.kind}))
    if not KEY.fullmatch(entity.key or ""):
        problems.append(("key", {"key": entity.key}))
    if not entity.name.strip():
        problems.append(("no_name", {}))
    for event, date in (("birth", entity.birth), ("death", entity.death)):
        if date and not _DATE.fullmatch(date):
            problems.append(("date", {"event": event, "date": date}))
    if entity.kind == "place" and (entity.birth or entity.death or entity.birth_place or entity.death_place):
        problems.append(("place_has_no_life", {}))
    for event, place in (("birth", entity.birth_place), ("death", entity.death_place)):
        if place and places is not None and place not in places:
            problems.append(("unknown_place", {"event": event, "place": place}))
    for authority, value in entity.identifiers.items():
        if authority not in IDENTIFIERS:
            problems.append(("identifier_kind", {"authority": authority}))
        elif not IDENTIFIERS[authority][0].fullmatch(value):
            problems.append(("identifier", {"authority": authority, "value": value}))
    if any(not source.text.strip() for source in entity.sources):
        problems.append(("empty_source", {}))
    if problems:
        raise _refuse(entity, problems)


# -- TEI ---------------------------------------------------------------------------------


def _sub(parent: etree._Element, name: str, text: str | None = None, **attributes: str) -> etree._Element:
    element = etree.SubElement(parent, f"{T}{name}", {k: v for k, v in attributes.items() if v})
    if text is not None:
        element.text = text
    return element


def to_tei(entity: Entity) -> etree._Element:
    """The entity's ``person`` or ``place``."""
    element = etree.Element(f"{T}{entity.kind}", {XML_ID: entity.key}, nsmap={None: TEI_NS})
    name_element = NAME_ELEMENT[entity.kind]
    _sub(element, name_element, entity.name, type="modern", **{XML_LANG: "bg"})
    if entity.name_original:
        _sub(element, name_element, entity.name_original, type="original", **{XML_LANG: "bg"})
    if entity.name_latin:
        _sub(element, name_element, entity.name_latin, type="transliterated", **{XML_LANG: "bg-Latn"})
    for event, date, place in (
        ("birth", entity.birth, entity.birth_place),
        ("death", entity.death, entity.death_place),
    ):
        if date or place:
            happened = _sub(element, event, when=date or "")
            if place:
                _sub(happened, "placeName", ref=f"#{place}")
    if entity.note:
        _sub(element, "note", entity.note, type="biography" if entity.kind == "person" else "description")
    for kind, value in entity.identifiers.items():
        _sub(element, "idno", value, type=kind)
    for source in entity.sources:
        bibl = _sub(element, "bibl", source.text, type="source")
        if source.url:
            _sub(bibl, "ptr", target=source.url)
    return element


def _text(element: etree._Element | None, path: str) -> str | None:
    found = element.find(path, NSMAP) if element is not None else None
    if found is None:
        return None
    return " ".join("".join(found.itertext()).split()) or None


def from_tei(element: etree._Element) -> Entity:
    kind = etree.QName(element).localname
    name_element = f"tei:{NAME_ELEMENT[kind]}"

    def place_of(event: str) -> str | None:
        ref = element.find(f"tei:{event}/tei:placeName", NSMAP)
        return (ref.get("ref") or "").removeprefix("#") or None if ref is not None else None

    def date_of(event: str) -> str | None:
        found = element.find(f"tei:{event}", NSMAP)
        return found.get("when") if found is not None else None

    entity = Entity(
        key=element.get(XML_ID, ""),
        kind=kind,
        name=_text(element, f"{name_element}[@type='modern']") or _text(element, name_element) or "",
        name_original=_text(element, f"{name_element}[@type='original']"),
        name_latin=_text(element, f"{name_element}[@type='transliterated']"),
        note=_text(element, "tei:note"),
        birth=date_of("birth"),
        birth_place=place_of("birth"),
        death=date_of("death"),
        death_place=place_of("death"),
        identifiers={idno.get("type", ""): (idno.text or "").strip() for idno in element.iterfind("tei:idno", NSMAP)},
        sources=[
            Source(
                " ".join((bibl.text or "").split()),
                bibl.find("tei:ptr", NSMAP).get("target") if bibl.find("tei:ptr", NSMAP) is not None else None,
            )
            for bibl in element.iterfind("tei:bibl[@type='source']", NSMAP)
        ],
    )
    entity.version = _version(element)
    return entity


def _version(element: etree._Element) -> str:
    return hashlib.sha256(etree.tostring(element, method="c14n")).hexdigest()[:16]


DEFAULT_TITLE = "Registers of people and places"


def document(entities: list[Entity], title: str = DEFAULT_TITLE) -> etree._ElementTree:
    """The whole register as a TEI document: people first, then places, each in the given order."""
    root = etree.fromstring(
        f'<TEI xmlns="{TEI_NS}" xml:id="{DOCUMENT_ID}"><teiHeader><fileDesc><titleStmt><title/></titleStmt>'
        "<publicationStmt><p>Part of the edition; kept with the manuscript workbench.</p></publicationStmt>"
        "<sourceDesc><p>Compiled by the editors; each entry names its sources.</p>"
        "</sourceDesc></fileDesc></teiHeader><text><body/></text></TEI>",
        parser(remove_blank_text=True),
    )
    root.find("tei:teiHeader/tei:fileDesc/tei:titleStmt/tei:title", NSMAP).text = title
    body = root.find("tei:text/tei:body", NSMAP)
    for kind, listing in (("person", "listPerson"), ("place", "listPlace")):
        of_kind = [entity for entity in entities if entity.kind == kind]
        if of_kind:
            parent = _sub(body, listing)
            for entity in of_kind:
                parent.append(to_tei(entity))
    if len(body) == 0:
        _sub(body, "p")  # a body may not be empty, nor a listPerson
    return etree.ElementTree(root)


# -- the register of an edition -----------------------------------------------------------


class Register:
    """The register of ``edition``: read it, and change it through validated, journalled saves."""

    def __init__(self, edition: Edition):
        self.edition = edition
        self.path = edition.tei_dir / FILE_NAME

    def _read(self) -> tuple[str, list[Entity]]:
        tree = self.edition.read_document(self.path)
        if tree is None:
            return DEFAULT_TITLE, []
        title = _text(tree.getroot(), "tei:teiHeader/tei:fileDesc/tei:titleStmt/tei:title") or DEFAULT_TITLE
        found = tree.xpath("//tei:listPerson/tei:person | //tei:listPlace/tei:place", namespaces=NSMAP)
        return title, [from_tei(element) for element in found]

    def entities(self, kind: str | None = None) -> list[Entity]:
        """Every entity (of ``kind``), in the file's order."""
        return [entity for entity in self._read()[1] if kind in (None, entity.kind)]

    def get(self, key: str, kind: str | None = None) -> Entity:
        for entity in self.entities(kind):
            if entity.key == key:
                return entity
        raise NotFound(f"no {kind or 'entry'} {key!r} in the register")

    def keys(self) -> dict[str, str]:
        """Each key and its kind."""
        return {entity.key: entity.kind for entity in self.entities()}

    def add(self, entity: Entity, who: str) -> Entity:
        with self._saving(who) as entities:
            if any(other.key == entity.key for other in entities):
                raise _refuse(entity, [("duplicate_key", {"key": entity.key})])
            entities.append(entity)
        return self.get(entity.key)

    def update(self, entity: Entity, who: str, expected_version: str) -> Entity:
        """Replace the entity ``entity.key`` by ``entity``, if it is still at ``expected_version``."""
        with self._saving(who) as entities:
            entities[_position(entities, entity.key, expected_version)] = entity
        return self.get(entity.key)

    def delete(self, key: str, who: str, expected_version: str) -> None:
        """Remove an entry nothing names any more: a line that tags it, a bibliography entry
        that names the person, or a person born or dead in the place refuses it (InUse)."""
        found = uses(self.edition, key)
        if found:
            raise InUse(key, found)
        with self._saving(who) as entities:
            del entities[_position(entities, key, expected_version)]

    @contextmanager
    def _saving(self, who: str) -> Iterator[list[Entity]]:
        """The entities under the register's lock, to change in place; saved when the block ends."""
        self.edition.tei_dir.mkdir(parents=True, exist_ok=True)
        with self.edition.lock(DOCUMENT_ID):
            title, entities = self._read()
            before = {entity.key: entity for entity in entities}
            yield entities
            places = {entity.key for entity in entities if entity.kind == "place"}
            for entity in entities:
                check(entity, places)
            after = {entity.key: entity for entity in entities}
            journal = _journal_entries(before, after, who)
            self.edition.save_document(DOCUMENT_ID, self.path, document(entities, title), journal)


@dataclass
class TaggedLine:
    """A line that tags a register entry: where it is, for the message and for a link."""

    manuscript_id: str
    page_n: str
    line_n: int  # 1-based, on its page
    line_id: str

    def __str__(self) -> str:
        return f"{self.manuscript_id} p. {self.page_n}, line {self.line_n}"


@dataclass
class Uses:
    """Everything that names a register entry."""

    lines: list[TaggedLine] = field(default_factory=list)
    works: list[str] = field(default_factory=list)  # bibliography entries naming the person
    entities: list[str] = field(default_factory=list)  # people born or dead in the place

    def __bool__(self) -> bool:
        return bool(self.lines or self.works or self.entities)


def uses(edition: Edition, key: str) -> Uses:
    """What names ``key``: the lines of every manuscript, published or not, read from their TEI.

    Not the search index: it holds published manuscripts only, and lags a save by a moment,
    while most tagging happens in manuscripts still being transcribed. A file that does not
    hold the ref's text at all is skipped unparsed, so this costs a read of each file."""
    ref = f"{FILE_NAME}#{key}"
    found = Uses()
    for manuscript_id in edition.manuscript_ids():
        if ref.encode() not in edition.tei_path(manuscript_id).read_bytes():
            continue
        for page in edition.load(manuscript_id).pages:
            for number, line in enumerate(page.lines, start=1):
                if ref in line.text and ref in line_refs(line.text):
                    found.lines.append(TaggedLine(manuscript_id, page.n, number, line.id))
    found.works = [
        entry.id
        for entry in bibliography.Bibliography(edition).entries()
        if any(person.ref == ref for person in entry.authors + entry.translators)
    ]
    found.entities = [
        entity.key for entity in Register(edition).entities() if key in (entity.birth_place, entity.death_place)
    ]
    return found


class InUse(WorkbenchError):
    """A register entry that lines, the bibliography or other entries still name: not deleted."""

    SHOWN = 20  # lines named in the message; the rest are counted

    def __init__(self, key: str, found: Uses):
        where = []
        if found.lines:
            listed = "; ".join(str(line) for line in found.lines[: self.SHOWN])
            more = f" and {len(found.lines) - self.SHOWN} more" if len(found.lines) > self.SHOWN else ""
            where.append(f"{len(found.lines)} line(s) tag it ({listed}{more})")
        if found.works:
            where.append(f"bibliography entries name the person ({', '.join(found.works)})")
        if found.entities:
            where.append(f"register entries name the place as a place of birth or death ({', '.join(found.entities)})")
        super().__init__(
            f"register entry {key} is still named: {'; '.join(where)}; untag or change those first. Nothing was deleted.",
            code="in_use",
            key=key,
            uses=found,
        )
        self.key, self.uses = key, found


def _position(entities: list[Entity], key: str, expected_version: str) -> int:
    for position, entity in enumerate(entities):
        if entity.key == key:
            if entity.version != expected_version:
                raise Conflict(key, entity)
            return position
    raise Conflict(key, None)


def _journal_entries(before: dict[str, Entity], after: dict[str, Entity], who: str) -> list[JournalEntry]:
    """One journal entry per entity added, changed or removed, with its TEI before and after."""

    def tei(entity: Entity | None) -> str:
        return etree.tostring(to_tei(entity), encoding="unicode") if entity else ""

    time = now()
    journal = []
    for key in [*after, *(key for key in before if key not in after)]:
        old, new = tei(before.get(key)), tei(after.get(key))
        if old != new:
            journal.append(
                JournalEntry(time, DOCUMENT_ID, key, old, new, who, who, None, event="removed" if not new else "text")
            )
    return journal


def path_of(edition: Edition) -> Path:
    return edition.tei_dir / FILE_NAME


# -- names tagged in lines -----------------------------------------------------------------


class UnknownKey(WorkbenchError):
    """A line tags a name with a key the register or the bibliography does not have (code
    ``unknown_key``), or a person's key on a place (``wrong_key``): nothing was saved."""

    def __init__(self, message: str, code: str, key: str):
        super().__init__(message, code=code, key=key)
        self.key = key


def _bad_ref(edition: Edition, tei: str, edition_files_only: bool) -> UnknownKey | None:
    """The first tagged name of the line ``tei`` whose ``@ref`` names no entry of its kind.
    ``edition_files_only``: check only refs into register.xml and bibliography.xml (a ref to
    elsewhere, a URI an imported file brought, is not the workbench's to judge)."""
    refs = line_refs(tei)
    if not refs:
        return None
    known = {f"{FILE_NAME}#{key}": kind for key, kind in Register(edition).keys().items()}
    if any(ref.startswith(f"{bibliography.FILE_NAME}#") for ref in refs):
        known |= {
            f"{bibliography.FILE_NAME}#{entry.id}": "work" for entry in bibliography.Bibliography(edition).entries()
        }
    fragment = parse_fragment(tei, "line")
    for element in fragment.iterdescendants(*(f"{T}{name}" for name in NAME_ELEMENTS)):
        ref = element.get("ref")
        if not ref:
            continue
        file, _hash, key = ref.partition("#")
        if edition_files_only and file not in (FILE_NAME, bibliography.FILE_NAME):
            continue
        wanted = {"persName": "person", "placeName": "place", "title": "work"}[etree.QName(element).localname]
        if ref not in known:
            where = "the bibliography has no entry" if wanted == "work" else "the register has no entry"
            return UnknownKey(f'{where} "{key}"', "unknown_key", key)
        if known[ref] != wanted:
            return UnknownKey(f'"{key}" is a {known[ref]} in the register, not a {wanted}', "wrong_key", key)
    return None


def check_refs(edition: Edition, tei: str) -> None:
    """Refuse (UnknownKey) a line's TEI that tags a name with a key the register or the
    bibliography lacks, or with another kind's key: what every save of a line's text checks,
    whoever saves it (the web editor, a script, the command line)."""
    if "ref=" not in tei:
        return  # most lines tag nothing: no need to read the register
    bad = _bad_ref(edition, tei, edition_files_only=True)
    if bad:
        raise bad


def check_keys(edition: Edition, typed: str, tei: str) -> None:
    """Refuse a line (``tei``, converted from the shorthand ``typed``) that tags a name with a
    key the register or the bibliography does not have, or a person's key on a place: the
    ShorthandError puts the caret on the key, as for any other mistake in the shorthand."""
    bad = _bad_ref(edition, tei, edition_files_only=False)
    if bad:
        marks = [match.start() + 1 for match in re.finditer(rf"\|{re.escape(bad.key)}(?=}})", typed)]
        raise ShorthandError(marks[0] if marks else 0, str(bad), code=bad.code)
