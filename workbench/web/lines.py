"""The page editor and its lines: the page, its images, saving a line (with its version:
a save over a newer one is refused), the shorthand preview, history, differences and
revert. Editors only.

A view answering an htmx request returns just the fragment it replaces (one template,
two uses, as in the htmx book's contact app).
"""

from __future__ import annotations

import difflib
import logging
import re

from flask import abort, current_app, g, render_template, request
from flask_babel import gettext as _
from markupsafe import Markup, escape

from workbench import register, transcription
from workbench.model import STATUSES, Line, WorkbenchError
from workbench.tei import shorthand
from workbench.tei.validation import InvalidDocument
from workbench.web import facsimiles
from workbench.web.auth import staff_blueprint
from workbench.web.markup import line_html
from workbench.web.models import default_model
from workbench.web.rows import (
    line_row,
    lines_context,
    page_regions,
    shorthand_message,
    shorthand_mistakes,
    shorthand_of,
)
from workbench.web.state import edition, index_changed, jobs, models, retraining, reviews

log = logging.getLogger(__name__)

bp = staff_blueprint("lines", __name__)


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
        **lines_context(manuscript_id, page),
        previous=numbers[index - 1] if index > 0 else None,
        next=numbers[index + 1] if index + 1 < len(numbers) else None,
        palette=current_app.config["PALETTE"],
        jobs=[job for job in jobs().list(manuscript_id) if job.active],
        models=models().list(),
        default_model=default_model(manuscript_id),
    )


@bp.get("/m/<manuscript_id>/p/<n>/image")
def page_image(manuscript_id: str, n: str):
    return facsimiles.page_image(edition(), manuscript_id, edition().read(manuscript_id, n).pages[0], public=False)


@bp.get("/m/<manuscript_id>/p/<n>/lines/<line_id>.png")
def line_image(manuscript_id: str, n: str, line_id: str):
    return facsimiles.line_image(
        edition(), manuscript_id, edition().read(manuscript_id, n).pages[0], line_id, public=False
    )


@bp.post("/m/<manuscript_id>/lines/<line_id>")
def save_line(manuscript_id: str, line_id: str):
    page, line = transcription.find_line(edition(), manuscript_id, line_id)
    typed = request.form.get("text", "")
    status = request.form.get("status") or None
    tools = page_regions(page) if request.form.get("tools") else None
    if status not in (None, *STATUSES):
        abort(400)
    # Ctrl+Enter asks for "verified": a reviewer's verifies the line, a transcriber's
    # marks it ready for a reviewer (its text saved as corrected, if it changed).
    finished = status == "verified"
    if finished and not g.user.can("reviewer"):
        status = None
    try:
        text = shorthand.to_tei(typed)
        register.check_keys(edition(), typed, text)
        saved = transcription.save_line(
            edition(), manuscript_id, line_id, text, request.form.get("base", ""), g.user.name, status
        )
        if finished and saved.status == "verified":
            reviews().mark_verified(manuscript_id, line_id, g.user.name)
        elif finished and saved.text:
            reviews().mark_ready(manuscript_id, line_id, g.user.name)
    except shorthand.ShorthandError as error:
        row = line_row(manuscript_id, page, line, typed=typed, error=shorthand_message(typed, error), tools=tools)
        return render_template("_line.html", row=row), 422
    except transcription.Conflict as conflict:
        row = line_row(manuscript_id, page, conflict.current, typed=typed, conflict=conflict, tools=tools)
        return render_template("_line.html", row=row), 409
    except InvalidDocument as error:
        # The schema refused the line (the shorthand checks passed): say so, and name the
        # schema's first complaint as the validator wrote it, for the encoder to look up.
        message = _(
            "Not saved: the line would make the TEI invalid (%(problem)s).",
            problem=error.problems[0].message if error.problems else "?",
        )
        row = line_row(manuscript_id, page, line, typed=typed, error=message, tools=tools)
        return render_template("_line.html", row=row), 422
    except WorkbenchError:
        log.exception("saving line %s of %s", line_id, manuscript_id)
        row = line_row(
            manuscript_id,
            page,
            line,
            typed=typed,
            error=_("Not saved: the workbench could not save this line; your text is kept here."),
            tools=tools,
        )
        return render_template("_line.html", row=row), 422
    index_changed()
    maybe_retrain(manuscript_id, saved)
    return render_template("_line.html", row=line_row(manuscript_id, page, saved, state="saved", tools=tools))


