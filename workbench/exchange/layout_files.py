"""PAGE XML and ALTO: the layout formats eScriptorium, Transkribus and kraken exchange.

One module knows both, reading them into the workbench's own types (``Region``,
``Line``) and writing them back. What it reads, per page:

- regions (PAGE ``TextRegion``, ALTO ``TextBlock``) with their polygon and type
  (PAGE ``@type`` or eScriptorium's ``custom="structure {type:…;}"``; ALTO
  ``TAGREFS`` → ``OtherTag/@LABEL``);
- lines with polygon, baseline, text (spaces at its ends included), confidence (PAGE
  ``TextEquiv/@conf``, ALTO ``String/@WC``, averaged over the line) and type
  (eScriptorium's ``custom="structure {type:…;}"`` on PAGE; ALTO ``TAGREFS``);
- the file's region and line ids (``source_id``), written back on export;
- reading order (PAGE ``ReadingOrder``, else Transkribus' ``custom="readingOrder
  {index:…;}"``, else document order; ALTO: document order).

Points are kept exactly as written (rounded to whole pixels), so PAGE/ALTO → TEI →
PAGE/ALTO gives the same geometry. What cannot be taken as it is (geometry off the
page, non-text regions, lines without a usable polygon) is reported in ``notes``,
never dropped silently. Parsing goes through tei.py's hardened parser.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import PurePosixPath, PureWindowsPath

from lxml import etree

from workbench.layout import geometry
from workbench.model import Layout, Line, Page, Point, Region, WorkbenchError
from workbench.tei.text import diplomatic_text, text_fragment
from workbench.tei.xml import InvalidXML, parse_xml

PAGE_2013 = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2013-07-15"
PAGE_2019 = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
ALTO_4 = "http://www.loc.gov/standards/alto/ns-v4#"
FORMATS = {PAGE_2013: "PAGE 2013", PAGE_2019: "PAGE 2019", ALTO_4: "ALTO v4"}
XSI = "http://www.w3.org/2001/XMLSchema-instance"

# The region types PAGE's schema allows in TextRegion/@type; others go in @custom.
PAGE_REGION_TYPES = frozenset(
    "paragraph heading caption header footer page-number drop-capital credit floating signature-mark "
    "catch-word marginalia footnote footnote-continued endnote TOC-entry list-label other".split()
)


# What one PAGE or ALTO file may hold, checked before the work that grows with it: an
# import holds the whole manuscript in memory and validates it, and a hostile or broken
# file (200,000 lines on a page) would otherwise run for hours. Far above real pages
# (eScriptorium's densest pages have a few hundred lines, polygons a few hundred points).
MAX_XML_BYTES = 64 * 1024**2
MAX_LINES_PER_PAGE = 5_000  # and as many regions
MAX_POINTS = 10_000  # per polygon or baseline


class Note(str):
    """One item of an import's report: its English text (the string itself, as the command
    line prints it), a ``code`` for the kind of item and the ``params`` it names (files,
    elements, counts), from which an interface words it in its own language."""

    code: str
    params: dict[str, object]

    def __new__(cls, code: str, english: str, /, **params: object) -> Note:
        note = super().__new__(cls, english)
        note.code, note.params = code, params
        return note


class Place(str):
    """An element as notes name it (``"TextLine l12 (line 57)"``), with its parts kept apart."""

    element: str
    id: str
    line: int | None

    def __new__(cls, element: str, element_id: str, line: int | None) -> Place:
        where = f"{element} {element_id or '(no id)'}" + (f" (line {line})" if line is not None else "")
        place = super().__new__(cls, where)
        place.element, place.id, place.line = element, element_id, line
        return place


class ImportProblem(WorkbenchError):
    """Why a file (or a whole import) was refused; ``note`` is the reason as a ``Note``."""

    def __init__(self, code: str, english: str, /, **params: object):
        super().__init__(english)
        self.note = Note(code, english, **params)


def problem_note(error: Exception) -> Note:
    """``error`` as a report's ``Note``: its own, or one made from what it is."""
    note = getattr(error, "note", None)
    if isinstance(note, Note):
        return note
    return Note(getattr(error, "code", "") or "error", str(error), text=str(error), line=getattr(error, "line", None))


