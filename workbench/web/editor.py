"""The editor: manuscripts, the page editor, saving lines, history, jobs. Editors only.

Views compose the core (``Edition``, ``editing``, ``shorthand``, ``crops``, ``jobs``)
and render templates; a view answering an htmx request returns just the fragment
it replaces (one template, two uses, as in the htmx book's contact app).
"""

from __future__ import annotations

import difflib
from collections import Counter

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup, escape

from workbench import editing, metadata, shorthand, tei
from workbench.jobs import JobStore
from workbench.model import STATUSES, Line, Page, WorkbenchError
from workbench.training import ModelStore
from workbench.web import edition, facsimiles, index_changed
from workbench.web.auth import login_required

bp = Blueprint("editor", __name__)


@bp.before_request
@login_required
def require_editor() -> None:
    """Every editor view needs a logged-in editor (login_required redirects or answers 401)."""


@bp.app_context_processor
def labels() -> dict:
    names = {
        "untranscribed": _("untranscribed"),
        "automatic": _("automatic"),
        "corrected": _("corrected"),
        "verified": _("verified"),
    }
    kinds = {"segment": _("Segmentation"), "recognize": _("Recognition"), "train": _("Training")}
    states = {
        "queued": _("queued"),
        "running": _("running"),
        "done": _("done"),
        "failed": _("failed"),
        "cancelled": _("cancelled"),
    }
    return {
        "status_label": lambda status: names.get(status, status),
        "job_label": lambda job: f"{kinds.get(job.kind, job.kind)}: {states.get(job.state, job.state)}",
    }


@bp.errorhandler(WorkbenchError)
def workbench_error(error: WorkbenchError):
    return render_template("message.html", message=str(error)), 404


@bp.get("/")
def index():
    return render_template("manuscripts.html", manuscripts=manuscript_summaries(), statuses=STATUSES)


def manuscript_summaries() -> list[dict]:
    """Each manuscript's id, title, published state, page count and lines per status."""
    manuscripts = []
    for manuscript_id in edition().manuscript_ids():
        pages = edition().overview(manuscript_id)
        counts = Counter()
        for summary in pages:
            counts.update(summary.counts)
        header = edition().header(manuscript_id)
        manuscripts.append(
            {
                "id": manuscript_id,
                "title": header.title or manuscript_id,
                "published": header.published,
                "pages": len(pages),
                "counts": counts,
            }
        )
    return manuscripts


@bp.get("/m/<manuscript_id>/")
def manuscript(manuscript_id: str):
    pages = edition().overview(manuscript_id)
    return render_template(
        "manuscript.html",
        manuscript=edition().header(manuscript_id),
        pages=pages,
        statuses=STATUSES,
        models=ModelStore.of(edition()).list(),
        default_model=_default_model(manuscript_id),
    )


@bp.post("/m/<manuscript_id>/publish")
def publish(manuscript_id: str):
    published = request.form.get("published") == "1"
    edition().set_published(manuscript_id, published, g.user.name)
    index_changed()
    flash(
        _("Published: readers can now see and search it.") if published else _("Withdrawn: readers no longer see it.")
    )
    return redirect(url_for("editor.manuscript", manuscript_id=manuscript_id), 303)


@bp.route("/m/<manuscript_id>/metadata", methods=["GET", "POST"])
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
            errors[error.field] = _metadata_message(error)
        else:
            index_changed()
            flash(_("Metadata saved.") if saved else _("Nothing changed."))
            return redirect(url_for("editor.manuscript", manuscript_id=manuscript_id), 303)
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


@bp.get("/m/<manuscript_id>/p/<n>/")
def page(manuscript_id: str, n: str):
    manuscript = edition().read(manuscript_id, n)
    page = manuscript.pages[0]
    numbers = edition().page_numbers(manuscript_id)
    index = numbers.index(n)
    rows = [_row(manuscript_id, page, line) for line in page.lines]
    return render_template(
        "page.html",
        manuscript=manuscript,
        page=page,
        rows=rows,
        previous=numbers[index - 1] if index > 0 else None,
        next=numbers[index + 1] if index + 1 < len(numbers) else None,
        palette=current_app.config["PALETTE"],
        jobs=[job for job in JobStore.of(edition()).list(manuscript_id) if job.active],
        models=ModelStore.of(edition()).list(),
        default_model=_default_model(manuscript_id),
    )


@bp.get("/m/<manuscript_id>/p/<n>/image")
def page_image(manuscript_id: str, n: str):
    return facsimiles.page_image(edition(), manuscript_id, edition().read(manuscript_id, n).pages[0])


