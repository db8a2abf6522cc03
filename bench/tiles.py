"""IIIF tiles of a large scan: cutting them (Pillow vs libvips) and serving them from the cache.

Makes a 7,000 × 10,000 px RGB TIFF master, uncompressed (200 MB, as archival masters are:
the old-orthography sample text rendered and scaled up onto a paper-coloured gradient with
grain, so the JPEGs have real detail to encode), then:

1. cuts every tile of its pyramid (512 px tiles, scale factors 1 … 32, what a viewer asks
   for while zooming through the whole page) with each image library installed, printing
   the time and the disk the tiles take;
2. serves the page from `workbench serve`'s gunicorn (one process, 8 threads) on loopback,
   with its tiles in the cache, to 8 readers asking for random tiles at once, printing the
   latency percentiles (target: p95 ≤ 30 ms).

Run: .venv/bin/python bench/tiles.py [--requests 2000] [--readers 8]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import requests
from PIL import Image
from saves import serve

from workbench.edition import Edition
from workbench.images import tiles
from workbench.model import Manuscript
from workbench.sample import HADZHI_DIMITAR, render_page

WIDTH, HEIGHT = 7000, 10000


def make_master(path: Path) -> None:
    text, _ = render_page(HADZHI_DIMITAR.splitlines(), width=2480, height=3508)
    page = text.convert("L").resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC)
    paper = Image.merge(
        "RGB",
        [
            Image.linear_gradient("L").resize((WIDTH, HEIGHT)).point(lambda v, base=base: base - v // 8)
            for base in (250, 238, 214)
        ],
    )
    # The grain of paper under a scanner: without it the tiles would be unrealistically small.
    paper = Image.blend(paper, Image.effect_noise((WIDTH, HEIGHT), 24).convert("RGB"), 0.12)
    Image.composite(paper, Image.new("RGB", (WIDTH, HEIGHT), (40, 30, 25)), page).save(
        path
    )  # uncompressed, as masters often are


def cut_all(source: Path, cache: Path, engine: str) -> tuple[float, int, int]:
    """Seconds to cut every tile of every level, their bytes on disk and their number."""
    pyramid = tiles.Pyramid(WIDTH, HEIGHT)
    cache.mkdir(parents=True)
    started = time.perf_counter()
    for factor in pyramid.scale_factors:
        tiles._cut_level(source, None, pyramid, factor, cache, engine=engine)
    elapsed = time.perf_counter() - started
    files = list(cache.glob("*.jpg"))
    return elapsed, sum(path.stat().st_size for path in files), len(files)


def grid(pyramid: tiles.Pyramid) -> list[str]:
    """Every tile's URL path (region/size/0/default.jpg)."""
    found = []
    for factor in pyramid.scale_factors:
        span = pyramid.tile_size * factor
        for top in range(0, pyramid.height, span):
            for left in range(0, pyramid.width, span):
                width, height = min(span, pyramid.width - left), min(span, pyramid.height - top)
                size = (-(-width // factor), -(-height // factor))
                found.append(f"{left},{top},{width},{height}/{size[0]},{size[1]}/0/default.jpg")
    return found


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * p) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="tile requests in the serving phase")
    parser.add_argument("--readers", type=int, default=8)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-tiles-"))
    try:
        master = tmp / "master.tif"
        started = time.perf_counter()
        make_master(master)
        print(
            f"master: {WIDTH} × {HEIGHT} px RGB TIFF, {master.stat().st_size / 1024**2:.0f} MB, "
            f"made in {time.perf_counter() - started:.1f} s"
        )
        for engine in ("pillow", "vips"):
            if engine not in tiles.ENGINES:
                print(f"{engine}: not installed (pip install 'pyvips[binary]'), not measured")
                continue
            elapsed, size, count = cut_all(master, tmp / f"cut-{engine}", engine)
            print(
                f"{engine:7} every tile of the page ({count} tiles): {elapsed:5.1f} s, {size / 1024**2:5.1f} MB on disk"
            )

        edition = Edition(tmp / "edition")
        edition.create(Manuscript(id="big", title="A large scan"), who="bench")
        edition.add_pages("big", [master], who="bench")
        edition.set_published("big", True, "bench")
        server, base = serve(edition.root, threads=args.readers)
        try:
            prefix = f"{base}/iiif/big/1"
            paths = grid(tiles.Pyramid(WIDTH, HEIGHT))
            with requests.Session() as session:
                assert session.get(f"{prefix}/info.json").json()["profile"] == "level1"
                started = time.perf_counter()
                for path in paths:  # fills the cache, as the first readers would
                    assert session.get(f"{prefix}/{path}").status_code == 200
                print(
                    f"first request of every tile through HTTP ({tiles.ENGINES[0]}): {time.perf_counter() - started:.1f} s"
                )
            latencies: list[float] = []
            rng = random.Random(1866)
            wanted = [rng.choice(paths) for _ in range(args.requests)]
            lock = threading.Lock()

            def reader(share: list[str]) -> None:
                with requests.Session() as session:
                    for path in share:
                        started = time.perf_counter()
                        response = session.get(f"{prefix}/{path}")
                        elapsed = time.perf_counter() - started
                        assert response.status_code == 200 and response.content[:2] == b"\xff\xd8"
                        with lock:
                            latencies.append(elapsed * 1000)

            readers = [threading.Thread(target=reader, args=(wanted[i :: args.readers],)) for i in range(args.readers)]
            started = time.perf_counter()
            for thread in readers:
                thread.start()
            for thread in readers:
                thread.join()
            wall = time.perf_counter() - started
            print(
                f"cached tiles, {args.readers} readers at once, {len(latencies)} requests: "
                f"median {statistics.median(latencies):.1f} ms, p95 {percentile(latencies, 0.95):.1f} ms, "
                f"max {max(latencies):.1f} ms, {len(latencies) / wall:.0f} tiles/s (target p95 ≤ 30 ms)"
            )
        finally:
            server.terminate()
            server.wait()
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