class TooLarge(ImportProblem):
    """A file past one of the limits above: refused whole, before it is read further."""


def check_size(size: int, name: str) -> None:
    """Refuse a file of ``size`` bytes over ``MAX_XML_BYTES`` (call it before reading the file)."""
    if size > MAX_XML_BYTES:
        raise TooLarge(
            "file-too-large",
            f"{name}: {size / 1024**2:.0f} MB of XML; the workbench reads PAGE and ALTO files of at most "
            f"{MAX_XML_BYTES >> 20} MB (nothing of this file was imported)",
            file=name,
            size=round(size / 1024**2),
            limit=MAX_XML_BYTES >> 20,
        )


def _check_count(count: int, limit: int, what: str, name: str) -> None:
    if count > limit:
        raise TooLarge(
            "too-many-" + what.replace(" ", "-"),
            f"{name}: {count:,} {what} on one page; the workbench imports at most {limit:,} "
            "(nothing of this file was imported)",
            file=name,
            count=count,
            limit=limit,
        )


def _points(value: str | None, element: etree._Element, name: str) -> list[Point]:
    """A polygon or baseline, refused past ``MAX_POINTS`` (the file's size bounds the parse itself)."""
    points = geometry.parse_points(value)
    if len(points) > MAX_POINTS:
        where = _origin(element, element.get("id") or element.get("ID") or "")
        raise TooLarge(
            "too-many-points",
            f"{name}: {where} has {len(points):,} points; the workbench imports polygons and baselines of "
            f"at most {MAX_POINTS:,} points (nothing of this file was imported)",
            file=name,
            place=where,
            count=len(points),
            limit=MAX_POINTS,
        )
    return points


class UnknownFormat(ImportProblem):
    """The XML is neither PAGE (2013, 2019) nor ALTO v4."""


def read_layout(data: bytes, name: str) -> Layout:
    """Read a PAGE or ALTO file (``name`` is for messages); ``TooLarge`` past the limits above."""
    check_size(len(data), name)
    try:
        root = parse_xml(data, name).getroot()
    except InvalidXML as error:
        raise ImportProblem(error.code, str(error), file=name, line=error.line) from None
    namespace = etree.QName(root).namespace
    if namespace in (PAGE_2013, PAGE_2019):
        layout = _read_page(root, namespace, name)
    elif namespace == ALTO_4:
        layout = _read_alto(root, name)
    else:
        raise UnknownFormat(
            "unknown-format",
            f"{name}: unknown XML namespace {namespace or '(none)'} for <{etree.QName(root).localname}>; "
            f"the workbench reads {', '.join(FORMATS.values())} ({', '.join(FORMATS)})",
            file=name,
            namespace=namespace or "",
            element=etree.QName(root).localname,
            formats=", ".join(FORMATS.values()),
        )
    _fit_to_page(layout, name)
    return layout


# -- PAGE ---------------------------------------------------------------------------


