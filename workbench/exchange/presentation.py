"""IIIF Presentation 3 manifests and collections, and Content Search 2 answers, for published manuscripts.

Built with iiif-prezi3's pydantic models, which check every value as it is set (types, URLs,
language maps, required fields), so a manifest that does not follow the specification fails
here rather than in a reader's viewer. This module knows no web framework: the addresses of
everything (manifests, canvases, tiles, exports) come from an ``Addresses`` the caller makes.

A page is a Canvas of the master image's size, painted by that image with the page's tile
service (IIIF Image 3, web/tiles.py). Its lines are W3C annotations ("supplementing") on the
canvas, each targeting the line's polygon with an SVG selector, with two bodies in Bulgarian:
the reading text and the diplomatic text (tei/text.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

import iiif_prezi3 as prezi

from workbench.model import Line, Manuscript, Page
from workbench.tei.text import diplomatic_text, reading_text

PRESENTATION_CONTEXT = "http://iiif.io/api/presentation/3/context.json"
SEARCH_CONTEXT = "http://iiif.io/api/search/2/context.json"
SEARCH1_CONTEXT = "http://iiif.io/api/search/1/context.json"
SEARCH1_PROFILE = "http://iiif.io/api/search/1/search"
# The catalogue's own words (titles, places, libraries) are Bulgarian; the names of fields both.
TEXT_LANGUAGE = "bg"
# Labels of the metadata fields, in the two languages of the interface.
FIELD_LABELS = {
    "author": ("Автор", "Author"),
    "date": ("Дата", "Date"),
    "settlement": ("Място", "Place"),
    "repository": ("Хранилище", "Repository"),
    "collection": ("Сбирка", "Collection"),
    "shelfmark": ("Сигнатура", "Shelfmark"),
    "material": ("Материал", "Material"),
    "extent": ("Обем", "Extent"),
    "language": ("Език", "Language"),
}
# Values that are the same in every language (a shelfmark, a date, a language tag).
UNTRANSLATED = {"shelfmark", "date", "language"}


@dataclass(frozen=True)
class Export:
    """A machine-readable download of the whole manuscript (``seeAlso``)."""

    url: str
    format: str
    profile: str
    label: str


@dataclass(frozen=True)
class Addresses:
    """Where each IIIF resource of a manuscript lives (absolute URLs), made by the web layer."""

    manifest: Callable[[str], str]  # manuscript id → manifest URL
    canvas: Callable[[str, str], str]  # manuscript id, page n → canvas URL
    lines: Callable[[str, str], str]  # manuscript id, page n → the page's AnnotationPage of lines
    image_service: Callable[[str, str], str]  # manuscript id, page n → the Image API service (info.json less)
    image: Callable[[str, str], str]  # manuscript id, page n → the whole image
    search: Callable[[str], str]  # manuscript id → its Content Search 2 service
    search1: Callable[[str], str]  # manuscript id → the same search as Content Search 1 (Mirador, UV)
    homepage: Callable[[str], str]  # manuscript id → its page in the reading room
    exports: Callable[[str], list[Export]]  # manuscript id → its TEI, PAGE and ALTO downloads


def lang(bg: str, en: str | None = None) -> dict[str, list[str]]:
    """A IIIF language map: Bulgarian, and English where given."""
    value = {"bg": [bg]}
    if en is not None:
        value["en"] = [en]
    return value


def manifest(manuscript: Manuscript, addresses: Addresses) -> prezi.Manifest:
    """The Presentation 3 manifest of ``manuscript`` (read with all its pages)."""
    ms = manuscript.id
    fields = [
        prezi.KeyValueString(
            label=lang(*FIELD_LABELS[name]),
            value={"none": [value]} if name in UNTRANSLATED else {TEXT_LANGUAGE: [value]},
        )
        for name in FIELD_LABELS
        if (value := getattr(manuscript, name))
    ]
    if manuscript.editors:
        names = ", ".join(editor.name for editor in manuscript.editors)
        fields.append(prezi.KeyValueString(label=lang("Редактори", "Editors"), value={TEXT_LANGUAGE: [names]}))
    built = prezi.Manifest(
        id=addresses.manifest(ms),
        label={TEXT_LANGUAGE: [manuscript.title]},
        metadata=fields or None,
        summary=_summary(manuscript),
        requiredStatement=_required_statement(manuscript),
        rights=manuscript.licence or None,
        homepage=[
            prezi.Homepage(
                id=addresses.homepage(ms),
                type="Text",
                label=lang("В читалнята", "In the reading room"),
                format="text/html",
                language=["bg", "en"],
            )
        ],
        seeAlso=[
            prezi.LinkedResource(
                id=export.url, type="Dataset", format=export.format, profile=export.profile, label=lang(export.label)
            )
            for export in addresses.exports(ms)
        ],
        service=[
            prezi.ServiceV3(id=addresses.search(ms), type="SearchService2"),
            # Mirador 4 and the Universal Viewer search only through a version 1 service.
            prezi.ServiceV3(id=addresses.search1(ms), type="SearchService1", profile=SEARCH1_PROFILE),
        ],
        items=[_canvas(ms, page, addresses) for page in manuscript.pages],
    )
    return built


def annotation_page(manuscript_id: str, page: Page, addresses: Addresses) -> prezi.AnnotationPage:
    """The page's lines as W3C annotations on its canvas (also served on their own)."""
    canvas = addresses.canvas(manuscript_id, page.n)
    return prezi.AnnotationPage(
        id=addresses.lines(manuscript_id, page.n),
        items=[_line_annotation(canvas, line) for line in page.lines if line.text],
    )


