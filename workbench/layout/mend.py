"""After kraken, before saving: mending the lines kraken's bundled model gets wrong.

On handwriting the model often returns one written line as two or three pieces,
and takes specks for lines. Each step here is switchable (``STEPS``) and measured
by ``workbench eval-seg`` against real ground truth (README, "Segmentation quality"):

- ``join``: pieces of one written line (one after the other, at the same height, a
  gap shorter than two line spacings, in the same region, not across a gutter between
  columns) become one line, in its longer piece's place in reading order;
- ``specks``: lines shorter than the page's line spacing are dropped (nobody writes a
  line shorter than the distance between two lines; a dot or a blot does), except a
  page or folio number: a short line above the text's first whole line, at least a
  third of a line spacing long (one written digit is about that wide; the bits of
  border decoration kraken takes for lines up there are narrower).

Distances are relative to the page's own line spacing (the median distance between
neighbouring baselines), so they hold at any resolution.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from shapely.geometry import LineString, MultiPoint, Polygon
from shapely.ops import unary_union

from workbench.layout.geometry import baseline_spacing, solid_polygon
from workbench.model import Line, Point

STEPS = ("join", "specks")
# A piece joins the one before it when it starts within this many line spacings after
# it ends, and no more than this fraction of a line spacing above or below it.
# A space between words is about the height of a small letter, a third to half a line
# spacing; kraken leaves wider gaps where it misses a faint word or a flourish (up to
# 1.6 line spacings among the joins on the ground truth that were one line). Two line
# spacings are four to six word spaces: wider is layout, such as a date and the
# signature beside it at the end of a letter (2.5 line spacings apart on the ground
# truth; joined when the limit was 3, which cost both lines).
JOIN_GAP = 2.0
JOIN_HEIGHT = 0.3
# Never across a gutter: a gap that no line within this many line spacings above or
# below runs across, with at least this many whole lines ending before it and starting
# after it (see _in_gutter).
GUTTER_REACH = 3.0
GUTTER_LINES = 2
# A page number above the text is kept when at least this many line spacings long.
NUMBER_LENGTH = 1 / 3
DEFAULT_SPACING = 50.0


@dataclass
class Mended:
    lines: list[Line]
    joined: int = 0  # pieces joined onto the line before them
    dropped: list[str] = field(default_factory=list)  # ids of the specks left out


def mend(lines: list[Line], steps: tuple[str, ...] = STEPS) -> Mended:
    """``lines`` (in reading order) with the chosen steps applied."""
    unknown = set(steps) - set(STEPS)
    if unknown:
        raise ValueError(f"unknown post-processing step(s) {sorted(unknown)}; steps are {', '.join(STEPS)}")
    spacing = baseline_spacing([line.baseline for line in lines]) or DEFAULT_SPACING
    result = Mended(list(lines))
    if "join" in steps:
        result.lines, result.joined = _join(result.lines, spacing)
    if "specks" in steps:
        kept = _without_specks(result.lines, spacing)
        result.dropped = [line.id for line in result.lines if line not in kept]
        result.lines = kept
    return result


def _without_specks(lines: list[Line], spacing: float) -> list[Line]:
    whole = [line for line in lines if _length(line) >= spacing]
    text_top = min((y for line in whole for _, y in line.baseline), default=None)
    return [
        line
        for line in lines
        if line in whole
        or (
            text_top is not None
            and _length(line) >= NUMBER_LENGTH * spacing
            and max(y for _, y in line.baseline) < text_top
        )
    ]


def _join(lines: list[Line], spacing: float) -> tuple[list[Line], int]:
    lines = list(lines)
    joined = 0
    while True:
        pair = _next_pair(lines, spacing)
        if pair is None:
            return lines, joined
        left, right = pair
        line = joined_line(left, right)
        # The joined line stands where its longer piece stood: kraken places a line's
        # main part well in reading order, but a short piece (an initial, a last word
        # split off) can land anywhere, often after the lines below it. Except where the
        # shorter piece's place puts fewer lines of the same column out of top-to-bottom
        # order: kraken sometimes takes a page split down the middle for two columns and
        # lists all the left halves before the right halves, longer or not.
        longer, shorter = (left, right) if _length(left) >= _length(right) else (right, left)
        orders = []
        for kept, gone in ((longer, shorter), (shorter, longer)):  # min() keeps the first on a tie
            order = [other for other in lines if other is not gone]
            index = order.index(kept)
            order[index] = line
            orders.append((_out_of_order(order, index), order))
        lines = min(orders, key=lambda scored: scored[0])[1]
        joined += 1


def _out_of_order(lines: list[Line], index: int) -> int:
    """How many lines above or below ``lines[index]`` and overlapping it across the page
    (in the same column) stand on the wrong side of it in ``lines``."""
    line = lines[index]
    left, right = min(x for x, _ in line.baseline), max(x for x, _ in line.baseline)
    height = _height(line)
    wrong = 0
    for place, other in enumerate(lines):
        if place == index or len(other.baseline) < 2:
            continue
        if max(x for x, _ in other.baseline) < left or min(x for x, _ in other.baseline) > right:
            continue
        wrong += (place < index and _height(other) > height) or (place > index and _height(other) < height)
    return wrong


def _height(line: Line) -> float:
    return sum(y for _, y in line.baseline) / len(line.baseline)


def _length(line: Line) -> float:
    return LineString(line.baseline).length if len(line.baseline) >= 2 else 0.0


def _next_pair(lines: list[Line], spacing: float) -> tuple[Line, Line] | None:
    """The closest pair of a line and a piece that continues it, if any."""
    best = None
    for left in lines:
        if len(left.baseline) < 2:
            continue
        end = max(left.baseline)
        for right in lines:
            # Pieces in different regions (or one in a region, the other in none) are
            # never one line: kraken's regions are text blocks, a line does not leave one.
            if right is left or len(right.baseline) < 2 or left.region != right.region:
                continue
            start = min(right.baseline)
            gap = start[0] - end[0]
            if not -0.5 * spacing <= gap <= JOIN_GAP * spacing:
                continue
            if abs(start[1] - end[1]) > JOIN_HEIGHT * spacing:
                continue
            if min(x for x, _ in right.baseline) < min(x for x, _ in left.baseline):
                continue  # not to its right
            if _in_gutter(end, start, [line for line in lines if line is not left and line is not right], spacing):
                continue
            if best is None or gap < best[0]:
                best = (gap, left, right)
    return (best[1], best[2]) if best else None


def _in_gutter(end: Point, start: Point, others: list[Line], spacing: float) -> bool:
    """Whether the gap from ``end`` to ``start`` is a gutter between two columns.

    Within one column, the lines above and below a line split by kraken run across the
    place where it was split. Between two columns (a double page, or a text and what is
    written beside it) no line does: the neighbouring lines end before the gap or start
    after it. So the gap is a gutter when, among the lines within GUTTER_REACH line
    spacings above and below, no whole line (a line spacing long or more: not a speck,
    nor an initial standing apart) runs across the gap's middle while at least
    GUTTER_LINES whole lines end before it and as many start after it. The rule holds
    however narrow the gutter, and whatever regions kraken drew (one spanning both
    columns, or none).
    """
    if start[0] <= end[0]:
        return False
    middle, height = (end[0] + start[0]) / 2, (end[1] + start[1]) / 2
    before = after = 0
    for line in others:
        if _length(line) < spacing or abs(_height(line) - height) > GUTTER_REACH * spacing:
            continue
        xs = [x for x, _ in line.baseline]
        if min(xs) <= middle <= max(xs):
            return False
        before += max(xs) < middle
        after += min(xs) > middle
    return before >= GUTTER_LINES and after >= GUTTER_LINES


def joined_line(left: Line, right: Line) -> Line:
    """One line from two pieces: baselines end to end, polygons joined by a bridge between them."""
    baseline = sorted(left.baseline) + sorted(right.baseline)
    left_shape, right_shape = solid_polygon(left.boundary), solid_polygon(right.boundary)
    end, start = max(left.baseline)[0], min(right.baseline)[0]
    near = [p for p in left.boundary if p[0] >= end - 5] + [p for p in right.boundary if p[0] <= start + 5]
    bridge = MultiPoint(near).convex_hull if len(near) >= 3 else Polygon()
    shape = unary_union([left_shape, right_shape, bridge])
    if shape.geom_type != "Polygon":
        shape = shape.convex_hull
    boundary = [(round(x), round(y)) for x, y in shape.exterior.coords]
    return replace(left, boundary=boundary, baseline=baseline)
