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

import json
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import median

from shapely.geometry import LineString, Polygon
from shapely.geometry import Point as ShapelyPoint
from shapely.ops import substring

from workbench import editing, postprocess, tei
from workbench.edition import Edition, now
from workbench.layout import polygon, reading_position
from workbench.model import Line, Manuscript, Page, Point, Region, WorkbenchError

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


@dataclass
class Placed:
    """A line and its place in the page's reading order (0-based)."""

    index: int
    line: Line


@dataclass
class Record:
    """One change to a page's segmentation, as the layout log keeps it."""

    id: str
    time: str
    who: str
    page: str
    action: str  # delete, add, merge, split, move, reorder, resegment, undo
    before: list[Placed]  # the lines the change touched, as they were
    after: list[Line]  # the same lines (and new ones) as they became
    regions_before: list[Region] | None = None  # the page's regions, when the change replaced them
    regions_after: list[Region] | None = None
    undoes: str | None = None  # for an undo: the record it undid
    unmapped: list[str] = field(default_factory=list)  # resegment: transcribed lines no new line matched


class LayoutLog:
    """The layout log: one JSON Lines file per page (``<manuscript>/<page>.jsonl``),
    appended, never rewritten. Per page, so that showing or changing a page reads only
    its own history, however large the manuscript."""

    def __init__(self, folder: Path):
        self.folder = folder

    @classmethod
    def of(cls, edition: Edition) -> LayoutLog:
        return cls(edition.state_dir / "layout")

    def path(self, manuscript_id: str, page_n: str) -> Path:
        return self.folder / manuscript_id / f"{page_n}.jsonl"

    def append(self, manuscript_id: str, record: Record) -> None:
        path = self.path(manuscript_id, record.page)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(asdict(record), ensure_ascii=False) + "\n")
            log.flush()
            os.fsync(log.fileno())

    def records(self, manuscript_id: str, page_n: str) -> Iterator[Record]:
        path = self.path(manuscript_id, page_n)
        if not path.exists():
            return
        with open(path, encoding="utf-8") as log:
            for raw in log:
                try:
                    record = _record(json.loads(raw))
                except (ValueError, TypeError, KeyError):
                    continue  # a line torn by a crash mid-append; the ones before it stand
                yield record


# -- the changes ------------------------------------------------------------------


def delete_line(edition: Edition, manuscript_id: str, line_id: str, who: str, version: str) -> None:
    """Take a line out of the page; its text stays in the journal and comes back with undo."""

    def change(page: Page, manuscript: Manuscript) -> set[str]:
        line = editing.line_on(page, manuscript_id, line_id)
        editing.check_version(edition, manuscript_id, line, version)
        page.lines.remove(line)
        return {line_id}

    _change(edition, manuscript_id, editing.page_number(manuscript_id, line_id), who, "delete", change)


def add_line(edition: Edition, manuscript_id: str, page_n: str, baseline: list[Point], who: str) -> Line:
    """A new, empty line on ``baseline`` (points in page pixels, in writing order).

    Its polygon is a band around the baseline as high as the page's other lines reach
    above and below theirs; its region is the one it lies in; it takes its place in
    the reading order after the lines above it.
    """
    added: list[Line] = []

    def change(page: Page, manuscript: Manuscript) -> set[str]:
        points = [(min(max(round(x), 0), page.width), min(max(round(y), 0), page.height)) for x, y in baseline]
        points = [point for k, point in enumerate(points) if k == 0 or point != points[k - 1]]
        if len(points) < 2:
            raise LayoutError("baseline", "a baseline needs at least two different points on the page")
        line = Line(_new_line_id(edition, manuscript_id, page), band(page, points), points)
        line.region = _region_at(page, points)
        page.lines.insert(reading_position(page.lines, line), line)
        added.append(line)
        return {line.id}

    _change(edition, manuscript_id, page_n, who, "add", change)
    return added[0]