def collection(manuscripts: Iterable[Manuscript], collection_id: str, label: dict, addresses: Addresses):
    """A Collection of the manuscripts' manifests (by reference, with their titles)."""
    return prezi.Collection(
        id=collection_id,
        label=label,
        items=[
            prezi.ManifestRef(id=addresses.manifest(ms.id), type="Manifest", label={TEXT_LANGUAGE: [ms.title]})
            for ms in manuscripts
        ],
    )


@dataclass(frozen=True)
class SearchHit:
    """A line that matches, with what to show: its text with the matches marked."""

    page_n: str
    line: Line
    text: str


def search_answer(
    manuscript_id: str, answer_id: str, hits: Iterable[SearchHit], addresses: Addresses, next_id: str | None = None
) -> dict:
    """A Content Search 2 answer: an AnnotationPage of annotations, one per matching line, each
    on its canvas at the line's box (xywh), its body the line's text."""
    items = []
    for number, hit in enumerate(hits, start=1):
        left, top, width, height = line_box(hit.line)
        canvas = addresses.canvas(manuscript_id, hit.page_n)
        items.append(
            prezi.Annotation(
                id=f"{answer_id}#hit-{number}",
                motivation="supplementing",
                body=prezi.TextualBody(value=hit.text, format="text/plain", language=TEXT_LANGUAGE),
                target=f"{canvas}#xywh={left},{top},{width},{height}",
            )
        )
    page = prezi.AnnotationPage(id=answer_id, items=items)
    # The search API's context, not the presentation API's that jsonld_dict() would put first.
    answer = json.loads(page.jsonld())
    answer["@context"] = SEARCH_CONTEXT
    if next_id:
        answer["next"] = {"id": next_id, "type": "AnnotationPage"}
    return answer


