"""IIIF for published manuscripts: Presentation 3 manifests, a collection, Content Search 2.

``/iiif/collection.json`` lists every published manuscript's manifest;
``/iiif/<manuscript>/manifest.json`` is one manuscript (exchange/presentation.py builds it), its pages
as canvases painted by the tile service of web/tiles.py, its lines as annotations, which are
also at ``/iiif/<manuscript>/<page>/lines.json``; ``/iiif/<manuscript>/search?q=…`` answers
a search within it from the readers' index, with the same spelling folding (Content Search 2;
``search1`` gives the same hits as Content Search 1, for the viewers that know only that).

Everything here is for other sites' viewers too, so every answer under /iiif/ (the tiles'
included) carries ``Access-Control-Allow-Origin: *``; an unpublished manuscript is the
reader's 404.
"""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, abort, json, request, url_for
from werkzeug.exceptions import NotFound

from workbench.exchange import presentation
from workbench.model import Manuscript, WorkbenchError
from workbench.search.index import Query, QueryError
from workbench.tei.text import diplomatic_text, reading_text
from workbench.web import errors
from workbench.web.reader import _published
from workbench.web.state import edition, search_index

bp = Blueprint("iiif", __name__, url_prefix="/iiif")
PRESENTATION_TYPE = 'application/ld+json;profile="http://iiif.io/api/presentation/3/context.json"'
SEARCH_TYPE = 'application/ld+json;profile="http://iiif.io/api/search/2/context.json"'
SEARCH1_TYPE = 'application/ld+json;profile="http://iiif.io/api/search/1/context.json"'
# A manifest changes when a line is corrected: viewers may keep it a few minutes, then ask
# again (with its ETag: a 304 costs nothing).
MAX_AGE = 300
SEARCH_HITS = 100  # per answer; the rest on the pages ``next`` links to


@bp.errorhandler(WorkbenchError)
def not_found(error: WorkbenchError):
    return errors.error_response(NotFound())  # as the reading room answers for an unpublished manuscript


@bp.after_app_request
def allow_other_sites(response: Response) -> Response:
    """IIIF viewers elsewhere read manifests, info.json and tiles with scripts: allow them all."""
    if request.path.startswith("/iiif/"):
        response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/collection.json")
def collection():
    manuscripts = [entry["manuscript"] for entry in _published()]
    label = presentation.lang("Ръкописи в читалнята", "Manuscripts in the reading room")
    built = presentation.collection(manuscripts, url_for("iiif.collection", _external=True), label, _addresses())
    return _answer(built.jsonld(), PRESENTATION_TYPE)


@bp.get("/<manuscript_id>/manifest.json")
def manifest(manuscript_id: str):
    built = presentation.manifest(_published_whole(manuscript_id), _addresses())
    return _answer(built.jsonld(), PRESENTATION_TYPE)


@bp.get("/<manuscript_id>/<n>/lines.json")
def lines(manuscript_id: str, n: str):
    manuscript = edition().read(manuscript_id, n)
    if not manuscript.published:
        abort(404)
    built = presentation.annotation_page(manuscript_id, manuscript.pages[0], _addresses())
    return _answer(built.jsonld(), PRESENTATION_TYPE)


@bp.get("/<manuscript_id>/search")
def search(manuscript_id: str):
    """Content Search 2: an AnnotationPage of the matching lines."""
    return _search(manuscript_id, "iiif.search", presentation.search_answer, SEARCH_TYPE)


@bp.get("/<manuscript_id>/search1")
def search1(manuscript_id: str):
    """The same search as Content Search 1, the version Mirador and the Universal Viewer read."""
    return _search(manuscript_id, "iiif.search1", presentation.search1_answer, SEARCH1_TYPE)


