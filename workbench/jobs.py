"""Segmentation, recognition and training as background jobs, in worker processes outside the web process.

Kraken costs about 15 s of CPU per page and 1.8 GB per process, so a web request
only records a job and puts it on a queue (workbench/queue.py: Huey, in SQLite or
Redis); a consumer (``workbench worker``, or the one ``workbench serve`` starts)
takes it when a slot is free and runs it in a process of its own
(``python -m workbench.jobs EDITION JOB_ID``, this module), which runs the pipeline
and writes its progress into the job's file, which the web page polls. Jobs are
plain files, so they outlive the processes that started and ran them::

    <edition>/.workbench/jobs/<id>.json       the job, replaced atomically on every change
    <edition>/.workbench/jobs/<id>.log        the worker's output (kraken's warnings, tracebacks)
    <edition>/.workbench/jobs/<id>.heartbeat  touched every few seconds while the job runs
    <edition>/.workbench/jobs/.lock           serialises read-modify-write of job files

A job is ``queued`` until a worker takes it, ``running`` while it works, then
``done``, ``failed`` or ``cancelled``. Pages are saved one by one as they are done
(that is how the pipeline works), so a cancelled or failed job keeps the pages it
finished, and a job run again after its process was killed skips them. A training
job counts epochs instead of pages; cancelled, it keeps no model.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from workbench import queue
from workbench.edition import Edition
from workbench.files import write_atomically
from workbench.htr import kraken, pipeline, training
from workbench.model import WorkbenchError

Kind = Literal["segment", "recognize", "train", "reindex", "export"]
State = Literal["queued", "running", "done", "failed", "cancelled"]
KINDS: tuple[Kind, ...] = ("segment", "recognize", "train", "reindex", "export")
# What the low queue does (queue.py): reading the edition, never changing a manuscript.
LOW_KINDS = ("reindex", "export")
EXPORTS_FOLDER = "exports"  # .workbench/exports/<job id>/<file>: an export job's zip
EXPORT_KEPT = 24 * 3600  # seconds an export job's zip is kept for its download
ACTIVE_STATES: tuple[State, ...] = ("queued", "running")

JOB_ID = re.compile(r"[0-9a-f]{12}")
STOPPED = "the worker stopped unexpectedly"


@dataclass
class Job:
    id: str  # 12 hex digits: safe in URLs, file names and as a command-line argument
    kind: Kind
    manuscript_id: str
    pages: str | None = None  # a page list as pipeline.select_pages reads it; None: every page
    # The recognition model (absolute path), or the base model a training job fine-tunes
    # (a trained model's name, or an absolute path).
    model: str | None = None
    # Training: the new model's name and the manuscripts it learns from (the first is
    # ``manuscript_id``); recognition: the trained model's name, if it is one.
    name: str | None = None
    manuscripts: list[str] | None = None
    # Segmentation: "replace" the page's lines, or "add" lines only where there are none.
    mode: str | None = None
    who: str = ""
    state: State = "queued"
    done: int = 0  # pages finished (saved or failed); epochs, for training
    total: int = 0
    current: str = ""  # what the worker is doing now, for the progress bar (English)
    # The same as data, for an interface's own words: {"step": "waiting" | "loading" |
    # "pages" | "saving" | "cutting" | "epoch", "pages": [...], "epoch", "epochs", "accuracy",
    # "cer" (this epoch's validation CER, 0–1), "best" (the best epoch so far)}.
    step: dict | None = None
    message: str = ""  # the outcome: a summary, or what went wrong (English, for the command line)
    # The same as data, for an interface to word in its own language: the counts of a
    # finished run (``_outcome``), and a failed job's reason as a code ("stopped", the
    # error's ``code``, else "error").
    outcome: dict | None = None
    error: str = ""
    created: str = ""
    started: str | None = None
    finished: str | None = None
    pid: int | None = None  # the worker's; also its process group (it starts a new session)
    queue: str | None = None  # the queue it waits in (queue.QUEUES); the Huey task's id is the job's id
    saved: list[str] | None = None  # pages finished and saved, which a run after a crash skips
    tries: int = 0  # the worker processes started for it (more than one: a killed one was retried)
    # A remote worker's run (remote.py): its "host/pid", which every result it sends must
    # name; None while the job waits, or when it runs here (``pid`` then).
    worker: str | None = None
    # A remote run's page outcomes, as the web process applied them (remote.py): what its
    # summary is made from at the end, across runs.
    results: list[dict] | None = None
    # An export job's: {"formats": [...], "images": bool, "notes": bool, "file": its zip's name};
    # a retraining's: {"retrain": "auto" | "asked", "since": the model, "lines": to learn from}.
    options: dict | None = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


class JobStore:
    """The jobs of one edition, in ``<edition>/.workbench/jobs`` (use ``JobStore.of(edition)``).

    Safe to use from several threads and processes at once: every change to a job
    file is made under the store's lock and written atomically.
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    @classmethod
    def of(cls, edition: Edition) -> JobStore:
        return cls(edition.jobs_dir)

    def path(self, job_id: str) -> Path:
        return self.folder / f"{_check_id(job_id)}.json"

    def log_path(self, job_id: str) -> Path:
        return self.folder / f"{_check_id(job_id)}.log"

    # -- the web process's side -------------------------------------------------

    def submit(
        self,
        edition: Edition,
        kind: Kind,
        manuscript_id: str,
        who: str,
        pages: str | None = None,
        model: str | Path | None = None,
        *,
        name: str | None = None,
        manuscripts: list[str] | None = None,
        epochs: int = 30,
        mode: str | None = None,
        options: dict | None = None,
    ) -> Job:
        """Check the request, record the job as queued and start its worker.

        ``model`` is a trained model's name or a model file (recognition: the model
        to read with; training: the base to fine-tune). Training takes the new model's
        ``name`` and the ``manuscripts`` to learn from (default: ``manuscript_id``).

        Anything wrong with the request (an unknown manuscript, a bad page list, a
        missing model, too few corrected lines, another job already working on the
        manuscript) is raised here as a WorkbenchError, and nothing is started.
        """
        if edition.jobs_dir != self.folder:
            # The worker finds its job from the edition root alone.
            raise ValueError(f"{self.folder} is not the jobs folder of {edition.root}")
        if kind not in KINDS:
            raise WorkbenchError(
                f"unknown job kind {kind!r}: use one of {', '.join(KINDS)}", code="job-kind", kind=kind
            )
        pages = pages.strip() if pages else None
        if kind in LOW_KINDS:
            return self._submit_low(edition, kind, manuscript_id, who, options)
        if kind == "train":
            manuscripts = list(manuscripts or [manuscript_id])
            total = _check_training(edition, manuscripts, name, model, epochs)
            if model and Path(model).expanduser().is_file():
                model = Path(model).expanduser().resolve()  # the worker runs in another folder; names stay names
        else:
            selected = pipeline.select_pages(edition.page_numbers(manuscript_id), pages, manuscript_id)
            if not selected:
                raise WorkbenchError(
                    f"{manuscript_id} has no pages yet; add page images first",
                    code="no-pages",
                    manuscript=manuscript_id,
                )
            total = len(selected)
        if kind == "recognize":
            if not model:
                raise WorkbenchError(
                    "a recognize job needs a recognition model (.mlmodel or .safetensors)", code="no-model"
                )
            name = None if Path(model).expanduser().is_file() else str(model)
            # Resolved now: the worker runs in another folder.
            model = training.ModelStore.of(edition).resolve(model)
        elif model and kind == "segment":
            raise WorkbenchError(
                "a segment job takes no model; start a recognize job once segmentation is done", code="segment-model"
            )
        if kind == "segment":
            mode = mode or "replace"
            if mode not in pipeline.MODES:
                raise WorkbenchError(
                    f"unknown segmentation mode {mode!r}: use {' or '.join(pipeline.MODES)}", code="mode", mode=mode
                )
        else:
            mode = None
        with self._locked():
            running = self._active(manuscript_id) if kind != "train" else self._training()
            if running is not None:
                raise WorkbenchError(
                    f"job {running.id} ({running.kind}, {running.state}, started by {running.who}) is already "
                    f"working on {manuscript_id}; wait until it ends or cancel it",
                    code="job-running",
                    job=running.id,
                    kind=running.kind,
                    state=running.state,
                    who=running.who,
                    manuscript=manuscript_id,
                )
            job = Job(
                id=secrets.token_hex(6),
                kind=kind,
                manuscript_id=manuscript_id,
                pages=pages,
                model=str(model) if model else None,
                name=name,
                manuscripts=manuscripts if kind == "train" else None,
                mode=mode,
                options=options if kind == "train" else None,  # a retraining's (training.submit_retraining)
                who=who,
                total=total,
                current="waiting for the worker to start",
                step={"step": "waiting"},
                created=_now(),
                queue=queue.queue_for(edition.root, kind),
            )
            self._write(job)
        return self._enqueue(edition, job)

    def _enqueue(self, edition: Edition, job: Job) -> Job:
        """Put the written job on its queue (after the file, so the task always finds its job);
        if the queue cannot take it, the job file goes too."""
        try:
            queue.enqueue(edition.root, job)
        except Exception as error:  # Redis down or unreachable, SQLite file unwritable
            with self._locked():
                self.path(job.id).unlink(missing_ok=True)
            raise WorkbenchError(f"could not put the job on the {job.queue} queue: {error}") from None
        return job

    def _submit_low(self, edition: Edition, kind: Kind, manuscript_id: str, who: str, options: dict | None) -> Job:
        """A reindex of the edition's search index, or an export of a manuscript as a zip:
        the low queue's jobs, which read the edition and change no manuscript."""
        if kind == "export":
            from workbench.exchange import transfer

            edition.header(manuscript_id)  # the manuscript exists (NotFound otherwise)
            options = dict(options or {})
            formats = list(options.get("formats") or transfer.FORMATS)
            unknown = sorted(set(formats) - set(transfer.FORMATS))
            if unknown:
                raise WorkbenchError(
                    f"unknown export format(s) {', '.join(unknown)}; choose from {', '.join(transfer.FORMATS)}",
                    code="export-format",
                )
            name = str(options.get("file") or f"{manuscript_id}.zip")
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,120}\.zip", name):
                raise WorkbenchError(f"{name!r} is not a zip file's name", code="export-file")
            options = {
                "formats": formats,
                "images": bool(options.get("images", True)),
                "notes": bool(options.get("notes")),
                "file": name,
            }
            self._clear_old_exports()
        else:
            manuscript_id, options = "", None  # the whole edition's index
        with self._locked():
            for running in self._read_all():
                same = (running.kind, running.manuscript_id, running.options) == (kind, manuscript_id, options)
                if same and running.active and self._expire_if_dead(running).active:
                    return running  # the same work already waits or runs: one is enough
            job = Job(
                id=secrets.token_hex(6),
                kind=kind,
                manuscript_id=manuscript_id,
                who=who,
                options=options,
                current="waiting for the worker to start",
                step={"step": "waiting"},
                created=_now(),
                queue=queue.queue_for(edition.root, kind),
            )
            self._write(job)
        return self._enqueue(edition, job)

    def export_path(self, job: Job) -> Path:
        """Where an export job's zip is (once it is done)."""
        return self.folder.parent / EXPORTS_FOLDER / job.id / job.options["file"]

    def _clear_old_exports(self) -> None:
        """Export zips older than EXPORT_KEPT go: each was offered for download once made."""
        import shutil

        folder = self.folder.parent / EXPORTS_FOLDER
        for made in folder.iterdir() if folder.is_dir() else ():
            try:
                if time.time() - made.stat().st_mtime > EXPORT_KEPT:
                    shutil.rmtree(made, ignore_errors=True)
            except FileNotFoundError:
                pass

    def get(self, job_id: str) -> Job:
        """The job; a queued or running job whose worker is gone is reported (and recorded) failed."""
        job = self._read(job_id)
        if job.active:
            with self._locked():
                job = self._expire_if_dead(self._read(job_id))
        return job

    def list(self, manuscript_id: str | None = None) -> list[Job]:
        """Jobs, newest first; only those of ``manuscript_id`` if given."""
        jobs = [job for job in self._read_all() if manuscript_id is None or job.manuscript_id == manuscript_id]
        if any(job.active for job in jobs):
            with self._locked():
                jobs = [self._expire_if_dead(self._read(job.id)) if job.active else job for job in jobs]
        return sorted(jobs, key=lambda job: (job.created, job.id), reverse=True)

    def active(self, manuscript_id: str) -> Job | None:
        """The queued or running job on ``manuscript_id``, if there is one."""
        with self._locked():
            return self._active(manuscript_id)

    def cancel(self, job_id: str, who: str | None = None) -> Job:
        """Mark the job cancelled: take it off its queue if it waits there, stop its
        worker (SIGTERM to its process group) if it runs.

        Pages the worker saved before stay saved. A job that has already ended is
        returned as it is.
        """
        with self._locked():
            job = self._expire_if_dead(self._read(job_id))
            if not job.active:
                return job
            if job.state == "queued" and job.queue:
                # The task would find the job cancelled and do nothing anyway; revoked,
                # it is not even taken off the queue by a worker.
                try:
                    queue.revoke(self.folder.parent.parent, job)
                except Exception as error:  # the queue unreachable: the job file still says cancelled
                    print(f"job {job.id}: could not revoke its task ({error})", file=sys.stderr)
            job.state, job.finished, job.current = "cancelled", _now(), ""
            by = f" by {who}" if who else ""
            if job.kind == "train":
                job.message = f"cancelled{by} after {job.done} of {job.total} epoch(s); no model was kept"
            elif job.kind in LOW_KINDS:
                job.message = f"cancelled{by}"
            else:
                job.message = f"cancelled{by} after {job.done} of {job.total} page(s); the pages finished stay saved"
            self._write(job)
        # Under the manuscript's lock the worker is not in the middle of a save, so it
        # is never stopped between writing the journal and replacing the TEI file.
        if job.kind in LOW_KINDS:  # it saves no manuscript: no save to wait for
            _signal_worker(job, signal.SIGTERM)
            return job
        with Edition(self.folder.parent.parent).lock(job.manuscript_id):
            _signal_worker(job, signal.SIGTERM)
        return job

    # -- the worker's side --------------------------------------------------------

    def _update(self, job_id: str, **changes: object) -> Job | None:
        """Change an active job; None (and nothing written) if it has ended, e.g. was cancelled."""
        with self._locked():
            job = self._read(job_id)
            if not job.active:
                return None
            for name, value in changes.items():
                setattr(job, name, value)
            self._write(job)
            return job

    def heartbeat_path(self, job_id: str) -> Path:
        return self.folder / f"{_check_id(job_id)}.heartbeat"

    def _requeue(self, job_id: str, why: str) -> Job | None:
        """The job's process died without a word and its task will run again: back in line.

        None if the job ended meanwhile (cancelled, or recorded failed by a reader that
        found its heartbeat stale)."""
        with self._locked():
            job = self._read(job_id)
            if not job.active:
                return None
            self._back_in_line(job, why)
            return job

    def _back_in_line(self, job: Job, why: str) -> None:
        """Lock held. The job waits again for a worker (the caller puts it on its queue)."""
        job.state, job.pid, job.worker, job.current = "queued", None, None, f"{why}; waiting to run again"
        job.step = {"step": "waiting"}
        self.heartbeat_path(job.id).unlink(missing_ok=True)
        self._write(job)

    def _stopped(self, job_id: str) -> Job:
        """The job's process died without a word and is not run again: the job failed."""
        with self._locked():
            job = self._read(job_id)
            if job.active:
                self._fail_stopped(job)
            return job

    # -- files ------------------------------------------------------------------

    def _start_worker(self, edition_root: Path, job_id: str, device: str | None = None) -> subprocess.Popen:
        """Start the process that runs the job (the queue's task calls this, and waits)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        # ``-m`` puts the working folder first on sys.path: running in the folder
        # that holds this package makes the worker run this very code.
        package_parent = Path(__file__).resolve().parent.parent
        environment = os.environ | ({"WORKBENCH_DEVICE": device} if device else {})
        try:
            with open(self.log_path(job_id), "ab") as log:
                process = subprocess.Popen(
                    [sys.executable, "-m", "workbench.jobs", str(edition_root), job_id],
                    cwd=package_parent,
                    env=environment,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    # Its own session and process group: it survives a restart of the
                    # consumer, and cancel can signal it with its pool processes and nothing else.
                    start_new_session=True,
                )
        except OSError as error:
            raise WorkbenchError(f"could not start a worker process: {error}", code="no-worker") from None
        queue.lower_priority(process.pid, queue.QueueSettings.of(edition_root).nice)
        _children[process.pid] = process
        return process

    def _active(self, manuscript_id: str) -> Job | None:
        """Lock held."""
        for job in self._read_all():
            if (
                job.manuscript_id == manuscript_id
                and job.kind not in LOW_KINDS  # an export reads the manuscript: it is in no one's way
                and job.active
                and self._expire_if_dead(job).active
            ):
                return job
        return None

    def _training(self) -> Job | None:
        """Lock held. The training job now running: one at a time, since each takes every core."""
        for job in self._read_all():
            if job.kind == "train" and job.active and self._expire_if_dead(job).active:
                return job
        return None

    def _expire_if_dead(self, job: Job) -> Job:
        """Lock held. A worker that died without saying so (killed, out of memory) fails its job.

        A job that has a heartbeat is judged by it alone: its worker may be on another
        machine, and when its process is killed the consumer that ran it decides
        (within a second) whether it runs again; only a heartbeat older than the
        ``[queue] stale_after`` seconds means nobody is left to decide. A queued job
        without a pid waits in its queue for as long as it takes.
        """
        if not job.active:
            return job
        try:
            beat = self.heartbeat_path(job.id).stat().st_mtime
        except FileNotFoundError:
            beat = None
        if beat is not None:
            stale = time.time() - beat > queue.QueueSettings.of(self.folder.parent.parent).stale_after
        else:
            stale = job.pid is not None and not _worker_alive(job)
        if stale and job.worker is not None and self._retry_remote(job):
            return job
        if stale:
            self._fail_stopped(job)
        return job

    def _retry_remote(self, job: Job) -> bool:
        """Lock held. A remote worker went silent (killed, its machine gone): nobody there
        will put its job back in line, so the web process does, while retries are left,
        and another worker takes it; pages saved before are skipped."""
        root = self.folder.parent.parent
        if job.tries > queue.QueueSettings.of(root).retries:
            return False
        self._back_in_line(job, f"the remote worker {job.worker} stopped answering")
        try:
            queue.enqueue(root, job)
        except Exception as error:  # the queue unreachable: the job cannot run again
            print(f"job {job.id}: could not put it back on its queue ({error})", file=sys.stderr)
            return False
        return True

    def _fail_stopped(self, job: Job) -> None:
        """Lock held."""
        job.state, job.finished, job.current = "failed", _now(), ""
        job.message = f"{STOPPED} (its output is in {self.log_path(job.id)})"
        job.error = "stopped"
        self._write(job)
        self.heartbeat_path(job.id).unlink(missing_ok=True)

    def _read(self, job_id: str) -> Job:
        path = self.path(job_id)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise WorkbenchError(f"no job {job_id!r} in {self.folder}") from None
        except ValueError as error:
            raise WorkbenchError(f"{path} is not a job file ({error})") from None
        known = {field.name for field in fields(Job)}
        return Job(**{name: value for name, value in data.items() if name in known})

    def _read_all(self) -> list[Job]:
        jobs = []
        for path in self.folder.glob("*.json") if self.folder.is_dir() else ():
            if JOB_ID.fullmatch(path.stem):
                try:
                    jobs.append(self._read(path.stem))
                except WorkbenchError:
                    if path.exists():
                        raise  # unreadable, not merely removed meanwhile
        return jobs

    def _write(self, job: Job) -> None:
        """Lock held. A reader sees the old job or the new one; progress need not survive a crash."""
        data = json.dumps(asdict(job), ensure_ascii=False, indent=1).encode("utf-8")
        write_atomically(self.path(job.id), data, durable=False)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        # flock is per open file: threads of one process exclude each other too.
        with open(self.folder / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


# Workers this process started, by pid: polling them reaps them, and a dead child
# that nobody reaped (a zombie) would otherwise look alive to kill(pid, 0).
_children: dict[int, subprocess.Popen] = {}


def _worker_alive(job: Job) -> bool:
    if job.pid is None:
        return False
    child = _children.get(job.pid)
    if child is not None:
        if child.poll() is None:
            return True
        _children.pop(job.pid, None)
        return False
    try:
        os.kill(job.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # a process of another user: alive, but /proc tells whether it is the worker
    try:
        stat = Path(f"/proc/{job.pid}/stat").read_text()
        arguments = Path(f"/proc/{job.pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc (not Linux): kill(pid, 0) is all there is
    if stat.rpartition(")")[2].split()[:1] == ["Z"]:
        return False  # exited; its parent has not collected it yet
    # After a reboot or a long time the pid may belong to another process.
    return job.id.encode() in arguments


def _signal_worker(job: Job, signal_number: int) -> None:
    if not _worker_alive(job):
        return
    try:
        os.killpg(job.pid, signal_number)  # the worker leads its own group (start_new_session)
    except (ProcessLookupError, PermissionError):
        pass


def _check_id(job_id: str) -> str:
    if not JOB_ID.fullmatch(job_id):
        raise WorkbenchError(f"no job {job_id!r}: a job id is 12 hexadecimal digits")
    return job_id


def _now() -> str:
    # Milliseconds, so that jobs submitted within one second still list in order.
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- the worker process ------------------------------------------------------------


def run_worker(edition_root: Path, job_id: str) -> int:
    """Run one job to its end, recording progress in its file; the exit status of the worker."""
    edition = Edition(edition_root)
    store = JobStore.of(edition)
    with store._locked():
        job = store._read(job_id)
        if job.active:
            job.state, job.pid, job.tries = "running", os.getpid(), job.tries + 1
            job.started = job.started or _now()
            store.heartbeat_path(job_id).touch()
            store._write(job)
    if not job.active:
        print(f"job {job_id} ended before its worker started", flush=True)
        return 0
    _beat(store.heartbeat_path(job_id))
    again = f" (run {job.tries}; pages saved before: {', '.join(job.saved or []) or 'none'})" if job.tries > 1 else ""
    device = f" on {os.environ['WORKBENCH_DEVICE']}" if os.environ.get("WORKBENCH_DEVICE") else ""
    print(
        f"{_now()} job {job.id}: {job.kind} {job.manuscript_id} pages {job.pages or 'all'}{device}{again}", flush=True
    )
    if job.kind in ("train", "export"):
        # Cancelling sends SIGTERM: end through SystemExit, so the half-made model's
        # working folder (the half-written zip) is removed on the way out.
        signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    try:
        if job.kind == "train":
            message, outcome = _train(edition, store, job)
            failed = False
        elif job.kind == "reindex":
            message, outcome, failed = *_reindex(edition, store, job), False
        elif job.kind == "export":
            message, outcome, failed = *_export(edition, store, job), False
        else:
            summary = _run(edition, store, job)
            message, failed = _summary_message(job.kind, summary), bool(summary.failed)
            outcome = _outcome(summary)
            if job.saved:  # a run again: the earlier run's pages count as done
                message += f" (and page(s) {', '.join(job.saved)} by an earlier run, whose process was killed)"
                outcome["pages"] += len(job.saved)
                outcome["of"] += len(job.saved)
    except Exception as error:
        message = str(error) if isinstance(error, WorkbenchError) else f"{type(error).__name__}: {error}"
        code = getattr(error, "code", "") or "error"
        store._update(job_id, state="failed", finished=_now(), current="", message=message, error=code)
        print(f"{_now()} failed: {message}", flush=True)
        raise
    state = "failed" if failed else "done"
    store._update(job_id, state=state, finished=_now(), current="", message=message, outcome=outcome)
    store.heartbeat_path(job_id).unlink(missing_ok=True)
    print(f"{_now()} {state}: {message}", flush=True)
    return 1 if failed else 0


def _beat(path: Path) -> None:
    """Touch ``path`` every few seconds for as long as this process lives (a daemon thread):
    a heartbeat that stops means the process is gone, wherever it ran."""

    def beat() -> None:
        while True:
            time.sleep(queue.HEARTBEAT_INTERVAL)
            try:
                os.utime(path)
            except FileNotFoundError:
                return  # the job ended (or was recorded failed): nothing to keep alive

    threading.Thread(target=beat, name="heartbeat", daemon=True).start()


def _run(edition: Edition, store: JobStore, job: Job) -> pipeline.RunSummary:
    selected = pipeline.select_pages(edition.page_numbers(job.manuscript_id), job.pages, job.manuscript_id)
    # A run after a killed one: the pages it saved are not done again (re-segmenting
    # would log a second change, re-recognising would replace the machine text again).
    saved = list(job.saved or [])
    pending = [n for n in selected if n not in saved]
    if not pending:
        return pipeline.RunSummary()
    # A page at a time per kraken process: the queue's kraken_jobs share the machine's.
    at_once = min(queue.pages_at_once(edition.root), len(pending)) if job.kind == "segment" else 1
    store._update(
        job.id,
        total=len(selected),
        done=len(saved),
        current=f"loading kraken, then {_pages(pending[:at_once])}",
        step={"step": "loading", "pages": pending[:at_once]},
    )

    def progress(outcome: pipeline.PageOutcome) -> None:
        pending.remove(outcome.page)
        if not outcome.error:
            saved.append(outcome.page)
        working_on = outcome.working_on if job.kind == "segment" else pending[:1]
        current = _pages(working_on) if working_on else "saving"
        step = {"step": "pages", "pages": list(working_on)} if working_on else {"step": "saving"}
        store._update(
            job.id, done=len(selected) - len(pending), current=current, step=step, saved=sorted(saved, key=order.index)
        )
        result = f"failed: {outcome.error}" if outcome.error else "done"
        print(f"{_now()} page {outcome.page} ({outcome.image}) {result}", flush=True)

    order = list(selected)
    pages = ",".join(pending)
    if job.kind == "segment":
        return pipeline.segment(
            edition, job.manuscript_id, job.who, pages, workers=at_once, progress=progress, mode=job.mode or "replace"
        )
    return pipeline.recognize(
        edition,
        job.manuscript_id,
        Path(job.model),
        job.who,
        pages,
        progress=progress,
        model_name=job.name,
        device=os.environ.get("WORKBENCH_DEVICE"),
    )


def _train(edition: Edition, store: JobStore, job: Job) -> tuple[str, dict]:
    store._update(job.id, current="loading kraken, cutting out the lines", step={"step": "cutting"})
    print(f"{_now()} {kraken.WHAT_IS_NORMAL}", flush=True)

    def progress(done: kraken.EpochDone) -> None:
        step = {
            "step": "epoch",
            "epoch": done.epoch,
            "epochs": done.epochs,
            "accuracy": done.accuracy,
            "cer": done.cer,  # validation CER of this epoch, 0–1
            "best": done.best,  # the best epoch so far: the one that would be kept now
        }
        store._update(job.id, done=done.epoch, current=str(done), step=step)
        print(f"{_now()} {done}", flush=True)

    record = training.train(
        edition,
        job.manuscripts,
        job.name,
        job.who,
        base=job.model,
        epochs=job.total,
        progress=progress,
        device=os.environ.get("WORKBENCH_DEVICE"),
    )
    return _training_outcome(record)


def _training_outcome(record: training.ModelRecord) -> tuple[str, dict]:
    """A finished training's message and outcome, wherever it ran (here, or remote.py)."""
    scores = f"; held-out lines: CER {record.scores.cer:.1%}, WER {record.scores.wer:.1%}" if record.scores else ""
    outcome = {"model": record.name, "lines": record.training_lines}
    if record.scores:
        outcome |= {"cer": record.scores.cer, "wer": record.scores.wer}
    return f"model {record.name} trained on {record.training_lines} line(s){scores}", outcome