def _read_page(root: etree._Element, namespace: str, name: str) -> Layout:
    ns = {"p": namespace}
    page = root.find("p:Page", ns)
    if page is None:
        raise ImportProblem("no-page", f"{name}: a PAGE file without a <Page>", file=name, element="Page")
    width, height = _size(page.get("imageWidth"), page.get("imageHeight"), name)
    layout = Layout(
        width,
        height,
        image=_file_name(page.get("imageFilename", "")),
        format=FORMATS[namespace],
        producer=_text(root.find("p:Metadata/p:Creator", ns)),
    )
    for element in page:
        local = etree.QName(element).localname
        if local.endswith("Region") and local != "TextRegion" and element.find(".//p:TextLine", ns) is None:
            layout.notes.append(
                Note(
                    "not-text",
                    f"{local} {element.get('id')} left out: not a text region",
                    place=Place(local, element.get("id") or "", element.sourceline),
                )
            )
    regions = [r for r in page.iter(f"{{{namespace}}}TextRegion")]
    # Counted in lxml's tree, before any line is read.
    _check_count(len(regions), MAX_LINES_PER_PAGE, "text regions", name)
    _check_count(sum(1 for _ in page.iter(f"{{{namespace}}}TextLine")), MAX_LINES_PER_PAGE, "lines", name)
    order = _page_reading_order(page, ns)
    if order:
        rank = {region_id: k for k, region_id in enumerate(order)}
        regions.sort(key=lambda r: rank.get(r.get("id"), len(rank)))
    elif all(_custom_index(r) is not None for r in regions):
        regions.sort(key=_custom_index)
    for element in regions:
        region = Region(
            element.get("id", ""),
            _points(_coords(element, ns), element, name),
            _page_region_kind(element),
            element.get("id"),
        )
        layout.regions.append(region)
        layout.origins[region.id] = _origin(element, region.id)
        lines = element.findall("p:TextLine", ns)
        if lines and all(_custom_index(line) is not None for line in lines):
            lines.sort(key=_custom_index)
        for line in lines:
            text, cert = _page_text(line, ns)
            baseline = line.find("p:Baseline", ns)
            layout.origins[line.get("id", "")] = _origin(line, line.get("id", ""))
            layout.lines.append(
                Line(
                    line.get("id", ""),
                    _points(_coords(line, ns), line, name),
                    _points(baseline.get("points") if baseline is not None else None, line, name),
                    region=region.id,
                    text=text_fragment(text),
                    cert=cert,
                    kind=_kind(_custom(line, "structure", "type")),
                    source_id=line.get("id"),
                )
            )
    return layout


def _coords(element: etree._Element, ns: dict[str, str]) -> str | None:
    coords = element.find("p:Coords", ns)
    if coords is None:
        return None
    if coords.get("points") is not None:
        return coords.get("points")
    # PAGE 2010-style coordinates, still found in old exports: <Point x= y=/> children.
    return " ".join(f"{p.get('x')},{p.get('y')}" for p in coords.findall("p:Point", ns)) or None


def _page_reading_order(page: etree._Element, ns: dict[str, str]) -> list[str]:
    """Region ids in the order of the page's ReadingOrder (nested groups flattened)."""
    order: list[str] = []

    def walk(group: etree._Element) -> None:
        if group.get("regionRef"):
            order.append(group.get("regionRef"))
        children = [c for c in group if isinstance(c.tag, str)]
        if etree.QName(group).localname.startswith("OrderedGroup"):
            children.sort(key=lambda c: int(c.get("index", "0")) if c.get("index", "").isdigit() else 0)
        for child in children:
            if etree.QName(child).localname.startswith("RegionRef"):
                order.append(child.get("regionRef", ""))
            elif "Group" in etree.QName(child).localname:
                walk(child)

    reading_order = page.find("p:ReadingOrder", ns)
    if reading_order is not None:
        for group in reading_order:
            if isinstance(group.tag, str):
                walk(group)
    return order


_CUSTOM = re.compile(r"(\w+)\s*\{([^}]*)\}")


def _custom(element: etree._Element, key: str, attribute: str) -> str | None:
    """A value from PAGE's ``custom`` attribute, e.g. ``structure {type:text;}``."""
    for name, body in _CUSTOM.findall(element.get("custom", "")):
        if name == key:
            for pair in body.split(";"):
                k, _, v = pair.partition(":")
                if k.strip() == attribute:
                    return v.strip()
    return None


def _custom_index(element: etree._Element) -> int | None:
    index = _custom(element, "readingOrder", "index")
    return int(index) if index and index.isdigit() else None


def _page_region_kind(element: etree._Element) -> str:
    return _kind(_custom(element, "structure", "type") or element.get("type")) or "text"


