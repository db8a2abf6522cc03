"""`workbench verify`'s fixity check against `sha256sum -c` on the same files.

Writes a temporary edition with one manuscript of N page images (PNGs of noise, so
they do not compress: 1–2 MB each, every file different) and its SHA256SUMS, then
times, alternately and each --repeat times, with the files in the page cache (read
once beforehand by both, so that neither pays for the disk the other warmed):

- ``preservation.verify`` (facsimiles, the TEI, the journal, the index), as
  ``workbench verify`` runs it, without the progress bar;
- ``sha256sum -c SHA256SUMS`` in the manuscript's folder (a subprocess: GNU coreutils).

Prints MB/s of each (best of the repeats) and the ratio.

Run: .venv/bin/python bench/verify.py [--pages 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import shutil
import subprocess
import tempfile
import time
import zlib
from pathlib import Path

from PIL import Image

from workbench import preservation
from workbench.edition import CHECKSUMS, Edition
from workbench.model import Manuscript, Page

MS = "bench-ms"
SIDES = (1000, 1150, 1300, 1414)  # grey noise PNGs of about 1.0, 1.3, 1.7 and 2.0 MB


def noise_png(side: int, seed: int) -> bytes:
    image = Image.frombytes("L", (side, side), _random_bytes(side * side, seed))
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def _random_bytes(size: int, seed: int) -> bytes:
    import random

    return random.Random(seed).randbytes(size)


def with_text_chunk(png: bytes, text: str) -> bytes:
    """The same image with a tEXt chunk after the header: a different file, still a valid PNG."""
    data = b"Comment\0" + text.encode()
    chunk = len(data).to_bytes(4, "big") + b"tEXt" + data + zlib.crc32(b"tEXt" + data).to_bytes(4, "big")
    end_of_header = 8 + 25  # signature, IHDR
    return png[:end_of_header] + chunk + png[end_of_header:]


def prepare(root: Path, pages: int) -> tuple[Edition, int]:
    edition = Edition(root)
    bases = [noise_png(side, seed) for seed, side in enumerate(SIDES)]
    manuscript = Manuscript(id=MS, title="Bench manuscript")
    for n in range(1, pages + 1):
        side = SIDES[n % len(SIDES)]
        manuscript.pages.append(
            Page(id=f"{MS}_p{n}", n=str(n), image=f"{n:04}.png", width=side, height=side, mime_type="image/png")
        )
    edition.create(manuscript, who="bench")
    folder = edition.facsimile_dir / MS
    folder.mkdir(parents=True)
    rows, total = [], 0
    for n in range(1, pages + 1):
        data = with_text_chunk(bases[n % len(bases)], f"page {n}")
        (folder / f"{n:04}.png").write_bytes(data)
        rows.append(f"{hashlib.sha256(data).hexdigest()}  {n:04}.png\n")
        total += len(data)
    (folder / CHECKSUMS).write_text("".join(rows))
    return edition, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-verify-"))
    try:
        started = time.perf_counter()
        edition, total = prepare(root / "edition", args.pages)
        megabytes = total / 1e6
        print(
            f"{args.pages} page images, {megabytes:.0f} MB ({megabytes / args.pages:.2f} MB each), "
            f"written in {time.perf_counter() - started:.1f} s"
        )
        folder = edition.facsimile_dir / MS

        def ours() -> None:
            report = preservation.verify(edition, save=False)
            assert report.ok and report.files == args.pages, report.text()

        def coreutils() -> None:
            subprocess.run(["sha256sum", "--quiet", "-c", CHECKSUMS], cwd=folder, check=True)

        timings: dict[str, list[float]] = {"workbench verify": [], "sha256sum -c": []}
        coreutils()  # into the page cache, so that both read from memory
        for _ in range(args.repeat):
            for name, run in (("workbench verify", ours), ("sha256sum -c", coreutils)):
                started = time.perf_counter()
                run()
                timings[name].append(time.perf_counter() - started)
        best = {name: min(times) for name, times in timings.items()}
        for name, seconds in best.items():
            print(f"{name:17} {seconds:6.2f} s  {megabytes / seconds:6.0f} MB/s  (best of {args.repeat})")
        ratio = best["workbench verify"] / best["sha256sum -c"]
        print(
            f"workbench verify takes {ratio:.2f}× the time of sha256sum -c (the TEI, journal and index checks included)"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
