"""Correcting a page's segmentation in the page editor. Editors only.

Each view makes one change (layout/corrections.py) and answers with the page's whole
list of lines (_lines.html), which the editor swaps in, keeping what was typed
elsewhere. Text typed into a line the change touches is saved first, so no keystroke
is lost.
"""

from __future__ import annotations

import math

from flask import abort, g, request
from flask_babel import gettext as _

from workbench import transcription
from workbench.layout import corrections
from workbench.tei import shorthand
from workbench.tei.codec import page_id
from workbench.web.auth import staff_blueprint
from workbench.web.lines import maybe_retrain
from workbench.web.rows import lines_response, shorthand_mistakes, shorthand_of
from workbench.web.state import edition, index_changed

bp = staff_blueprint("layout", __name__)


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
        typed, editable = shorthand_of(line.text)
        typed = request.form.get(f"text-{line_id}", typed)
        try:
            cursor = int(request.form.get("cursor", ""))
            at = _point(request.form["at"]) if request.form.get("at") else None
        except ValueError:
            abort(400)
        if not editable or not 0 <= cursor <= len(typed):
            raise corrections.LayoutError("split-markup", "this line cannot be split at that place", line_id)
        if at is None:
            # Cut in proportion (Enter, no point on the facsimile): the caret was most likely
            # just where the last correction left it, so a cut inside a word moves to the
            # nearest space. A point clicked on the facsimile keeps the caret exactly: a word
            # the scribe broke between two lines is split where the person put it.
            cursor = word_boundary(typed, cursor)
        try:
            halves = (shorthand.to_tei(typed[:cursor].rstrip(" ")), shorthand.to_tei(typed[cursor:].lstrip(" ")))
        except shorthand.ShorthandError:
            # The cursor is inside a mark ({abbr|expansion}, [[deleted]] …): neither half is whole.
            raise corrections.LayoutError("split-markup", "a mark cannot be split", line_id) from None
        return corrections.split_line(edition(), manuscript_id, line_id, halves, g.user.name, version, at)[1].id

    return _change_layout(manuscript_id, n, change, _("Line split."))


def word_boundary(typed: str, cursor: int) -> int:
    """``cursor``, or, when it falls inside a word of ``typed`` (shorthand), the nearest
    space at which both halves are whole shorthand; the earlier of two as near.
    Unchanged when the line has no such space, and inside a mark (that cut is refused
    with its own message)."""
    inside = 0 < cursor < len(typed) and not typed[cursor - 1].isspace() and not typed[cursor].isspace()
    if not inside or not _whole_halves(typed, cursor):
        return cursor
    spaces = sorted((i for i, char in enumerate(typed) if char.isspace()), key=lambda i: (abs(i - cursor), i))
    return next((space for space in spaces if _whole_halves(typed, space)), cursor)


def _whole_halves(typed: str, cut: int) -> bool:
    left, right = typed[:cut].rstrip(" "), typed[cut:].lstrip(" ")
    if not left.strip() or not right.strip():
        return False
    try:
        shorthand.to_tei(left)
        shorthand.to_tei(right)
    except shorthand.ShorthandError:
        return False
    return True


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
        mistakes = shorthand_mistakes()
        mistake = mistakes.get(error.code, mistakes["markup"])
        return lines_response(manuscript_id, n, error=_("The text of the line has a mistake: %(m)s", m=mistake)), 422
    except transcription.Conflict as conflict:
        message = _(
            "Someone else changed a line since you opened the page; it now reads: %(text)s",
            text=shorthand_of(conflict.current.text)[0] or "—",
        )
        return lines_response(manuscript_id, n, error=message, focus=conflict.current.id), 409
    except corrections.LayoutError as error:
        return lines_response(manuscript_id, n, error=_layout_message(error), focus=error.line), 422
    index_changed()
    return lines_response(manuscript_id, n, message=done, focus=focus)


def _save_typed(manuscript_id: str, line_id: str) -> str:
    """Save what the editor typed into the line, if it differs from the saved text; the
    version of the line the change may then touch (the one the editor saw, if nothing was typed)."""
    base = request.form.get(f"base-{line_id}", "")
    typed = request.form.get(f"text-{line_id}")
    _, line = transcription.find_line(edition(), manuscript_id, line_id)
    current, editable = shorthand_of(line.text)
    if typed is None or typed == current or not editable:
        return base
    saved = transcription.save_line(edition(), manuscript_id, line_id, shorthand.to_tei(typed), base, g.user.name)
    maybe_retrain(manuscript_id, saved)  # a line saved here counts as one saved in its row
    return transcription.line_version(saved)


def _form_line(manuscript_id: str, n: str, field: str = "line") -> str:
    """The id of a line on page ``n`` named in the form (a line of another page is refused)."""
    line_id = request.form.get(field, "")
    if not line_id.startswith(f"{page_id(manuscript_id, n)}_l"):
        abort(400)
    return line_id


def _point(pair: str) -> tuple[float, float]:
    """A point "x,y" from the form; ValueError (the views answer 400) unless both are finite numbers."""
    x, y = (float(value) for value in pair.split(","))
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ValueError(f"{pair!r} is not a point")
    return x, y


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