def merge_lines(
    edition: Edition, manuscript_id: str, line_ids: tuple[str, str], who: str, versions: Mapping[str, str]
) -> Line:
    """Two lines become one: the first in reading order keeps its id and gets both texts,
    joined by a space; their baselines and polygons are joined end to end."""
    merged: list[Line] = []

    def change(page: Page, manuscript: Manuscript) -> set[str]:
        if line_ids[0] == line_ids[1]:
            raise LayoutError("same-line", "choose two different lines to merge")
        first, second = sorted(
            (editing.line_on(page, manuscript_id, line_id) for line_id in line_ids), key=page.lines.index
        )
        for line in (first, second):
            editing.check_version(edition, manuscript_id, line, versions.get(line.id, ""))
        left, right = sorted((first, second), key=lambda line: min(x for x, _ in line.baseline))
        joined = postprocess.joined_line(left, right)
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

    _change(edition, manuscript_id, editing.page_number(manuscript_id, line_ids[0]), who, "merge", change)
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

    def change(page: Page, manuscript: Manuscript) -> set[str]:
        line = editing.line_on(page, manuscript_id, line_id)
        editing.check_version(edition, manuscript_id, line, version)
        _check_halves(line.text, texts)
        baseline = LineString(line.baseline)
        if at is None:
            written = len(tei.diplomatic_text(line.text).strip())
            share = len(tei.diplomatic_text(texts[0]).strip()) / written if written else 0.5
            distance = baseline.length * min(max(share, 0.1), 0.9)
        else:
            distance = baseline.project(ShapelyPoint(at))
        if not SPLIT_MARGIN * baseline.length < distance < (1 - SPLIT_MARGIN) * baseline.length:
            raise LayoutError("split-point", "the split point must lie within the line, not at its ends", line_id)
        left_base = _points(substring(baseline, 0, distance))
        right_base = _points(substring(baseline, distance, baseline.length))
        left_shape, right_shape = _cut(polygon(line.boundary), baseline, distance)
        # The right part is a new line: the same type, but no id in the tool the line came from.
        right = Line(_new_line_id(edition, manuscript_id, page), [], right_base, region=line.region, kind=line.kind)
        right.boundary = _outline(right_shape, right_base) or band(page, right_base)
        line.boundary, line.baseline = _outline(left_shape, left_base) or band(page, left_base), left_base
        line.text, right.text = texts
        right.status, right.resp, right.cert = line.status, line.resp, line.cert
        for part in (line, right):
            if not part.text:
                part.status, part.resp, part.cert = None, None, None
        page.lines.insert(page.lines.index(line) + 1, right)
        halves.extend((line, right))
        return {line.id, right.id}

    _change(edition, manuscript_id, editing.page_number(manuscript_id, line_id), who, "split", change)
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

    def change(page: Page, manuscript: Manuscript) -> set[str]:
        line = editing.line_on(page, manuscript_id, line_id)
        page.lines.remove(line)
        if region is not None:
            if region not in {r.id for r in page.regions}:
                raise LayoutError("region", f"page {page.n} has no region {region}")
            line.region = region
            page.lines.insert(reading_position(page.lines, line), line)
        else:
            page.lines.insert(min(max(index or 0, 0), len(page.lines)), line)
        return {line_id}

    if (region is None) == (index is None):
        raise ValueError("move a line either to a region or to a place in the reading order")
    _change(
        edition,
        manuscript_id,
        editing.page_number(manuscript_id, line_id),
        who,
        "move" if region else "reorder",
        change,
    )


