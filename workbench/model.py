"""The workbench's own types: a manuscript is pages, a page is regions and lines.

kraken's results (htr/kraken.py) and PAGE/ALTO files (exchange/) become a ``Layout``
of these at their boundary; tei/codec.py turns a ``Manuscript`` into TEI and back.
Nothing else needs to know any of those formats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Literal

Point = tuple[int, int]
Status = Literal["automatic", "corrected", "verified"]
STATUSES: tuple[Status, ...] = ("automatic", "corrected", "verified")

# Manuscript ids become file names and the prefix of every xml:id, so they must be
# safe as both: an XML name start, then letters, digits, "-" and "_".
MANUSCRIPT_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


class WorkbenchError(Exception):
    """An error the user can act on; its message (English) is shown as it is on the command line.

    ``code``, where the raiser gives one, names the kind of error and ``params`` what it
    names (a page, a model, a count), from which the web interface words it in the reader's
    language. Set per instance, not on the class: dataclass subclasses (MetadataError) have
    their own ``code`` field and must not inherit a default for it."""

    def __init__(self, *args: object, code: str = "", **params: object):
        super().__init__(*args)
        if code:
            self.code = code
            self.params = params


class NotFound(WorkbenchError):
    """No such manuscript, page or line: the web answers it with its one "not found" page."""


def check_manuscript_id(manuscript_id: str) -> str:
    if not MANUSCRIPT_ID.fullmatch(manuscript_id):
        raise WorkbenchError(
            f"{manuscript_id!r} is not a valid manuscript id: use a letter, then letters, digits, "
            "'-' or '_' (at most 64 characters), e.g. trifonov-letters-1890"
        )
    return manuscript_id


@dataclass
class Line:
    """One written line: where it is on the page and what it says.

    ``text`` is the line's TEI inline content (text with elements such as ``<del>``,
    written without namespace prefixes); it is empty until someone or something
    transcribes the line, and spaces at its ends are part of it (eScriptorium's lines
    often end in one). ``status`` is None while there is no text.

    ``kind`` is the line's type as the tool it came from named it (eScriptorium's
    ``heading``, SegmOnto's ``HeadingLine``), None for an untyped line; ``source_id``
    is the line's id in the PAGE or ALTO file it was imported from, written back on
    export so that the tool updates its own line. Lines made in the workbench have none.
    """

    id: str
    boundary: list[Point]
    baseline: list[Point]
    region: str | None = None
    text: str = ""
    status: Status | None = None
    resp: str | None = None
    cert: float | None = None
    kind: str | None = None
    source_id: str | None = None

    def copy(self) -> Line:
        """A copy safe to change (points are tuples, shared safely)."""
        return replace(self, boundary=list(self.boundary), baseline=list(self.baseline))


@dataclass
class Region:
    """A text region; ``source_id`` is its id in the PAGE or ALTO file it came from, if any."""

    id: str
    boundary: list[Point]
    kind: str = "text"
    source_id: str | None = None

    def copy(self) -> Region:
        return replace(self, boundary=list(self.boundary))


@dataclass
class Page:
    """One facsimile image (or one frame of a multi-page TIFF) and its layout.

    ``lines`` are in reading order.
    """

    id: str
    n: str
    image: str
    width: int
    height: int
    mime_type: str
    # Which frame of a multi-page TIFF this page is; None for single-image files.
    frame: int | None = None
    regions: list[Region] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)

    def copy(self) -> Page:
        """A copy safe to change (points are tuples, shared safely); much cheaper than deepcopy."""
        return replace(
            self,
            regions=[region.copy() for region in self.regions],
            lines=[line.copy() for line in self.lines],
        )


@dataclass
class Layout:
    """The regions and lines found on one page image, by kraken or in a PAGE/ALTO file,
    before they are put onto a ``Page`` (layout/merge.py, exchange/transfer.py).

    Ids are the finder's own until then. Line texts are TEI fragments, as on a page.
    """

    width: int
    height: int
    regions: list[Region] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)  # in reading order
    image: str | None = None  # the image file name a PAGE/ALTO file gives (its last path component)
    format: str | None = None  # "page2019", "page2013", "alto" for a file; None for kraken's results
    producer: str | None = None  # the tool that wrote the file, as it says
    notes: list[str] = field(default_factory=list)  # what was mended or left out, for the report
    # Where each line and region is in its file, by id, for notes: "TextLine l12 (line 57)".
    origins: dict[str, str] = field(default_factory=dict)
    repaired: int = 0  # lines whose boundary polygon had to be rebuilt from the baseline
    joined: int = 0  # pieces of a written line joined into one (layout/mend.py)
    dropped: int = 0  # specks left out (layout/mend.py)


@dataclass
class Source:
    """Who or what produced text: a person, a segmentation or recognition model, an import."""

    id: str
    kind: str
    name: str


@dataclass
class Change:
    """One entry of the document's revision history (per operation, not per line)."""

    when: str
    who: str
    text: str