def _reindex(edition: Edition, store: JobStore, job: Job) -> tuple[str, dict]:
    """Rebuild the readers' search index; progress by manuscript and page."""
    from workbench.search.indexing import Indexer

    manuscripts = edition.manuscript_ids()
    store._update(job.id, total=len(manuscripts), current="reading the manuscripts", step={"step": "indexing"})
    finished: list[str] = []

    def progress(manuscript_id: str, done: int, total: int) -> None:
        if done >= total and manuscript_id not in finished:
            finished.append(manuscript_id)
        step = {"step": "indexing", "manuscript": manuscript_id, "page": done, "pages": total}
        current = f"{manuscript_id}: page {done} of {total}"
        store._update(job.id, done=min(len(finished), len(manuscripts)), current=current, step=step)

    pages = Indexer(edition).rebuild(progress=progress)
    store._update(job.id, done=len(manuscripts))
    return f"indexed {pages} page(s) of the published manuscripts", {"pages": pages}


def _export(edition: Edition, store: JobStore, job: Job) -> tuple[str, dict]:
    """The manuscript's export zip, into the jobs' exports folder; progress by file."""
    from workbench.exchange import transfer

    options = job.options or {}
    target = store.export_path(job)
    target.parent.mkdir(parents=True, exist_ok=True)
    store._update(job.id, current="writing the files", step={"step": "exporting"})

    def progress(done: int, total: int) -> None:
        store._update(job.id, done=done, total=total, current=f"file {done} of {total}", step={"step": "exporting"})

    try:
        transfer.export_zip(
            edition,
            job.manuscript_id,
            target,
            tuple(options.get("formats") or transfer.FORMATS),
            bool(options.get("notes")),
            images=bool(options.get("images", True)),
            progress=progress,
        )
    except BaseException:
        import shutil

        shutil.rmtree(target.parent, ignore_errors=True)
        raise
    size = target.stat().st_size
    return f"{target.name} written ({size} bytes): {target}", {"file": target.name, "bytes": size}


