"""Recognition training and recognition: throughput and memory, on rendered pages.

Renders ``--pages`` pages of pre-1945 text (about 21 lines each) into a fresh
edition, all but the last two transcribed by "a person", then:
- trains a model with the workbench's default network (``kraken.DEFAULT_SPEC``) for
  ``--epochs`` epochs through ``training.train`` (the path the CLI and the job take),
  timing the preparation (kraken import, cutting the lines out, binary datasets) and
  each epoch, and reporting training lines per second;
- measures it on the held-out lines (CER, WER);
- recognises the two untranscribed pages through ``pipeline.recognize`` (one torch
  thread, as the jobs run it): lines per second;
- the peak resident memory of the process.

Run: .venv/bin/python bench/training.py [--pages 12] [--epochs 10] [--spec VGSL]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from workbench.edition import Edition
from workbench.htr import kraken, pipeline, training
from workbench.sample import rendered_manuscript


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--spec", default=kraken.DEFAULT_SPEC)
    arguments = parser.parse_args()

    import torch

    device = (
        f"GPU ({torch.cuda.get_device_name()})"
        if torch.cuda.is_available()
        else f"CPU, {torch.get_num_threads()} threads"
    )
    with tempfile.TemporaryDirectory() as folder:
        edition = Edition(Path(folder) / "edition")
        rendered_manuscript(edition, Path(folder) / "scans", pages=arguments.pages, transcribed=arguments.pages - 2)
        split = training.split_lines([edition.load("letters")])
        print(
            f"{arguments.pages} rendered pages; {len(split.training)} training, {len(split.validation)} validation, "
            f"{len(split.held_out)} held-out lines; {device}"
        )
        print(f"network: {arguments.spec}")

        marks: list[float] = []
        accuracies: list[float | None] = []
        start = time.perf_counter()

        def progress(done: kraken.EpochDone) -> None:
            marks.append(time.perf_counter())
            accuracies.append(done.accuracy)

        record = training.train(
            edition, ["letters"], "bench", "bench", epochs=arguments.epochs, spec=arguments.spec, progress=progress
        )
        total = time.perf_counter() - start
        epoch_times = [b - a for a, b in zip(marks, marks[1:], strict=False)]
        steady = sum(epoch_times) / len(epoch_times) if epoch_times else float("nan")
        print(
            f"training: {total:.1f} s in all; first epoch (with kraken import, line cutting, datasets) "
            f"{marks[0] - start:.1f} s; later epochs {steady:.1f} s each "
            f"= {len(split.training) / steady:.1f} training lines/s"
        )
        print(f"validation accuracy by epoch: {', '.join(f'{a:.2f}' if a is not None else '-' for a in accuracies)}")
        if record.scores:
            print(
                f"held-out lines: CER {record.scores.cer:.2%}, WER {record.scores.wer:.2%} "
                f"({record.scores.lines} lines)"
            )

        weights = training.ModelStore.of(edition).weights("bench")
        pages = ",".join(str(n) for n in range(arguments.pages - 1, arguments.pages + 1))
        lines = sum(len(page.lines) for page in edition.load("letters").pages[-2:])
        kraken.load_recognizer(weights)  # time recognition, not loading
        start = time.perf_counter()
        pipeline.recognize(edition, "letters", weights, "bench", pages, model_name="bench")
        elapsed = time.perf_counter() - start
        print(
            f"recognition: {lines} lines in {elapsed:.1f} s = {lines / elapsed:.1f} lines/s (one torch thread, saves included)"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak:.0f} MB")


if __name__ == "__main__":
    main()
