"""After kraken, before saving: mending the lines kraken's bundled model gets wrong.

On handwriting the model often returns one written line as two or three pieces,
and takes specks for lines. Each step here is switchable (``STEPS``) and measured
by ``workbench eval-seg`` against real ground truth (README, "Segmentation quality"):

- ``join``: pieces of one written line (one after the other, at the same height, a
  gap shorter than a few line spacings, in the same region) become one line;
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
from workbench.model import Line

STEPS = ("join", "specks")
# A piece joins the one before it when it starts within this many line spacings after
# it ends, and no more than this fraction of a line spacing above or below it.
JOIN_GAP = 3.0
JOIN_HEIGHT = 0.3
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
    def length(line: Line) -> float:
        return LineString(line.baseline).length if len(line.baseline) >= 2 else 0.0

    whole = [line for line in lines if length(line) >= spacing]
    text_top = min((y for line in whole for _, y in line.baseline), default=None)
    return [
        line
        for line in lines
        if line in whole
        or (
            text_top is not None
            and length(line) >= NUMBER_LENGTH * spacing
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
        lines[lines.index(left)] = joined_line(left, right)
        lines.remove(right)
        joined += 1


def _next_pair(lines: list[Line], spacing: float) -> tuple[Line, Line] | None:
    """The closest pair of a line and a piece that continues it, if any."""
    best = None
    for left in lines:
        if len(left.baseline) < 2:
            continue
        end = max(left.baseline)
        for right in lines:
            if (
                right is left
                or len(right.baseline) < 2
                or (left.region and right.region and left.region != right.region)
            ):
                continue
            start = min(right.baseline)
            gap = start[0] - end[0]
            if not -0.5 * spacing <= gap <= JOIN_GAP * spacing:
                continue
            if abs(start[1] - end[1]) > JOIN_HEIGHT * spacing:
                continue
            if min(x for x, _ in right.baseline) < min(x for x, _ in left.baseline):
                continue  # not to its right
            if best is None or gap < best[0]:
                best = (gap, left, right)
    return (best[1], best[2]) if best else None


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
