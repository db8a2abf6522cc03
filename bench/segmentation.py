"""Segmentation: the workbench against calling kraken's API directly, on the same pages.

Prints, for rendered pre-1945 pages:
- per-page wall time and peak memory, kraken's API in one process vs
  `workbench segment --workers 1` (the overhead ratio; target ≤ 1.05),
- pages per minute for a batch, `workbench segment` on all cores vs one kraken
  process (target ≥ 1.8×),
- kraken's time per page for three page sizes.

Run: .venv/bin/python bench/segmentation.py [--pages N]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workbench.sample import HADZHI_DIMITAR, POD_IGOTO, render_page

BIN = Path(sys.executable).parent

KRAKEN_DIRECT = """
import json, resource, sys, time
started = time.perf_counter()
import torch
torch.set_num_threads(1)
from PIL import Image
from kraken.configs import SegmentationInferenceConfig
from kraken.tasks import SegmentationTaskModel
model = SegmentationTaskModel.load_model()
ready = time.perf_counter()
times = []
for path in sys.argv[1:]:
    t = time.perf_counter()
    segmentation = model.predict(Image.open(path), SegmentationInferenceConfig())
    times.append(time.perf_counter() - t)
print(json.dumps({"startup": ready - started, "pages": times, "lines": len(segmentation.lines),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def render_pages(folder: Path, count: int, size: tuple[int, int]) -> list[Path]:
    texts = [HADZHI_DIMITAR, POD_IGOTO]
    paths = []
    for i in range(count):
        image, _ = render_page(texts[i % 2].splitlines(), width=size[0], height=size[1], seed=100 + i)
        path = folder / f"{size[0]}x{size[1]}_{i:03}.png"
        image.save(path)
        paths.append(path)
    return paths


def kraken_direct(paths: list[Path]) -> dict:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", KRAKEN_DIRECT, *map(str, paths)], capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(result.stderr)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    report["wall"] = time.perf_counter() - started
    return report


def workbench_segment(folder: Path, paths: list[Path], workers: int) -> dict:
    edition = folder / f"edition-{workers}"
    run = [str(BIN / "workbench"), "--edition", str(edition), "--user", "bench"]
    subprocess.run([*run, "new-manuscript", "bench", "--title", "bench"], check=True, capture_output=True)
    subprocess.run([*run, "add-pages", "bench", *map(str, paths)], check=True, capture_output=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    result = subprocess.run([*run, "segment", "bench", "--workers", str(workers)], capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode:
        raise SystemExit(result.stderr)
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"wall": wall, "rss_mb": max(rss, before) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=6, help="pages in the batch (default 6)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pages = render_pages(folder, args.pages, (1240, 1754))

        print(f"Segmentation benchmark: {args.pages} rendered pages of 1240×1754 px, kraken blla, CPU\n")
        direct = kraken_direct(pages)
        per_page_direct = sum(direct["pages"]) / len(direct["pages"])
        one = workbench_segment(folder, pages, workers=1)
        # Startup (import kraken, load the model) is paid once per process by both; the
        # overhead that matters is on the whole run of the same pages.
        print(
            f"kraken API, one process:        {direct['wall']:6.1f} s wall "
            f"(startup {direct['startup']:.1f} s, {per_page_direct:.1f} s/page), peak {direct['rss_mb']:.0f} MB"
        )
        print(f"workbench segment --workers 1:  {one['wall']:6.1f} s wall, peak {one['rss_mb']:.0f} MB per process")
        print(
            f"overhead ratio (workbench / kraken, same pages, one core): {one['wall'] / direct['wall']:.3f}  "
            "(target ≤ 1.05)"
        )

        both = workbench_segment(folder, pages, workers=2)
        direct_rate = 60 * args.pages / direct["wall"]
        both_rate = 60 * args.pages / both["wall"]
        print(
            f"\nbatch: kraken one process {direct_rate:.2f} pages/min; "
            f"workbench segment (2 workers) {both_rate:.2f} pages/min: {both_rate / direct_rate:.2f}×  (target ≥ 1.8×)"
        )
        steady = 60 / per_page_direct
        print(
            f"       (kraken's steady state after startup: {steady:.2f} pages/min; "
            f"workbench vs that: {both_rate / steady:.2f}×)"
        )

        print("\nkraken time per page by page size (one process, one torch thread):")
        for size in [(620, 877), (1240, 1754), (2480, 3508)]:
            sized = render_pages(folder, 2, size)
            report = kraken_direct(sized)
            per_page = sum(report["pages"]) / len(report["pages"])
            print(
                f"  {size[0]}×{size[1]:<5} {per_page:6.1f} s/page, peak {report['rss_mb']:.0f} MB, "
                f"{report['lines']} lines on the last page"
            )


if __name__ == "__main__":
    main()
