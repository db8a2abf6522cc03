"""The bibliography on the web: the editors' pages (list, add, edit, merge, delete; role
editor), and the reading room's bibliography (``/read/bibliography``: by type and year,
facets, search in either spelling, each entry's citation to copy, its holdings and its
published manuscripts).

A save sends the version of the entry as the form showed it; if someone changed or
removed the entry since, nothing is saved and the answer is 409 with the entry as it is now.
"""

from __future__ import annotations

from collections import Counter

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from workbench import citations
from workbench.bibliography import TYPES, BadEntry, Bibliography, Conflict, Entry, Holding, Original, Person, matches
from workbench.model import WorkbenchError
from workbench.web.auth import staff_blueprint
from workbench.web.state import edition

bp = staff_blueprint("bibliography", __name__, role="editor", url_prefix="/bibliography")
reading = Blueprint("bibliography_reader", __name__, url_prefix="/read")


def type_names() -> dict[str, str]:
    return {
        "work": _("Works by the author"),
        "translation": _("Translations by the author"),
        "edition": _("Editions and reprints"),
        "about": _("Writings about the author"),
    }


def style_names() -> dict[str, str]:
    return {"bds": _("Bulgarian (BDS / ISO 690)"), "harvard": _("Harvard")}


def language_names() -> dict[str, str]:
    return {"bg": _("Bulgarian"), "en": _("English"), "ru": _("Russian")}


def bibliography() -> Bibliography:
    return Bibliography(edition())


# -- the editors' pages --------------------------------------------------------------------


@bp.get("/")
def index():
    entries = bibliography().entries()
    return render_template("bibliography.html", entries=entries, type_names=type_names())


@bp.route("/new", methods=["GET", "POST"])
def add():
    if request.method == "GET":
        return _form(Entry(title=""), status=200)
    try:
        entry = _entry_from_form()
        [added] = bibliography().add([entry], g.user.name)
    except FormError as error:
        return _form(error.entry, message=str(error), status=422)
    except BadEntry as error:
        return _form(entry, message=str(error), status=422)
    flash(_("Entry %(id)s added.", id=added.id))
    return redirect(url_for("bibliography.index"))


@bp.route("/<entry_id>/edit", methods=["GET", "POST"])
def edit(entry_id: str):
    if request.method == "GET":
        return _form(_entry_or_404(entry_id), status=200)
    try:
        entry = _entry_from_form()
        entry.id = entry_id
        bibliography().update(entry, g.user.name, expected_version=request.form.get("version", ""))
    except FormError as error:
        error.entry.id, error.entry.version = entry_id, request.form.get("version", "")
        return _form(error.entry, message=str(error), status=422)
    except BadEntry as error:
        entry.version = request.form.get("version", "")
        return _form(entry, message=str(error), status=422)
    except Conflict as conflict:
        return _conflict(conflict)
    flash(_("Entry %(id)s saved.", id=entry_id))
    return redirect(url_for("bibliography.index"))


@bp.post("/<entry_id>/delete")
def delete(entry_id: str):
    try:
        bibliography().delete(entry_id, g.user.name, expected_version=request.form.get("version", ""))
    except Conflict as conflict:
        return _conflict(conflict)
    flash(_("Entry %(id)s deleted.", id=entry_id))
    return redirect(url_for("bibliography.index"))


@bp.post("/merge")
def merge():
    """Fold one entry into another (a duplicate): the form sends both ids and the versions shown."""
    keep, other = request.form.get("keep", ""), request.form.get("other", "")
    versions = {entry.id: entry.version for entry in bibliography().entries()}
    if keep not in versions or other not in versions or keep == other:
        return render_template("message.html", message=_("Choose two different entries to merge.")), 422
    try:
        bibliography().merge(
            keep,
            other,
            g.user.name,
            keep_version=request.form.get(f"version-{keep}", ""),
            other_version=request.form.get(f"version-{other}", ""),
        )
    except Conflict as conflict:
        return _conflict(conflict)
    flash(_("Entry %(other)s merged into %(keep)s.", other=other, keep=keep))
    return redirect(url_for("bibliography.index"))


class FormError(WorkbenchError):
    def __init__(self, message: str, entry: Entry):
        super().__init__(message)
        self.entry = entry


def _lines(name: str) -> list[str]:
    return [line.strip() for line in request.form.get(name, "").splitlines() if line.strip()]


def _people(name: str) -> list[Person]:
    # One per line: "Name" or "Name | register key".
    people = []
    for line in _lines(name):
        person, _bar, ref = (part.strip() for part in line.partition("|"))
        people.append(Person(person, ref or None))
    return people


