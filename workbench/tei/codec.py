"""TEI P5 documents: the one module that knows how a manuscript is encoded.

The encoding is the one in design.md §2: geometry in ``<facsimile>`` (a ``surface``
per page, a ``zone`` per region and per line, the baseline as a ``path`` inside the
line's zone), text in ``<body>`` (a ``pb`` per page, an ``ab`` per run of lines in
one region, an ``lb`` per line), each line's ``lb`` and ``zone`` pointing at each
other.
"""

from __future__ import annotations

import copy
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import PurePosixPath
from xml.sax.saxutils import escape as xml_escape

from lxml import etree

from workbench.model import (
    STATUSES,
    Change,
    Editor,
    Line,
    Manuscript,
    Page,
    Point,
    Region,
    Source,
    WorkbenchError,
)
from workbench.tei.text import parse_fragment
from workbench.tei.xml import NSMAP, TEI_NS, XML_ID, parse_xml, parser

T = f"{{{TEI_NS}}}"  # the TEI namespace, as lxml writes it before a tag name


def parse_manuscript(data: bytes, name: str = "document") -> Manuscript:
    """Read a TEI document written by ``build_document`` (or by hand, in the same encoding)."""
    root = parse_xml(data, name).getroot()
    if root.tag != f"{T}TEI":
        raise WorkbenchError(f"{name} is not a TEI document (its root element is {root.tag})")
    manuscript_id = root.get(XML_ID)
    if not manuscript_id:
        raise WorkbenchError(f"{name}: the <TEI> element has no xml:id (the manuscript id)")
    header = root.find(f"{T}teiHeader")
    if header is None:
        raise WorkbenchError(f"{name} has no teiHeader")
    manuscript = Manuscript(id=manuscript_id, title=_text(header, "tei:fileDesc/tei:titleStmt/tei:title") or "")
    manuscript.author = _text(header, "tei:fileDesc/tei:titleStmt/tei:author")
    ms_identifier = "tei:fileDesc/tei:sourceDesc/tei:msDesc/tei:msIdentifier/"
    manuscript.settlement = _text(header, ms_identifier + "tei:settlement")
    manuscript.repository = _text(header, ms_identifier + "tei:repository")
    manuscript.collection = _text(header, ms_identifier + "tei:collection")
    manuscript.shelfmark = _text(header, ms_identifier + "tei:idno[@type='shelfmark']")
    for resp_stmt in header.iterfind("tei:fileDesc/tei:titleStmt/tei:respStmt", NSMAP):
        responsibility = _text(resp_stmt, "tei:resp") or ""
        if resp_stmt.get(XML_ID):
            manuscript.sources.append(Source(resp_stmt.get(XML_ID), responsibility, _text(resp_stmt, "tei:name") or ""))
        elif resp_stmt.find("tei:persName", NSMAP) is not None:
            manuscript.editors.append(Editor(_text(resp_stmt, "tei:persName") or "", responsibility))
    manuscript.licence = _text_attribute(
        header, "tei:fileDesc/tei:publicationStmt/tei:availability/tei:licence", "target"
    )
    ms_desc = "tei:fileDesc/tei:sourceDesc/tei:msDesc/"
    manuscript.date = _text(header, ms_desc + "tei:history/tei:origin/tei:origDate")
    manuscript.material = _text(
        header, ms_desc + "tei:physDesc/tei:objectDesc/tei:supportDesc/tei:support/tei:material"
    )
    extent = header.find(ms_desc + "tei:physDesc/tei:objectDesc/tei:supportDesc/tei:extent", NSMAP)
    if extent is not None:
        manuscript.extent = (extent.text or "").strip() or None
        height = _text(extent, "tei:dimensions/tei:height")
        width = _text(extent, "tei:dimensions/tei:width")
        if height and width and height.isdigit() and width.isdigit():
            manuscript.dimensions = (int(height), int(width))
    manuscript.hands = [
        "".join(note.itertext()).strip()
        for note in header.iterfind(ms_desc + "tei:physDesc/tei:handDesc/tei:handNote", NSMAP)
    ]
    manuscript.language = _text_attribute(header, "tei:profileDesc/tei:langUsage/tei:language", "ident")
    for change in header.iterfind("tei:revisionDesc/tei:change", NSMAP):
        manuscript.changes.append(
            Change(change.get("when", ""), (change.get("who") or "").lstrip("#"), "".join(change.itertext()).strip())
        )
    manuscript.years = _origin_years(header)
    # The document's own status says whether readers may see it (TEI: revisionDesc/@status).
    manuscript.published = _text_attribute(header, "tei:revisionDesc", "status") == "published"
    manuscript.header_xml = etree.tostring(header)

    pages: dict[str, Page] = {}
    zones: dict[str, etree._Element] = {}
    for surface in root.iterfind("tei:facsimile/tei:surface", NSMAP):
        page = _read_surface(surface, manuscript_id)
        pages[page.id] = page
        manuscript.pages.append(page)
        for zone in surface.iterfind("tei:zone", NSMAP):
            zones[zone.get(XML_ID, "")] = zone
            if zone.get("type") == "region":
                page.regions.append(
                    Region(
                        zone.get(XML_ID),
                        _points(zone.get("points")),
                        zone.get("subtype", "text"),
                        source_id=zone.get("n"),
                    )
                )

    page = None
    for element in root.iterfind("tei:text/tei:body//*", NSMAP):
        if element.tag == f"{T}pb":
            page = pages.get(_target(element.get("facs")))
            if page is None:
                raise WorkbenchError(f"{name}, line {element.sourceline}: <pb> points at no page surface")
        elif element.tag == f"{T}ab":
            if page is None and len(element) == 0 and not (element.text or "").strip():
                continue  # the placeholder body of a manuscript without pages
            if page is None:
                raise WorkbenchError(f"{name}, line {element.sourceline}: text before the first <pb>")
            page.lines.extend(_read_ab(element, zones, name))
    return manuscript