def _kind(name: str | None) -> str | None:
    """A region or line type as one word (TEI's ``zone/@subtype`` holds no spaces)."""
    return (re.sub(r"\s+", "-", name.strip()) or None) if name else None


def _page_text(line: etree._Element, ns: dict[str, str]) -> tuple[str, float | None]:
    """The line's text and confidence: its TextEquiv (the lowest @index), else its words'."""
    equivs = line.findall("p:TextEquiv", ns)
    if equivs:
        equiv = min(equivs, key=lambda e: int(e.get("index", "0")) if e.get("index", "").lstrip("-").isdigit() else 0)
        unicode = equiv.find("p:Unicode", ns)
        return _line_text("".join(unicode.itertext()) if unicode is not None else ""), _confidence(equiv.get("conf"))
    words = [w.find("p:TextEquiv/p:Unicode", ns) for w in line.findall("p:Word", ns)]
    return " ".join(_text(w) or "" for w in words if w is not None).strip(), None


# -- ALTO ---------------------------------------------------------------------------


def _read_alto(root: etree._Element, name: str) -> Layout:
    ns = {"a": ALTO_4}
    unit = _text(root.find("a:Description/a:MeasurementUnit", ns)) or "pixel"
    if unit != "pixel":
        raise ImportProblem(
            "alto-unit",
            f"{name}: ALTO measured in {unit}; the workbench reads pixel coordinates only",
            file=name,
            unit=unit,
        )
    page = root.find("a:Layout/a:Page", ns)
    if page is None:
        raise ImportProblem(
            "no-page", f"{name}: an ALTO file without a <Layout><Page>", file=name, element="Layout><Page"
        )
    width, height = _size(page.get("WIDTH"), page.get("HEIGHT"), name)
    producer = _text(root.find("a:Description/a:Processing/a:processingSoftware/a:softwareName", ns))
    file_name = _text(root.find("a:Description/a:sourceImageInformation/a:fileName", ns)) or ""
    layout = Layout(width, height, image=_file_name(file_name), format=FORMATS[ALTO_4], producer=producer)
    labels = {tag.get("ID"): tag.get("LABEL") for tag in root.iterfind("a:Tags/*", ns) if tag.get("LABEL")}
    for element in page.iter(f"{{{ALTO_4}}}Illustration", f"{{{ALTO_4}}}GraphicalElement"):
        local = etree.QName(element).localname
        layout.notes.append(
            Note(
                "not-text",
                f"{local} {element.get('ID')} left out: not a text region",
                place=Place(local, element.get("ID") or "", element.sourceline),
            )
        )

    def label(element: etree._Element) -> str | None:
        return _kind(next((labels[ref] for ref in element.get("TAGREFS", "").split() if ref in labels), None))

    blocks = list(page.iter(f"{{{ALTO_4}}}TextBlock"))
    _check_count(len(blocks), MAX_LINES_PER_PAGE, "text blocks", name)
    _check_count(sum(1 for _ in page.iter(f"{{{ALTO_4}}}TextLine")), MAX_LINES_PER_PAGE, "lines", name)
    for block in blocks:
        region = Region(
            block.get("ID", ""), _points(_alto_shape(block, ns), block, name), label(block) or "text", block.get("ID")
        )
        layout.regions.append(region)
        layout.origins[region.id] = _origin(block, region.id)
        for line in block.findall("a:TextLine", ns):
            text, cert = _alto_text(line)
            layout.origins[line.get("ID", "")] = _origin(line, line.get("ID", ""))
            layout.lines.append(
                Line(
                    line.get("ID", ""),
                    _points(_alto_shape(line, ns), line, name),
                    _points(line.get("BASELINE"), line, name),
                    region=region.id,
                    text=text_fragment(text),
                    cert=cert,
                    kind=label(line),
                    source_id=line.get("ID"),
                )
            )
    return layout