def _search(manuscript_id: str, endpoint: str, build, media_type: str):
    """One page of hits, built by ``build`` (Search 2 or 1), with a link to the next page if there is one."""
    text, page = _search_words(manuscript_id)
    answer_id = url_for(endpoint, manuscript_id=manuscript_id, q=text, page=page, _external=True)
    try:
        hits, more = _search_hits(manuscript_id, text, page)
    except QueryError as problem:
        return _answer(json.dumps({"error": str(problem)}), "application/json", status=400)
    following = url_for(endpoint, manuscript_id=manuscript_id, q=text, page=page + 1, _external=True)
    answer = build(manuscript_id, answer_id, hits, _addresses(), next_id=following if more else None)
    return _answer(json.dumps(answer, ensure_ascii=False), media_type, max_age=60)


# -- helpers -----------------------------------------------------------------


def _search_words(manuscript_id: str) -> tuple[str, int]:
    """The words searched for and the page of hits asked for; 404 unless the manuscript is published."""
    if not edition().header(manuscript_id).published:
        abort(404)
    return request.args.get("q", "").strip(), max(1, request.args.get("page", 1, type=int) or 1)


def _search_hits(manuscript_id: str, text: str, page: int) -> tuple[list[presentation.SearchHit], bool]:
    """One page of the lines that match ``text`` (none without words), and whether more follow."""
    if not text:
        return [], False
    results = search_index().search(Query(text=text, manuscript_id=manuscript_id, page=page, per_page=SEARCH_HITS))
    pages: dict[str, Manuscript] = {}
    hits = []
    for hit in results.hits:
        if hit.page_n not in pages:
            pages[hit.page_n] = edition().read(manuscript_id, hit.page_n)
        # The index catches up within a second or so: a re-segmented line may be gone from the page.
        line = next((line for line in pages[hit.page_n].pages[0].lines if line.id == hit.line_id), None)
        if line is not None:
            hits.append(presentation.SearchHit(hit.page_n, line, reading_text(line.text) or diplomatic_text(line.text)))
    return hits, page < results.pages


def _published_whole(manuscript_id: str) -> Manuscript:
    manuscript = edition().read(manuscript_id)
    if not manuscript.published:
        abort(404)
    return manuscript


def _answer(body: str, content_type: str, status: int = 200, max_age: int = MAX_AGE) -> Response:
    response = Response(body, status=status, content_type=content_type)
    if status == 200:
        response.cache_control.public = True
        response.cache_control.max_age = max_age
        response.add_etag()
        response.make_conditional(request)
    return response


def _addresses() -> presentation.Addresses:
    def exports(manuscript_id: str) -> list[presentation.Export]:
        def link(kind: str) -> str:
            return url_for("reader.export", manuscript_id=manuscript_id, kind=kind, _external=True)

        return [
            presentation.Export(link("tei"), "application/tei+xml", "http://www.tei-c.org/ns/1.0", "TEI P5"),
            presentation.Export(
                link("page"),
                "application/zip",
                "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15",
                "PAGE XML",
            ),
            presentation.Export(link("alto"), "application/zip", "http://www.loc.gov/standards/alto/ns-v4#", "ALTO 4"),
        ]

    return presentation.Addresses(
        manifest=lambda ms: url_for("iiif.manifest", manuscript_id=ms, _external=True),
        # Canvases are names within the manifest (no document of their own), as the specification allows.
        canvas=lambda ms, n: (
            url_for("iiif.manifest", manuscript_id=ms, _external=True).removesuffix("manifest.json")
            + f"canvas/{quote(n, safe='')}"
        ),
        lines=lambda ms, n: url_for("iiif.lines", manuscript_id=ms, n=n, _external=True),
        image_service=lambda ms, n: url_for("tiles.info", manuscript_id=ms, n=n, _external=True).removesuffix(
            "/info.json"
        ),
        image=lambda ms, n: url_for("reader.page_image", manuscript_id=ms, n=n, _external=True),
        search=lambda ms: url_for("iiif.search", manuscript_id=ms, _external=True),
        search1=lambda ms: url_for("iiif.search1", manuscript_id=ms, _external=True),
        homepage=lambda ms: url_for("reader.manuscript", manuscript_id=ms, _external=True),
        exports=exports,
    )