@dataclass
class PageParts:
    """A page's share of the document, serialised: its surface and its text.

    A document is assembled from these, so that saving one page of a 500-page
    manuscript rebuilds (and validates) only that page.
    """

    surface: bytes
    text: bytes


def header_part(manuscript: Manuscript) -> bytes:
    return _part(_build_header(manuscript), level=1)


def page_parts(manuscript_id: str, page: Page) -> PageParts:
    surface = _part(_build_surface(manuscript_id, page), level=2)
    div = etree.Element(f"{T}div", nsmap={None: TEI_NS})
    etree.SubElement(div, f"{T}pb", n=page.n, facs=f"#{page.id}")
    runs: list[tuple[etree._Element, list[tuple[int, Line]]]] = []
    for number, line in enumerate(page.lines, start=1):
        region = f"#{line.region}" if line.region else None
        if not runs or runs[-1][0].get("facs") != region:
            ab = etree.SubElement(div, f"{T}ab")
            if region:
                ab.set("facs", region)
            runs.append((ab, []))
        runs[-1][1].append((number, line))
    # Indent the structure before any line content goes in: whitespace added inside
    # mixed content (a <choice>, say) would change the text.
    etree.indent(div, space=" ", level=3)
    line_indent = "\n" + " " * 5  # one level inside <ab>
    for ab, lines in runs:
        ab.text = line_indent
        for number, line in lines:
            _append_line(ab, line, number)
            ab[-1].tail = (ab[-1].tail or "") + line_indent
        ab[-1].tail = ab[-1].tail[:-1]  # the closing </ab> one level out
    text = b"\n    ".join(_part(child, level=None) for child in div)
    return PageParts(surface, text)


def assemble(manuscript_id: str, header: bytes, pages: list[PageParts]) -> bytes:
    """The whole document from its serialised parts."""
    parts = {"header": header} | {(kind, k): getattr(p, kind) for k, p in enumerate(pages) for kind in _PAGE_KINDS}
    return b"".join(parts.get(piece, piece) for piece in _layout(manuscript_id, len(pages)))


