"""Geometry of lines on a page: polygons, bands around baselines, cuts, line spacing,
and where a line falls in the reading order.

Points are whole pixels of the page image, ``(x, y)`` with y downwards. Shapely does
the polygon arithmetic; this module is the one place that turns our point lists into
shapes and back.
"""

from __future__ import annotations

import math
import re
from statistics import median

from shapely.geometry import LineString, Polygon
from shapely.validation import make_valid

from workbench.model import Line, Page, Point, Region

# Baselines closer than this in height are side by side (two columns), not two levels.
SAME_LEVEL = 5


def polygon(points: list[Point]) -> Polygon:
    """The shape ``points`` outline, made valid if it crosses itself (then it may be a collection)."""
    shape = Polygon(points)
    return shape if shape.is_valid else make_valid(shape)


def solid_polygon(points: list[Point]) -> Polygon:
    """Like ``polygon``, but always one polygon (the convex hull of a collection; empty for < 3 points)."""
    shape = polygon(points) if len(points) >= 3 else Polygon()
    return shape if shape.geom_type == "Polygon" else shape.convex_hull


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def parse_points(value: str | None) -> list[Point]:
    """``x,y x,y`` (TEI, PAGE, ALTO) or ``x y x y`` (ALTO as eScriptorium writes it) as whole pixels."""
    numbers = [round(float(n)) for n in _NUMBER.findall(value or "")]
    return list(zip(numbers[0::2], numbers[1::2], strict=False))


def points_of(geometry) -> list[Point]:
    """A shapely geometry's coordinates (an exterior, a line) as whole pixels."""
    return [(round(x), round(y)) for x, y in geometry.coords]


def iou(a: Polygon, b: Polygon) -> float:
    """Intersection over union of two shapes (0 when they do not touch)."""
    if not a.intersects(b):
        return 0.0
    inter = a.intersection(b).area
    union = a.area + b.area - inter
    return inter / union if union else 0.0


def box(points: list[Point]) -> list[Point]:
    """The axis-parallel rectangle around ``points``."""
    xs, ys = [x for x, _ in points], [y for _, y in points]
    return [(min(xs), min(ys)), (max(xs), min(ys)), (max(xs), max(ys)), (min(xs), max(ys))]


def clip(points, width: int, height: int) -> list[Point]:
    """``points`` (any numbers) rounded and moved onto a ``width`` × ``height`` page."""
    return [(min(max(int(round(x)), 0), width), min(max(int(round(y)), 0), height)) for x, y in points]


def baseline_spacing(baselines: list[list[Point]]) -> float | None:
    """The median vertical distance between neighbouring baselines; None with fewer than two lines.

    Baselines less than ``SAME_LEVEL`` px apart in height (side by side, in two columns) are one level.
    """
    heights = sorted(sum(y for _, y in baseline) / len(baseline) for baseline in baselines if len(baseline) >= 2)
    gaps = [b - a for a, b in zip(heights, heights[1:], strict=False) if b - a > SAME_LEVEL]
    return median(gaps) if gaps else None


def line_extents(lines: list[Line], page_height: int) -> tuple[float, float]:
    """How far a line reaches above and below its baseline on this page.

    The median of the page's lines that have a baseline and a polygon; without any,
    a share of the line spacing (the body of a letter sits above its baseline); and
    without a spacing either, a share of the page's height.
    """
    above, below = [], []
    for line in lines:
        if len(line.baseline) >= 2 and len(line.boundary) >= 3:
            y = sum(y for _, y in line.baseline) / len(line.baseline)
            above.append(y - min(y for _, y in line.boundary))
            below.append(max(y for _, y in line.boundary) - y)
    if above:
        up, down = median(above), median(below)
    else:
        spacing = baseline_spacing([line.baseline for line in lines]) or page_height / 30
        up, down = 0.7 * spacing, 0.25 * spacing
    return max(up, 4), max(down, 2)