@bp.get("/m/<manuscript_id>/p/<n>/lines/<line_id>.png")
def line_image(manuscript_id: str, n: str, line_id: str):
    return facsimiles.line_image(edition(), manuscript_id, edition().read(manuscript_id, n).pages[0], line_id)


@bp.post("/m/<manuscript_id>/lines/<line_id>")
def save_line(manuscript_id: str, line_id: str):
    page, line = editing.find_line(edition(), manuscript_id, line_id)
    typed = request.form.get("text", "")
    status = request.form.get("status") or None
    if status not in (None, *STATUSES):
        abort(400)
    try:
        text = shorthand.to_tei(typed)
        saved = editing.save_line(
            edition(), manuscript_id, line_id, text, request.form.get("base", ""), g.user.name, status
        )
    except shorthand.ShorthandError as error:
        row = _row(manuscript_id, page, line, typed=typed, error=_shorthand_message(typed, error))
        return render_template("_line.html", row=row), 422
    except editing.Conflict as conflict:
        row = _row(manuscript_id, page, conflict.current, typed=typed, conflict=conflict)
        return render_template("_line.html", row=row), 409
    except WorkbenchError as error:
        return render_template("_line.html", row=_row(manuscript_id, page, line, typed=typed, error=str(error))), 422
    index_changed()
    return render_template("_line.html", row=_row(manuscript_id, page, saved, state="saved"))


@bp.post("/preview")
def preview():
    typed = request.form.get("text", "")
    try:
        html = tei.line_html(shorthand.to_tei(typed))
    except shorthand.ShorthandError as error:
        return render_template("_preview.html", error=_shorthand_message(typed, error))
    return render_template("_preview.html", html=Markup(html))


@bp.get("/m/<manuscript_id>/lines/<line_id>/history")
def history(manuscript_id: str, line_id: str):
    versions = editing.history(edition(), manuscript_id, line_id)
    shown = [(version, _shorthand(version.text)[0]) for version in reversed(versions)]
    return render_template("_history.html", manuscript_id=manuscript_id, line_id=line_id, versions=shown)


@bp.get("/m/<manuscript_id>/lines/<line_id>/diff")
def diff(manuscript_id: str, line_id: str):
    versions = editing.history(edition(), manuscript_id, line_id)
    try:
        a, b = (versions[int(request.args.get(key, -1))] for key in ("a", "b"))
    except (ValueError, IndexError):
        abort(400)
    return render_template("_diff.html", a=a, b=b, diff=_diff_html(_shorthand(a.text)[0], _shorthand(b.text)[0]))


@bp.post("/m/<manuscript_id>/lines/<line_id>/revert")
def revert(manuscript_id: str, line_id: str):
    page, line = editing.find_line(edition(), manuscript_id, line_id)
    try:
        number = int(request.form.get("version", ""))
        saved = editing.revert(edition(), manuscript_id, line_id, number, request.form.get("base", ""), g.user.name)
    except ValueError:
        abort(400)
    except editing.Conflict as conflict:
        return render_template("_line.html", row=_row(manuscript_id, page, conflict.current, conflict=conflict)), 409
    index_changed()
    return render_template("_line.html", row=_row(manuscript_id, page, saved, state="saved"))


@bp.post("/m/<manuscript_id>/jobs")
def start_job(manuscript_id: str):
    kind = request.form.get("kind", "segment")
    if kind not in ("segment", "recognize"):
        abort(400)
    model = None
    if kind == "recognize":
        model = request.form.get("model") or _default_model(manuscript_id)
        # From the browser, only a trained model or the edition's configured one: never a
        # path someone typed (a model file is code-like data the server would load).
        if model not in {record.name for record in ModelStore.of(edition()).list()} | {_default_model(manuscript_id)}:
            return render_template("_job.html", error=_("Choose one of the trained models.")), 422
    try:
        job = JobStore.of(edition()).submit(
            edition(), kind, manuscript_id, g.user.name, pages=request.form.get("pages") or None, model=model
        )
    except WorkbenchError as error:
        return render_template("_job.html", error=str(error)), 422
    return render_template("_job.html", job=job)


@bp.get("/jobs/<job_id>")
def job(job_id: str):
    job = JobStore.of(edition()).get(job_id)
    if job is None:
        abort(404)
    return render_template("_job.html", job=job)


@bp.post("/jobs/<job_id>/cancel")
def cancel_job(job_id: str):
    return render_template("_job.html", job=JobStore.of(edition()).cancel(job_id, g.user.name))