def part_offsets(manuscript_id: str, header_size: int, page_sizes: list[tuple[int, int]]) -> PartOffsets:
    """Where ``assemble`` puts each part, knowing only the parts' sizes in bytes (a page's
    surface and text): what lets another process read a few pages of a saved document
    without parsing it all (edition.py, the changes log)."""
    sizes = {"header": header_size} | {
        (kind, k): size for k, pair in enumerate(page_sizes) for kind, size in zip(_PAGE_KINDS, pair, strict=True)
    }
    offsets: dict = {}
    position = 0
    for piece in _layout(manuscript_id, len(page_sizes)):
        if isinstance(piece, bytes):
            position += len(piece)
        else:
            offsets[piece] = position
            position += sizes[piece]
    pages = [(offsets[("surface", k)], offsets[("text", k)]) for k in range(len(page_sizes))]
    return PartOffsets(offsets["header"], pages, position)


@dataclass
class PartOffsets:
    header: int
    pages: list[tuple[int, int]]  # (surface, text) start of each page, in order
    size: int  # of the whole document


_PAGE_KINDS = ("surface", "text")


def _layout(manuscript_id: str, page_count: int) -> list:
    """The document as a sequence of literal bytes and named parts ("header", or
    ("surface", k) / ("text", k) for page k): one description of the layout, which both
    ``assemble`` and ``part_offsets`` follow."""
    out: list = [
        b"<?xml version='1.0' encoding='UTF-8'?>\n",
        f'<TEI xmlns="{TEI_NS}" xml:id="{manuscript_id}" xml:lang="bg">\n '.encode(),
        "header",
    ]
    if page_count:
        out.append(b"\n <facsimile>\n  ")
        out += _joined([("surface", k) for k in range(page_count)], b"\n  ")
        out.append(b"\n </facsimile>")
    out.append(b'\n <text>\n  <body>\n   <div type="manuscript">\n    ')
    # An empty manuscript still needs some body content to be valid TEI.
    out += _joined([("text", k) for k in range(page_count)], b"\n    ") or [b"<ab/>"]
    out.append(b"\n   </div>\n  </body>\n </text>\n</TEI>\n")
    return out


def _joined(pieces: list, separator: bytes) -> list:
    out: list = []
    for piece in pieces:
        if out:
            out.append(separator)
        out.append(piece)
    return out


def document_bytes(manuscript: Manuscript) -> bytes:
    """The TEI document for ``manuscript``, serialised."""
    parts = [page_parts(manuscript.id, page) for page in manuscript.pages]
    return assemble(manuscript.id, header_part(manuscript), parts)


def build_document(manuscript: Manuscript) -> etree._ElementTree:
    """The TEI document for ``manuscript``, as a tree."""
    return parse_xml(document_bytes(manuscript), manuscript.id)


def pages_document(manuscript: Manuscript, parts: list[PageParts]) -> etree._ElementTree:
    """A document of the header and some pages only: what a save of those pages validates."""
    return parse_xml(assemble(manuscript.id, header_part(manuscript), parts), f"{manuscript.id} (pages being saved)")


_NAMESPACE_DECLARATION = f' xmlns="{TEI_NS}"'.encode()


def _part(element: etree._Element, level: int | None) -> bytes:
    """An element serialised to stand inside the TEI root (which declares the namespace)."""
    if level is not None:
        etree.indent(element, space=" ", level=level)
    # A detached element carries its own namespace declaration, first thing after its
    # name; the assembled document declares it once, on <TEI>.
    return etree.tostring(element, encoding="UTF-8", with_tail=False).replace(_NAMESPACE_DECLARATION, b"", 1)


def serialize(tree: etree._ElementTree) -> bytes:
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8") + b"\n"


def page_id(manuscript_id: str, n: int | str) -> str:
    return f"{manuscript_id}_p{n}"


def graphic_url(manuscript_id: str, page: Page) -> str:
    url = f"../facsimiles/{manuscript_id}/{page.image}"
    return url if page.frame is None else f"{url}#page={page.frame + 1}"


