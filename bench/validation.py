"""Validation and save time for a large manuscript: 500 pages, 15,000 lines.

Generates the manuscript (22-point line polygons, like kraken's), then times each
step of a save: building the TEI tree, checking it against the project schema,
serialising, and a whole `Edition.edit` of one line (lock, read, check the file on
disk, build, validate, journal, atomic write). Also tei_all's load and check time.
The design target for a line save is p95 ≤ 50 ms over HTTP (design.md §7).

Run: .venv/bin/python bench/validation.py [--pages 500] [--lines-per-page 30]
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

from workbench import tei, validation
from workbench.edition import Edition
from workbench.model import Line, Manuscript, Page, Region


def generate(pages: int, lines_per_page: int) -> Manuscript:
    manuscript = Manuscript(id="big", title="Generated", author="Трифон Трифонов")
    person = manuscript.source("transcription", "bench")
    for n in range(1, pages + 1):
        page = Page(f"big_p{n}", str(n), f"{n:04}.jpg", 2480, 3508, "image/jpeg")
        page.regions.append(Region(f"{page.id}_r1", [(100, 100), (2380, 100), (2380, 3400), (100, 3400)]))
        for k in range(1, lines_per_page + 1):
            y = 100 + k * 105
            top = [(200 + i * 180, y - 60 + int(5 * math.sin(i))) for i in range(11)]
            bottom = [(200 + i * 180, y + 15) for i in reversed(range(11))]
            line = Line(f"{page.id}_l{k}", top + bottom, [(200, y), (2000, y + 4)], region=f"{page.id}_r1")
            line.text = "Живъ е той, живъ е! Тамъ на Балкана, потъненъ въ кърви лежи и пъшка"
            line.status, line.resp = "corrected", person.id
            page.lines.append(line)
        manuscript.pages.append(page)
    return manuscript


def timed(function, repeat: int = 5) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--lines-per-page", type=int, default=30)
    args = parser.parse_args()
    manuscript = generate(args.pages, args.lines_per_page)
    lines = args.pages * args.lines_per_page
    print(f"Validation and save: {args.pages} pages, {lines} lines, 22-point polygons\n")

    tree = tei.build_document(manuscript)
    data = tei.serialize(tree)
    print(f"document size: {len(data) / 1e6:.1f} MB")
    started = time.perf_counter()
    validation.check_project(tree)
    print(f"project schema first use (load + check): {time.perf_counter() - started:.2f} s")

    for name, function in [
        ("build TEI tree", lambda: tei.build_document(manuscript)),
        ("check project schema (RNG + Schematron + ids/points)", lambda: validation.check_project(tree)),
        ("serialise", lambda: tei.serialize(tree)),
        ("parse file into model", lambda: tei.parse_manuscript(data)),
    ]:
        median, worst = timed(function)
        print(f"{name:55s} median {median * 1000:7.0f} ms, max {worst * 1000:7.0f} ms")

    with tempfile.TemporaryDirectory() as tmp:
        edition = Edition(Path(tmp))
        edition.create(manuscript, who="bench")
        counter = iter(range(1_000_000))

        def save_one_line() -> None:
            with edition.edit("big", who="bench") as current:
                current.pages[250 % len(current.pages)].lines[0].text = f"поправка {next(counter)}"

        median, worst = timed(save_one_line)
        print(
            f"{'whole save of one line (Edition.edit)':55s} median {median * 1000:7.0f} ms, max {worst * 1000:7.0f} ms"
        )

    started = time.perf_counter()
    problems = validation.check_tei_all(tree)
    loaded = time.perf_counter() - started
    median, worst = timed(lambda: validation.check_tei_all(tree), repeat=3)
    print(
        f"\ntei_all: first use (load + check) {loaded:.1f} s; check once loaded: median {median:.2f} s "
        f"({'valid' if not problems else f'{len(problems)} problems'})"
    )


if __name__ == "__main__":
    main()
