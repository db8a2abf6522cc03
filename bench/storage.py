"""Where a save's milliseconds go, and what other ways of storing a manuscript would cost.

On a generated 500-page, 15,000-line manuscript (8.8 MB of TEI, bench/validation.py):

1. one line saved through ``Edition.edit(pages=[n])``, as the web editor saves it, timed
   whole; then the same steps one by one, with the functions the save calls (the
   changed page serialised, the header serialised, header + changed line validated, xml:ids
   checked, the document assembled, the journal appended and fsynced, the 8.8 MB file
   written, fsynced, renamed and its folder fsynced, the changes log appended);
2. design A, per-page TEI parts: each page's share of the document in a file of its own
   (the header in another); a save rewrites only that page's file (atomically, fsynced),
   and an export or a reader assembles the whole document from the parts;
3. design B, an append-only log of line changes beside the TEI: a save appends one JSON
   line (fsynced), and every K saves the TEI is rewritten from the model (compaction);
   a process that starts reads the TEI and replays the log.

Run: .venv/bin/python bench/storage.py [--pages 500] [--saves 30]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from validation import generate

from workbench.edition import Edition, _changed_part, _ids_shared_with_other_pages
from workbench.files import AppendLog, write_atomically
from workbench.journal import Entry
from workbench.tei import codec, validation
from workbench.tei.xml import parse_xml


def ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:6.1f} ms  max {max(values) * 1000:6.1f} ms"


def timed(function) -> tuple[float, object]:
    began = time.perf_counter()
    result = function()
    return time.perf_counter() - began, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--saves", type=int, default=30)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-storage-"))
    try:
        edition = Edition(tmp)
        edition.create(generate(args.pages, 30), "bench")
        size = edition.tei_path("big").stat().st_size
        print(f"{args.pages} pages, {args.pages * 30} lines, {size / 1e6:.1f} MB of TEI\n")

        # 1a. Whole saves, as the editor makes them.
        whole = []
        for k in range(args.saves):
            n = str(k % args.pages + 1)
            began = time.perf_counter()
            with edition.edit("big", f"editor{k % 8}", pages=[n]) as manuscript:
                manuscript.page(n).lines[0].text = f"поправка {k}"
            whole.append(time.perf_counter() - began)
        print(f"one-line save, Edition.edit(pages=[n]) whole:           {ms(whole)}")

        # 1b. The same steps, one at a time, with the functions the save calls.
        document = edition._current("big")
        manuscript = document.manuscript
        steps: dict[str, list[float]] = {}

        def step(name: str, function):
            elapsed, result = timed(function)
            steps.setdefault(name, []).append(elapsed)
            return result

        path = edition.tei_path("big")
        for k in range(args.saves):
            page = manuscript.pages[k % args.pages]
            before = page.copy()
            page.lines[1].text = f"поправка {k}"
            parts = step("serialise the page (page_parts)", lambda page=page: codec.page_parts("big", page))
            header = step("serialise the header (header_part)", lambda: codec.header_part(manuscript))
            step(
                "validate header + the changed line",
                lambda page=page, before=before, parts=parts: validation.check_project(
                    codec.pages_document(manuscript, [_changed_part("big", before, page, parts)])
                ),
            )
            step("xml:ids against the other pages", lambda page=page: _ids_shared_with_other_pages(document, [page]))
            all_parts = dict(document.parts)
            all_parts[page.id] = parts
            data = step(
                "assemble the 8.8 MB document",
                lambda all_parts=all_parts, header=header: codec.assemble("big", header, list(all_parts.values())),
            )
            entry = Entry("2026-01-01T00:00:00Z", "big", page.lines[1].id, "", f"поправка {k}", "bench", "bench", None)
            # (In a save the journal's append runs beside the next two steps.)
            step("journal append + fsync", lambda entry=entry: edition.journal.append("big", [entry]))
            step("write temp file (no fsync)", lambda data=data: (tmp / "probe.tmp").write_bytes(data))
            descriptor = os.open(tmp / "probe.tmp", os.O_RDONLY)
            step("fsync the 8.8 MB file", lambda descriptor=descriptor: os.fsync(descriptor))
            os.close(descriptor)
            step("rename over the TEI", lambda: os.replace(tmp / "probe.tmp", path))
            step("fsync the folder", lambda: _fsync(path.parent))
            step(
                "changes log append (no fsync)",
                lambda: AppendLog(tmp / "probe.changes").append_lines(['{"before": [1, 2, 3]}'], durable=False),
            )
        total = sum(statistics.median(values) for values in steps.values())
        print("the same save, step by step (medians):")
        for name, values in steps.items():
            median = statistics.median(values)
            print(f"  {name:42} {median * 1000:6.1f} ms  {median / total:5.1%}")
        print(f"  {'sum of the medians':42} {total * 1000:6.1f} ms")
        file_write = sum(
            statistics.median(steps[name])
            for name in (
                "write temp file (no fsync)",
                "fsync the 8.8 MB file",
                "rename over the TEI",
                "fsync the folder",
            )
        )
        print(f"  whole-file rewrite (write + fsync + rename + folder fsync): {file_write * 1000:.1f} ms")

        # 2. Design A: each page's parts in one file of its own (surface, a NUL byte, text).
        parts_dir = tmp / "parts"
        parts_dir.mkdir()
        write_atomically(parts_dir / "header.xml", codec.header_part(manuscript))
        for page in manuscript.pages:
            parts = document.parts[page.id]
            write_atomically(parts_dir / f"{page.id}.part", parts.surface + b"\0" + parts.text, durable=False)
        page_saves = []
        for k in range(args.saves):
            page = manuscript.pages[k % args.pages]
            parts = codec.page_parts("big", page)
            # One page: one atomic, fsynced file. A save of several pages (a group of
            # editors' saves, the header with a page) would need a manifest to be atomic.
            page_saves.append(
                timed(
                    lambda page=page, parts=parts: write_atomically(
                        parts_dir / f"{page.id}.part", parts.surface + b"\0" + parts.text
                    )
                )[0]
            )

        def assemble_from_files() -> bytes:
            header = (parts_dir / "header.xml").read_bytes()
            pages = [
                codec.PageParts(*(parts_dir / f"{p.id}.part").read_bytes().split(b"\0", 1)) for p in manuscript.pages
            ]
            return codec.assemble("big", header, pages)

        exports = [timed(assemble_from_files)[0] for _ in range(5)]
        print(
            "\ndesign A, per-page parts in files (500 files + header):\n"
            f"  save: write the page's file atomically, fsynced (file and folder): {ms(page_saves)}\n"
            f"  assemble the whole document from the files (export, a reader, tei/ for backups): {ms(exports)}"
        )

        # 3. Design B: an append-only log of line changes, compacted into the TEI every K saves.
        log = AppendLog(tmp / "lines.log")
        appends = []
        for k in range(args.saves):
            line = manuscript.pages[k % args.pages].lines[2]
            record = {"line": line.id, "text": f"поправка {k}", "status": "corrected"}
            appends.append(timed(lambda record=record: log.append([record]))[0])
        compactions = []
        for _ in range(5):
            # From the serialised pages a process keeps (as a save does now): the log's
            # changed pages serialised again, the rest as they are.
            compactions.append(
                timed(
                    lambda: write_atomically(
                        path,
                        codec.assemble(
                            "big",
                            codec.header_part(manuscript),
                            [document.parts[p.id] for p in manuscript.pages[:-10]]
                            + [codec.page_parts("big", p) for p in manuscript.pages[-10:]],
                        ),
                    )
                )[0]
            )
        for k in range(1000 - args.saves):
            log.append_lines([json.dumps({"line": f"big_p1_l{k % 30 + 1}", "text": f"x{k}", "status": "corrected"})])
        replay = []
        for _ in range(3):

            def start() -> None:
                data = path.read_bytes()
                validation.check_project(parse_xml(data, "big"))
                model = codec.parse_manuscript(data, "big")
                lines = {line.id: line for line in model.lines()}
                for record in log.records():
                    lines[record["line"]].text = record["text"]

            replay.append(timed(start)[0])
        append = statistics.median(appends)
        compaction = statistics.median(compactions)
        print(
            "\ndesign B, append-only line log + compaction into the TEI:\n"
            f"  save: append one line to the log, fsynced: {ms(appends)}\n"
            f"  compaction (10 changed pages serialised, the document assembled, the TEI rewritten, fsynced): "
            f"{ms(compactions)}\n"
            f"  amortised per save, compacting every 100 saves: {(append + compaction / 100) * 1000:.1f} ms, "
            f"every 1000: {(append + compaction / 1000) * 1000:.1f} ms\n"
            f"  a process starting: read + validate the TEI, replay 1000 logged changes: {ms(replay)}"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


if __name__ == "__main__":
    main()