def add_editorial_notes(tree: etree._ElementTree, threads: list) -> None:
    """Comment threads on lines, ``(line id, Comment)`` pairs (review.py), as notes in the
    document's ``<back>``: one ``<note type="editorial">`` per thread, pointing at its line,
    a ``<p>`` per comment with who and when."""
    text = tree.getroot().find(f"{T}text")
    back = text.find(f"{T}back")
    if back is None:
        back = etree.SubElement(text, f"{T}back")
    div = etree.SubElement(back, f"{T}div", type="editorial-notes")
    for line_id, thread in threads:
        note = etree.SubElement(
            div, f"{T}note", type="editorial", subtype="resolved" if thread.resolved else "open", target=f"#{line_id}_t"
        )
        for comment in [thread, *thread.replies]:
            paragraph = etree.SubElement(note, f"{T}p")
            etree.SubElement(paragraph, f"{T}name").text = comment.who
            paragraph[-1].tail = " "
            etree.SubElement(paragraph, f"{T}date", when=comment.time).text = comment.time
            paragraph[-1].tail = f": {comment.text}"


# -- reading ---------------------------------------------------------------------


def _text(element: etree._Element, path: str) -> str | None:
    found = element.find(path, NSMAP)
    if found is None:
        return None
    return "".join(found.itertext()).strip() or None


def _text_attribute(element: etree._Element, path: str, name: str) -> str | None:
    found = element.find(path, NSMAP)
    return None if found is None else found.get(name)


def _origin_years(header: etree._Element) -> tuple[int, int] | None:
    """The first and last year of ``origDate`` (@when, or @notBefore/@from … @notAfter/@to)."""
    date = header.find("tei:fileDesc/tei:sourceDesc/tei:msDesc/tei:history/tei:origin/tei:origDate", NSMAP)
    if date is None:
        return None
    first = date.get("when") or date.get("notBefore") or date.get("from")
    last = date.get("when") or date.get("notAfter") or date.get("to") or first
    first = first or last
    years = [int(value[:4]) for value in (first, last) if value and value[:4].isdigit()]
    return (years[0], years[1]) if len(years) == 2 else None


def _target(pointer: str | None) -> str:
    return (pointer or "").removeprefix("#")


def _points(value: str | None) -> list[Point]:
    points = []
    for pair in (value or "").split():
        x, _, y = pair.partition(",")
        points.append((round(float(x)), round(float(y))))
    return points


def _read_surface(surface: etree._Element, manuscript_id: str) -> Page:
    graphic = surface.find("tei:graphic", NSMAP)
    if graphic is None:
        raise WorkbenchError(f"surface {surface.get(XML_ID)} (line {surface.sourceline}) has no <graphic>")
    url, _, fragment = graphic.get("url", "").partition("#")
    frame = int(fragment.removeprefix("page=")) - 1 if fragment.startswith("page=") else None
    return Page(
        id=surface.get(XML_ID, ""),
        n=surface.get("n", ""),
        image=PurePosixPath(url).name,
        width=int(graphic.get("width", "0").removesuffix("px")),
        height=int(graphic.get("height", "0").removesuffix("px")),
        mime_type=graphic.get("mimeType", ""),
        frame=frame,
    )


def _read_ab(ab: etree._Element, zones: dict[str, etree._Element], name: str) -> list[Line]:
    region = _target(ab.get("facs")) or None
    if (ab.text or "").strip():
        raise WorkbenchError(f"{name}, line {ab.sourceline}: text in an <ab> before its first <lb>")
    lines: list[Line] = []
    content: list[etree._Element] = []
    for child in ab:
        if child.tag == f"{T}lb":
            if lines:
                lines[-1].text = _fragment(lines[-1], content)
            lines.append(_read_lb(child, zones, region, name))
            content = []
        elif not lines:
            raise WorkbenchError(f"{name}, line {child.sourceline}: content in an <ab> before its first <lb>")
        else:
            content.append(child)
    if lines:
        lines[-1].text = _fragment(lines[-1], content)
    return lines


def _read_lb(lb: etree._Element, zones: dict[str, etree._Element], region: str | None, name: str) -> Line:
    zone = zones.get(_target(lb.get("facs")))
    if zone is None or zone.get("type") != "line":
        raise WorkbenchError(f"{name}, line {lb.sourceline}: <lb> does not point at a line zone")
    baseline = zone.find("tei:path[@type='baseline']", NSMAP)
    status = lb.get("type")
    cert = lb.get("cert")
    line = Line(
        id=zone.get(XML_ID),
        boundary=_points(zone.get("points")),
        baseline=_points(baseline.get("points")) if baseline is not None else [],
        region=region,
        status=status if status in STATUSES else None,
        resp=_target(lb.get("resp")) or None,
        cert=float(cert) if cert and cert.replace(".", "", 1).isdigit() else None,
        kind=zone.get("subtype"),
        source_id=zone.get("n"),
    )
    line.text = xml_escape(lb.tail or "")
    return line


