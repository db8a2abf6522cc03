"""Review and comments in the browser: the lines awaiting review and sent back, the
reviewers' queue (Alt+N), sending a line back, and comment threads on lines.

Reviewers verify a line with Ctrl+Enter in the line itself (web/lines.py); a
transcriber's Ctrl+Enter marks it ready for review instead.
"""

from __future__ import annotations

from flask import abort, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from workbench import transcription
from workbench.model import WorkbenchError
from workbench.web.auth import requires, staff_blueprint
from workbench.web.rows import line_row, page_regions
from workbench.web.state import edition, reviews

bp = staff_blueprint("review", __name__)

FILTERS = ("ready", "returned", "comments")


@bp.get("/m/<manuscript_id>/review")
def review_lines(manuscript_id: str):
    """The manuscript's lines awaiting review, sent back, or with open comments."""
    wanted = request.args.get("status", "ready")
    if wanted not in FILTERS:
        abort(400)
    manuscript = edition().read(manuscript_id)
    states = reviews().states(manuscript_id)
    comments = reviews().open_comments(manuscript_id)
    if wanted == "comments":
        chosen = set(comments)
    else:
        chosen = {line_id for line_id, state in states.items() if state.status == wanted}
    rows = [
        line_row(manuscript_id, page, line, review=states.get(line.id), comments=comments.get(line.id, 0))
        for page in manuscript.pages
        for line in page.lines
        if line.id in chosen
    ]
    counts = {
        "ready": sum(1 for state in states.values() if state.status == "ready"),
        "returned": sum(1 for state in states.values() if state.status == "returned"),
        "comments": len(comments),
    }
    return render_template(
        "review.html",
        manuscript=manuscript,
        rows=rows,
        wanted=wanted,
        counts=counts,
        palette=current_app.config["PALETTE"],
    )


@bp.get("/review/next")
@requires("reviewer")
def next_line():
    """The reviewers' queue: the line that has waited longest, after ``after`` (a line id
    in ``manuscript``) if given; every manuscript takes part."""
    waiting = reviews().awaiting(edition().manuscript_ids())
    after = (request.args.get("manuscript", ""), request.args.get("after", ""))
    keys = [(manuscript_id, line_id) for manuscript_id, line_id, _ in waiting]
    if after in keys:
        start = keys.index(after) + 1
        keys = keys[start:] + keys[:start]
        keys.remove(after)
    if not keys:
        return render_template("message.html", message=_("No line is waiting for review.")), 200
    manuscript_id, line_id = keys[0]
    page_n = transcription.page_number(manuscript_id, line_id)
    return redirect(url_for("lines.page", manuscript_id=manuscript_id, n=page_n, line=line_id), 303)


@bp.post("/m/<manuscript_id>/lines/<line_id>/send-back")
@requires("reviewer")
def send_back(manuscript_id: str, line_id: str):
    page, line = transcription.find_line(edition(), manuscript_id, line_id)
    tools = _tools(page)
    try:
        reviews().send_back(manuscript_id, line, g.user.name, request.form.get("send-back", ""))
    except WorkbenchError:
        row = line_row(manuscript_id, page, line, error=_("Say why the line goes back: write a comment."), tools=tools)
        return render_template("_line.html", row=row), 422
    return render_template("_line.html", row=line_row(manuscript_id, page, line, tools=tools))


@bp.get("/m/<manuscript_id>/lines/<line_id>/comments")
def comments(manuscript_id: str, line_id: str):
    transcription.find_line(edition(), manuscript_id, line_id)
    return _thread(manuscript_id, line_id)


@bp.post("/m/<manuscript_id>/lines/<line_id>/comments")
def add_comment(manuscript_id: str, line_id: str):
    transcription.find_line(edition(), manuscript_id, line_id)
    try:
        reply_to = request.form.get("reply_to") or None
        text = request.form.get(f"comment-{reply_to or 'new'}", "")
        reviews().comment(manuscript_id, line_id, g.user.name, text, reply_to)
    except WorkbenchError:
        return _thread(manuscript_id, line_id, error=_("A comment needs some text (at most 2000 characters).")), 422
    return _thread(manuscript_id, line_id)


@bp.post("/m/<manuscript_id>/lines/<line_id>/comments/<comment_id>/resolve")
def resolve_comment(manuscript_id: str, line_id: str, comment_id: str):
    try:
        reviews().resolve(manuscript_id, line_id, comment_id, g.user.name)
    except WorkbenchError:
        abort(404)
    return _thread(manuscript_id, line_id)


def _thread(manuscript_id: str, line_id: str, error: str = ""):
    return render_template(
        "_comments.html",
        manuscript_id=manuscript_id,
        line_id=line_id,
        threads=reviews().comments(manuscript_id, line_id),
        error=error,
    )


def _tools(page):
    """The page's regions, when the row came from the page editor (its segmentation tools)."""
    return page_regions(page) if request.form.get("tools") else None
