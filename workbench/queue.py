"""Where jobs wait and who runs them: Huey queues, in SQLite or Redis, and their consumers.

A job (jobs.py) is recorded in its file and put on one of three queues, each a Huey
instance of its own (Huey has one queue per instance)::

    cpu   segmentation and recognition: kraken on the processor, ``kraken_jobs`` at once
    gpu   training; recognition too while a worker with CUDA is about
    low   what may wait: exports and reindexing (they need the edition's files: not for remote workers)

The queue lives in ``<edition>/.workbench/queue.db`` (SQLite: no server to run) unless
the edition's ``workbench.toml`` names a Redis server::

    [queue]
    redis = "redis://localhost:6379/0"   # one database per edition
    kraken_jobs = 2                      # kraken processes at once on a machine
    retries = 1                          # runs again of a job whose process was killed
    stale_after = 30                     # seconds without a heartbeat before a job is "stopped"

A consumer (``workbench worker``, or the one ``workbench serve`` starts) takes a task
from a queue when one of its threads is free; the task starts the job's own process
(``python -m workbench.jobs EDITION JOB_ID``) and waits for it. A process per job
gives kraken's 1.8 GB back when the job ends, lets a cancel signal the job and
nothing else, and lets a job outlive a consumer that is restarted. The task's
inputs are the edition's root and the job's id, two strings: a worker on another
machine needs nothing else that a queue message could not carry.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from huey import PriorityRedisHuey, SqliteHuey
from huey.api import Huey, Task, TaskWrapper
from huey.consumer import Consumer

from workbench.model import WorkbenchError

if TYPE_CHECKING:
    from workbench.jobs import Job

QUEUES = ("cpu", "gpu", "low")
HEARTBEAT_INTERVAL = 2.0  # seconds between a running job's heartbeats
KRAKEN_MEMORY = 2 * 1024**3  # what one kraken process may take (1.8 GB measured), rounded up
# Higher runs first (Huey's priority): the editor's re-segmentation of one page
# overtakes a manuscript waiting in line; it still waits for a free slot.
PRIORITY_PAGE, PRIORITY_BATCH = 10, 0

log = logging.getLogger("workbench.queue")


@dataclass
class QueueSettings:
    """The ``[queue]`` table of the edition's ``workbench.toml``."""

    redis: str | None = None  # a Redis URL; None: SQLite in .workbench/queue.db
    kraken_jobs: int | None = None  # None: one per 2 GB of available memory, 1 to the CPU count
    retries: int = 1  # a job whose process is killed (out of memory, kill -9) runs again this often
    stale_after: float = 30.0  # a job without a heartbeat for this long has no worker left
    # How much lower than the worker's own a job process's CPU priority is (0-19, Unix
    # nice): kraken fills a core for minutes, and editors sharing the machine should not
    # wait behind it (bench/mixed_load.py: save p95 with a segmentation job running).
    nice: int = 10
    # A token remote workers may use (remote.py), besides those `workbench worker-token create`
    # makes; kept here in clear, so prefer those (stored hashed).
    worker_token: str | None = None

    @classmethod
    def of(cls, root: Path) -> QueueSettings:
        path = Path(root) / "workbench.toml"
        try:
            with open(path, "rb") as file:
                table = tomllib.load(file).get("queue", {})
        except FileNotFoundError:
            return cls()
        except tomllib.TOMLDecodeError as error:
            raise WorkbenchError(f"{path} cannot be read: {error}") from None
        known = {field.name: field for field in fields(cls)}
        unknown = sorted(set(table) - set(known))
        if unknown:
            raise WorkbenchError(f"{path} [queue]: unknown setting(s) {', '.join(unknown)}; known: {', '.join(known)}")
        settings = cls(**table)
        if settings.redis is not None and not (
            isinstance(settings.redis, str) and settings.redis.startswith(("redis://", "rediss://", "unix://"))
        ):
            raise WorkbenchError(f"{path} [queue] redis: {settings.redis!r} is not a redis:// URL")
        for name in ("kraken_jobs", "retries", "nice"):
            value = getattr(settings, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise WorkbenchError(f"{path} [queue] {name}: {value!r} is not a whole number")
        if settings.worker_token is not None and (
            not isinstance(settings.worker_token, str) or len(settings.worker_token) < 32
        ):
            raise WorkbenchError(
                f"{path} [queue] worker_token: at least 32 characters (`workbench worker-token create`)"
            )
        if settings.nice > 19:
            raise WorkbenchError(f"{path} [queue] nice: {settings.nice} is more than 19, the lowest priority")
        if settings.kraken_jobs == 0:
            raise WorkbenchError(f"{path} [queue] kraken_jobs: at least 1")
        if not isinstance(settings.stale_after, int | float) or settings.stale_after <= HEARTBEAT_INTERVAL:
            raise WorkbenchError(f"{path} [queue] stale_after: more than {HEARTBEAT_INTERVAL:g} seconds")
        return settings

    @property
    def jobs_at_once(self) -> int:
        return self.kraken_jobs or machine_slots()


def machine_slots() -> int:
    """Kraken processes this machine can hold: one per 2 GB of available memory, 1 to the CPU count."""
    return max(1, min(os.cpu_count() or 1, _available_memory() // KRAKEN_MEMORY))


def _available_memory() -> int:
    try:
        with open("/proc/meminfo") as file:
            return next(int(line.split()[1]) * 1024 for line in file if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")  # not Linux: all of it


def pages_at_once(root: Path) -> int:
    """Pages one segmentation job segments at once (a kraken process each): the machine's
    slots shared among the jobs the queue runs at once, so that together they stay
    within memory. The default ``kraken_jobs`` fills every slot: a page per job."""
    return max(1, machine_slots() // QueueSettings.of(root).jobs_at_once)


# -- the queues ---------------------------------------------------------------------

_hueys: dict[tuple[str, str, str | None, int], tuple[Huey, TaskWrapper]] = {}
_hueys_lock = threading.Lock()


def huey_for(root: Path, queue: str) -> Huey:
    """The Huey instance of one of the edition's queues."""
    return _queue(root, queue)[0]


def _queue(root: Path, queue: str) -> tuple[Huey, TaskWrapper]:
    """The Huey instance of one of the edition's queues and the job task registered on it."""
    if queue not in QUEUES:
        raise WorkbenchError(f"unknown queue {queue!r}: use {', '.join(QUEUES)}")
    root = Path(root).resolve()
    settings = QueueSettings.of(root)
    key = (str(root), queue, settings.redis, settings.retries)
    with _hueys_lock:
        if key not in _hueys:
            name = f"workbench.{queue}"
            if settings.redis:
                # Priority storage: plain RedisHuey keeps a list and ignores priority.
                huey = PriorityRedisHuey(name, url=settings.redis, results=False, utc=True)
            else:
                state = root / ".workbench"
                state.mkdir(parents=True, exist_ok=True)
                huey = SqliteHuey(name, filename=str(state / "queue.db"), results=False, utc=True)

            def run_queued_job(edition_root: str, job_id: str, task: Task | None = None) -> None:
                run_job(edition_root, job_id, task, _device.get(queue))

            # A run again is safe: segmentation and recognition skip the pages they
            # saved; a training job starts from scratch and keeps nothing half-made.
            wrapper = huey.task(name="run_job", retries=settings.retries, context=True)(run_queued_job)
            _hueys[key] = (huey, wrapper)
        return _hueys[key]


def remote_huey(redis_url: str, queue: str, run: Callable[[str, Task | None], None]) -> Huey:
    """One of the queues as a remote worker (remote.py) sees it: the same Redis queue and
    task name as the web process's, but the task runs ``run(job_id, task)``, which
    works through the workbench's HTTP API instead of the edition's files."""
    if queue not in QUEUES:
        raise WorkbenchError(f"unknown queue {queue!r}: use {', '.join(QUEUES)}")
    huey = PriorityRedisHuey(f"workbench.{queue}", url=redis_url, results=False, utc=True)

    def run_queued_job(edition_root: str, job_id: str, task: Task | None = None) -> None:
        run(job_id, task)  # the edition's root names a folder on the workbench's machine: not ours

    # Huey finds a task by module and name: this one is "workbench.queue.run_job" too.
    huey.task(name="run_job", context=True)(run_queued_job)
    return huey


def queue_for(root: Path, kind: str) -> str:
    """The queue a job of ``kind`` waits in (module docstring)."""
    if kind == "train":
        return "gpu"
    if kind in ("reindex", "export"):
        return "low"
    if kind == "recognize" and cuda_worker_present(root):
        return "gpu"
    return "cpu"


def enqueue(root: Path, job: Job) -> None:
    """Put the job's task on its queue; the task's id is the job's (for revoking it)."""
    huey, task = _queue(root, job.queue or "cpu")
    priority = PRIORITY_PAGE if job.kind != "train" and job.total <= 1 else PRIORITY_BATCH
    huey.enqueue(task.s(str(Path(root).resolve()), job.id, id=job.id, priority=priority))


def revoke(root: Path, job: Job) -> None:
    huey_for(root, job.queue or "cpu").revoke_by_id(job.id, revoke_once=True)


def pending(root: Path, queue: str) -> list[str]:
    """The ids of the jobs waiting in ``queue``, next first."""
    return [task.id for task in huey_for(root, queue).pending()]


def run_job(edition_root: str, job_id: str, task: Task | None = None, device: str | None = None) -> None:
    """The queue's task: run the job in a process of its own and wait for it.

    The process records everything in the job's file. What is left here is a process
    that died without a word (killed, out of memory): the job runs again if the
    task has retries left (Huey re-enqueues it when this raises), else it failed.
    """
    from workbench.jobs import JobStore

    root = Path(edition_root)
    store = JobStore(root / ".workbench" / "jobs")
    job = store._read(job_id)
    if not job.active:
        return  # cancelled while it waited
    process = store._start_worker(root, job_id, device)
    store._update(job_id, pid=process.pid)  # at once, so cancel finds it before the process says so
    status = process.wait()
    if status >= 0:
        return  # it ended and said how, in the job's file
    if store._read(job_id).state == "cancelled":
        return
    why = f"its process was killed by {signal.Signals(-status).name}"
    if task is not None and task.retries > 0 and store._requeue(job_id, why) is not None:
        log.warning("job %s: %s; it runs again (%d retries left)", job_id, why, task.retries)
        raise WorkerKilled(f"job {job_id}: {why}")
    store._stopped(job_id)


def lower_priority(pid: int, steps: int) -> None:
    """Give a just-started child process ``steps`` less CPU priority than this one (a job's
    process; the search indexer's).

    Set from here, at once, so no child runs a moment at the server's priority whatever
    it imports first. On Linux a priority belongs to a thread: this sets the new
    process's only thread, before it starts torch's or kraken's, which inherit it. Where
    the kernel groups each session's processes for scheduling (autogroup, on by default
    on most distributions), a nice value only counts within its group: a child with a
    session of its own (a job, so that cancel can signal its group) gets its group's
    value set too, else it would take a full core's share beside the server; a child in
    this process's group (the indexer) must not, or the server's own group would sink.
    """
    if steps <= 0:
        return
    nice = min(19, os.getpriority(os.PRIO_PROCESS, 0) + steps)
    try:
        os.setpriority(os.PRIO_PROCESS, pid, nice)
    except ProcessLookupError:
        return  # it ended already: nothing left to slow down
    try:
        group = _autogroup(pid)
        if group is not None and group != _autogroup(os.getpid()):
            (PROC / str(pid) / "autogroup").write_text(str(nice))
    except OSError:
        pass  # no autogroups in this kernel (or it ended): the thread's value is what counts


# Where the kernel tells of processes; a test points it at a folder of its own.
PROC = Path("/proc")


def _autogroup(pid: int) -> str | None:
    """The name of ``pid``'s scheduling group ("/autogroup-123 nice 0"), or None where
    it is in none: the kernel leaves the file empty for a process that a cgroup of its
    own schedules (as containers and CI machines often do)."""
    words = (PROC / str(pid) / "autogroup").read_text().split()
    return words[0] if words else None


class WorkerKilled(Exception):
    """A job's process was killed; raised so that Huey runs the task again."""


# -- the consumers ------------------------------------------------------------------

# Where a queue's jobs run, in this consumer process: the gpu queue's "cuda" when torch
# sees a GPU here, else "cpu"; other queues leave it to kraken.
_device: dict[str, str] = {}


class _Consumer(Consumer):
    def _set_signal_handlers(self) -> None:
        pass  # the worker command (or a test) owns the signals of its process, for all its consumers


@dataclass
class Consumers:
    """The consumers one process runs, a queue each, in threads."""

    root: Path
    consumers: dict[str, Consumer]
    cuda: bool = False
    _beat: threading.Event | None = None

    def stop(self) -> None:
        if self._beat is not None:
            self._beat.set()
        for consumer in self.consumers.values():
            consumer.stop(graceful=False)
        _worker_record(self.root).unlink(missing_ok=True)


def start_consumers(root: Path, queues: list[str] | tuple[str, ...] = QUEUES, workers: int | None = None) -> Consumers:
    """Start a consumer for each of ``queues`` in this process, in threads; ``workers``
    tasks at once on each (default: ``kraken_jobs`` on cpu, one on gpu and low)."""
    root = Path(root).resolve()
    settings = QueueSettings.of(root)
    unknown = [queue for queue in queues if queue not in QUEUES]
    if unknown or not queues:
        raise WorkbenchError(f"unknown queue(s) {', '.join(unknown) or '(none)'}: use {', '.join(QUEUES)}")
    cuda = False
    if "gpu" in queues:
        import torch  # only a gpu consumer pays for importing it

        cuda = torch.cuda.is_available()
        _device["gpu"] = "cuda" if cuda else "cpu"
    consumers = {}
    for queue in queues:
        count = workers or (settings.jobs_at_once if queue == "cpu" else 1)
        consumers[queue] = start_consumer(huey_for(root, queue), count)
    running = Consumers(root, consumers, cuda)
    running._beat = _announce(root, list(queues), cuda)
    return running


def start_consumer(huey: Huey, workers: int) -> Consumer:
    """A consumer of one queue, ``workers`` tasks at once, in threads of this process."""
    consumer = _Consumer(
        huey,
        workers=workers,
        worker_type="thread",
        periodic=False,
        initial_delay=0.1,
        max_delay=1.0,  # an idle queue is looked at every second: a new job waits at most that
        check_worker_health=False,  # threads that only wait on a process do not die
    )
    consumer.start()
    return consumer


def _worker_record(root: Path) -> Path:
    return root / ".workbench" / "workers" / f"{socket.gethostname()}-{os.getpid()}.json"


def _announce(root: Path, queues: list[str], cuda: bool) -> threading.Event:
    """Keep a record of this worker (its queues, whether it has CUDA) fresh while it runs:
    submit sends recognition to the gpu queue only while a CUDA worker is about."""
    import json

    path = _worker_record(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"queues": queues, "cuda": cuda, "pid": os.getpid(), "host": socket.gethostname()}))
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_INTERVAL):
            try:
                os.utime(path)
            except FileNotFoundError:
                return

    threading.Thread(target=beat, name="worker-record", daemon=True).start()
    return stop


def cuda_worker_present(root: Path) -> bool:
    import json

    folder = Path(root) / ".workbench" / "workers"
    stale_after = QueueSettings.of(root).stale_after
    for path in folder.glob("*.json") if folder.is_dir() else ():
        try:
            fresh = time.time() - path.stat().st_mtime < stale_after
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if fresh and record.get("cuda") and "gpu" in record.get("queues", []):
            return True
    return False


def run_worker_command(root: Path, queues: list[str], workers: int | None, parent: int | None = None) -> None:
    """``workbench worker``: consume until SIGINT or SIGTERM (or, started by serve, until
    the server is gone). Jobs running then go on in their own processes to their end."""
    stop = threading.Event()

    def stopping(number: int, frame: object) -> None:
        stop.set()

    running = start_consumers(root, queues, workers)
    previous = {number: signal.signal(number, stopping) for number in (signal.SIGINT, signal.SIGTERM)}
    settings = QueueSettings.of(root)
    where = f"Redis {settings.redis}" if settings.redis else f"{Path(root).resolve() / '.workbench' / 'queue.db'}"
    counts = ", ".join(f"{queue} ×{consumer.workers}" for queue, consumer in running.consumers.items())
    log.info("workbench worker %d: queues %s on %s%s", os.getpid(), counts, where, " (CUDA)" if running.cuda else "")
    try:
        while not stop.wait(1.0):
            if parent is not None and os.getppid() != parent:
                log.info("the server that started this worker is gone; stopping")
                break
    finally:
        running.stop()
        for number, handler in previous.items():
            signal.signal(number, handler)


def start_worker_process(root: Path) -> subprocess.Popen:
    """For ``workbench serve``: a worker process that ends when the server does."""
    import sys

    return subprocess.Popen(
        [sys.executable, "-m", "workbench", "--edition", str(root), "worker", "--parent", str(os.getpid())],
        stdin=subprocess.DEVNULL,
    )