def band(
    baseline: list[Point], lines: list[Line], page_height: int, extents: tuple[float, float] | None = None
) -> list[Point]:
    """A polygon around ``baseline`` for a line known only by it (drawn by hand, or whose
    polygon a segmenter or a file did not give): as far above and below it as ``lines``,
    the page's other lines, reach around theirs (``line_extents``). ``extents``: those
    reaches computed once already, for a caller drawing many bands on one page (each
    computation reads every line of the page)."""
    up, down = extents or line_extents(lines, page_height)
    top = [(x, round(max(0, y - up))) for x, y in baseline]
    bottom = [(x, round(min(page_height, y + down))) for x, y in reversed(baseline)]
    shape = polygon(top + bottom)
    if shape.geom_type != "Polygon":
        shape = shape.convex_hull
    return points_of(shape.exterior)


def long_axis(polygon: list[Point]) -> list[Point]:
    """A baseline for a line that has none: the polygon's long axis through its middle, left to right.

    The axis is the principal axis of the polygon's points, so a slanted line gets a
    slanted baseline; it runs between the two outermost points where it crosses the
    polygon's edge. Empty if the polygon is a single point.
    """
    n = len(polygon)
    cx, cy = sum(x for x, _ in polygon) / n, sum(y for _, y in polygon) / n
    sxx = sum((x - cx) ** 2 for x, _ in polygon)
    syy = sum((y - cy) ** 2 for _, y in polygon)
    sxy = sum((x - cx) * (y - cy) for x, y in polygon)
    angle = 0.5 * math.atan2(2 * sxy, sxx - syy)
    dx, dy = math.cos(angle), math.sin(angle)

    def along(x: float, y: float) -> float:
        return (x - cx) * dx + (y - cy) * dy

    def across(x: float, y: float) -> float:
        return (y - cy) * dx - (x - cx) * dy

    crossings = []
    for (x1, y1), (x2, y2) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        d1, d2 = across(x1, y1), across(x2, y2)
        if d1 == d2 == 0:
            crossings += [along(x1, y1), along(x2, y2)]
        elif (d1 <= 0 <= d2) or (d2 <= 0 <= d1):
            share = d1 / (d1 - d2)
            crossings.append(along(x1 + (x2 - x1) * share, y1 + (y2 - y1) * share))
    if not crossings:  # the middle of the points lies outside the polygon: span the points instead
        crossings = [along(x, y) for x, y in polygon]
    ends = sorted((round(cx + t * dx), round(cy + t * dy)) for t in (min(crossings), max(crossings)))
    return ends if ends[0] != ends[1] else []


def cut(shape, baseline: LineString, distance: float) -> tuple:
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


def outline(shape, baseline: list[Point]) -> list[Point] | None:
    """The outline of the part of ``shape`` along ``baseline`` (None if there is none)."""
    parts = [shape] if shape.geom_type == "Polygon" else [g for g in getattr(shape, "geoms", []) if g.area]
    parts = [part for part in parts if not part.is_empty and part.area]
    if not parts:
        return None
    line = LineString(baseline)
    best = max(parts, key=lambda part: (part.buffer(2).intersection(line).length, part.area))
    points = points_of(best.exterior)
    return points if len(set(points)) >= 3 else None


def region_containing(regions: list[Region], shape: Polygon) -> str | None:
    """The region in which ``shape``'s centre lies."""
    centre = shape.centroid
    for region in regions:
        if polygon(region.boundary).contains(centre):
            return region.id
    return None


def region_at(page: Page, baseline: list[Point]) -> str | None:
    """The region in which the middle of ``baseline`` lies (give or take 2 px)."""
    middle = LineString(baseline).interpolate(0.5, normalized=True)
    for region in page.regions:
        if len(region.boundary) >= 3 and polygon(region.boundary).buffer(2).contains(middle):
            return region.id
    return None


def reading_position(lines: list[Line], line: Line) -> int:
    """Where ``line`` goes in the reading order ``lines``: after the last line of its
    region (of the page, if its region has none) that lies above it."""
    same = [k for k, other in enumerate(lines) if other.region == line.region] or list(range(len(lines)))
    if not same:
        return 0
    y = baseline_y(line)
    above = [k for k in same if baseline_y(lines[k]) <= y]
    return above[-1] + 1 if above else same[0]


def baseline_y(line: Line) -> float:
    """The mean height of a line's baseline (of its polygon, if it has no baseline)."""
    points = line.baseline or line.boundary
    return sum(y for _, y in points) / len(points)
