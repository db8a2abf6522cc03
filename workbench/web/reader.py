"""The reading room: published manuscripts, the reading view of a page, and search. No login.

Citable URLs: ``/read/<manuscript>/`` (a manuscript), ``/read/<manuscript>/<page>/`` (a page),
``/read/<manuscript>/<page>/<line number>`` (a page with that line highlighted).
Everything here shows published manuscripts only (``Manuscript.published``); anything else
is answered as if it did not exist.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup
from werkzeug.exceptions import NotFound

from workbench.model import Manuscript, WorkbenchError
from workbench.search.index import Hit, Query, QueryError
from workbench.tei.text import reading_text
from workbench.web import errors, facsimiles
from workbench.web.markup import line_html
from workbench.web.state import edition, search_index

bp = Blueprint("reader", __name__, url_prefix="/read")


@bp.errorhandler(WorkbenchError)
def not_found(error: WorkbenchError):
    return errors.error_response(NotFound())  # the same page as for an unpublished manuscript


@bp.get("/")
def home():
    manuscripts = _published()
    dated = any(entry["manuscript"].years for entry in manuscripts)
    return render_template("read_home.html", manuscripts=manuscripts, query=None, dated=dated)


@bp.get("/<manuscript_id>/")
def manuscript(manuscript_id: str):
    header = _published_manuscript(manuscript_id)
    return render_template("read_manuscript.html", manuscript=header, numbers=edition().page_numbers(manuscript_id))


@bp.get("/<manuscript_id>/<n>/")
@bp.get("/<manuscript_id>/<n>/<int:line_n>")
def page(manuscript_id: str, n: str, line_n: int | None = None):
    manuscript = _published_manuscript(manuscript_id, n)
    page = manuscript.pages[0]
    if line_n is not None and not 1 <= line_n <= len(page.lines):
        abort(404)
    reading = request.args.get("text") == "reading"
    numbers = edition().page_numbers(manuscript_id)
    index = numbers.index(n)
    lines = [
        {"number": number, "line": line, "html": Markup(line_html(line.text, reading=reading))}
        for number, line in enumerate(page.lines, start=1)
    ]
    return render_template(
        "read_page.html",
        manuscript=manuscript,
        page=page,
        lines=lines,
        current=line_n,
        reading=reading,
        previous=numbers[index - 1] if index > 0 else None,
        next=numbers[index + 1] if index + 1 < len(numbers) else None,
    )


@bp.get("/<manuscript_id>/<n>/image")
def page_image(manuscript_id: str, n: str):
    return facsimiles.page_image(
        edition(), manuscript_id, _published_manuscript(manuscript_id, n).pages[0], public=True
    )


@bp.get("/<manuscript_id>/<n>/lines/<line_id>.png")
def line_image(manuscript_id: str, n: str, line_id: str):
    page = _published_manuscript(manuscript_id, n).pages[0]
    return facsimiles.line_image(edition(), manuscript_id, page, line_id, public=True)


@bp.get("/search")
def search():
    manuscripts = _published()
    query, results, error = _query(), None, None
    if query is not None:
        try:
            results = search_index().search(query)
        except QueryError as problem:
            error = _query_error(problem)
    rows = [row for row in map(_result_row, results.hits if results else []) if row]
    template = "_results.html" if request.headers.get("HX-Request") else "search.html"
    return render_template(
        template,
        manuscripts=manuscripts,
        query=query,
        results=results,
        rows=rows,
        error=error,
        page_url=lambda n: url_for("reader.search", **{**request.args.to_dict(), "page": n}),
        dated=any(entry["manuscript"].years for entry in manuscripts),
    )


# -- helpers -----------------------------------------------------------------


def _published() -> list[dict]:
    """The published manuscripts (their headers) with their number of pages."""
    found = []
    for manuscript_id in edition().manuscript_ids():
        try:
            header = edition().header(manuscript_id)
            if header.published:
                found.append({"manuscript": header, "pages": len(edition().page_numbers(manuscript_id))})
        except WorkbenchError:
            continue  # an invalid file on disk: the editors see it, readers do not
    return found


def _published_manuscript(manuscript_id: str, n: str | None = None) -> Manuscript:
    """Page ``n`` of the manuscript (or its header only), if the manuscript is published; else 404."""
    manuscript = edition().read(manuscript_id, n) if n is not None else edition().header(manuscript_id)
    if not manuscript.published:
        abort(404)
    return manuscript


def _query() -> Query | None:
    text = request.args.get("q", "").strip()
    if not text:
        return None
    return Query(
        text=text,
        exact=request.args.get("exact") == "1",
        manuscript_id=request.args.get("manuscript") or None,
        year_from=_year(request.args.get("from")),
        year_to=_year(request.args.get("to")),
        page=request.args.get("page", 1, type=int) or 1,
    )


def _year(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() and len(value) <= 4 else None


def _result_row(hit: Hit) -> dict | None:
    """A hit with its line crop's URL version and the lines around it; None if it may no longer be shown.

    The index catches up within a second or so; until then a withdrawn manuscript or a
    re-segmented line may still be in it.
    """
    try:
        manuscript = edition().read(hit.manuscript_id, hit.page_n)
    except WorkbenchError:
        return None
    lines = manuscript.pages[0].lines
    k = next((k for k, line in enumerate(lines) if line.id == hit.line_id), None)
    if not manuscript.published or k is None:
        return None
    # The lines above and below, as context: a sentence often runs over a line break.
    before = reading_text(lines[k - 1].text) if k > 0 else ""
    after = reading_text(lines[k + 1].text) if k + 1 < len(lines) else ""
    return {
        "hit": hit,
        "snippet": Markup(hit.snippet),
        "before": before,
        "after": after,
        "crop": facsimiles.crop_version(edition(), hit.manuscript_id, manuscript.pages[0], lines[k]),
    }


def _query_error(problem: QueryError) -> str:
    messages = {
        "empty": _("Type one or more words to search for."),
        "too_long": _("The query is too long."),
        "no_words": _("The query has no words to search for."),
        "leading_wildcard": _("%(term)s: a * or ? cannot come first; type the first letters of the word."),
        "short_prefix": _("%(term)s: type at least two letters before a * or ?."),
        "too_many_words": _("%(term)s: too many different words begin with these letters; type more of them."),
        "fuzzy_distance": _("%(term)s: at most two letters may differ (word~ or word~2)."),
        "short_fuzzy": _("%(term)s: this word is too short to search for with ~."),
        "syntax": _("The query could not be read; check its quotes and brackets."),
    }
    return messages.get(problem.code, messages["syntax"]) % {"term": problem.term}