@dataclass
class Editor:
    """A person who worked on the edition, and what they did (TEI: titleStmt/respStmt)."""

    name: str
    responsibility: str


@dataclass
class Manuscript:
    """A manuscript: its metadata (the TEI header) and its pages.

    Metadata fields are None (or empty) when unknown; metadata.py reads and checks
    them as editors type them, tei.py knows where each lives in the header.
    """

    id: str
    title: str
    author: str | None = None
    # The date as the catalogue gives it ("1890", "около 1895", "1890–1895") and the
    # years it means, (first, last), for the readers' date filter (TEI: origDate).
    date: str | None = None
    years: tuple[int, int] | None = None
    # The main language of the text, a BCP 47 tag such as "bg" (TEI: langUsage).
    language: str | None = None
    settlement: str | None = None
    repository: str | None = None
    collection: str | None = None
    shelfmark: str | None = None
    # Physical description (TEI: msDesc/physDesc).
    material: str | None = None
    extent: str | None = None
    # Leaf size in millimetres: (height, width).
    dimensions: tuple[int, int] | None = None
    hands: list[str] = field(default_factory=list)
    editors: list[Editor] = field(default_factory=list)
    # The URL of the licence the edition is published under (TEI: availability/licence).
    licence: str | None = None
    # Readers see a manuscript (reading view, search) only once an editor publishes it.
    published: bool = False
    pages: list[Page] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    # The original teiHeader, serialised, when the document came from disk: fields
    # the workbench does not model are kept as they were.
    header_xml: bytes | None = None

    def copy(self, pages: list[Page] | None = None) -> Manuscript:
        """A copy safe to change, of all pages or of ``pages`` only."""
        return replace(
            self,
            pages=[page.copy() for page in (self.pages if pages is None else pages)],
            sources=[replace(source) for source in self.sources],
            changes=[replace(change) for change in self.changes],
            hands=list(self.hands),
            editors=[replace(editor) for editor in self.editors],
        )

    def page(self, n: str) -> Page:
        for page in self.pages:
            if page.n == n:
                return page
        raise NotFound(f"manuscript {self.id} has no page {n}")

    def lines(self) -> list[Line]:
        return [line for page in self.pages for line in page.lines]

    def source(self, kind: str, name: str) -> Source:
        """The source for ``kind``/``name``, added to the manuscript if new."""
        for source in self.sources:
            if source.kind == kind and source.name == name:
                return source
        slug = re.sub(r"[^A-Za-z0-9]+", "-", f"{kind}-{name}").strip("-").lower() or kind
        ids = {s.id for s in self.sources}
        source_id, k = f"src-{slug}", 1
        while source_id in ids:
            k += 1
            source_id = f"src-{slug}-{k}"
        source = Source(source_id, kind, name)
        self.sources.append(source)
        return source
