"""What the line templates need, shared by the editor's views: a line's row (its shorthand,
image, state), the page's rows and zones, the shorthand's mistakes in the interface's
language, and the labels of statuses and jobs."""

from __future__ import annotations

from flask import g, render_template
from flask_babel import gettext as _
from markupsafe import Markup, escape

from workbench import transcription
from workbench.layout import corrections
from workbench.model import Line, Page
from workbench.review import LineReview
from workbench.tei import shorthand
from workbench.web import facsimiles
from workbench.web.markup import line_html
from workbench.web.state import edition, reviews


def labels() -> dict:
    names = {
        "untranscribed": _("untranscribed"),
        "automatic": _("automatic"),
        "corrected": _("corrected"),
        "verified": _("verified"),
    }
    kinds = {
        "segment": _("Segmentation"),
        "recognize": _("Recognition"),
        "train": _("Training"),
        "export": _("Export"),
        "reindex": _("Search index"),
    }
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


def line_row(
    manuscript_id: str,
    page: Page,
    line: Line,
    typed: str | None = None,
    error: str | None = None,
    conflict: transcription.Conflict | None = None,
    state: str = "",
    tools: list[tuple[str, str]] | None = None,
    review: LineReview | None | bool = True,
    comments: int | None = None,
) -> dict:
    """What the line template needs: the line, its shorthand, its image, its state, where
    it stands in review and how many open comment threads it has; and, in the page
    editor, the page's regions for the line's segmentation tools.

    ``review`` and ``comments`` are read from the review log unless given (a page's
    rows read it once for all its lines)."""
    current, editable = shorthand_of(line.text)
    if review is True or comments is None:
        found = reviews().states(manuscript_id, page.n).get(line.id)
        review = found if review is True else review
        comments = reviews().open_comments(manuscript_id, page.n).get(line.id, 0) if comments is None else comments
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
        "html": Markup(line_html(line.text)) if line.text else "",
        "editable": editable,
        "error": error,
        "conflict": conflict,
        "theirs": current if conflict else None,
        "state": state or ("conflict" if conflict else "error" if error else ""),
        "tools": tools,
        "review": review,
        "comments": comments,
        "can_review": g.user is not None and g.user.can("reviewer"),
    }


def shorthand_of(text: str) -> tuple[str, bool]:
    """The line as the editor types it, and whether it can be edited that way.

    Markup put in the TEI by hand that the shorthand cannot express is shown as it
    is, read-only.
    """
    try:
        return shorthand.from_tei(text), True
    except shorthand.ShorthandError:
        return text, False


def shorthand_mistakes() -> dict[str, str]:
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
        "key": _('After "|" in a name comes its key: letters, digits, -, _ and ., e.g. {@Трифонъ|trifonov}.'),
        "unknown_key": _("No entry of the register or the bibliography has this key."),
        "wrong_key": _("This key is of another kind of entry: @ for people, # for places, ~ for works."),
    }


def shorthand_message(typed: str, error: shorthand.ShorthandError) -> Markup:
    """The mistake in the interface's language, and the line with the offending character marked."""
    before, at, after = typed[: error.position], typed[error.position : error.position + 1], typed[error.position + 1 :]
    column = _("column %(n)s", n=error.position + 1)
    mistake = shorthand_mistakes().get(error.code, shorthand_mistakes()["markup"])
    return Markup(
        f"<span>{escape(column)}: {escape(mistake)}</span><br>"
        f'<code class="pointer">{escape(before)}<mark>{escape(at) or "&nbsp;"}</mark>{escape(after)}</code>'
    )


def page_regions(page: Page) -> list[tuple[str, str]]:
    """The page's regions as (id, label) for the "move to region" choice."""
    kinds = {"text": _("text"), "marginalia": _("margin")}
    return [
        (region.id, _("Region %(n)s (%(kind)s)", n=k, kind=kinds.get(region.kind, region.kind)))
        for k, region in enumerate(page.regions, 1)
    ]


def lines_context(manuscript_id: str, page: Page) -> dict:
    """The page's line rows with their tools, the zones to draw, and the lines a
    re-segmentation could not map (shown until someone deals with them)."""
    regions = page_regions(page)
    states = reviews().states(manuscript_id, page.n)
    comments = reviews().open_comments(manuscript_id, page.n)
    rows = [
        line_row(
            manuscript_id, page, line, tools=regions, review=states.get(line.id), comments=comments.get(line.id, 0)
        )
        for line in page.lines
    ]
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


def lines_response(manuscript_id: str, n: str, message: str = "", error: str = "", focus: str | None = None) -> str:
    page = edition().read(manuscript_id, n).pages[0]
    return render_template(
        "_lines.html", page=page, message=message, error=error, focus=focus, **lines_context(manuscript_id, page)
    )
