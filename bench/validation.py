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

from workbench.edition import Edition
from workbench.model import Line, Manuscript, Page, Region
from workbench.tei import codec, validation
from workbench.tei.xml import parse_xml

LINE_TEXT = "Живъ е той, живъ е! Тамъ на Балкана, потъненъ въ кърви лежи и пъшка"


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
            line.text = LINE_TEXT
            line.status, line.resp = "corrected", person.id
            page.lines.append(line)
        manuscript.pages.append(page)
    return manuscript


def timed(function, repeat: int = 5) -> tuple[float, float]:
    """Median and worst wall time of ``repeat`` calls."""
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

    data = codec.document_bytes(manuscript)
    tree = parse_xml(data)
    print(f"document size: {len(data) / 1e6:.1f} MB")
    started = time.perf_counter()
    validation.check_project(tree)
    print(f"project schema first use (load + check): {time.perf_counter() - started:.2f} s")

    for name, function in [
        ("build the whole document", lambda: codec.document_bytes(manuscript)),
        ("check the whole document against the project schema", lambda: validation.check_project(tree)),
        ("parse the file into the model", lambda: codec.parse_manuscript(data)),
        (
            "build and check one page (what a page save validates)",
            lambda: validation.check_project(
                codec.pages_document(
                    manuscript, [codec.page_parts(manuscript.id, manuscript.pages[len(manuscript.pages) // 2])]
                )
            ),
        ),
    ]:
        median, worst = timed(function)
        print(f"{name:55s} median {median * 1000:7.0f} ms, max {worst * 1000:7.0f} ms")

    with tempfile.TemporaryDirectory() as tmp:
        edition = Edition(Path(tmp))
        edition.create(manuscript, who="bench")
        counter = iter(range(1_000_000))
        page = manuscript.pages[len(manuscript.pages) // 2]

        def save_one_line(pages: list[str] | None) -> None:
            with edition.edit("big", who="bench", pages=pages) as current:
                current.page(page.n).lines[0].text = f"поправка {next(counter)}"

        fresh = Edition(Path(tmp))  # a new process's view: nothing cached yet
        started = time.perf_counter()
        with fresh.edit("big", who="bench", pages=[page.n]) as current:
            current.page(page.n).lines[0].text = "поправка"
        print(f"\nfirst save in a process (reads and validates the whole file): {time.perf_counter() - started:.2f} s")
        save_one_line([page.n])  # this Edition re-reads the file the fresh one wrote
        for label, pages, repeat in [
            ("save of one line: Edition.edit(pages=[n])", [page.n], 30),
            ("save of one line: Edition.edit(), whole document", None, 3),
        ]:
            median, worst = timed(lambda pages=pages: save_one_line(pages), repeat=repeat)
            print(f"{label:55s} median {median * 1000:7.0f} ms, max {worst * 1000:7.0f} ms")

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