def _fragment(line: Line, content: list[etree._Element]) -> str:
    """The inline content after a line's ``lb``, as namespace-free XML text."""
    parts = [line.text]
    for element in content:
        element = copy.deepcopy(element)
        for node in element.iter():
            if isinstance(node.tag, str):
                node.tag = etree.QName(node).localname
        etree.cleanup_namespaces(element)
        parts.append(etree.tostring(element, encoding="unicode", with_tail=True))
    return _without_indentation("".join(parts))


def _without_indentation(text: str) -> str:
    """A line's content without the line break and indentation that follow it in the file.

    Only whitespace from a line break on is layout: spaces before it belong to the
    line (387 of 499 lines of a real eScriptorium export end in one, and PAGE/ALTO →
    TEI → PAGE/ALTO must give them back).
    """
    content = text.rstrip()
    return content + text[len(content) :].split("\n", 1)[0]


# -- writing ---------------------------------------------------------------------


def _format_points(points: list[Point]) -> str:
    return " ".join(f"{x},{y}" for x, y in points)


def _build_header(manuscript: Manuscript) -> etree._Element:
    """The teiHeader for ``manuscript``: the modelled fields rewritten, anything else kept."""
    if manuscript.header_xml:
        header = etree.fromstring(manuscript.header_xml, parser())
    else:
        header = etree.fromstring(
            f"""<teiHeader xmlns="{TEI_NS}"><fileDesc><titleStmt><title/></titleStmt>"""
            f"<publicationStmt><p>{UNPUBLISHED}</p></publicationStmt>"
            "<sourceDesc><msDesc><msIdentifier/></msDesc></sourceDesc></fileDesc></teiHeader>",
            parser(remove_blank_text=True),
        )
    file_desc = header.find("tei:fileDesc", NSMAP)
    _write_title_stmt(file_desc.find("tei:titleStmt", NSMAP), manuscript)
    _write_publication_stmt(file_desc.find("tei:publicationStmt", NSMAP), manuscript)
    ms_desc = file_desc.find("tei:sourceDesc/tei:msDesc", NSMAP)
    if ms_desc is not None:
        _write_ms_desc(ms_desc, manuscript)
    _write_profile_desc(header, manuscript)
    _write_revision_desc(header, manuscript)
    for element in header.iter():
        element.tail = None
        if len(element):
            element.text = None if not (element.text or "").strip() else element.text
    return header


UNPUBLISHED = "Working transcription made with the manuscript workbench; not yet published."


def _write_title_stmt(title_stmt: etree._Element, manuscript: Manuscript) -> None:
    _set_child(title_stmt, "title", manuscript.title, after=[])
    _set_child(title_stmt, "author", manuscript.author, after=["title"])
    # Sources (programs, imports, people) are respStmts with an xml:id that lines point
    # at; editors are respStmts with a persName and no id.
    for old in title_stmt.findall("tei:respStmt", NSMAP):
        if old.get(XML_ID) or old.find("tei:persName", NSMAP) is not None:
            title_stmt.remove(old)
    for editor in manuscript.editors:
        resp_stmt = etree.SubElement(title_stmt, f"{T}respStmt")
        etree.SubElement(resp_stmt, f"{T}resp").text = editor.responsibility
        etree.SubElement(resp_stmt, f"{T}persName").text = editor.name
    for source in manuscript.sources:
        resp_stmt = etree.SubElement(title_stmt, f"{T}respStmt")
        resp_stmt.set(XML_ID, source.id)
        etree.SubElement(resp_stmt, f"{T}resp").text = source.kind
        etree.SubElement(resp_stmt, f"{T}name").text = source.name