def _entry_from_form() -> Entry:
    form = request.form

    def value(name: str) -> str | None:
        return form.get(name, "").strip() or None

    entry = Entry(
        title=form.get("title", "").strip(),
        type=form.get("type", "work"),
        title_modern=value("title_modern"),
        authors=_people("authors"),
        translators=_people("translators"),
        place=value("place"),
        publisher=value("publisher"),
        pages=value("pages"),
        periodical=value("periodical"),
        volume=value("volume"),
        issue=value("issue"),
        language=value("language"),
        notes=_lines("notes"),
        manuscripts=[ms for ms in form.getlist("manuscripts") if ms],
    )
    if value("original_author") or value("original_title") or value("original_language"):
        entry.original = Original(value("original_author"), value("original_title"), value("original_language"))
    for line in _lines("holdings"):
        library, shelfmark, url = ([part.strip() or None for part in line.split("|")] + [None, None])[:3]
        entry.holdings.append(Holding(library or "", shelfmark, url))
    year = value("year")
    if year is not None:
        if not (year.isdigit() and len(year) == 4):
            raise FormError(_("The year must be four digits, e.g. 1900."), entry)
        entry.year = int(year)
    return entry


def _form(entry: Entry, status: int, message: str | None = None, current: Entry | None = None):
    return (
        render_template(
            "bibliography_entry.html",
            entry=entry,
            message=message,
            current=current,
            types=TYPES,
            type_names=type_names(),
            manuscript_ids=edition().manuscript_ids(),
        ),
        status,
    )


def _conflict(conflict: Conflict):
    """409: the entry as it is now, for the editor to redo the change on."""
    if conflict.current is None:
        return render_template("message.html", message=_("Someone else deleted this entry meanwhile.")), 409
    message = _("Someone else changed this entry meanwhile: nothing was saved. It now reads as below.")
    return _form(conflict.current, status=409, message=message, current=conflict.current)


def _entry_or_404(entry_id: str) -> Entry:
    try:
        return bibliography().get(entry_id)
    except WorkbenchError:
        abort(404)


# -- the reading room ------------------------------------------------------------------------


def _decade(entry: Entry) -> str | None:
    return f"{entry.year // 10 * 10}" if entry.year else None


def _facet_values(entry: Entry, published: set[str]) -> dict[str, str | None]:
    return {
        "type": entry.type,
        "decade": _decade(entry),
        "language": entry.language,
        "manuscript": "yes" if published.intersection(entry.manuscripts) else "no",
    }


def _facet_order(name: str, counts: Counter) -> list[tuple[str, int]]:
    if name == "type":
        return [(kind, counts[kind]) for kind in TYPES if counts[kind]]  # as the groups stand
    return sorted(counts.items())


@reading.get("/bibliography")
def read_bibliography():
    entries = bibliography().entries()
    published = {ms for ms in edition().manuscript_ids() if edition().header(ms).published}
    query = request.args.get("q", "").strip()
    chosen = {name: request.args.get(name) for name in ("type", "decade", "language", "manuscript")}
    found = [entry for entry in entries if not query or matches(entry, query)]
    # A facet's counts are of what the other facets and the search leave, so each count says
    # how many entries choosing it would show.
    facets: dict[str, Counter] = {name: Counter() for name in chosen}
    shown = []
    for entry in found:
        values = _facet_values(entry, published)
        for name in facets:
            if all(chosen[other] in (None, values[other]) for other in chosen if other != name):
                if values[name]:
                    facets[name][values[name]] += 1
        if all(chosen[name] in (None, values[name]) for name in chosen):
            shown.append(entry)
    style = request.args.get("style", "bds")
    if style not in citations.STYLES:
        style = "bds"
    language = "en" if str(get_locale()) == "en" else "bg"
    cited = citations.cite(shown, style, language)
    groups = [
        (kind, sorted((e for e in shown if e.type == kind), key=lambda e: (e.year or 9999, e.title))) for kind in TYPES
    ]
    titles = {ms: edition().header(ms).title or ms for ms in published}
    return render_template(
        "read_bibliography.html",
        groups=[(kind, items) for kind, items in groups if items],
        cited=cited,
        facets={name: _facet_order(name, counts) for name, counts in facets.items()},
        chosen=chosen,
        query=query,
        style=style,
        styles=style_names(),
        type_names=type_names(),
        language_names=language_names(),
        published=published,
        titles=titles,
        total=len(shown),
    )