def maybe_retrain(manuscript_id: str, saved: Line) -> None:
    """After a save (or a revert) that leaves a line corrected or verified: queue the
    manuscript's retraining if ``[recognition] retrain_after`` lines are new (training.AutoRetrain).

    Here, after the save, rather than in the job layer: a person's line save is what brings
    the count of new lines up (jobs write machine text, which no training learns from), and
    the check answers from counts this process keeps page by page, a fraction of a
    millisecond on a 15,000-line manuscript (bench/retrain_check.py)."""
    if saved.status in ("corrected", "verified"):
        retraining().after_save(manuscript_id, g.user.name)


@bp.post("/preview")
def preview():
    typed = request.form.get("text", "")
    try:
        text = shorthand.to_tei(typed)
        register.check_keys(edition(), typed, text)
        html = line_html(text)
    except shorthand.ShorthandError as error:
        return render_template("_preview.html", error=shorthand_message(typed, error))
    return render_template("_preview.html", html=Markup(html))


@bp.get("/m/<manuscript_id>/lines/<line_id>/history")
def history(manuscript_id: str, line_id: str):
    versions = transcription.history(edition(), manuscript_id, line_id)
    shown = [(version, shorthand_of(version.text)[0]) for version in reversed(versions)]
    return render_template("_history.html", manuscript_id=manuscript_id, line_id=line_id, versions=shown)


@bp.get("/m/<manuscript_id>/lines/<line_id>/diff")
def diff(manuscript_id: str, line_id: str):
    """Versions A and B compared, by words or by letters (``by``); by default by letters when
    they are much alike (a letter corrected here and there), by words when the line was rewritten."""
    versions = transcription.history(edition(), manuscript_id, line_id)
    try:
        # The history panel names its choices after the line (a-<line>, b-<line>).
        a, b = (versions[int(request.args.get(f"{key}-{line_id}", request.args.get(key, -1)))] for key in ("a", "b"))
    except (ValueError, IndexError):
        abort(400)
    old, new = shorthand_of(a.text)[0], shorthand_of(b.text)[0]
    by = request.args.get("by") or ("char" if _alike(old, new) else "word")
    if by not in ("char", "word"):
        abort(400)
    return render_template(
        "_diff.html", manuscript_id=manuscript_id, line_id=line_id, a=a, b=b, by=by, diff=_diff_html(old, new, by)
    )


@bp.post("/m/<manuscript_id>/lines/<line_id>/revert")
def revert(manuscript_id: str, line_id: str):
    page, line = transcription.find_line(edition(), manuscript_id, line_id)
    tools = page_regions(page) if request.form.get("tools") else None
    try:
        number = int(request.form.get("version", ""))
        saved = transcription.revert(
            edition(), manuscript_id, line_id, number, request.form.get("base", ""), g.user.name
        )
    except ValueError:
        abort(400)
    except transcription.Conflict as conflict:
        row = line_row(manuscript_id, page, conflict.current, conflict=conflict, tools=tools)
        return render_template("_line.html", row=row), 409
    except register.UnknownKey as refused:
        # The version tags a name whose entry has gone from the register since.
        row = line_row(manuscript_id, page, line, error=shorthand_mistakes()[refused.code], tools=tools)
        return render_template("_line.html", row=row), 422
    index_changed()
    maybe_retrain(manuscript_id, saved)
    return render_template("_line.html", row=line_row(manuscript_id, page, saved, state="saved", tools=tools))


def _alike(a: str, b: str) -> bool:
    """Whether two versions share most of their letters (then a letter diff reads well)."""
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() >= 0.6


def _diff_html(a: str, b: str, by: str = "char") -> Markup:
    """The difference, removed text struck and added text underlined: letter by letter, or
    word by word (``by="word"``: whole words struck and added, with the spaces between them)."""
    old, new = (re.findall(r"\s+|\S+", a), re.findall(r"\s+|\S+", b)) if by == "word" else (a, b)
    parts = []
    for operation, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if operation in ("delete", "replace"):
            parts.append(f"<del>{escape(''.join(old[i1:i2]))}</del>")
        if operation in ("insert", "replace"):
            parts.append(f"<ins>{escape(''.join(new[j1:j2]))}</ins>")
        if operation == "equal":
            parts.append(str(escape("".join(old[i1:i2]))))
    return Markup("".join(parts))
