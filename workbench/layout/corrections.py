"""Correcting a page's segmentation by hand: delete, add, merge, split, move, reorder, undo.

Every change is one validated, journalled, atomic save of its page (``Edition.edit``),
so the edit journal keeps every line's text: a deleted line's text, the texts a merge
joined, the halves of a split. Each change is also written to the manuscript's layout
log (``.workbench/layout/<manuscript>/<page>.jsonl``): the lines it touched as they were, with
their places in the reading order, and as they became. A re-segmentation from the
pipeline is logged the same way.

Undo puts the "before" lines back, but only while the "after" lines are still as the
change left them: an undo never throws away later work (a colleague's or one's own).
Each person undoes their own changes, latest first.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping

from shapely.geometry import LineString
from shapely.geometry import Point as ShapelyPoint
from shapely.ops import substring

from workbench import transcription
from workbench.edition import Edition, now
from workbench.layout import geometry, mend
from workbench.layout.ids import LineIds
from workbench.layout.log import LayoutLog, Placed, Record
from workbench.layout.merge import MODES, MergeReport
from workbench.model import Layout, Line, Manuscript, Page, Point, WorkbenchError
from workbench.tei.text import diplomatic_text, reading_text

# A split point this close to either end of the baseline (as a share of its length)
# would leave a sliver, not a line.
SPLIT_MARGIN = 0.02


class LayoutError(WorkbenchError):
    """A change to the segmentation that cannot be made; ``code`` says which kind (for
    the interface's own wording), ``line`` which line stands in the way, if one does."""

    def __init__(self, code: str, message: str, line: str | None = None):
        super().__init__(message)
        self.code = code
        self.line = line


# -- the changes ------------------------------------------------------------------


def delete_line(edition: Edition, manuscript_id: str, line_id: str, who: str, version: str) -> None:
    """Take a line out of the page; its text stays in the journal and comes back with undo."""

    def change(page: Page, manuscript: Manuscript, ids: LineIds) -> set[str]:
        line = transcription.line_on(page, manuscript_id, line_id)
        transcription.check_version(edition, manuscript_id, line, version)
        page.lines.remove(line)
        return {line_id}

    change_page(edition, manuscript_id, transcription.page_number(manuscript_id, line_id), who, "delete", change)


def add_line(edition: Edition, manuscript_id: str, page_n: str, baseline: list[Point], who: str) -> Line:
    """A new, empty line on ``baseline`` (points in page pixels, in writing order).

    Its polygon is a band around the baseline as high as the page's other lines reach
    above and below theirs; its region is the one it lies in; it takes its place in
    the reading order after the lines above it.
    """
    added: list[Line] = []

    def change(page: Page, manuscript: Manuscript, ids: LineIds) -> set[str]:
        if not all(math.isfinite(x) and math.isfinite(y) for x, y in baseline):
            raise LayoutError("baseline", "a baseline's points must be numbers on the page")
        points = [(min(max(round(x), 0), page.width), min(max(round(y), 0), page.height)) for x, y in baseline]
        points = [point for k, point in enumerate(points) if k == 0 or point != points[k - 1]]
        if len(points) < 2:
            raise LayoutError("baseline", "a baseline needs at least two different points on the page")
        line = Line(ids.line(), geometry.band(points, page.lines, page.height), points)
        line.region = geometry.region_at(page, points)
        page.lines.insert(geometry.reading_position(page.lines, line), line)
        added.append(line)
        return {line.id}

    change_page(edition, manuscript_id, page_n, who, "add", change)
    return added[0]


def merge_lines(
    edition: Edition, manuscript_id: str, line_ids: tuple[str, str], who: str, versions: Mapping[str, str]
) -> Line:
    """Two lines become one: the first in reading order keeps its id and gets both texts,
    joined by a space; their baselines and polygons are joined end to end."""
    merged: list[Line] = []

    def change(page: Page, manuscript: Manuscript, ids: LineIds) -> set[str]:
        if line_ids[0] == line_ids[1]:
            raise LayoutError("same-line", "choose two different lines to merge")
        first, second = sorted(
            (transcription.line_on(page, manuscript_id, line_id) for line_id in line_ids), key=page.lines.index
        )
        for line in (first, second):
            transcription.check_version(edition, manuscript_id, line, versions.get(line.id, ""))
        left, right = sorted((first, second), key=lambda line: min(x for x, _ in line.baseline))
        joined = mend.joined_line(left, right)
        first.boundary, first.baseline = joined.boundary, joined.baseline
        if first.text and second.text:
            # One space where they join, however many their ends had (imported lines often end in one).
            first.text = f"{first.text.rstrip()} {second.text.lstrip()}"
            first.status, first.resp, first.cert = "corrected", manuscript.source("transcription", who).id, None
        elif second.text:
            first.text, first.status, first.resp, first.cert = second.text, second.status, second.resp, second.cert
        page.lines.remove(second)
        merged.append(first)
        return {first.id, second.id}

    change_page(edition, manuscript_id, transcription.page_number(manuscript_id, line_ids[0]), who, "merge", change)
    return merged[0]


def split_line(
    edition: Edition,
    manuscript_id: str,
    line_id: str,
    texts: tuple[str, str],
    who: str,
    version: str,
    at: Point | None = None,
) -> tuple[Line, Line]:
    """Cut a line in two at ``at`` (a point on or near its baseline; by default where the
    text is cut, in proportion); ``texts`` are the two halves of its text (TEI fragments),
    which together must hold every character it had. The left part keeps the id."""
    halves: list[Line] = []

    def change(page: Page, manuscript: Manuscript, ids: LineIds) -> set[str]:
        line = transcription.line_on(page, manuscript_id, line_id)
        transcription.check_version(edition, manuscript_id, line, version)
        _check_halves(line.text, texts)
        baseline = LineString(line.baseline)
        if at is None:
            written = len(diplomatic_text(line.text).strip())
            share = len(diplomatic_text(texts[0]).strip()) / written if written else 0.5
            distance = baseline.length * min(max(share, 0.1), 0.9)
        else:
            if not all(math.isfinite(value) for value in at):
                raise LayoutError("split-point", "the split point must be a point on the page", line_id)
            distance = baseline.project(ShapelyPoint(at))
        if not SPLIT_MARGIN * baseline.length < distance < (1 - SPLIT_MARGIN) * baseline.length:
            raise LayoutError("split-point", "the split point must lie within the line, not at its ends", line_id)
        left_base = geometry.points_of(substring(baseline, 0, distance))
        right_base = geometry.points_of(substring(baseline, distance, baseline.length))
        left_shape, right_shape = geometry.cut(geometry.polygon(line.boundary), baseline, distance)
        # The right part is a new line: the same type, but no id in the tool the line came from.
        right = Line(ids.line(), [], right_base, region=line.region, kind=line.kind)
        right.boundary = geometry.outline(right_shape, right_base) or geometry.band(right_base, page.lines, page.height)
        left = geometry.outline(left_shape, left_base) or geometry.band(left_base, page.lines, page.height)
        line.boundary, line.baseline = left, left_base
        line.text, right.text = texts
        right.status, right.resp, right.cert = line.status, line.resp, line.cert
        for part in (line, right):
            if not part.text:
                part.status, part.resp, part.cert = None, None, None
        page.lines.insert(page.lines.index(line) + 1, right)
        halves.extend((line, right))
        return {line.id, right.id}

    change_page(edition, manuscript_id, transcription.page_number(manuscript_id, line_id), who, "split", change)
    return halves[0], halves[1]


def move_line(
    edition: Edition,
    manuscript_id: str,
    line_id: str,
    who: str,
    region: str | None = None,
    index: int | None = None,
) -> None:
    """Put a line in another region (``region``; it goes after that region's lines above
    it), or at another place in the reading order (``index``, 0-based)."""

    def change(page: Page, manuscript: Manuscript, ids: LineIds) -> set[str]:
        line = transcription.line_on(page, manuscript_id, line_id)
        page.lines.remove(line)
        if region is not None:
            if region not in {r.id for r in page.regions}:
                raise LayoutError("region", f"page {page.n} has no region {region}")
            line.region = region
            page.lines.insert(geometry.reading_position(page.lines, line), line)
        else:
            page.lines.insert(min(max(index or 0, 0), len(page.lines)), line)
        return {line_id}

    if (region is None) == (index is None):
        raise ValueError("move a line either to a region or to a place in the reading order")
    change_page(
        edition,
        manuscript_id,
        transcription.page_number(manuscript_id, line_id),
        who,
        "move" if region else "reorder",
        change,
    )


def undo(edition: Edition, manuscript_id: str, page_n: str, who: str) -> Record:
    """Undo ``who``'s latest change to the page's segmentation that is not undone yet."""
    undone: list[Record] = []

    def change(page: Page, manuscript: Manuscript, ids: LineIds) -> set[str]:
        records = list(LayoutLog(edition.layout_dir).records(manuscript_id, page_n))
        done = {record.undoes for record in records if record.undoes}
        mine = [r for r in records if r.who == who and r.action != "undo" and r.id not in done]
        if not mine:
            raise LayoutError("nothing-to-undo", "nothing to undo on this page")
        record = mine[-1]
        current = {line.id: line for line in page.lines}
        for line in record.after:
            now_line = current.get(line.id)
            if now_line is None:
                raise LayoutError(
                    "undo-removed", f"cannot undo: line {line.id} was removed since; undo that first", line.id
                )
            if _state(now_line) != _state(line):
                raise LayoutError(
                    "undo-changed", f"cannot undo: line {line.id} was changed since; undo or revert that first", line.id
                )
        if record.regions_after is not None and page.regions != record.regions_after:
            raise LayoutError("undo-regions", "cannot undo: the page's regions were changed since")
        after_ids = {line.id for line in record.after}
        if any(placed.line.id in current and placed.line.id not in after_ids for placed in record.before):
            raise LayoutError("undo-back", "cannot undo: a line it would bring back is on the page again")
        page.lines = [line for line in page.lines if line.id not in after_ids]
        if record.regions_before is not None:
            page.regions = [region.copy() for region in record.regions_before]
        regions = {region.id for region in page.regions}
        for placed in sorted(record.before, key=lambda placed: placed.index):
            line = placed.line.copy()
            if line.region is not None and line.region not in regions:
                # Its region went with a later re-segmentation: it joins the one it lies in
                # (a line that was in no region stays in none, as it was).
                line.region = geometry.region_containing(page.regions, geometry.polygon(line.boundary))
            page.lines.insert(min(placed.index, len(page.lines)), line)
        undone.append(record)
        return after_ids | {placed.line.id for placed in record.before}

    change_page(edition, manuscript_id, page_n, who, "undo", change, undoes=lambda: undone[0].id)
    return undone[0]


def resegment(
    edition: Edition,
    manuscript_id: str,
    page_n: str,
    layout: Layout,
    who: str,
    mode: str = "replace",
    source: str | None = None,
    version: str | None = None,
) -> MergeReport:
    """Put a new segmentation of a page (kraken's, mended) onto it, in ``mode`` (see
    layout/merge.py), as one change that its author can undo.

    ``version`` (``transcription.page_version``) is the page as the segmentation's job saw
    it: if the page changed since, nothing is saved (``transcription.PageChanged``)."""
    if mode not in MODES:
        raise WorkbenchError(f"unknown segmentation mode {mode!r}: use {' or '.join(MODES)}")
    reports: list[MergeReport] = []

    def change(page: Page, manuscript: Manuscript, ids: LineIds) -> None:
        if version is not None and transcription.page_version(page) != version:
            # Checked under the manuscript's lock, inside the save: nothing can come between.
            raise transcription.PageChanged(f"page {page_n} of {manuscript_id} changed since the job started")
        reports.append(MODES[mode](page, layout, ids))
        return None  # the whole page, regions included

    change_page(
        edition, manuscript_id, page_n, who, "resegment", change, source=source, unmapped=lambda: reports[0].unmapped
    )
    return reports[0]


def unmapped_lines(edition: Edition, manuscript_id: str, page: Page) -> list[str]:
    """Transcribed lines the page's latest re-segmentation could not map onto a new line,
    still on the page as they were then: what an editor should look at."""
    latest = None
    for record in LayoutLog(edition.layout_dir).records(manuscript_id, page.n):
        if record.action == "resegment":
            latest = record
    if latest is None:
        return []
    kept = {line.id: _state(line) for line in latest.after if line.id in latest.unmapped}
    return [line.id for line in page.lines if line.id in kept and _state(line) == kept[line.id]]


# -- helpers ----------------------------------------------------------------------


def change_page(
    edition: Edition,
    manuscript_id: str,
    page_n: str,
    who: str,
    action: str,
    change: Callable[[Page, Manuscript, LineIds], set[str] | None],
    *,
    source: str | None = None,
    undoes: Callable[[], str] | None = None,
    unmapped: Callable[[], list[str]] | None = None,
) -> Record:
    """Change a page's segmentation in one save, and log it so that it can be undone.

    The one way the layout of a page changes after it was first made: the hand
    corrections here and a re-segmentation (htr/pipeline.py). ``change`` gets the page,
    its manuscript and the page's id allocator, and returns the ids of the lines it
    touched, or None when it replaced the whole page (its regions too).
    ``undoes`` and ``unmapped`` are asked after the change, for the log.
    """
    with edition.edit(manuscript_id, who, source, pages=[page_n]) as manuscript:
        page = manuscript.page(page_n)
        before = [Placed(k, line.copy()) for k, line in enumerate(page.lines)]
        regions_before = [region.copy() for region in page.regions]
        touched = change(page, manuscript, LayoutLog(edition.layout_dir).ids_for(manuscript_id, page))
        whole = touched is None
        record = Record(
            uuid.uuid4().hex,
            now(),
            who,
            page_n,
            action,
            [placed for placed in before if whole or placed.line.id in touched],
            [line.copy() for line in page.lines if whole or line.id in touched],
            regions_before=regions_before if whole else None,
            regions_after=[region.copy() for region in page.regions] if whole else None,
            undoes=undoes() if undoes else None,
            unmapped=unmapped() if unmapped else [],
        )
    # After the save: a record of a change that failed validation would offer a false undo.
    LayoutLog(edition.layout_dir).append(manuscript_id, record)
    return record


def _check_halves(text: str, halves: tuple[str, str]) -> None:
    """The two halves of a split must hold exactly the line's characters (spaces aside)."""
    for plain in (diplomatic_text, reading_text):
        if _squashed(plain(halves[0]) + plain(halves[1])) != _squashed(plain(text)):
            raise LayoutError("split-text", "the two parts of a split must together hold the line's whole text")


def _squashed(text: str) -> str:
    return "".join(text.split())


def _state(line: Line) -> tuple:
    return (line.text, line.status, line.region, list(line.boundary), list(line.baseline))
