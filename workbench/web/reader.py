"""The reading room: published manuscripts, the reading view of a page, and search. No login.

Citable URLs: ``/read/<manuscript>/`` (a manuscript), ``/read/<manuscript>/<page>/`` (a page),
``/read/<manuscript>/<page>/<line number>`` (a page with that line highlighted).
Everything here shows published manuscripts only (``Manuscript.published``); anything else
is answered as if it did not exist.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import replace
from pathlib import Path

from flask import Blueprint, Response, abort, make_response, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup
from werkzeug.exceptions import NotFound

from workbench.exchange import transfer
from workbench.metadata import LICENCES
from workbench.model import Manuscript, WorkbenchError
from workbench.search.index import Hit, Query, QueryError, Results
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
    return render_template(
        "read_manuscript.html",
        manuscript=header,
        numbers=edition().page_numbers(manuscript_id),
        licence=_licence(header.licence),
        citation=_citation(header),
    )


@bp.get("/<manuscript_id>/<n>/")
@bp.get("/<manuscript_id>/<n>/<int:line_n>")
def page(manuscript_id: str, n: str, line_n: int | None = None):
    manuscript = _published_manuscript(manuscript_id, n)
    page = manuscript.pages[0]
    if line_n is not None and not 1 <= line_n <= len(page.lines):
        abort(404)
    reading = request.args.get("text") == "reading"
    from workbench.web.registers import name_urls  # registers.py builds on this module

    name_url = name_urls()
    numbers = edition().page_numbers(manuscript_id)
    index = numbers.index(n)
    lines = [
        {
            "number": number,
            "line": line,
            "html": Markup(line_html(line.text, reading=reading, name_url=name_url)),
            "citation": _citation(manuscript, page.n, number),
        }
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
        licence=_licence(manuscript.licence),
        citation=_citation(manuscript, page.n),
        hits=_hit_navigation(request.args.get("hit", 0, type=int)),
        search_args=_search_args(),
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


# Mirador (React with MUI) styles itself with <style> elements written at run time (emotion), with no
# way to give them a nonce: this one page allows inline styles. Scripts stay 'self' (SECURITY.md).
VIEWER_POLICY = errors.CONTENT_SECURITY_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


@bp.get("/<manuscript_id>/viewer")
def viewer(manuscript_id: str):
    """The manuscript in Mirador, a IIIF viewer, from its manifest (the pages, zoom, the lines)."""
    response = make_response(render_template("read_viewer.html", manuscript=_published_manuscript(manuscript_id)))
    response.headers["Content-Security-Policy"] = VIEWER_POLICY
    return response


# The machine-readable edition of a published manuscript, for anyone (the IIIF manifest's
# seeAlso): its TEI, and its PAGE or ALTO files (one per page, in a zip, without the images,
# which the IIIF image service gives). The team's comments are never in it.
PUBLIC_EXPORTS = {"tei": ("tei",), "page": ("page",), "alto": ("alto",)}


@bp.get("/<manuscript_id>/export/<kind>")
def export(manuscript_id: str, kind: str):
    if kind not in PUBLIC_EXPORTS:
        abort(404)
    _published_manuscript(manuscript_id)
    if kind == "tei":
        data = transfer.tei_export(edition(), edition().load(manuscript_id))
        response = Response(data, content_type="application/tei+xml; charset=utf-8")
        name = f"{manuscript_id}.xml"
    else:
        with tempfile.TemporaryDirectory(prefix="workbench-export-") as folder:
            target = Path(folder) / f"{manuscript_id}-{kind}.zip"
            transfer.export_zip(edition(), manuscript_id, target, PUBLIC_EXPORTS[kind], images=False)
            response = Response(target.read_bytes(), content_type="application/zip")
        name = target.name
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Access-Control-Allow-Origin"] = "*"  # harvesters and viewers on other sites
    response.cache_control.public = True
    response.cache_control.max_age = 300
    return response


@bp.get("/search")
def search():
    manuscripts = _published()
    query, results, error = _query(), None, None
    if query is not None:
        try:
            results = search_index().search(query)
        except QueryError as problem:
            error = _query_error(problem)
    # Each hit keeps its place in the whole list (its rank), for the previous/next links on its page.
    first = (query.page - 1) * query.per_page + 1 if query else 1
    found = ((rank, _result_row(hit)) for rank, hit in enumerate(results.hits if results else [], start=first))
    rows = [{**row, "rank": rank} for rank, row in found if row]
    template = "_results.html" if request.htmx else "search.html"
    return render_template(
        template,
        manuscripts=manuscripts,
        query=query,
        results=results,
        rows=rows,
        error=error,
        page_url=lambda n: url_for("reader.search", **{**request.args.to_dict(), "page": n}),
        hit_url=_hit_url,
        dated=any(entry["manuscript"].years for entry in manuscripts),
    )


# -- helpers -----------------------------------------------------------------


def _search_args() -> dict[str, str]:
    """The search the reader came from (its words and filters), to carry from page to page."""
    return {name: request.args[name] for name in ("q", "exact", "manuscript", "from", "to") if request.args.get(name)}


def _hit_url(hit: Hit, rank: int) -> str:
    """A hit's page, opened on its line, knowing the search and the hit's place in it (1 = first)."""
    return url_for(
        "reader.page", manuscript_id=hit.manuscript_id, n=hit.page_n, line_n=hit.line_n, **_search_args(), hit=rank
    )


def _hit_navigation(rank: int) -> dict | None:
    """Links to the hits before and after hit number ``rank`` of the search in the URL, in the
    order the results list them; None without a search."""
    query = _query()
    if query is None or rank < 1:
        return None
    pages: dict[int, Results] = {}

    def results_with(k: int) -> Results:
        number = (k - 1) // query.per_page + 1
        if number not in pages:
            pages[number] = search_index().search(replace(query, page=number))
        return pages[number]

    def hit_at(k: int) -> Hit | None:
        hits = results_with(k).hits if k >= 1 else []
        return hits[(k - 1) % query.per_page] if (k - 1) % query.per_page < len(hits) else None

    try:
        total = results_with(rank).total
        previous, following = hit_at(rank - 1), hit_at(rank + 1)
    except QueryError:
        return None
    return {
        "rank": rank,
        "total": total,
        "previous": _hit_url(previous, rank - 1) if previous else None,
        "next": _hit_url(following, rank + 1) if following else None,
        "results": url_for("reader.search", **_search_args(), page=(rank - 1) // query.per_page + 1),
    }


def _licence(url: str | None) -> dict | None:
    """The licence's link, with a short name for a Creative Commons one (its badge), e.g. CC BY-SA 4.0."""
    if not url:
        return None
    names = {link: name for name, link in LICENCES.items()}
    match = re.fullmatch(r"https?://creativecommons\.org/(licenses|publicdomain)/([a-z-]+)/(\d+\.\d+)(?:/.*)?", url)
    if url in names:
        name = names[url].rsplit("-", 1)
        badge = {"CC0": "CC0", "PDM": "PDM"}.get(name[0], name[0].replace("CC-", "CC ", 1)) + " " + name[1]
    elif match:
        kind, version = match.group(2), match.group(3)
        badge = (
            f"CC0 {version}"
            if kind == "zero"
            else f"PDM {version}"
            if kind == "mark"
            else f"CC {kind.upper()} {version}"
        )
    else:
        badge = None
    return {"url": url, "badge": badge}


def _citation(manuscript: Manuscript, page_n: str | None = None, line_n: int | None = None) -> str:
    """How to cite the manuscript, one of its pages or one line: author, title, where it is kept,
    the page and line, its editors, and the address (the citable URL)."""
    parts = [manuscript.author, manuscript.title]
    if manuscript.date:
        parts.append(manuscript.date)
    held = ", ".join(part for part in (manuscript.repository, manuscript.settlement, manuscript.shelfmark) if part)
    if held:
        parts.append(held)
    if page_n is not None:
        parts.append(_("page %(n)s", n=page_n))
    if line_n is not None:
        parts.append(_("line %(n)s", n=line_n))
    text = ", ".join(part for part in parts if part) + "."
    if manuscript.editors:
        text += " " + _("Edited by %(names)s.", names=", ".join(editor.name for editor in manuscript.editors))
    if page_n is None:
        address = url_for("reader.manuscript", manuscript_id=manuscript.id, _external=True)
    else:
        address = url_for("reader.page", manuscript_id=manuscript.id, n=page_n, line_n=line_n, _external=True)
    return f"{text} {address}"


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