def undo(edition: Edition, manuscript_id: str, page_n: str, who: str) -> Record:
    """Undo ``who``'s latest change to the page's segmentation that is not undone yet."""
    log = LayoutLog.of(edition)
    undone: list[Record] = []

    def change(page: Page, manuscript: Manuscript) -> set[str]:
        records = list(log.records(manuscript_id, page_n))
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
        for placed in sorted(record.before, key=lambda placed: placed.index):
            page.lines.insert(min(placed.index, len(page.lines)), placed.line.copy())
        if record.regions_before is not None:
            page.regions = [region.copy() for region in record.regions_before]
        undone.append(record)
        return after_ids | {placed.line.id for placed in record.before}

    _change(edition, manuscript_id, page_n, who, "undo", change, undoes=lambda: undone[0].id)
    return undone[0]


def log_resegmentation(
    edition: Edition, manuscript_id: str, before: Page, after: Page, who: str, unmapped: list[str]
) -> None:
    """Log a re-segmentation (the whole page's lines and regions), so that it can be undone."""
    record = Record(
        uuid.uuid4().hex,
        now(),
        who,
        after.n,
        "resegment",
        [Placed(k, line.copy()) for k, line in enumerate(before.lines)],
        [line.copy() for line in after.lines],
        regions_before=[region.copy() for region in before.regions],
        regions_after=[region.copy() for region in after.regions],
        unmapped=unmapped,
    )
    LayoutLog.of(edition).append(manuscript_id, record)


def unmapped_lines(edition: Edition, manuscript_id: str, page: Page) -> list[str]:
    """Transcribed lines the page's latest re-segmentation could not map onto a new line,
    still on the page as they were then: what an editor should look at."""
    latest = None
    for record in LayoutLog.of(edition).records(manuscript_id, page.n):
        if record.action == "resegment":
            latest = record
    if latest is None:
        return []
    kept = {line.id: _state(line) for line in latest.after if line.id in latest.unmapped}
    return [line.id for line in page.lines if line.id in kept and _state(line) == kept[line.id]]


# -- geometry ---------------------------------------------------------------------


def band(page: Page, baseline: list[Point]) -> list[Point]:
    """A polygon around ``baseline`` reaching as far above and below it as the page's
    other lines reach around theirs (the median), or a share of the line spacing."""
    above, below = [], []
    for line in page.lines:
        if len(line.baseline) >= 2 and len(line.boundary) >= 3:
            y = sum(y for _, y in line.baseline) / len(line.baseline)
            above.append(y - min(y for _, y in line.boundary))
            below.append(max(y for _, y in line.boundary) - y)
    if above:
        up, down = median(above), median(below)
    else:
        spacing = postprocess.baseline_spacing([line.baseline for line in page.lines]) or page.height / 30
        up, down = 0.7 * spacing, 0.25 * spacing
    up, down = max(up, 4), max(down, 2)
    top = [(x, round(max(0, y - up))) for x, y in baseline]
    bottom = [(x, round(min(page.height, y + down))) for x, y in reversed(baseline)]
    shape = polygon(top + bottom)
    if shape.geom_type != "Polygon":
        shape = shape.convex_hull
    return _points(shape.exterior)


def _cut(shape, baseline: LineString, distance: float) -> tuple:
    """``shape`` cut in two across the baseline at ``distance`` along it."""
    (x, y) = baseline.interpolate(distance).coords[0]
    (ax, ay) = baseline.interpolate(max(distance - 1, 0)).coords[0]
    (bx, by) = baseline.interpolate(min(distance + 1, baseline.length)).coords[0]
    dx, dy = bx - ax, by - ay
    norm = (dx * dx + dy * dy) ** 0.5 or 1.0
    dx, dy = dx / norm, dy / norm
    reach = 10 * (shape.length + baseline.length)
    # Everything behind the cut (against the writing direction) is the left part.
    behind = Polygon(
        [
            (x - dy * reach, y + dx * reach),
            (x + dy * reach, y - dx * reach),
            (x + dy * reach - dx * reach, y - dx * reach - dy * reach),
            (x - dy * reach - dx * reach, y + dx * reach - dy * reach),
        ]
    )
    return shape.intersection(behind), shape.difference(behind)