def _check_training(
    edition: Edition, manuscripts: list[str], name: str | None, base: str | Path | None, epochs: int
) -> int:
    """What training.train would refuse, refused before a worker starts; the number of epochs."""
    if not name:
        raise WorkbenchError("a training job needs a name for the new model", code="model-name-missing")
    training.check_name(edition, name)
    if base:
        training.ModelStore.of(edition).resolve(base)
    training.check_enough(training.split_lines([edition.load(manuscript_id) for manuscript_id in manuscripts]))
    if epochs < 1:
        raise WorkbenchError("a training job needs at least one epoch", code="epochs", epochs=epochs)
    return epochs


def _pages(numbers: list[str]) -> str:
    return f"page {numbers[0]}" if len(numbers) == 1 else f"pages {', '.join(numbers)}"


def _outcome(summary: pipeline.RunSummary) -> dict:
    """What ``_summary_message`` says, as numbers and page lists."""
    ok = [outcome for outcome in summary.outcomes if not outcome.error]
    reports = [outcome.report for outcome in ok if outcome.report]
    return {
        "pages": len(ok),
        "of": len(summary.outcomes),
        "lines": sum(report.lines for report in reports),
        "adding": any(report.existing for report in reports),
        "added": sum(report.added for report in reports),
        "unmapped": [line_id for report in reports for line_id in report.unmapped],
        "empty": [outcome.page for outcome in summary.without_lines],
        "filled": sum(outcome.recognized for outcome in ok),
        "failed": [outcome.page for outcome in summary.failed],
    }