def _alto_shape(element: etree._Element, ns: dict[str, str]) -> str | None:
    polygon = element.find("a:Shape/a:Polygon", ns)
    if polygon is not None:
        return polygon.get("POINTS")
    try:  # no polygon: the box
        x, y, w, h = (round(float(element.get(a))) for a in ("HPOS", "VPOS", "WIDTH", "HEIGHT"))
    except (TypeError, ValueError):
        return None
    return f"{x},{y} {x + w},{y} {x + w},{y + h} {x},{y + h}"


def _alto_text(line: etree._Element) -> tuple[str, float | None]:
    parts: list[str] = []
    confidences = []
    for child in line:
        local = etree.QName(child).localname if isinstance(child.tag, str) else ""
        if local == "String":
            if parts and not parts[-1].endswith(" "):
                parts.append(" ")
            parts.append(child.get("CONTENT", ""))
            if _confidence(child.get("WC")) is not None:
                confidences.append(_confidence(child.get("WC")))
        elif local == "SP":
            parts.append(" ")
        elif local == "HYP":
            parts.append(child.get("CONTENT", "-"))
    return _line_text("".join(parts)), (sum(confidences) / len(confidences) if confidences else None)


def _line_text(text: str) -> str:
    """A line's text as the file has it, spaces at its ends included (eScriptorium's lines
    often end in one); only whitespace with a line break in it, a pretty-printer's, goes."""
    content = text.strip()
    if not content:
        return ""
    leading, trailing = text[: len(text) - len(text.lstrip())], text[len(text.rstrip()) :]
    return ("" if "\n" in leading else leading) + content + ("" if "\n" in trailing else trailing)


# -- shared reading helpers -------------------------------------------------------------


def _origin(element: etree._Element, element_id: str) -> Place:
    """An element as notes name it: its kind, its id and its line in the file."""
    return Place(etree.QName(element).localname, element_id, element.sourceline)