@bp.post("/m/<manuscript_id>/default-model")
def set_default_model(manuscript_id: str):
    edition().require(manuscript_id)
    ModelStore.of(edition()).set_default(manuscript_id, request.form.get("model") or None)
    flash(_("Default model saved."))
    return redirect(url_for("editor.manuscript", manuscript_id=manuscript_id), 303)


@bp.get("/m/<manuscript_id>/uncertain")
def uncertain_lines(manuscript_id: str):
    """Machine-read lines, the least certain first: where correcting pays most."""
    manuscript = edition().read(manuscript_id)
    lines = [
        (page, line) for page in manuscript.pages for line in page.lines if line.status == "automatic" and line.text
    ]
    lines.sort(key=lambda item: (item[1].cert if item[1].cert is not None else 2.0, item[1].id))
    rows = [_row(manuscript_id, page, line) for page, line in lines[:200]]
    return render_template(
        "uncertain.html", manuscript=manuscript, rows=rows, total=len(lines), palette=current_app.config["PALETTE"]
    )


def _default_model(manuscript_id: str) -> str | None:
    """The manuscript's default model, else the edition's (workbench.toml [recognition] model)."""
    return ModelStore.of(edition()).default(manuscript_id) or current_app.config.get("RECOGNITION_MODEL")


# -- helpers -----------------------------------------------------------------


def _row(
    manuscript_id: str,
    page: Page,
    line: Line,
    typed: str | None = None,
    error: str | None = None,
    conflict: editing.Conflict | None = None,
    state: str = "",
) -> dict:
    """What the line template needs: the line, its shorthand, its image, its state."""
    current, editable = _shorthand(line.text)
    geometry = facsimiles.crop_version(edition(), manuscript_id, page, line)
    return {
        "line": line,
        "manuscript_id": manuscript_id,
        "page_n": page.n,
        "number": next((i for i, other in enumerate(page.lines, 1) if other.id == line.id), 0),
        "original": current,
        "value": current if typed is None else typed,
        "version": editing.line_version(line),
        "geometry": geometry,
        "html": Markup(tei.line_html(line.text)) if line.text else "",
        "editable": editable,
        "error": error,
        "conflict": conflict,
        "theirs": current if conflict else None,
        "state": state or ("conflict" if conflict else "error" if error else ""),
    }


def _shorthand(text: str) -> tuple[str, bool]:
    """The line as the editor types it, and whether it can be edited that way.

    Markup put in the TEI by hand that the shorthand cannot express is shown as it
    is, read-only.
    """
    try:
        return shorthand.from_tei(text), True
    except shorthand.ShorthandError:
        return text, False


def _shorthand_mistakes() -> dict[str, str]:
    """The shorthand's kinds of mistake, in the interface's language (the core's messages are English)."""
    return {
        "escape": _('A "\\" at the end of the line escapes nothing; write \\\\ for a backslash.'),
        "character": _("This character cannot stand in a line."),
        "empty": _("Nothing between the brackets: the mark needs some text."),
        "abbreviation": _("The abbreviation has no expansion; write it as {г.|господинъ}."),
        "extent": _("A gap is one character or more, e.g. {...3}."),
        "gap": _("A gap holds no text; write {...}, {...3} or {...3|lost}."),
        "unclosed": _("This bracket is never closed."),
        "keyword": _('After "|" comes one of this mark\'s keywords, e.g. above, faded, lost, underline.'),
        "bar": _('This "|" is out of place; write \\| for a plain bar.'),
        "closer": _("This closing bracket does not close the mark that is open here."),
        "markup": _("The markup of this line is not well-formed."),
    }


def _shorthand_message(typed: str, error: shorthand.ShorthandError) -> Markup:
    """The mistake in the interface's language, and the line with the offending character marked."""
    before, at, after = typed[: error.position], typed[error.position : error.position + 1], typed[error.position + 1 :]
    column = _("column %(n)s", n=error.position + 1)
    mistake = _shorthand_mistakes().get(error.code, _shorthand_mistakes()["markup"])
    return Markup(
        f"<span>{escape(column)}: {escape(mistake)}</span><br>"
        f'<code class="pointer">{escape(before)}<mark>{escape(at) or "&nbsp;"}</mark>{escape(after)}</code>'
    )


def _diff_html(a: str, b: str) -> Markup:
    """Character-level difference: removed text struck, added text underlined."""
    parts = []
    for operation, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if operation in ("delete", "replace"):
            parts.append(f"<del>{escape(a[i1:i2])}</del>")
        if operation in ("insert", "replace"):
            parts.append(f"<ins>{escape(b[j1:j2])}</ins>")
        if operation == "equal":
            parts.append(str(escape(a[i1:i2])))
    return Markup("".join(parts))