def _summary_message(kind: Kind, summary: pipeline.RunSummary) -> str:
    ok = [outcome for outcome in summary.outcomes if not outcome.error]
    parts = []
    if kind == "segment":
        lines = sum(outcome.report.lines for outcome in ok if outcome.report)
        parts.append(f"{len(ok)} page(s) segmented, {lines} line(s)")
        added = sum(outcome.report.added for outcome in ok if outcome.report)
        if any(outcome.report.existing for outcome in ok if outcome.report):
            parts.append(f"{added} new line(s) added where there were none")
        unmapped = [line_id for outcome in ok if outcome.report for line_id in outcome.report.unmapped]
        if unmapped:
            parts.append(
                f"{len(unmapped)} transcribed line(s) matched no new line and were kept as they were: "
                + ", ".join(unmapped)
            )
        empty = [outcome.page for outcome in summary.without_lines]
        if empty:
            parts.append(f"kraken found no lines on page(s) {', '.join(empty)}")
    else:
        filled = sum(outcome.recognized for outcome in ok)
        parts.append(f"{len(ok)} page(s) recognised, {filled} line(s) filled")
    message = "; ".join(parts)
    if summary.failed:
        failures = "; ".join(f"page {o.page} ({o.image}): {o.error}" for o in summary.failed)
        message = f"{len(summary.failed)} of {len(summary.outcomes)} page(s) failed: {failures}. {message}"
    return message


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if len(arguments) != 2:
        print("usage: python -m workbench.jobs EDITION JOB_ID", file=sys.stderr)
        return 2
    return run_worker(Path(arguments[0]), arguments[1])


if __name__ == "__main__":
    sys.exit(main())
