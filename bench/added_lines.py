"""A line added by hand: the polygon the editor computes for its baseline, against kraken's.

When an editor adds a line by clicking its baseline, the workbench gives it a polygon at
once (geometry.band: as far above and below the baseline as the page's other lines
reach around theirs). kraken has a polygon extractor for given baselines
(kraken.lib.segmentation.calculate_polygonal_environment, a seam carver over the image).
This compares both with the ground truth's own polygons on the real handwritten pages in
tests/data/ground-truth: each line in turn is taken as "added", the page's other lines
are its neighbours. Prints, per set and overall, the mean intersection over union with
the true polygon, the share of lines at IoU ≥ 0.5, and the time per line.

Run: .venv/bin/python bench/added_lines.py
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from PIL import Image

from workbench.exchange import layout_files
from workbench.layout import geometry
from workbench.layout.geometry import iou, polygon
from workbench.model import Page

GROUND_TRUTH = Path(__file__).resolve().parent.parent / "tests" / "data" / "ground-truth"


def main() -> None:
    # kraken is imported here only: the editor never loads it in the web process.
    from kraken.lib.segmentation import calculate_polygonal_environment

    overall: dict[str, list[float]] = {"band": [], "kraken": []}
    seconds: dict[str, list[float]] = {"band": [], "kraken": []}
    for folder in sorted(path for path in GROUND_TRUTH.iterdir() if path.is_dir()):
        scores: dict[str, list[float]] = {"band": [], "kraken": []}
        for xml in sorted(folder.glob("*.xml")):
            layout = layout_files.read_layout(xml.read_bytes(), xml.name)
            image = Image.open(folder / layout.image).convert("L")
            lines = [line for line in layout.lines if len(line.baseline) >= 2 and len(line.boundary) >= 3]
            for line in lines:
                others = [other for other in lines if other is not line]
                page = Page("p", "1", layout.image, layout.width, layout.height, "image/jpeg", lines=others)
                truth = polygon(line.boundary)

                started = time.perf_counter()
                band = geometry.band(line.baseline, page.lines, page.height)
                seconds["band"].append(time.perf_counter() - started)
                scores["band"].append(iou(polygon(band), truth))

                started = time.perf_counter()
                found = calculate_polygonal_environment(
                    image, [line.baseline], suppl_obj=[other.baseline for other in others]
                )[0]
                seconds["kraken"].append(time.perf_counter() - started)
                points = [(float(x), float(y)) for x, y in found] if found is not None else []
                scores["kraken"].append(iou(polygon(points), truth) if len(points) >= 3 else 0.0)
        for method in scores:
            overall[method] += scores[method]
        print(f"{folder.name} ({len(scores['band'])} lines):")
        for method, values in scores.items():
            print(f"  {method:6}  {_summary(values)}")
    print(f"all sets ({len(overall['band'])} lines):")
    for method, values in overall.items():
        print(f"  {method:6}  {_summary(values)}  {1000 * statistics.mean(seconds[method]):.1f} ms/line")


def _summary(values: list[float]) -> str:
    good = sum(value >= 0.5 for value in values) / len(values)
    return f"mean IoU {statistics.mean(values):.3f}, IoU ≥ 0.5 for {good:.0%}"


if __name__ == "__main__":
    main()
