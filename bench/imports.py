"""What an import costs as it grows: seconds and peak memory for PAGE files of 1,000, 5,000
and 20,000 lines on one page (lines with polygons, and lines with a baseline only, for
which the workbench draws a band), and for 100 and 400 pages of 50 lines.

Each case is generated (PAGE 2019, one region per 100 lines, 4-point polygons and 2-point
baselines, a short text per line, a blank 4000×4000 PNG per page), imported with
``transfer.import_path`` into a fresh edition in a child process of its own (so that the
peak resident memory is that case's alone), and timed. The per-page limits
(``layout_files.MAX_LINES_PER_PAGE``) are raised in the child for the 20,000-line case: it
measures the cost past the limit, to show that it grows linearly (seconds per 1,000 lines
about constant).

Run: .venv/bin/python bench/imports.py [--profile LINES] (a cProfile of one page of LINES lines)
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from workbench.edition import Edition  # noqa: E402
from workbench.exchange import layout_files, transfer  # noqa: E402

PAGE_2019 = layout_files.PAGE_2019
COLUMNS = 20  # lines side by side, so that 20,000 lines fit a 4000×4000 page
WIDTH = HEIGHT = 4000


def page_file(n: int, lines: int, image: str, polygons: bool = True) -> str:
    """A PAGE 2019 file of ``lines`` lines in regions of 100 (text built as a string: fast);
    without ``polygons``, the lines have a baseline only (the workbench draws a band around it)."""
    rows = -(-lines // COLUMNS)
    pitch = max(2, HEIGHT // max(rows, 1))
    parts = [
        f'<?xml version="1.0" encoding="UTF-8"?>\n<PcGts xmlns="{PAGE_2019}"><Metadata><Creator>bench</Creator>'
        f"<Created>2026-01-01T00:00:00</Created><LastChange>2026-01-01T00:00:00</LastChange></Metadata>"
        f'<Page imageFilename="{image}" imageWidth="{WIDTH}" imageHeight="{HEIGHT}">'
    ]
    for start in range(0, lines, 100):
        parts.append(f'<TextRegion id="r{start}"><Coords points="0,0 {WIDTH},0 {WIDTH},{HEIGHT} 0,{HEIGHT}"/>')
        for k in range(start, min(start + 100, lines)):
            x, y = (k % COLUMNS) * (WIDTH // COLUMNS), (k // COLUMNS) * pitch
            right, bottom = x + WIDTH // COLUMNS - 10, y + pitch - 1
            coords = f'<Coords points="{x},{y} {right},{y} {right},{bottom} {x},{bottom}"/>' if polygons else ""
            parts.append(
                f'<TextLine id="l{k}">{coords}'
                f'<Baseline points="{x},{bottom} {right},{bottom}"/>'
                f"<TextEquiv><Unicode>ред {n}.{k} бѣли ръкави</Unicode></TextEquiv></TextLine>"
            )
        parts.append("</TextRegion>")
    parts.append("</Page></PcGts>\n")
    return "".join(parts)


def make_import(folder: Path, pages: int, lines: int, polygons: bool = True) -> Path:
    folder.mkdir(parents=True)
    Image.new("L", (WIDTH, HEIGHT), 255).save(folder.parent / "blank.png")
    for n in range(1, pages + 1):
        shutil.copyfile(folder.parent / "blank.png", folder / f"{n:05}.png")
        (folder / f"{n:05}.xml").write_text(page_file(n, lines, f"{n:05}.png", polygons), encoding="utf-8")
    return folder


def run_case(pages: int, lines: int, polygons: bool = True) -> dict:
    """One import, in this process: seconds and peak resident memory."""
    layout_files.MAX_LINES_PER_PAGE = max(layout_files.MAX_LINES_PER_PAGE, lines)
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        folder = make_import(root / "source", pages, lines, polygons)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        report = transfer.import_path(Edition(root / "edition"), folder, "bench", manuscript_id="bench")
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert len(report.pages) == pages, report
    return {
        "pages": pages,
        "lines": lines,
        "polygons": polygons,
        "seconds": seconds,
        "peak_mb": peak / 1024,
        "before_mb": before / 1024,
    }


def in_child(pages: int, lines: int, polygons: bool) -> dict:
    command = [sys.executable, __file__, "--case", str(pages), str(lines)] + ([] if polygons else ["--baselines-only"])
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", nargs=2, type=int, metavar=("PAGES", "LINES"))
    parser.add_argument("--profile", type=int, metavar="LINES")
    parser.add_argument("--baselines-only", action="store_true", help="lines without a polygon")
    options = parser.parse_args()
    if options.case:
        print(json.dumps(run_case(*options.case, polygons=not options.baselines_only)))
        return
    if options.profile:
        profile = cProfile.Profile()
        profile.runcall(run_case, 1, options.profile, not options.baselines_only)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
        return
    print("pages  lines/page  polygons  total lines  seconds  ms per 1,000 lines  peak RSS (MB)")
    cases = [(1, lines, polygons) for polygons in (True, False) for lines in (1_000, 5_000, 20_000)]
    cases += [(100, 50, True), (400, 50, True)]
    for pages, lines, polygons in cases:
        case = in_child(pages, lines, polygons)
        total = pages * lines
        print(
            f"{pages:5}  {lines:10,}  {'yes' if polygons else 'no':>8}  {total:11,}  {case['seconds']:7.2f}  "
            f"{1000 * case['seconds'] / total * 1000:18.0f}  {case['peak_mb']:13.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
