"""Putting a new segmentation onto a page without losing its transcription.

Re-segmenting a page that already has text must never drop that text (design.md
§2). Two ways:

- ``merge_layout`` replaces the page's lines. New lines are matched to old ones by
  the overlap of their polygons (intersection over union); a match keeps the old
  line's id, text and status on the new geometry. An old line with text that nothing
  matches stays as it was (it is *unmapped*: reported, and shown to the editor), and
  new lines lying mostly inside such lines are left out rather than doubled.
- ``add_layout`` keeps every line the page has and adds only the new lines that lie
  where there is none.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from shapely.geometry import Polygon
from shapely.ops import unary_union

from workbench.layout import geometry
from workbench.layout.ids import LineIds
from workbench.model import Layout, Line, Page, Region

MATCH_IOU = 0.5
DUPLICATE_SHARE = 0.5


@dataclass
class MergeReport:
    matched: int = 0  # old lines a new one matched: id, text and status carried onto the new geometry
    unmapped: list[str] = field(default_factory=list)  # transcribed lines nothing new matched, kept as they were
    existing: int = 0  # add_layout: the lines the page had, all kept
    added: int = 0  # new lines, with new ids
    removed: int = 0  # old lines without text, replaced by the new segmentation
    duplicates: int = 0  # new lines left out because a kept transcribed line covers them
    repaired: int = 0  # new lines whose polygon was rebuilt from the baseline
    joined: int = 0  # pieces of one written line joined (postprocess.py)
    dropped: int = 0  # specks kraken took for lines, left out (postprocess.py)

    @property
    def kept(self) -> int:
        return len(self.unmapped)

    @property
    def lines(self) -> int:
        return self.matched + self.kept + self.existing + self.added


def merge_layout(page: Page, layout: Layout, ids: LineIds) -> MergeReport:
    """Replace ``page``'s regions and lines by ``layout``'s, keeping every transcribed line;
    new lines and regions take their ids from ``ids``."""
    report = MergeReport(repaired=layout.repaired, joined=layout.joined, dropped=layout.dropped)
    region_ids = _merge_regions(page, layout.regions, ids)

    old_shapes = {line.id: geometry.polygon(line.boundary) for line in page.lines}
    new_shapes = [geometry.polygon(line.boundary) for line in layout.lines]
    pairs = sorted(
        (
            (score, old.id, index)
            for old in page.lines
            for index, shape in enumerate(new_shapes)
            if (score := geometry.iou(old_shapes[old.id], shape)) >= MATCH_IOU
        ),
        reverse=True,
    )
    match: dict[int, Line] = {}
    taken: set[str] = set()
    old_by_id = {line.id: line for line in page.lines}
    for _, old_id, index in pairs:
        if old_id not in taken and index not in match:
            match[index] = old_by_id[old_id]
            taken.add(old_id)

    kept = [line for line in page.lines if line.id not in taken and line.text]
    report.removed = sum(1 for line in page.lines if line.id not in taken and not line.text)
    covered = unary_union([old_shapes[line.id] for line in kept])

    lines: list[Line] = []
    for index, found in enumerate(layout.lines):
        region = region_ids.get(found.region) if found.region else None
        old = match.get(index)
        if old is not None:
            old.boundary, old.baseline, old.region = found.boundary, found.baseline, region
            lines.append(old)
            report.matched += 1
            continue
        if _covered(new_shapes[index], covered):
            report.duplicates += 1
            continue
        lines.append(Line(ids.line(), found.boundary, found.baseline, region=region))
        report.added += 1

    for line in kept:
        line.region = geometry.region_containing(page.regions, old_shapes[line.id])
        lines.insert(geometry.reading_position(lines, line), line)
        report.unmapped.append(line.id)
    page.lines = lines
    return report


def add_layout(page: Page, layout: Layout, ids: LineIds) -> MergeReport:
    """Add ``layout``'s lines where ``page`` has none; every line it has stays as it is.

    A new line's region is the page's region it matches, or a new one.
    """
    report = MergeReport(repaired=layout.repaired, joined=layout.joined, dropped=layout.dropped)
    report.existing = len(page.lines)
    covered = unary_union([geometry.polygon(line.boundary) for line in page.lines])
    old_regions = [(region, geometry.polygon(region.boundary)) for region in page.regions]
    found_regions = {region.id: region for region in layout.regions}
    region_ids: dict[str, str] = {}
    for found in layout.lines:
        if _covered(geometry.polygon(found.boundary), covered):
            report.duplicates += 1
            continue
        region = None
        if found.region in found_regions:
            if found.region not in region_ids:
                new = found_regions[found.region]
                matched = _matching_region(geometry.polygon(new.boundary), old_regions)
                if matched is None:
                    matched = ids.region()
                    page.regions.append(Region(matched, new.boundary, new.kind))
                region_ids[found.region] = matched
            region = region_ids[found.region]
        line = Line(ids.line(), found.boundary, found.baseline, region=region)
        page.lines.insert(geometry.reading_position(page.lines, line), line)
        report.added += 1
    return report


# How a re-segmentation meets the lines a page has (htr/pipeline.py, layout/corrections.py).
MODES = {"replace": merge_layout, "add": add_layout}


def _covered(shape: Polygon, covered) -> bool:
    """Whether most of ``shape`` lies inside ``covered`` (the lines that stay)."""
    return bool(shape.area) and shape.intersection(covered).area / shape.area >= DUPLICATE_SHARE


def _merge_regions(page: Page, found: list[Region], ids: LineIds) -> dict[str, str]:
    """Replace the page's regions, keeping the id of an old region a new one matches."""
    old_shapes = [(region, geometry.polygon(region.boundary)) for region in page.regions]
    # A region that keeps its id keeps the id it was imported with, too: it is the same region.
    source_ids = {region.id: region.source_id for region in page.regions}
    new_ids: dict[str, str] = {}
    regions = []
    used: set[str] = set()
    for region in found:
        new_id = _matching_region(geometry.polygon(region.boundary), old_shapes, used)
        if new_id is None:
            new_id = ids.region()
        used.add(new_id)
        new_ids[region.id] = new_id
        regions.append(Region(new_id, region.boundary, region.kind, source_ids.get(new_id)))
    page.regions = regions
    return new_ids


def _matching_region(shape: Polygon, regions: list[tuple[Region, Polygon]], taken: Collection[str] = ()) -> str | None:
    """The id of the region (not ``taken``) that ``shape`` overlaps most, if by IoU ≥ MATCH_IOU."""
    score, region_id = max(
        ((geometry.iou(shape, s), r.id) for r, s in regions if r.id not in taken), default=(0.0, None)
    )
    return region_id if score >= MATCH_IOU else None