def _text(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    return "".join(element.itertext()).strip() or None


def _file_name(reference: str) -> str:
    # eScriptorium and Transkribus write a bare name, a relative path, a Windows path or a URL.
    reference = reference.split("?")[0].split("#")[0]
    return PureWindowsPath(PurePosixPath(reference).name).name


def _size(width: str | None, height: str | None, name: str) -> tuple[int, int]:
    try:
        w, h = round(float(width)), round(float(height))
    except (TypeError, ValueError):
        raise ImportProblem("no-size", f"{name}: the page has no valid image width and height", file=name) from None
    if w <= 0 or h <= 0:
        raise ImportProblem(
            "bad-size", f"{name}: the page's image size {w}×{h} is not a size", file=name, width=w, height=h
        )
    return w, h


def _confidence(value: str | None) -> float | None:
    try:
        confidence = float(value)
    except (TypeError, ValueError):
        return None
    return confidence if 0 <= confidence <= 1 else None


def _fit_to_page(layout: Layout, name: str) -> None:
    """Keep every point on the page, and every line with a polygon and a baseline of its own.

    A line wholly off the page, or with neither a polygon nor a baseline, is left out
    (noted, with its text); a baseline missing or of one point is drawn along the
    polygon, a polygon missing around the baseline; points just over the edge, as
    segmenters write them, are moved onto it (noted, so the round trip is exact for
    everything else). Every note names the line or region, as ``origins`` gives it.
    """
    width, height = layout.width, layout.height

    def on_page(points: list[Point]) -> list[Point]:
        return [(min(max(x, 0), width), min(max(y, 0), height)) for x, y in points]

    def off_page(points: list[Point]) -> bool:
        return all(x < 0 or y < 0 or x > width or y > height for x, y in points)

    def origin(element_id: str, kind: str) -> Place:
        where = layout.origins.get(element_id)
        return where if isinstance(where, Place) else Place(kind, element_id, None)

    kept, moved = [], []
    extents = None  # of the lines as the file has them: computed once (each computation reads every line)
    for line in layout.lines:
        where = origin(line.id, "TextLine")
        said = diplomatic_text(line.text) if line.text else ""
        text = f" (its text was: {said!r})" if line.text else ""
        if len(line.boundary) < 3 and len(line.baseline) >= 2:
            extents = extents or geometry.line_extents(layout.lines, height)
            line.boundary = geometry.band(line.baseline, layout.lines, height, extents)
            layout.notes.append(Note("band", f"{where}: no polygon, a band around its baseline was used", place=where))
        if len(line.boundary) < 3 or off_page(line.boundary):
            shapeless = len(line.boundary) < 3
            what = "has no polygon or baseline" if shapeless else "lies wholly outside the page"
            code = "no-shape" if shapeless else "off-page"
            layout.notes.append(Note(code, f"{where} left out: it {what}{text}", place=where, text=said))
            continue
        if len(line.baseline) < 2:
            # A TEI baseline (path) needs two points; a line needs one to be recognised again.
            had = "no baseline" if not line.baseline else "a baseline of one point"
            points = len(line.baseline)
            line.baseline = geometry.long_axis(line.boundary)
            if len(line.baseline) < 2:
                layout.notes.append(
                    Note(
                        "no-extent",
                        f"{where} left out: it has {had} and its polygon has no extent{text}",
                        place=where,
                        points=points,
                        text=said,
                    )
                )
                continue
            layout.notes.append(
                Note(
                    "baseline-drawn",
                    f"{where}: it had {had}; one was drawn along the middle of its polygon",
                    place=where,
                    points=points,
                )
            )
        fitted = on_page(line.boundary), on_page(line.baseline)
        if fitted != (line.boundary, line.baseline):
            moved.append(where)
            line.boundary, line.baseline = fitted
        kept.append(line)
    layout.lines = kept
    regions = []
    points_of_region: dict[str | None, list[Point]] = {}
    for line in kept:
        points_of_region.setdefault(line.region, []).extend(line.boundary)
    for region in layout.regions:
        where = origin(region.id, "TextRegion")
        if len(region.boundary) < 3:
            members = points_of_region.get(region.id, [])
            if not members:
                layout.notes.append(
                    Note("empty-region", f"{where} left out: it has no polygon and no lines", place=where)
                )
                continue
            region.boundary = geometry.box(members)
            layout.notes.append(
                Note("region-box", f"{where}: no polygon, the box around its lines was used", place=where)
            )
        fitted = on_page(region.boundary)
        if fitted != region.boundary:
            moved.append(where)
        region.boundary = fitted
        regions.append(region)
    layout.regions = regions
    if moved:
        layout.notes.append(
            Note(
                "moved",
                f"{len(moved)} polygon(s) or baseline(s) reached past the page's edge and were moved onto it: "
                + ", ".join(moved),
                count=len(moved),
                places=moved,
            )
        )


# -- writing ------------------------------------------------------------------------


TextOf = Callable[[Line], str]


def _blocks(page: Page) -> list[tuple[Region, list[Line]]]:
    """Regions with their lines, in reading order (a region comes where its first line does).

    PAGE and ALTO put lines inside regions: lines without a region get one, the box
    around them.
    """
    by_id = {region.id: region for region in page.regions}
    blocks: dict[str, tuple[Region, list[Line]]] = {}
    loose = [line for line in page.lines if line.region not in by_id]
    for line in page.lines:
        if line.region in by_id:
            blocks.setdefault(line.region, (by_id[line.region], []))[1].append(line)
        elif loose:
            region = Region(f"{page.id}_r0", geometry.box([p for li in loose for p in li.boundary]))
            blocks.setdefault(region.id, (region, loose))
    for region in page.regions:
        blocks.setdefault(region.id, (region, []))
    return list(blocks.values())


def page_xml(page: Page, text_of: TextOf, producer: str = "manuscript workbench", version: str = PAGE_2019) -> bytes:
    """The page as PAGE XML 2019 (what eScriptorium imports), or 2013 (what Transkribus reads).

    Only what both versions have is written, so the two differ in their namespace alone.
    """
    P = f"{{{version}}}"
    root = etree.Element(f"{P}PcGts", nsmap={None: version, "xsi": XSI})
    root.set(f"{{{XSI}}}schemaLocation", f"{version} {version}/pagecontent.xsd")
    metadata = etree.SubElement(root, f"{P}Metadata")
    stamp = datetime.now(UTC).replace(microsecond=0).isoformat()
    etree.SubElement(metadata, f"{P}Creator").text = producer
    etree.SubElement(metadata, f"{P}Created").text = stamp
    etree.SubElement(metadata, f"{P}LastChange").text = stamp
    element = etree.SubElement(
        root, f"{P}Page", imageFilename=page.image, imageWidth=str(page.width), imageHeight=str(page.height)
    )
    blocks = _blocks(page)
    ids = _file_ids(blocks, reserved={f"{page.id}_ro"})
    if blocks:
        group = etree.SubElement(etree.SubElement(element, f"{P}ReadingOrder"), f"{P}OrderedGroup", id=f"{page.id}_ro")
        for index, (region, _) in enumerate(blocks):
            etree.SubElement(group, f"{P}RegionRefIndexed", index=str(index), regionRef=ids[region.id])
    for index, (region, lines) in enumerate(blocks):
        text_region = etree.SubElement(element, f"{P}TextRegion", id=ids[region.id])
        custom = f"readingOrder {{index:{index};}}"
        if region.kind in PAGE_REGION_TYPES:
            text_region.set("type", region.kind)
        else:
            custom += f" structure {{type:{region.kind};}}"
        text_region.set("custom", custom)
        etree.SubElement(text_region, f"{P}Coords", points=_format(region.boundary, ","))
        for k, line in enumerate(lines):
            # The line type as eScriptorium writes it (PAGE has no attribute for it).
            custom = f"readingOrder {{index:{k};}}" + (f" structure {{type:{line.kind};}}" if line.kind else "")
            text_line = etree.SubElement(text_region, f"{P}TextLine", id=ids[line.id], custom=custom)
            etree.SubElement(text_line, f"{P}Coords", points=_format(line.boundary, ","))
            if len(line.baseline) >= 2:
                etree.SubElement(text_line, f"{P}Baseline", points=_format(line.baseline, ","))
            text = text_of(line)
            if text:
                equiv = etree.SubElement(text_line, f"{P}TextEquiv")
                if line.cert is not None:
                    equiv.set("conf", f"{line.cert:.3f}")
                etree.SubElement(equiv, f"{P}Unicode").text = text
    return _serialize(root)


def alto_xml(page: Page, text_of: TextOf, producer: str = "manuscript workbench") -> bytes:
    """The page as ALTO v4 (what eScriptorium and kraken import)."""
    A = f"{{{ALTO_4}}}"
    root = etree.Element(f"{A}alto", nsmap={None: ALTO_4, "xsi": XSI})
    root.set(f"{{{XSI}}}schemaLocation", f"{ALTO_4} http://www.loc.gov/standards/alto/v4/alto-4-2.xsd")
    description = etree.SubElement(root, f"{A}Description")
    etree.SubElement(description, f"{A}MeasurementUnit").text = "pixel"
    source = etree.SubElement(description, f"{A}sourceImageInformation")
    etree.SubElement(source, f"{A}fileName").text = page.image
    processing = etree.SubElement(description, f"{A}Processing", ID=f"{page.id}_processing")
    software = etree.SubElement(processing, f"{A}processingSoftware")
    etree.SubElement(software, f"{A}softwareName").text = producer
    blocks = _blocks(page)
    kinds = list(dict.fromkeys(region.kind for region, _ in blocks))
    line_kinds = list(dict.fromkeys(line.kind for _, lines in blocks for line in lines if line.kind))
    # Region and line types are OtherTags that TAGREFS point at, as eScriptorium writes them.
    tag_ids = {("block", kind): f"BT{k}" for k, kind in enumerate(kinds, start=1)}
    tag_ids |= {("line", kind): f"LT{k}" for k, kind in enumerate(line_kinds, start=1)}
    if tag_ids:
        tags = etree.SubElement(root, f"{A}Tags")
        for (what, kind), tag_id in tag_ids.items():
            etree.SubElement(tags, f"{A}OtherTag", ID=tag_id, LABEL=kind, DESCRIPTION=f"{what} type {kind}")
    ids = _file_ids(blocks, reserved={page.id, f"{page.id}_processing", *tag_ids.values()})
    layout = etree.SubElement(root, f"{A}Layout")
    alto_page = etree.SubElement(
        layout,
        f"{A}Page",
        ID=page.id,
        PHYSICAL_IMG_NR=page.n if page.n.isdigit() else "1",
        WIDTH=str(page.width),
        HEIGHT=str(page.height),
    )
    space = etree.SubElement(
        alto_page, f"{A}PrintSpace", HPOS="0", VPOS="0", WIDTH=str(page.width), HEIGHT=str(page.height)
    )
    for region, lines in blocks:
        block = etree.SubElement(space, f"{A}TextBlock", ID=ids[region.id], **_box_attributes(region.boundary))
        block.set("TAGREFS", tag_ids["block", region.kind])
        etree.SubElement(etree.SubElement(block, f"{A}Shape"), f"{A}Polygon", POINTS=_format(region.boundary, " "))
        for line in lines:
            text_line = etree.SubElement(block, f"{A}TextLine", ID=ids[line.id], **_box_attributes(line.boundary))
            if line.kind:
                text_line.set("TAGREFS", tag_ids["line", line.kind])
            if len(line.baseline) >= 2:
                text_line.set("BASELINE", _format(line.baseline, " "))
            etree.SubElement(
                etree.SubElement(text_line, f"{A}Shape"), f"{A}Polygon", POINTS=_format(line.boundary, " ")
            )
            # One String for the whole line, as eScriptorium writes it: the workbench knows lines, not words.
            string = etree.SubElement(text_line, f"{A}String", CONTENT=text_of(line), **_box_attributes(line.boundary))
            if line.cert is not None:
                string.set("WC", f"{line.cert:.3f}")
    return _serialize(root)


# An XML id (xsd:ID, an NCName) of the plain kind the tools write ("eSc_line_4f950f30").
_FILE_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def _file_ids(blocks: list[tuple[Region, list[Line]]], reserved: set[str]) -> dict[str, str]:
    """The id each region and line gets in the file, by its workbench id.

    A region or line imported from PAGE or ALTO goes out with the id it came in with,
    so that the tool it came from (eScriptorium) updates its own line on re-import;
    one made in the workbench, or whose id is not a usable XML id or is taken already
    (two halves of a split line), gets the workbench's.
    """
    elements = [(region.id, region.source_id) for region, _ in blocks]
    elements += [(line.id, line.source_id) for _, lines in blocks for line in lines]
    ids: dict[str, str] = {}
    used = set(reserved)
    for own, source_id in elements:
        if source_id and _FILE_ID.fullmatch(source_id) and source_id not in used:
            ids[own] = source_id
            used.add(source_id)
    for own, _ in elements:
        if own not in ids:
            candidate, k = own, 1
            while candidate in used:
                k += 1
                candidate = f"{own}_{k}"
            ids[own] = candidate
            used.add(candidate)
    return ids


def _format(points: list[Point], separator: str) -> str:
    return " ".join(f"{x}{separator}{y}" for x, y in points)


def _box_attributes(points: list[Point]) -> dict[str, str]:
    xs, ys = [x for x, _ in points], [y for _, y in points]
    return {
        "HPOS": str(min(xs)),
        "VPOS": str(min(ys)),
        "WIDTH": str(max(xs) - min(xs)),
        "HEIGHT": str(max(ys) - min(ys)),
    }


def _serialize(root: etree._Element) -> bytes:
    etree.indent(root, space="  ")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