def _write_publication_stmt(publication_stmt: etree._Element, manuscript: Manuscript) -> None:
    """With a licence: who publishes it and under which licence; without: a note (TEI needs one or the other)."""
    licence = publication_stmt.find("tei:availability/tei:licence", NSMAP)
    if (licence.get("target") if licence is not None else None) == manuscript.licence:
        return  # unchanged: keep whatever else the statement says
    for child in list(publication_stmt):
        publication_stmt.remove(child)
    publication_stmt.text = None
    if manuscript.licence is None:
        etree.SubElement(publication_stmt, f"{T}p").text = UNPUBLISHED
        return
    publisher = manuscript.repository or (manuscript.editors[0].name if manuscript.editors else manuscript.id)
    etree.SubElement(publication_stmt, f"{T}publisher").text = publisher
    availability = etree.SubElement(publication_stmt, f"{T}availability")
    etree.SubElement(availability, f"{T}licence", target=manuscript.licence).text = manuscript.licence


def _write_ms_desc(ms_desc: etree._Element, manuscript: Manuscript) -> None:
    ms_identifier = ms_desc.find("tei:msIdentifier", NSMAP)
    order = ["settlement", "repository", "collection"]
    for i, name in enumerate(order):
        _set_child(ms_identifier, name, getattr(manuscript, name), after=order[:i])
    for idno in ms_identifier.findall("tei:idno", NSMAP):
        if idno.get("type") in ("shelfmark", "workbench"):
            ms_identifier.remove(idno)
    # idno comes after the places and collections, before msName/altIdentifier.
    places = ("country", "region", "settlement", "institution", "repository", "collection", "idno")
    if manuscript.shelfmark:
        _insert(ms_identifier, etree.Element(f"{T}idno", type="shelfmark"), places).text = manuscript.shelfmark
    # msIdentifier must not be empty; the workbench id is always a valid identifier.
    _insert(ms_identifier, etree.Element(f"{T}idno", type="workbench"), places).text = manuscript.id

    # msDesc: msIdentifier, then (msContents?, physDesc?, history?, additional? …).
    physical = _child(ms_desc, "physDesc", after=["msIdentifier", "msContents"])
    object_desc = _child(physical, "objectDesc", after=[])
    support_desc = _child(object_desc, "supportDesc", after=[])
    support = _child(support_desc, "support", after=[])
    _set_child(support, "material", manuscript.material, after=[])
    extent = _child(support_desc, "extent", after=["support"])
    for child in list(extent):
        extent.remove(child)
    extent.text = manuscript.extent
    if manuscript.dimensions:
        dimensions = etree.SubElement(extent, f"{T}dimensions", type="leaf", unit="mm")
        etree.SubElement(dimensions, f"{T}height").text = str(manuscript.dimensions[0])
        etree.SubElement(dimensions, f"{T}width").text = str(manuscript.dimensions[1])
    hand_desc = _child(physical, "handDesc", after=["objectDesc"])
    for old in hand_desc.findall("tei:handNote", NSMAP):
        hand_desc.remove(old)
    for k, hand in enumerate(manuscript.hands, start=1):
        etree.SubElement(hand_desc, f"{T}handNote", {XML_ID: f"hand-{k}"}).text = hand
    if manuscript.hands:
        hand_desc.set("hands", str(len(manuscript.hands)))
    else:
        hand_desc.attrib.pop("hands", None)
    _prune(physical)

    history = _child(ms_desc, "history", after=["msIdentifier", "msContents", "physDesc"])
    origin = _child(history, "origin", after=["summary"])
    date = _child(origin, "origDate", after=[])
    for name in ("when", "notBefore", "notAfter", "from", "to"):
        date.attrib.pop(name, None)
    date.text = manuscript.date
    if manuscript.years:
        first, last = manuscript.years
        if first == last:
            date.set("when", f"{first:04d}")
        else:
            date.set("notBefore", f"{first:04d}")
            date.set("notAfter", f"{last:04d}")
    _prune(history)


def _write_profile_desc(header: etree._Element, manuscript: Manuscript) -> None:
    profile = _child(header, "profileDesc", after=["fileDesc", "encodingDesc"])
    lang_usage = _child(profile, "langUsage", after=["abstract", "creation"])
    for old in lang_usage.findall("tei:language", NSMAP):
        lang_usage.remove(old)
    if manuscript.language:
        etree.SubElement(lang_usage, f"{T}language", ident=manuscript.language)
    _prune(profile)


