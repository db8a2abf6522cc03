"""What the automatic retraining check ([recognition] retrain_after) adds to a line save.

A generated 500-page, 15,000-line manuscript (bench/validation.py's), a trained model's
record on it (its weights are never loaded: only its record is read), and line saves
through ``Edition.apply`` as the web save makes them; after each, ``AutoRetrain.after_save``
as the web save calls it. Prints the save's own median and p95, the check's median, p95
and worst, and the first check (which counts the whole manuscript once per process).
The threshold is set out of reach, so that every check goes all the way to the count.

Run: .venv/bin/python bench/retrain_check.py [--saves 300]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from validation import generate

from workbench import jobs  # noqa: F401  (imported, as in the web process, before the first check)
from workbench.edition import Edition
from workbench.htr import training


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--saves", type=int, default=300)
    parser.add_argument("--pages", type=int, default=500)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        edition = Edition(Path(folder))
        manuscript = generate(arguments.pages, 30)
        for page in manuscript.pages:  # verified lines are what the check counts
            for line in page.lines[::2]:
                line.status = "verified"
        edition.create(manuscript, who="bench")
        weights = Path(folder) / "weights"
        weights.write_bytes(b"not loaded")
        record = training.ModelRecord(
            name="big-1",
            created="2026-01-01T00:00:00Z",
            base=None,
            manuscripts=["big"],
            training_lines=100,
            validation_lines=10,
            held_out=[],
            epochs=30,
            validation_accuracy=0.5,
        )
        training.ModelStore.of(edition).folder.mkdir(parents=True)
        training.keep(edition, record, weights)
        check = training.AutoRetrain(edition, after=10**9)
        lines = [line.id for line in manuscript.lines()]
        started = time.perf_counter()
        check.after_save("big", "bench")
        first = time.perf_counter() - started
        saves, checks = [], []
        for number in range(arguments.saves):
            line_id = lines[(number * 7919) % len(lines)]
            page_n = str(int(line_id.split("_p")[1].split("_")[0]))

            def verify(current, line_id=line_id, page_n=page_n):
                line = next(line for line in current.page(page_n).lines if line.id == line_id)
                line.status = "verified" if line.status != "verified" else "corrected"
                return line

            started = time.perf_counter()
            edition.apply("big", page_n, verify, "bench")
            saves.append(time.perf_counter() - started)
            started = time.perf_counter()
            check.after_save("big", "bench")
            checks.append(time.perf_counter() - started)
        print(f"{len(lines)} lines, {arguments.saves} saves")
        print(f"save:  median {statistics.median(saves) * 1000:.2f} ms, p95 {percentile(saves, 0.95) * 1000:.2f} ms")
        print(
            f"check: median {statistics.median(checks) * 1000:.3f} ms, p95 {percentile(checks, 0.95) * 1000:.3f} ms, "
            f"worst {max(checks) * 1000:.3f} ms"
        )
        print(f"first check (counts the whole manuscript): {first * 1000:.1f} ms")
        print(f"lines to learn from now: {check.counts.of(['big'])}")


if __name__ == "__main__":
    main()
