"""Line images: milliseconds per line for one large page, cold and warm cache.

Renders a 2480×3508 page (A4 at 300 dpi) with 30 lines, adds paper grain so the
scan compresses and decodes like a real one rather than like flat grey, saves it
as JPEG and as PNG, and times:
- cold: ``LineImageCache.page_paths`` with an empty cache (decode the page once,
  cut, deskew and write 30 PNGs),
- warm: the same call again (every crop already there),
- warm ``path`` for each line on its own (what one image request costs).

Run: .venv/bin/python bench/crops.py [--repeat N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageChops

from workbench.images.crops import LineImageCache, line_image
from workbench.images.facsimile import open_page
from workbench.model import Line, Page
from workbench.sample import HADZHI_DIMITAR, POD_IGOTO, render_page

WIDTH, HEIGHT, FONT_SIZE, LINES = 2480, 3508, 48, 30


def make_page(folder: Path, suffix: str) -> tuple[Path, Page]:
    texts = (HADZHI_DIMITAR + "\n" + POD_IGOTO).splitlines()
    image, drawn = render_page(texts, width=WIDTH, height=HEIGHT, font_size=FONT_SIZE, seed=11)
    grain = Image.effect_noise(image.size, 6).point(lambda v: v - 128 + 6)
    image = ImageChops.subtract(image, grain, offset=0)
    path = folder / f"page{suffix}"
    image.save(path, quality=88) if suffix == ".jpg" else image.save(path)
    lines = []
    for k, d in enumerate(drawn[:LINES], start=1):
        (x0, y0), (x1, y1) = d.baseline
        up, down = FONT_SIZE, FONT_SIZE // 2
        outline = [(x0, y0 - up), (x1, y1 - up), (x1, y1 + down), (x0, y0 + down)]
        lines.append(Line(f"bench_p1_l{k}", outline, list(d.baseline)))
    if len(lines) != LINES:
        raise SystemExit(f"rendered {len(lines)} lines, wanted {LINES}")
    page = Page("bench_p1", "1", path.name, WIDTH, HEIGHT, "image/jpeg" if suffix == ".jpg" else "image/png")
    page.lines = lines
    return path, page


def median_time(repeat: int, action) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(folder: Path, suffix: str, repeat: int) -> None:
    image_path, page = make_page(folder, suffix)
    cache_dir = folder / "cache"
    cache = LineImageCache(cache_dir)

    def cold() -> None:
        shutil.rmtree(cache_dir, ignore_errors=True)
        cache.page_paths("bench", page, page.lines, image_path)

    def warm() -> None:
        cache.page_paths("bench", page, page.lines, image_path)

    def single() -> None:
        for line in page.lines:
            cache.path("bench", page, line, image_path)

    cold_s = median_time(repeat, cold)
    warm_s = median_time(repeat, warm)
    single_s = median_time(repeat, single)
    decode_s = median_time(repeat, lambda: open_page(image_path).close())
    with open_page(image_path) as image:
        cut_s = median_time(repeat, lambda: [line_image(image, line) for line in page.lines])
    sizes = [path.stat().st_size for path in cache.page_paths("bench", page, page.lines, image_path).values()]
    shutil.rmtree(cache_dir, ignore_errors=True)

    per_line = 1000 / LINES
    print(f"{suffix[1:].upper()} page ({image_path.stat().st_size / 1e6:.1f} MB):")
    print(f"  cold page_paths: {cold_s * per_line:7.2f} ms/line  ({cold_s * 1000:.0f} ms for the page)")
    print(f"     of which decoding the page once: {decode_s * per_line:6.2f} ms/line ({decode_s * 1000:.0f} ms)")
    print(f"     cutting, masking, deskewing:     {cut_s * per_line:6.2f} ms/line")
    print(f"  warm page_paths: {warm_s * per_line:7.3f} ms/line")
    print(f"  warm path():     {single_s * per_line:7.3f} ms/line")
    print(f"  PNG size: {statistics.median(sizes) / 1024:.0f} KiB per line (median)\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the median is shown")
    args = parser.parse_args()
    print(f"Line images: {WIDTH}×{HEIGHT} rendered page with grain, {LINES} lines; median of {args.repeat} runs\n")
    with tempfile.TemporaryDirectory() as tmp:
        for suffix in (".jpg", ".png"):
            measure(Path(tmp), suffix, args.repeat)


if __name__ == "__main__":
    main()