def _outline(shape, baseline: list[Point]) -> list[Point] | None:
    """The outline of the part of ``shape`` along ``baseline`` (None if there is none)."""
    parts = [shape] if shape.geom_type == "Polygon" else [g for g in getattr(shape, "geoms", []) if g.area]
    parts = [part for part in parts if not part.is_empty and part.area]
    if not parts:
        return None
    line = LineString(baseline)
    best = max(parts, key=lambda part: (part.buffer(2).intersection(line).length, part.area))
    points = _points(best.exterior)
    return points if len(set(points)) >= 3 else None


def _points(geometry) -> list[Point]:
    return [(round(x), round(y)) for x, y in geometry.coords]


# -- helpers ----------------------------------------------------------------------


def _change(
    edition: Edition,
    manuscript_id: str,
    page_n: str,
    who: str,
    action: str,
    change: Callable[[Page, Manuscript], set[str]],
    undoes: Callable[[], str] | None = None,
) -> None:
    """Apply ``change`` to the page in one save, and log the lines it touched (the ids it returns)."""
    log = LayoutLog.of(edition)
    with edition.edit(manuscript_id, who, pages=[page_n]) as manuscript:
        page = manuscript.page(page_n)
        before = [Placed(k, line.copy()) for k, line in enumerate(page.lines)]
        touched = change(page, manuscript)
        record = Record(
            uuid.uuid4().hex,
            now(),
            who,
            page_n,
            action,
            [placed for placed in before if placed.line.id in touched],
            [line.copy() for line in page.lines if line.id in touched],
            undoes=undoes() if undoes else None,
        )
    # After the save: a record of a change that failed validation would offer a false undo.
    log.append(manuscript_id, record)


def _check_halves(text: str, halves: tuple[str, str]) -> None:
    """The two halves of a split must hold exactly the line's characters (spaces aside)."""
    for plain in (tei.diplomatic_text, tei.reading_text):
        if _squashed(plain(halves[0]) + plain(halves[1])) != _squashed(plain(text)):
            raise LayoutError("split-text", "the two parts of a split must together hold the line's whole text")


def _squashed(text: str) -> str:
    return "".join(text.split())


def _new_line_id(edition: Edition, manuscript_id: str, page: Page) -> str:
    """A line id never used on the page before, so no two lines ever share a history."""
    used = [page.next_line_number()]
    for record in LayoutLog.of(edition).records(manuscript_id, page.n):
        for line in record.after + [placed.line for placed in record.before]:
            number = line.id.rsplit("_l", 1)[-1]
            if number.isdigit():
                used.append(int(number) + 1)
    return f"{page.id}_l{max(used)}"


def _region_at(page: Page, baseline: list[Point]) -> str | None:
    middle = LineString(baseline).interpolate(0.5, normalized=True)
    for region in page.regions:
        if len(region.boundary) >= 3 and polygon(region.boundary).buffer(2).contains(middle):
            return region.id
    return None


def _state(line: Line) -> tuple:
    return (line.text, line.status, line.region, list(line.boundary), list(line.baseline))


def _record(data: dict) -> Record:
    def line(value: dict) -> Line:
        value = dict(value)
        value["boundary"] = [tuple(p) for p in value["boundary"]]
        value["baseline"] = [tuple(p) for p in value["baseline"]]
        return Line(**value)

    def regions(values: list[dict] | None) -> list[Region] | None:
        if values is None:
            return None
        return [
            Region(v["id"], [tuple(p) for p in v["boundary"]], v.get("kind", "text"), v.get("source_id"))
            for v in values
        ]

    return Record(
        data["id"],
        data["time"],
        data["who"],
        data["page"],
        data["action"],
        [Placed(p["index"], line(p["line"])) for p in data["before"]],
        [line(value) for value in data["after"]],
        regions(data.get("regions_before")),
        regions(data.get("regions_after")),
        data.get("undoes"),
        data.get("unmapped", []),
    )
