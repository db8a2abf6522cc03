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

from workbench import metadata, transcription
from workbench.htr.training import ModelStore
from workbench.jobs import JobStore
from workbench.layout import corrections
from workbench.model import STATUSES, Line, Page, WorkbenchError
from workbench.tei import codec, shorthand
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
    return render_template(
        "page.html",
        manuscript=manuscript,
        page=page,
        **_lines_context(manuscript_id, page),
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
    page, line = transcription.find_line(edition(), manuscript_id, line_id)
    typed = request.form.get("text", "")
    status = request.form.get("status") or None
    tools = _regions(page) if request.form.get("tools") else None
    if status not in (None, *STATUSES):
        abort(400)
    try:
        text = shorthand.to_tei(typed)
        saved = transcription.save_line(
            edition(), manuscript_id, line_id, text, request.form.get("base", ""), g.user.name, status
        )
    except shorthand.ShorthandError as error:
        row = _row(manuscript_id, page, line, typed=typed, error=_shorthand_message(typed, error), tools=tools)
        return render_template("_line.html", row=row), 422
    except transcription.Conflict as conflict:
        row = _row(manuscript_id, page, conflict.current, typed=typed, conflict=conflict, tools=tools)
        return render_template("_line.html", row=row), 409
    except WorkbenchError as error:
        row = _row(manuscript_id, page, line, typed=typed, error=str(error), tools=tools)
        return render_template("_line.html", row=row), 422
    index_changed()
    return render_template("_line.html", row=_row(manuscript_id, page, saved, state="saved", tools=tools))


@bp.post("/preview")
def preview():
    typed = request.form.get("text", "")
    try:
        html = codec.line_html(shorthand.to_tei(typed))
    except shorthand.ShorthandError as error:
        return render_template("_preview.html", error=_shorthand_message(typed, error))
    return render_template("_preview.html", html=Markup(html))


@bp.get("/m/<manuscript_id>/lines/<line_id>/history")
def history(manuscript_id: str, line_id: str):
    versions = transcription.history(edition(), manuscript_id, line_id)
    shown = [(version, _shorthand(version.text)[0]) for version in reversed(versions)]
    return render_template("_history.html", manuscript_id=manuscript_id, line_id=line_id, versions=shown)


@bp.get("/m/<manuscript_id>/lines/<line_id>/diff")
def diff(manuscript_id: str, line_id: str):
    versions = transcription.history(edition(), manuscript_id, line_id)
    try:
        a, b = (versions[int(request.args.get(key, -1))] for key in ("a", "b"))
    except (ValueError, IndexError):
        abort(400)
    return render_template("_diff.html", a=a, b=b, diff=_diff_html(_shorthand(a.text)[0], _shorthand(b.text)[0]))


@bp.post("/m/<manuscript_id>/lines/<line_id>/revert")
def revert(manuscript_id: str, line_id: str):
    page, line = transcription.find_line(edition(), manuscript_id, line_id)
    tools = _regions(page) if request.form.get("tools") else None
    try:
        number = int(request.form.get("version", ""))
        saved = transcription.revert(
            edition(), manuscript_id, line_id, number, request.form.get("base", ""), g.user.name
        )
    except ValueError:
        abort(400)
    except transcription.Conflict as conflict:
        row = _row(manuscript_id, page, conflict.current, conflict=conflict, tools=tools)
        return render_template("_line.html", row=row), 409
    index_changed()
    return render_template("_line.html", row=_row(manuscript_id, page, saved, state="saved", tools=tools))


# -- correcting the segmentation -------------------------------------------------
# Each view makes one change (corrections.py) and answers with the page's whole list
# of lines (_lines.html), which the editor swaps in, keeping what was typed elsewhere.
# Text typed into a line the change touches is saved first, so no keystroke is lost.


@bp.post("/m/<manuscript_id>/p/<n>/lines/add")
def add_line(manuscript_id: str, n: str):
    def change() -> str:
        try:
            points = [_point(pair) for pair in request.form.get("points", "").split()]
        except ValueError:
            abort(400)
        return corrections.add_line(edition(), manuscript_id, n, points, g.user.name).id

    return _change_layout(manuscript_id, n, change, _("Line added: type its text."))


@bp.post("/m/<manuscript_id>/p/<n>/lines/delete")
def delete_line(manuscript_id: str, n: str):
    def change() -> None:
        line_id = _form_line(manuscript_id, n)
        corrections.delete_line(edition(), manuscript_id, line_id, g.user.name, _save_typed(manuscript_id, line_id))

    return _change_layout(manuscript_id, n, change, _("Line deleted (undo brings it back with its text)."))


@bp.post("/m/<manuscript_id>/p/<n>/lines/merge")
def merge_lines(manuscript_id: str, n: str):
    def change() -> str:
        ids = (_form_line(manuscript_id, n), _form_line(manuscript_id, n, "other"))
        versions = {line_id: _save_typed(manuscript_id, line_id) for line_id in set(ids)}
        return corrections.merge_lines(edition(), manuscript_id, ids, g.user.name, versions).id

    return _change_layout(manuscript_id, n, change, _("Lines merged."))


@bp.post("/m/<manuscript_id>/p/<n>/lines/split")
def split_line(manuscript_id: str, n: str):
    def change() -> str:
        line_id = _form_line(manuscript_id, n)
        version = _save_typed(manuscript_id, line_id)
        _, line = transcription.find_line(edition(), manuscript_id, line_id)
        typed, editable = _shorthand(line.text)
        typed = request.form.get(f"text-{line_id}", typed)
        try:
            cursor = int(request.form.get("cursor", ""))
            at = _point(request.form["at"]) if request.form.get("at") else None
        except ValueError:
            abort(400)
        if not editable or not 0 <= cursor <= len(typed):
            raise corrections.LayoutError("split-markup", "this line cannot be split at that place", line_id)
        try:
            halves = (shorthand.to_tei(typed[:cursor].rstrip(" ")), shorthand.to_tei(typed[cursor:].lstrip(" ")))
        except shorthand.ShorthandError:
            # The cursor is inside a mark ({abbr|expansion}, [[deleted]] …): neither half is whole.
            raise corrections.LayoutError("split-markup", "a mark cannot be split", line_id) from None
        return corrections.split_line(edition(), manuscript_id, line_id, halves, g.user.name, version, at)[1].id

    return _change_layout(manuscript_id, n, change, _("Line split."))


@bp.post("/m/<manuscript_id>/p/<n>/lines/move")
def move_line(manuscript_id: str, n: str):
    def change() -> str:
        line_id = _form_line(manuscript_id, n)
        if "region" in request.form:
            corrections.move_line(edition(), manuscript_id, line_id, g.user.name, region=request.form["region"])
        else:
            try:
                index = int(request.form.get("index", ""))
            except ValueError:
                abort(400)
            corrections.move_line(edition(), manuscript_id, line_id, g.user.name, index=index)
        return line_id

    return _change_layout(manuscript_id, n, change, _("Line moved."))


@bp.post("/m/<manuscript_id>/p/<n>/undo")
def undo_layout(manuscript_id: str, n: str):
    def change() -> str | None:
        record = corrections.undo(edition(), manuscript_id, n, g.user.name)
        return record.before[0].line.id if record.before else None

    return _change_layout(manuscript_id, n, change, _("Undone."))


def _change_layout(manuscript_id: str, n: str, change, done: str):
    """Run ``change`` (which returns the line to focus, if any) and answer with the page's lines."""
    try:
        focus = change()
    except shorthand.ShorthandError as error:
        mistakes = _shorthand_mistakes()
        mistake = mistakes.get(error.code, mistakes["markup"])
        return _lines_response(manuscript_id, n, error=_("The text of the line has a mistake: %(m)s", m=mistake)), 422
    except transcription.Conflict as conflict:
        message = _(
            "Someone else changed a line since you opened the page; it now reads: %(text)s",
            text=_shorthand(conflict.current.text)[0] or "—",
        )
        return _lines_response(manuscript_id, n, error=message, focus=conflict.current.id), 409
    except corrections.LayoutError as error:
        return _lines_response(manuscript_id, n, error=_layout_message(error), focus=error.line), 422
    index_changed()
    return _lines_response(manuscript_id, n, message=done, focus=focus)


def _save_typed(manuscript_id: str, line_id: str) -> str:
    """Save what the editor typed into the line, if it differs from the saved text; the
    version of the line the change may then touch (the one the editor saw, if nothing was typed)."""
    base = request.form.get(f"base-{line_id}", "")
    typed = request.form.get(f"text-{line_id}")
    _, line = transcription.find_line(edition(), manuscript_id, line_id)
    current, editable = _shorthand(line.text)
    if typed is None or typed == current or not editable:
        return base
    saved = transcription.save_line(edition(), manuscript_id, line_id, shorthand.to_tei(typed), base, g.user.name)
    return transcription.line_version(saved)


def _form_line(manuscript_id: str, n: str, field: str = "line") -> str:
    """The id of a line on page ``n`` named in the form (a line of another page is refused)."""
    line_id = request.form.get(field, "")
    if not line_id.startswith(f"{codec.page_id(manuscript_id, n)}_l"):
        abort(400)
    return line_id


def _point(pair: str) -> tuple[float, float]:
    x, y = pair.split(",")
    return float(x), float(y)


def _layout_message(error: corrections.LayoutError) -> str:
    messages = {
        "baseline": _("A baseline needs at least two different points on the page."),
        "same-line": _("Choose two different lines to merge."),
        "split-point": _("Cut the line somewhere along it, not at its ends."),
        "split-text": _("The two parts of a split must together hold the whole text of the line."),
        "split-markup": _("This line cannot be split there: put the cursor between words, outside any mark."),
        "region": _("That region is not on this page."),
        "nothing-to-undo": _("Nothing to undo on this page."),
        "undo-changed": _("Cannot undo: a line it would change was edited since. Undo or revert that first."),
        "undo-removed": _("Cannot undo: a line it would change was deleted or merged since. Undo that first."),
        "undo-regions": _("Cannot undo: the page was segmented again since."),
        "undo-back": _("Cannot undo: a line it would bring back is on the page again."),
    }
    return messages.get(error.code, str(error))


def _lines_response(manuscript_id: str, n: str, message: str = "", error: str = "", focus: str | None = None) -> str:
    page = edition().read(manuscript_id, n).pages[0]
    return render_template(
        "_lines.html", page=page, message=message, error=error, focus=focus, **_lines_context(manuscript_id, page)
    )


def _lines_context(manuscript_id: str, page: Page) -> dict:
    """The page's line rows with their tools, the zones to draw, and the lines a
    re-segmentation could not map (shown until someone deals with them)."""
    regions = _regions(page)
    rows = [_row(manuscript_id, page, line, tools=regions) for line in page.lines]
    zones = [
        {
            "id": row["line"].id,
            "n": row["number"],
            "status": row["line"].status or "untranscribed",
            "points": " ".join(f"{x},{y}" for x, y in row["line"].boundary),
        }
        for row in rows
    ]
    unmapped = corrections.unmapped_lines(edition(), manuscript_id, page)
    return {
        "manuscript_id": manuscript_id,
        "rows": rows,
        "zones": zones,
        "unmapped": [row for row in rows if row["line"].id in unmapped],
    }


def _regions(page: Page) -> list[tuple[str, str]]:
    """The page's regions as (id, label) for the "move to region" choice."""
    kinds = {"text": _("text"), "marginalia": _("margin")}
    return [
        (region.id, _("Region %(n)s (%(kind)s)", n=k, kind=kinds.get(region.kind, region.kind)))
        for k, region in enumerate(page.regions, 1)
    ]


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
            edition(),
            kind,
            manuscript_id,
            g.user.name,
            pages=request.form.get("pages") or None,
            model=model,
            mode=request.form.get("mode") if kind == "segment" else None,
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
    conflict: transcription.Conflict | None = None,
    state: str = "",
    tools: list[tuple[str, str]] | None = None,
) -> dict:
    """What the line template needs: the line, its shorthand, its image, its state; and,
    in the page editor, the page's regions for the line's segmentation tools."""
    current, editable = _shorthand(line.text)
    geometry = facsimiles.crop_version(edition(), manuscript_id, page, line)
    return {
        "line": line,
        "manuscript_id": manuscript_id,
        "page_n": page.n,
        "number": next((i for i, other in enumerate(page.lines, 1) if other.id == line.id), 0),
        "original": current,
        "value": current if typed is None else typed,
        "version": transcription.line_version(line),
        "geometry": geometry,
        "html": Markup(codec.line_html(line.text)) if line.text else "",
        "editable": editable,
        "error": error,
        "conflict": conflict,
        "theirs": current if conflict else None,
        "state": state or ("conflict" if conflict else "error" if error else ""),
        "tools": tools,
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
