"""Training threads against a busy neighbour: seconds per epoch with 1 and 2 torch threads.

A training's OpenMP threads wait for each other at every step, so a thread that
shares its core with another busy process holds all of them back. This renders
``--pages`` pages (as bench/training.py does), then trains the default network for
two epochs in a fresh process per setting, with OMP_NUM_THREADS set to 1 or 2, each
alone and next to a neighbour process that keeps one core busy (a Python busy
loop), and prints the second epoch's seconds (the first includes kraken's import
and cutting the lines). A setting that has not finished its epoch within
``--limit`` seconds is stopped and reported as such. Each setting runs twice: with
OpenMP's default wait policy (waiting threads spin for a while), and as the
workbench trains (OMP_WAIT_POLICY=PASSIVE: waiting threads sleep).

Run: .venv/bin/python bench/training_threads.py [--pages 4] [--limit 120]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def train_once(edition_root: str) -> None:
    """In the child: train two epochs, printing the seconds of each as it ends."""
    if os.environ.get("BENCH_OPENMP_DEFAULT"):
        # torch loaded first: OpenMP starts with its own wait policy (spinning for a
        # while), not the workbench's (OMP_WAIT_POLICY=PASSIVE, set only before torch loads).
        import torch  # noqa: F401
    from workbench.edition import Edition
    from workbench.htr import kraken, training

    marks = [time.monotonic()]

    def progress(done: kraken.EpochDone) -> None:
        marks.append(time.monotonic())
        print(f"epoch {done.epoch} {marks[-1] - marks[-2]:.2f}", flush=True)

    name = f"t{os.getpid()}"
    training.train(Edition(edition_root), ["letters"], name, "bench", epochs=2, progress=progress)


def measure(edition_root: Path, threads: int, busy_neighbour: bool, limit: float, extra: dict[str, str]) -> str:
    environment = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": str(threads), **extra}
    neighbour = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy_neighbour else None
    load = os.getloadavg()[0]
    child = subprocess.Popen(
        [sys.executable, __file__, "--child", str(edition_root)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    started = time.monotonic()
    epochs: dict[int, float] = {}
    seen_at: dict[int, float] = {}

    def read() -> None:
        for line in child.stdout:
            if line.startswith("epoch "):
                _, number, seconds = line.split()
                epochs[int(number)] = float(seconds)
                seen_at[int(number)] = time.monotonic()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        while 2 not in epochs and time.monotonic() - started < limit and child.poll() is None:
            time.sleep(0.2)
    finally:
        child.kill()
        child.wait()
        if neighbour:
            neighbour.kill()
            neighbour.wait()
    if 2 in epochs:
        result = f"{epochs[2]:.1f} s"
    elif 1 in epochs:
        result = f"> {time.monotonic() - seen_at[1]:.0f} s (stopped unfinished)"
    else:
        result = f"no epoch within {limit:.0f} s"
    return f"{result}  (load average before: {load:.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=4)
    parser.add_argument("--limit", type=float, default=120.0, help="Seconds a setting may take in all.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        train_once(arguments.child)
        return

    from workbench.edition import Edition
    from workbench.htr import training
    from workbench.sample import rendered_manuscript

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "edition"
        rendered_manuscript(Edition(root), Path(folder) / "scans", pages=arguments.pages, transcribed=arguments.pages)
        split = training.split_lines([Edition(root).load("letters")])
        print(
            f"{arguments.pages} rendered pages: {len(split.training)} training, {len(split.validation)} validation "
            f"lines; {os.cpu_count()} cores; default network; seconds of the second epoch"
        )
        settings = [
            (threads, busy, extra)
            for extra in ({"BENCH_OPENMP_DEFAULT": "1"}, {})
            for busy in (False, True)
            for threads in (1, 2)
        ]
        for threads, busy, extra in settings:
            label = f"{threads} thread(s), {'busy neighbour' if busy else 'alone'}"
            label += ", OpenMP's default waiting" if extra else ", as the workbench trains (passive waiting)"
            print(f"{label:72} {measure(root, threads, busy, arguments.limit, extra)}", flush=True)


if __name__ == "__main__":
    main()