def search1_answer(
    manuscript_id: str, answer_id: str, hits: Iterable[SearchHit], addresses: Addresses, next_id: str | None = None
) -> dict:
    """The same hits as a Content Search 1 answer (an Open Annotation list; no library models it)."""
    resources = []
    for number, hit in enumerate(hits, start=1):
        left, top, width, height = line_box(hit.line)
        resources.append(
            {
                "@id": f"{answer_id}#hit-{number}",
                "@type": "oa:Annotation",
                "motivation": "sc:painting",
                "resource": {"@type": "cnt:ContentAsText", "chars": hit.text},
                "on": f"{addresses.canvas(manuscript_id, hit.page_n)}#xywh={left},{top},{width},{height}",
            }
        )
    answer = {"@context": SEARCH1_CONTEXT, "@id": answer_id, "@type": "sc:AnnotationList", "resources": resources}
    if next_id:
        answer["next"] = next_id
    return answer


def line_box(line: Line) -> tuple[int, int, int, int]:
    """The line's bounding box as IIIF's x, y, w, h (at least one pixel wide and high)."""
    xs = [x for x, _ in line.boundary] or [x for x, _ in line.baseline]
    ys = [y for _, y in line.boundary] or [y for _, y in line.baseline]
    left, top = max(0, min(xs)), max(0, min(ys))
    return left, top, max(1, max(xs) - left), max(1, max(ys) - top)


# -- helpers -----------------------------------------------------------------


def _summary(manuscript: Manuscript) -> dict | None:
    held = ", ".join(part for part in (manuscript.repository, manuscript.settlement, manuscript.shelfmark) if part)
    return {TEXT_LANGUAGE: [held]} if held else None


def _required_statement(manuscript: Manuscript) -> prezi.KeyValueString | None:
    """The library that keeps the manuscript, which anyone showing its images must name."""
    library = ", ".join(part for part in (manuscript.repository, manuscript.settlement) if part)
    if not library:
        return None
    return prezi.KeyValueString(label=lang("Притежател", "Held by"), value={TEXT_LANGUAGE: [library]})


def _canvas(manuscript_id: str, page: Page, addresses: Addresses) -> prezi.Canvas:
    canvas_id = addresses.canvas(manuscript_id, page.n)
    if page.width < 1 or page.height < 1:
        # The specification wants positive integers; iiif-prezi3's Dimension lets 0 through.
        raise ValueError(f"page {page.n} of {manuscript_id} has no size ({page.width}×{page.height}): no canvas")
    image = prezi.AnnotationBody(
        id=addresses.image(manuscript_id, page.n),
        type="Image",
        format=page.mime_type,
        width=page.width,
        height=page.height,
        service=[
            prezi.ServiceV3(id=addresses.image_service(manuscript_id, page.n), type="ImageService3", profile="level0")
        ],
    )
    painting = prezi.Annotation(
        id=f"{canvas_id}/painting",
        motivation="painting",
        body=image,
        target=canvas_id,
    )
    return prezi.Canvas(
        id=canvas_id,
        label=lang(f"стр. {page.n}", f"p. {page.n}"),
        width=page.width,
        height=page.height,
        items=[prezi.AnnotationPage(id=f"{canvas_id}/page", items=[painting])],
        annotations=[annotation_page(manuscript_id, page, addresses)],
    )


def _line_annotation(canvas_id: str, line: Line) -> prezi.Annotation:
    points = " ".join(f"{x},{y}" for x, y in line.boundary)
    svg = f"<svg xmlns='http://www.w3.org/2000/svg'><polygon points={quoteattr(points)}/></svg>"
    annotation_id = f"{canvas_id}/lines/{line.id}"
    return prezi.Annotation(
        id=annotation_id,
        motivation="supplementing",
        # The reading text first (what a viewer shows of several bodies), then the line as written.
        body=[
            prezi.TextualBody(
                id=f"{annotation_id}/reading",
                value=reading_text(line.text),
                format="text/plain",
                language=TEXT_LANGUAGE,
            ),
            prezi.TextualBody(
                id=f"{annotation_id}/diplomatic",
                value=diplomatic_text(line.text),
                format="text/plain",
                language=TEXT_LANGUAGE,
            ),
        ],
        target=prezi.SpecificResource(source=canvas_id, selector=prezi.SVGSelector(value=svg)),
    )
