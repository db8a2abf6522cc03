"""The manuscripts: the list, one manuscript's pages, publishing, metadata, the default
recognition model, and the least certain lines. Editors only."""

from __future__ import annotations

from collections import Counter

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from workbench import metadata
from workbench.model import STATUSES, WorkbenchError
from workbench.transcription import page_number
from workbench.web.auth import requires, staff_blueprint
from workbench.web.models import default_model
from workbench.web.rows import line_row
from workbench.web.state import edition, index_changed, models, reviews

bp = staff_blueprint("manuscripts", __name__)


@bp.get("/")
def index():
    return render_template(
        "manuscripts.html", manuscripts=[edition().summary(ms) for ms in edition().manuscript_ids()], statuses=STATUSES
    )


@bp.get("/m/<manuscript_id>/")
def manuscript(manuscript_id: str):
    states = reviews().states(manuscript_id)
    awaiting = Counter(page_number(manuscript_id, line) for line, state in states.items() if state.status == "ready")
    return render_template(
        "manuscript.html",
        manuscript=edition().header(manuscript_id),
        pages=edition().summary(manuscript_id).pages,
        awaiting=awaiting,
        statuses=STATUSES,
        models=models().list(),
        default_model=default_model(manuscript_id),
    )


@bp.post("/m/<manuscript_id>/publish")
@requires("editor")
def publish(manuscript_id: str):
    published = request.form.get("published") == "1"
    edition().set_published(manuscript_id, published, g.user.name)
    index_changed()
    flash(
        _("Published: readers can now see and search it.") if published else _("Withdrawn: readers no longer see it.")
    )
    return redirect(url_for("manuscripts.manuscript", manuscript_id=manuscript_id), 303)


@bp.route("/m/<manuscript_id>/metadata", methods=["GET", "POST"])
@requires("editor")
def edit_metadata(manuscript_id: str):
    """The header's fields as a form. Only the fields this editor changed are saved, and
    only if nobody else changed them since the form was opened (no last write wins)."""
    current = metadata.as_text(edition().header(manuscript_id))
    if request.method == "GET":
        return render_template(
            "metadata.html",
            manuscript_id=manuscript_id,
            values=current,
            was=current,
            errors={},
            licences=metadata.LICENCES,
        )
    values = {name: request.form.get(name, "") for name in metadata.FIELDS}
    was = {name: request.form.get(f"was-{name}", "") for name in metadata.FIELDS}
    changed = {name: values[name] for name in metadata.FIELDS if _same(values[name]) != _same(was[name])}
    errors = {
        name: _("Someone else changed this field meanwhile; it now reads: %(value)s", value=current[name] or "—")
        for name in changed
        if _same(current[name]) != _same(was[name]) and _same(current[name]) != _same(values[name])
    }
    status = 409 if errors else 422
    if not errors:
        try:
            saved = edition().set_metadata(manuscript_id, changed, g.user.name)
        except metadata.MetadataError as error:
            for mistake in error.every:
                errors.setdefault(mistake.field, _metadata_message(mistake))
        else:
            index_changed()
            flash(_("Metadata saved.") if saved else _("Nothing changed."))
            return redirect(url_for("manuscripts.manuscript", manuscript_id=manuscript_id), 303)
    page = render_template(
        "metadata.html",
        manuscript_id=manuscript_id,
        values=values,
        was=current,
        errors=errors,
        licences=metadata.LICENCES,
    )
    return page, status


def _same(text: str) -> str:
    return text.replace("\r\n", "\n").strip()


def _metadata_message(error: metadata.MetadataError) -> str:
    messages = {
        "required": _("A manuscript needs a title."),
        "too-long": _("This is too long."),
        "control": _("Line breaks and control characters are not allowed here."),
        "years": _("Give a year or a range of years, e.g. 1890 or 1888–1892."),
        "language": _("Give a language tag such as bg or chu."),
        "dimensions": _("Give height × width in millimetres, e.g. 210 × 170."),
        "editor": _("Give one editor per line as “name: responsibility”."),
        "licence": _("Give a licence URL or choose one of the licences listed."),
    }
    return messages.get(error.code, str(error))


@bp.post("/m/<manuscript_id>/default-model")
@requires("editor")
def set_default_model(manuscript_id: str):
    edition().require(manuscript_id)
    try:
        models().set_default(manuscript_id, request.form.get("model") or None)
    except WorkbenchError:
        abort(404)  # no such trained model (the form offers only those there are)
    flash(_("Default model saved."))
    return redirect(url_for("manuscripts.manuscript", manuscript_id=manuscript_id), 303)


@bp.get("/m/<manuscript_id>/uncertain")
def uncertain_lines(manuscript_id: str):
    """Machine-read lines, the least certain first: where correcting pays most."""
    manuscript = edition().read(manuscript_id)
    lines = [
        (page, line) for page in manuscript.pages for line in page.lines if line.status == "automatic" and line.text
    ]
    lines.sort(key=lambda item: (item[1].cert if item[1].cert is not None else 2.0, item[1].id))
    rows = [line_row(manuscript_id, page, line) for page, line in lines[:200]]
    return render_template(
        "uncertain.html", manuscript=manuscript, rows=rows, total=len(lines), palette=current_app.config["PALETTE"]
    )
