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

3. Remote workers (--remote): the same batch through Redis, run by two `workbench worker
   --remote` processes in folders of their own, over HTTP from `workbench serve`. Printed:
   pages per minute; the time spent fetching page images and sending results as a share
   of kraken's time (each page's timings, from the job logs the workers relay); the peak
   memory of each worker process and of its job processes.
4. Waiting (--waiting N): a one-page job submitted while batch jobs of N pages in all wait
   (cheap pages: a few lines each) with two local workers: the seconds until that page
   is saved, against the batch's whole time.

Run: .venv/bin/python bench/job_queue.py [--pages 12] [--workers 1,2] [--tasks 200] [--remote] [--waiting 100]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and this file's name
# would hide the standard library's queue module (concurrent.futures imports it).
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import re  # noqa: E402
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


def batch_edition(root: Path, pages: int, lines: int = 3) -> Edition:
    root.parent.mkdir(parents=True, exist_ok=True)
    edition = Edition(root)
    image, _ = render_page(HADZHI_DIMITAR.splitlines()[:lines], width=600, height=400, seed=2)
    page = root.parent / "page.png"
    image.save(page)
    for number in range(pages):
        edition.create(Manuscript(id=f"m{number}", title="m"), who="bench")
        edition.add_pages(f"m{number}", [page], who="bench")
    return edition


PAGE_TIMING = re.compile(r"page \S+ done \(fetched in ([\d.]+) s, kraken ([\d.]+) s, sent in ([\d.]+) s\)")
PEAK = re.compile(r"peak memory of this job's process: (\d+) MB")


def remote_batch(work: Path, pages: int, redis_url: str) -> None:
    """The batch through Redis and two remote worker processes over HTTP (module docstring, 3)."""
    from tests.builders import serving, start_remote_worker, stop

    edition = batch_edition(work / "edition", pages)
    (edition.root / "workbench.toml").write_text(f'[queue]\nredis = "{redis_url}"\nkraken_jobs = 2\n')
    store = JobStore.of(edition)
    with serving(edition, work / "server") as server:
        workers = [start_remote_worker(server, work / f"machine-{k}") for k in (1, 2)]
        try:
            submitted = [store.submit(edition, "segment", f"m{number}", "bench") for number in range(pages)]
            started = time.perf_counter()
            for job in submitted:
                while store.get(job.id).active:
                    time.sleep(0.2)
            elapsed = time.perf_counter() - started
            worker_peaks = [_peak_mb(worker.pid) for worker in workers]
        finally:
            for worker in workers:
                stop(worker)
    states = [store.get(job.id).state for job in submitted]
    assert states == ["done"] * pages, states
    fetch = compute = send = 0.0
    job_peaks = []
    for job in submitted:
        log = store.log_path(job.id).read_text()
        for found in PAGE_TIMING.finditer(log):
            fetch, compute, send = fetch + float(found[1]), compute + float(found[2]), send + float(found[3])
        job_peaks += [int(found) for found in PEAK.findall(log)]
    print(f"{pages} one-page segmentation jobs, 2 remote workers over HTTP: {pages / elapsed * 60:.1f} pages/minute")
    print(
        f"  fetching images {fetch:.2f} s + sending results {send:.2f} s against kraken's {compute:.1f} s: "
        f"{(fetch + send) / compute:.2%} of kraken's time"
    )
    print(
        f"  peak memory: worker processes {', '.join(f'{peak} MB' for peak in worker_peaks)}; "
        f"their job processes {min(job_peaks)}–{max(job_peaks)} MB"
    )


def _peak_mb(pid: int) -> int:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmHWM:"):
            return int(row.split()[1]) // 1024
    return 0


def waiting(work: Path, pages: int) -> None:
    """A one-page job submitted while ``pages`` pages wait in batch jobs (module docstring, 4)."""
    edition = batch_edition(work / "edition", 0)
    image, _ = render_page(HADZHI_DIMITAR.splitlines()[:2], width=500, height=300, seed=4)
    image.save(work / "cheap.png")
    per_job = max(1, pages // 10)  # ten batch jobs: two run, eight wait
    # A file of its own for each page: the same file added twice is one page.
    copies = [shutil.copy(work / "cheap.png", work / f"cheap-{k}.png") for k in range(per_job)]
    for number in range(pages // per_job):
        edition.create(Manuscript(id=f"batch{number}", title="b"), who="bench")
        edition.add_pages(f"batch{number}", [Path(copy) for copy in copies], who="bench")
    edition.create(Manuscript(id="single", title="s"), who="bench")
    edition.add_pages("single", [work / "cheap.png"], who="bench")
    (edition.root / "workbench.toml").write_text("[queue]\nkraken_jobs = 2\n")
    store = JobStore.of(edition)
    batch = [store.submit(edition, "segment", f"batch{n}", "bench") for n in range(pages // per_job)]
    running = queue.start_consumers(edition.root, ["cpu"], workers=2)
    try:
        started = time.perf_counter()
        while sum(store.get(job.id).state == "running" for job in batch) < 2:
            time.sleep(0.1)
        submitted = time.perf_counter()
        single = store.submit(edition, "segment", "single", "bench")
        while store.get(single.id).active:
            time.sleep(0.1)
        saved = time.perf_counter() - submitted
        jobs_now = [store.get(job.id) for job in batch]
        left = sum(job.total - job.done if job.state != "queued" else per_job for job in jobs_now if job.active)
        first_done = min((job.finished for job in jobs_now if job.finished), default=None)
        for job in batch:  # the rest of the batch is not what is measured
            store.cancel(job.id)
    finally:
        running.stop()
    single = store.get(single.id)
    assert single.state == "done"
    before = sorted(job.id for job in jobs_now if job.started and job.started < single.started)
    print(
        f"one page submitted while {pages} pages wait in {len(batch)} jobs of {per_job} (2 workers, two jobs "
        f"running): saved after {saved:.1f} s ({submitted - started:.1f} s after the batch started); it started "
        f"after {len(before)} of the {len(batch)} batch jobs, at {single.started} (first batch job done at "
        f"{first_done}), with {left} of the batch's {pages} pages still to do"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200, help="no-op tasks per storage")
    parser.add_argument("--jobs", type=int, default=10, help="empty workbench jobs")
    parser.add_argument("--pages", type=int, default=12, help="one-page segmentation jobs per run")
    parser.add_argument("--workers", default="1,2", help="worker counts to compare")
    parser.add_argument("--remote", action="store_true", help="only the batch through two remote workers (3)")
    parser.add_argument("--waiting", type=int, help="only the one page submitted while this many pages wait (4)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        if arguments.remote:
            redis = start_redis(work)
            assert redis is not None, "no redis-server here (make system-packages installs it)"
            try:
                remote_batch(work / "remote", arguments.pages, redis[1])
            finally:
                redis[0].terminate()
                redis[0].wait()
            return
        if arguments.waiting:
            waiting(work / "waiting", arguments.waiting)
            return
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
