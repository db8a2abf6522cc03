"""The registers on the web: the names editors may tag while typing a line (a small JSON
list for the editor's autocomplete), the editors' pages to list, add, edit and delete
people and places (role editor; a save over someone else's change is 409 with the entry as
it now reads, as for the bibliography), and the reading room's register pages (each person,
place or work with every published line that names it, found through the search index's
``refs``) and an author page (biography, works, manuscripts and their progress, timeline).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from workbench import citations
from workbench.bibliography import TYPES, Bibliography, Entry, fold
from workbench.model import WorkbenchError
from workbench.register import FILE_NAME, IDENTIFIERS, BadEntity, Conflict, Entity, InUse, Register, Source
from workbench.search.index import Query
from workbench.web.auth import requires, staff_blueprint
from workbench.web.bibliography import type_names
from workbench.web.reader import _result_row
from workbench.web.state import edition, search_index

bp = staff_blueprint("registers", __name__, role="transcriber", url_prefix="/registers")
reading = Blueprint("register_reader", __name__, url_prefix="/read")

KINDS = {"persons": "person", "places": "place", "works": "work"}
CHOICES = 10  # names offered at once while typing
MENTIONS_PER_PAGE = 50


def register() -> Register:
    return Register(edition())


# -- the editor's autocomplete ---------------------------------------------------------------


def _matches(names: list[str], typed: str) -> bool:
    """Whether a word typed begins a word of one of ``names``, as written or folded to one spelling
    (so "Трифоновъ", "трифонов" and "Триф" all find Трифон Трифонов)."""
    wanted = [word for word in typed.lower().split() if len(word.strip(".")) >= 2] or [typed.lower()]
    folded = [word for word in fold(typed).split() if word]
    for name in names:
        words = name.lower().split()
        folded_words = fold(name).split()
        if any(word.startswith(part.strip(".")) for part in wanted for word in words):
            return True
        if any(word.startswith(part) for part in folded for word in folded_words):
            return True
    return False


@bp.get("/names")
def names():
    """``?kind=person|place|work&q=…``: up to ten entries whose names (either spelling) match,
    as ``[{"key", "label"}]``; the editor writes the key after the name typed."""
    kind = request.args.get("kind", "person")
    typed = request.args.get("q", "").strip()[:100]
    if kind not in KINDS.values():
        abort(400)
    if kind == "work":
        found = [
            {"key": entry.id, "label": f"{entry.title}{f' ({entry.year})' if entry.year else ''}"}
            for entry in Bibliography(edition()).entries()
            if not typed or _matches([entry.title, entry.title_modern or ""], typed)
        ]
    else:
        found = [
            {"key": entity.key, "label": " / ".join(entity.names())}
            for entity in register().entities(kind)
            if not typed or _matches(entity.names(), typed)
        ]
    return jsonify(found[:CHOICES])


# -- the editors' pages -------------------------------------------------------------------------

SECTIONS = "any(persons, places)"


@bp.get("/")
@requires("editor")
def manage():
    return render_template("registers.html", people=register().entities("person"), places=register().entities("place"))


@bp.route(f"/<{SECTIONS}:section>/new", methods=["GET", "POST"])
@requires("editor")
def add_entity(section: str):
    kind = KINDS[section]
    if request.method == "GET":
        return _entity_form(Entity(key="", name="", kind=kind), status=200)
    entity = _entity_from_form(kind, request.form.get("key", "").strip())
    try:
        register().add(entity, g.user.name)
    except BadEntity as error:
        return _entity_form(entity, status=422, problems=_problems(error))
    flash(_("%(name)s added to the register.", name=entity.name))
    return redirect(url_for("registers.manage"))


@bp.route(f"/<{SECTIONS}:section>/<key>/edit", methods=["GET", "POST"])
@requires("editor")
def edit_entity(section: str, key: str):
    kind = KINDS[section]
    if request.method == "GET":
        return _entity_form(register().get(key, kind), status=200)  # NotFound: the 404 page
    entity = _entity_from_form(kind, key)
    entity.version = request.form.get("version", "")
    try:
        register().update(entity, g.user.name, expected_version=entity.version)
    except BadEntity as error:
        return _entity_form(entity, status=422, problems=_problems(error), editing=True)
    except Conflict as conflict:
        return _entity_conflict(conflict)
    flash(_("%(name)s saved.", name=entity.name))
    return redirect(url_for("registers.manage"))


@bp.post(f"/<{SECTIONS}:section>/<key>/delete")
@requires("editor")
def delete_entity(section: str, key: str):
    entity = register().get(key, KINDS[section])
    try:
        register().delete(key, g.user.name, expected_version=request.form.get("version", ""))
    except Conflict as conflict:
        return _entity_conflict(conflict)
    except InUse as refused:
        return _entity_form(entity, status=409, in_use=refused.uses, editing=True)
    flash(_("%(name)s deleted from the register.", name=entity.name))
    return redirect(url_for("registers.manage"))


def _entity_from_form(kind: str, key: str) -> Entity:
    form = request.form

    def value(name: str) -> str | None:
        return form.get(name, "").strip() or None

    sources = []
    for line in form.get("sources", "").splitlines():
        # "text | https://…": the link is what follows the last bar, when it is a link.
        text, _bar, url = (part.strip() for part in line.rpartition("|"))
        if not url.startswith(("http://", "https://")):
            text, url = line.strip(), ""
        if text or url:
            sources.append(Source(text, url or None))
    return Entity(
        key=key,
        kind=kind,
        name=form.get("name", "").strip(),
        name_original=value("name_original"),
        name_latin=value("name_latin"),
        note=" ".join(form.get("note", "").split()) or None,
        birth=value("birth") if kind == "person" else None,
        birth_place=value("birth_place") if kind == "person" else None,
        death=value("death") if kind == "person" else None,
        death_place=value("death_place") if kind == "person" else None,
        identifiers={authority: value(f"id_{authority}") for authority in IDENTIFIERS if value(f"id_{authority}")},
        sources=sources,
    )


def _problem_text(code: str, params: dict[str, str]) -> str:
    events = {"birth": _("birth"), "death": _("death")}
    said = {
        "key": _("The key %(key)s cannot be used: letters, digits, '-', '_' and '.', beginning with a letter."),
        "duplicate_key": _("The register has an entry %(key)s already: choose another key."),
        "no_name": _("The name in modern spelling is missing."),
        "date": _("The date of %(event)s, %(date)s, is not a date: write 1866, 1866-10 or 1866-10-05."),
        "unknown_place": _("The place of %(event)s, %(place)s, is not a place of the register."),
        "identifier": _("%(value)s is not a %(authority)s identifier."),
        "empty_source": _("A source says nothing."),
    }.get(code, _("The register cannot hold this entry as it is."))
    return said % {**params, "event": events.get(params.get("event", ""), "")}


def _problems(error: BadEntity) -> list[str]:
    return [_problem_text(code, params) for code, params in getattr(error, "params", {}).get("problems", [])]


def _entity_form(
    entity: Entity,
    status: int,
    problems: list[str] | None = None,
    message: str | None = None,
    in_use=None,
    editing: bool | None = None,
):
    return (
        render_template(
            "register_entity.html",
            entity=entity,
            section=f"{entity.kind}s",
            editing=bool(entity.version) if editing is None else editing,
            problems=problems or [],
            message=message,
            in_use=in_use,
            places=register().entities("place"),
            authorities=list(IDENTIFIERS),
        ),
        status,
    )


def _entity_conflict(conflict: Conflict):
    """409: the entry as it is now, for the editor to redo the change on."""
    if conflict.current is None:
        return render_template("message.html", message=_("Someone else deleted this entry meanwhile.")), 409
    message = _("Someone else changed this entry meanwhile: nothing was saved. It now reads as below.")
    return _entity_form(conflict.current, status=409, message=message)


# -- the reading room ---------------------------------------------------------------------


def _ref(kind: str, key: str) -> str:
    return f"bibliography.xml#{key}" if kind == "work" else f"{FILE_NAME}#{key}"


def name_urls() -> Callable[[str], str | None]:
    """A tagged name's register page from its @ref, for the reading room's line HTML (the
    register read once for a page, not once a name)."""
    keys = register().keys()

    def url(ref: str) -> str | None:
        file, _hash, key = ref.partition("#")
        if file == "bibliography.xml" and key:
            return url_for("register_reader.entry", section="works", key=key)
        if file == FILE_NAME and key in keys:
            return url_for("register_reader.entry", section=f"{keys[key]}s", key=key)
        return None

    return url


def _mentions(ref: str) -> tuple[list[dict], int, int]:
    """The published lines naming ``ref``, a page of them (``?page=``), with the total and the page count."""
    page = max(1, request.args.get("page", 1, type=int) or 1)
    results = search_index().search(Query(text="", ref=ref, page=page, per_page=MENTIONS_PER_PAGE))
    rows = []
    for hit in results.hits:
        row = _result_row(hit)
        if row:
            row["url"] = url_for("reader.page", manuscript_id=hit.manuscript_id, n=hit.page_n, line_n=hit.line_n)
            rows.append(row)
    return rows, results.total, results.pages


def _language() -> str:
    return "en" if str(get_locale()) == "en" else "bg"


def _published_titles() -> dict[str, str]:
    titles = {}
    for manuscript_id in edition().manuscript_ids():
        try:
            header = edition().header(manuscript_id)
        except WorkbenchError:
            continue  # an invalid file on disk: the editors see it, readers do not
        if header.published:
            titles[manuscript_id] = header.title or manuscript_id
    return titles


@reading.get("/register/")
def index():
    return render_template(
        "read_register.html",
        people=register().entities("person"),
        places=register().entities("place"),
        works=Bibliography(edition()).entries(),
        authors={ref for entry in Bibliography(edition()).entries() for ref in _people_refs(entry)},
    )


@reading.get("/register/<any(persons, places, works):section>/<key>")
def entry(section: str, key: str):
    kind = KINDS[section]
    entity: Entity | None = None
    work: Entry | None = None
    cited = ""
    try:
        if kind == "work":
            work = Bibliography(edition()).get(key)
            cited = citations.cite([work], "bds", _language())[work.id]
        else:
            entity = register().get(key, kind)
    except WorkbenchError:
        abort(404)
    places = {place.key: place for place in register().entities("place")}
    rows, total, pages = _mentions(_ref(kind, key))
    has_works = entity is not None and any(
        entity.ref in _people_refs(book) for book in Bibliography(edition()).entries()
    )
    return render_template(
        "read_register_entry.html",
        kind=kind,
        entity=entity,
        work=work,
        cited=cited,
        places=places,
        rows=rows,
        total=total,
        pages=pages,
        page=max(1, request.args.get("page", 1, type=int) or 1),
        has_works=has_works,
        titles=_published_titles(),
        type_names=type_names(),
    )


# -- the author page --------------------------------------------------------------------------


def _people_refs(entry: Entry) -> set[str]:
    return {person.ref for person in entry.authors + entry.translators if person.ref}


@dataclass
class Event:
    year: int
    label: str
    kind: str  # life, work, manuscript
    url: str | None = None


def _is_by(author: str | None, entity: Entity) -> bool:
    """Whether a manuscript's author field names the person: every word of one of his names,
    in one spelling, is in it ("Трифонъ Трифоновъ" and "Т. Трифонов" are not the same test)."""
    written = set(fold(author).split())
    return bool(written) and any(set(fold(name).split()) <= written for name in entity.names() if fold(name))


@reading.get("/author/<key>")
def author(key: str):
    try:
        person = register().get(key, "person")
    except WorkbenchError:
        abort(404)
    entries = Bibliography(edition()).entries()
    works = [entry for entry in entries if person.ref in _people_refs(entry)]
    about = [entry for entry in entries if entry.type == "about"] if works else []
    shown = works + about
    cited = citations.cite(shown, "bds", _language()) if shown else {}
    groups = [
        (kind, sorted((e for e in shown if e.type == kind), key=lambda e: (e.year or 9999, e.title))) for kind in TYPES
    ]
    linked = {ms for entry in works for ms in entry.manuscripts}
    manuscripts = []
    for manuscript_id, title in _published_titles().items():
        header = edition().header(manuscript_id)
        if manuscript_id not in linked and not _is_by(header.author, person):
            continue
        counts = edition().summary(manuscript_id).counts
        lines = sum(counts.values())
        manuscripts.append(
            {
                "id": manuscript_id,
                "title": title,
                "years": header.years,
                "date": header.date,
                "counts": counts,
                "lines": lines,
                "done": round(100 * counts["verified"] / lines) if lines else 0,
            }
        )
    places = {place.key: place for place in register().entities("place")}
    timeline = []
    for year, label, place in (
        (person.birth_year, _("Born"), person.birth_place),
        (person.death_year, _("Died"), person.death_place),
    ):
        if year is not None:
            where = places[place].name if place in places else None
            timeline.append(Event(year, f"{label}, {where}" if where else label, "life"))
    for entry in shown:
        if entry.year:
            url = url_for("register_reader.entry", section="works", key=entry.id)
            timeline.append(Event(entry.year, entry.title_modern or entry.title, "work", url))
    for manuscript in manuscripts:
        if manuscript["years"]:
            url = url_for("reader.manuscript", manuscript_id=manuscript["id"])
            timeline.append(Event(manuscript["years"][0], manuscript["title"], "manuscript", url))
    timeline.sort(key=lambda event: (event.year, ["life", "work", "manuscript"].index(event.kind)))
    return render_template(
        "read_author.html",
        person=person,
        places=places,
        groups=[(kind, items) for kind, items in groups if items],
        cited=cited,
        type_names=type_names(),
        manuscripts=manuscripts,
        timeline=timeline,
        mentions=_mentions(person.ref)[1],
    )
