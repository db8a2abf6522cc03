"""The job queue's cost: Huey's overhead per task, and pages per minute through workers.

1. Overhead per job: a no-op Huey task, enqueued and run by a consumer thread, on the
   storage the workbench uses (SQLite in a file; Redis on a redis-server started here on
   a free loopback port, when redis-server is installed). Printed: enqueue time per task,
   and the time per task of a burst drained by one consumer thread (what the queue adds
   to each job, kraken aside). Then the same for a whole workbench job that does nothing
   (recognition of a page without lines): submit, queue, the job's own process, its file.
2. Throughput: a batch of one-page segmentation jobs (real kraken, a small rendered page
   of a few lines, so that a run takes minutes, not an hour), run by a consumer with 1 and
   with 2 workers; printed as pages per minute. Each job starts its own process, which
   loads kraken: that load is part of the cost, and the reason a big manuscript is best
   sent as one job.

Run: .venv/bin/python bench/queue.py [--pages 12] [--workers 1,2] [--tasks 200]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and this file's name
# would hide the standard library's queue module (concurrent.futures imports it).
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from huey import PriorityRedisHuey, SqliteHuey  # noqa: E402
from huey.consumer import Consumer  # noqa: E402

from workbench import queue  # noqa: E402
from workbench.edition import Edition  # noqa: E402
from workbench.jobs import JobStore  # noqa: E402
from workbench.model import Manuscript  # noqa: E402
from workbench.sample import HADZHI_DIMITAR, render_page  # noqa: E402


class QuietConsumer(Consumer):
    def _set_signal_handlers(self) -> None:
        pass


def noop_overhead(huey, tasks: int) -> tuple[float, float]:
    """(ms to enqueue a task, ms per task when a burst is drained by one consumer thread)."""
    done = threading.Event()
    count = [0]

    @huey.task()
    def noop() -> None:
        count[0] += 1
        if count[0] == tasks:
            done.set()

    started = time.perf_counter()
    for _ in range(tasks):
        noop()
    enqueue_ms = (time.perf_counter() - started) * 1000 / tasks
    consumer = QuietConsumer(huey, workers=1, worker_type="thread", periodic=False, max_delay=0.1)
    started = time.perf_counter()
    consumer.start()
    assert done.wait(300), f"only {count[0]} of {tasks} no-op tasks ran"
    drain_ms = (time.perf_counter() - started) * 1000 / tasks
    consumer.stop(graceful=True)
    return enqueue_ms, drain_ms


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_redis(folder: Path) -> tuple[subprocess.Popen, str] | None:
    server = shutil.which("redis-server")
    if server is None:
        return None
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.1)
    process.kill()
    return None


def job_overhead(root: Path, jobs: int) -> float:
    """Seconds per workbench job that has nothing to do, submitted one after another."""
    root.parent.mkdir(parents=True)
    edition = Edition(root)
    image, _ = render_page(["ред"], width=300, height=200, seed=1)
    image.save(root.parent / "blank.png")
    store = JobStore.of(edition)
    model = root.parent / "model.mlmodel"
    model.write_bytes(b"never loaded: the page has no lines")
    for number in range(jobs):
        edition.create(Manuscript(id=f"m{number}", title="m"), who="bench")
        edition.add_pages(f"m{number}", [root.parent / "blank.png"], who="bench")
    running = queue.start_consumers(root, ["cpu"], workers=1)
    try:
        started = time.perf_counter()
        for number in range(jobs):
            job = store.submit(edition, "recognize", f"m{number}", "bench", model=model)
            while store.get(job.id).active:
                time.sleep(0.01)
            assert store.get(job.id).state == "done", store.get(job.id).message
        return (time.perf_counter() - started) / jobs
    finally:
        running.stop()


def throughput(root: Path, pages: int, workers: int) -> float:
    """Pages per minute for ``pages`` one-page segmentation jobs and ``workers`` workers."""
    root.parent.mkdir(parents=True)
    edition = Edition(root)
    image, _ = render_page(HADZHI_DIMITAR.splitlines()[:3], width=600, height=400, seed=2)
    page = root.parent / "page.png"
    image.save(page)
    for number in range(pages):
        edition.create(Manuscript(id=f"m{number}", title="m"), who="bench")
        edition.add_pages(f"m{number}", [page], who="bench")
    # As many kraken jobs as workers, so that each job segments with one process.
    (root / "workbench.toml").write_text(f"[queue]\nkraken_jobs = {workers}\n")
    store = JobStore.of(edition)
    submitted = [store.submit(edition, "segment", f"m{number}", "bench") for number in range(pages)]
    started = time.perf_counter()
    running = queue.start_consumers(root, ["cpu"], workers=workers)
    try:
        for job in submitted:
            while store.get(job.id).active:
                time.sleep(0.2)
        elapsed = time.perf_counter() - started
    finally:
        running.stop()
    states = [store.get(job.id).state for job in submitted]
    assert states == ["done"] * pages, states
    return pages / elapsed * 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200, help="no-op tasks per storage")
    parser.add_argument("--jobs", type=int, default=10, help="empty workbench jobs")
    parser.add_argument("--pages", type=int, default=12, help="one-page segmentation jobs per run")
    parser.add_argument("--workers", default="1,2", help="worker counts to compare")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        huey = SqliteHuey("bench", filename=str(work / "queue.db"), results=False)
        enqueue_ms, drain_ms = noop_overhead(huey, arguments.tasks)
        print(f"no-op task, SQLite: enqueue {enqueue_ms:.2f} ms, run by a consumer {drain_ms:.2f} ms per task")
        redis = start_redis(work)
        if redis is None:
            print("no-op task, Redis: not measured (no redis-server here; make system-packages installs it)")
        else:
            process, url = redis
            try:
                enqueue_ms, drain_ms = noop_overhead(
                    PriorityRedisHuey("bench", url=url, results=False), arguments.tasks
                )
                print(f"no-op task, Redis:  enqueue {enqueue_ms:.2f} ms, run by a consumer {drain_ms:.2f} ms per task")
            finally:
                process.terminate()
                process.wait()
        per_job = job_overhead(work / "empty" / "edition", arguments.jobs)
        print(f"an empty workbench job (submit, queue, its own process, its file), SQLite: {per_job:.2f} s")
        for workers in (int(number) for number in arguments.workers.split(",")):
            rate = throughput(work / f"batch-{workers}" / "edition", arguments.pages, workers)
            print(f"{arguments.pages} one-page segmentation jobs, {workers} worker(s): {rate:.1f} pages/minute")


if __name__ == "__main__":
    main()