def _write_revision_desc(header: etree._Element, manuscript: Manuscript) -> None:
    revision_desc = header.find("tei:revisionDesc", NSMAP)
    if revision_desc is not None:
        header.remove(revision_desc)
    if manuscript.changes:
        revision_desc = etree.SubElement(header, f"{T}revisionDesc")
        for change in manuscript.changes:
            element = etree.SubElement(revision_desc, f"{T}change", when=change.when)
            if change.who:
                element.set("who", f"#{change.who}")
            element.text = change.text
        if manuscript.published:
            revision_desc.set("status", "published")


def _child(parent: etree._Element, name: str, after: Collection[str]) -> etree._Element:
    """The first ``name`` child, made (after any of ``after``, keeping TEI's order) if missing."""
    existing = parent.find(f"tei:{name}", NSMAP)
    if existing is None:
        existing = _insert(parent, etree.Element(f"{T}{name}"), after)
    return existing


def _insert(parent: etree._Element, element: etree._Element, after: Collection[str]) -> etree._Element:
    """Put ``element`` into ``parent`` after the last child named in ``after`` (else first)."""
    names = [etree.QName(child).localname for child in parent]
    parent.insert(1 + max((k for k, name in enumerate(names) if name in after), default=-1), element)
    return element


def _prune(element: etree._Element) -> None:
    """Remove ``element``'s descendants left empty (no text, no attributes, no children), and itself."""
    for child in list(element):
        _prune(child)
    if len(element) == 0 and not (element.text or "").strip() and not element.attrib:
        parent = element.getparent()
        if parent is not None:
            parent.remove(element)


def _set_child(parent: etree._Element, name: str, value: str | None, after: Collection[str]) -> None:
    """Set (or remove, when ``value`` is None) the first ``name`` child, keeping TEI's order."""
    if value is None:
        existing = parent.find(f"tei:{name}", NSMAP)
        if existing is not None:
            parent.remove(existing)
        return
    existing = _child(parent, name, after)
    for child in list(existing):
        existing.remove(child)
    existing.text = value


def _build_surface(manuscript_id: str, page: Page) -> etree._Element:
    surface = etree.Element(
        f"{T}surface",
        {XML_ID: page.id, "n": page.n, "ulx": "0", "uly": "0", "lrx": str(page.width), "lry": str(page.height)},
        nsmap={None: TEI_NS},
    )
    etree.SubElement(
        surface,
        f"{T}graphic",
        url=graphic_url(manuscript_id, page),
        width=f"{page.width}px",
        height=f"{page.height}px",
        mimeType=page.mime_type,
    )
    for region in page.regions:
        etree.SubElement(
            surface,
            f"{T}zone",
            {XML_ID: region.id, "type": "region", "subtype": region.kind, **_source_id(region.source_id)}
            | {"points": _format_points(region.boundary)},
        )
    for line in page.lines:
        zone = etree.SubElement(
            surface,
            f"{T}zone",
            {XML_ID: line.id, "type": "line"}
            | ({"subtype": line.kind} if line.kind else {})
            | _source_id(line.source_id)
            | {"points": _format_points(line.boundary), "corresp": f"#{line.id}_t"},
        )
        if line.baseline:
            etree.SubElement(zone, f"{T}path", type="baseline", points=_format_points(line.baseline))
    return surface


def _source_id(source_id: str | None) -> dict[str, str]:
    # The id the region or line had in the tool it came from (eScriptorium's
    # "eSc_line_…") is the zone's label: @n, "a number, label, or other identifier",
    # valid on any element in tei_all and in the project schema (README: TEI encoding).
    return {"n": source_id} if source_id else {}


def _append_line(ab: etree._Element, line: Line, number: int) -> None:
    lb = etree.SubElement(ab, f"{T}lb", {XML_ID: f"{line.id}_t", "n": str(number), "facs": f"#{line.id}"})
    if line.status:
        lb.set("type", line.status)
    if line.resp:
        lb.set("resp", f"#{line.resp}")
    if line.cert is not None:
        lb.set("cert", f"{line.cert:.3f}")
    fragment = parse_fragment(line.text, line.id)
    lb.tail = fragment.text
    for child in fragment:
        ab.append(child)
