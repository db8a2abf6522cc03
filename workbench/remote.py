"""Workers on other machines, with no shared file system: they reach the edition only over HTTP.

A remote worker (``workbench worker --remote URL --token-file FILE``) needs the
workbench's address, a worker token and the Redis queue's address (the workbench
tells it, unless ``--redis`` says otherwise). It takes the same Huey tasks as a
local worker (queue.remote_huey); each job runs in a process of its own
(``python -m workbench.remote JOB_ID``) in a working folder of its own, which

1. asks the workbench to start the job: the reply lists the pages still to do, each
   with its version (``transcription.page_version``) and, for recognition, its lines;
2. fetches each page's image (and the recognition model, once, kept by its digest),
   runs kraken on it and sends back the result: a page's layout, or its lines' texts
   and confidences;
3. says when it is done, or what went wrong.

A training job instead fetches its material (the lines it learns from, chooses its
epoch by and is measured on, on their pages: one zip), trains with kraken here,
reports each epoch, and sends back the model file and its scores, which the web
process keeps as a local training's model (training.keep).

The web process applies every result with the same locked, validated, journalled
save a local job uses (pipeline.apply_segmentation, pipeline.apply_recognition): a
worker never writes the edition's files. A result is applied once: one for a page
already saved is acknowledged and ignored; one for a page changed since the job saw
it is refused (409) and the page recorded as skipped; one from a run that is no
longer the job's (its worker was given up for dead, the job cancelled) is refused.

While the job's process runs, the consumer that started it sends a heartbeat every
few seconds with the new lines of the process's output: the job's log, on the
workbench. The reply says whether the job is still wanted: a cancelled job's process
is stopped. A worker that stops answering is noticed by its stale heartbeat; the web
process puts its job back in line while retries are left (jobs.py ``_retry_remote``).

Worker tokens: ``workbench worker-token create`` prints a token once and keeps its
SHA-256 in ``.workbench/worker-tokens.json``; ``[queue] worker_token`` in
workbench.toml is another way (kept in clear there). Only the worker API accepts
them, and it accepts nothing else (web/worker_api.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from workbench import queue, transcription
from workbench.edition import Edition
from workbench.files import write_atomically
from workbench.htr import kraken, pipeline
from workbench.layout.merge import MergeReport
from workbench.model import Layout, Line, Region, WorkbenchError

log = logging.getLogger("workbench.remote")

TOKEN_PREFIX = "wbw_"
LOG_CHUNK = 64 * 1024  # the most output one heartbeat carries


# -- worker tokens (the workbench's side) --------------------------------------------------


def _tokens_path(root: Path) -> Path:
    return Path(root) / ".workbench" / "worker-tokens.json"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _read_tokens(root: Path) -> list[dict]:
    try:
        return json.loads(_tokens_path(root).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except ValueError as error:
        raise WorkbenchError(f"{_tokens_path(root)} is not a token list ({error})") from None


def create_token(root: Path, label: str) -> str:
    """A new worker token, labelled (a machine's name, say); only its digest is kept."""
    label = label.strip()
    if not label or len(label) > 64:
        raise WorkbenchError("a worker token needs a label of 1 to 64 characters (e.g. the machine's name)")
    tokens = _read_tokens(root)
    if any(entry["label"] == label for entry in tokens):
        raise WorkbenchError(f"there is a worker token labelled {label!r} already; revoke it first")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    created = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    tokens.append({"label": label, "sha256": _digest(token), "created": created})
    _write_tokens(root, tokens)
    return token


def revoke_token(root: Path, label: str) -> None:
    tokens = _read_tokens(root)
    kept = [entry for entry in tokens if entry["label"] != label]
    if len(kept) == len(tokens):
        raise WorkbenchError(f"no worker token labelled {label!r}")
    _write_tokens(root, kept)


def list_tokens(root: Path) -> list[dict]:
    return [{"label": entry["label"], "created": entry["created"]} for entry in _read_tokens(root)]


def _write_tokens(root: Path, tokens: list[dict]) -> None:
    path = _tokens_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(tokens, indent=1).encode())
    os.chmod(path, 0o600)


def token_valid(root: Path, presented: str) -> bool:
    """Whether ``presented`` is one of the edition's worker tokens (compared in constant time)."""
    if not presented:
        return False
    digest = _digest(presented)
    known = [entry["sha256"] for entry in _read_tokens(root)]
    configured = queue.QueueSettings.of(root).worker_token
    if configured:
        known.append(_digest(configured))
    matches = [hmac.compare_digest(digest, candidate) for candidate in known]  # every one: no early exit
    return any(matches)


# -- the runs (the workbench's side, called by web/worker_api.py) ---------------------------


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _log(store, job_id: str, text: str) -> None:
    with open(store.log_path(job_id), "a", encoding="utf-8") as file:
        file.write(text if text.endswith("\n") else text + "\n")


def start_run(edition: Edition, store, job_id: str, worker: str) -> dict:
    """A remote worker's process starts the job: what it needs to do it (module docstring)."""
    with store._locked():
        job = store._read(job_id)
        if not job.active:
            return {"state": job.state}
        if job.state == "running":
            # Another worker runs it (a task delivered twice): this one stands down.
            return {"state": "taken", "worker": job.worker}
        job.state, job.pid, job.worker, job.tries = "running", None, worker, job.tries + 1
        job.started = job.started or _now()
        store.heartbeat_path(job_id).touch()
        store._write(job)
    again = f" (run {job.tries}; pages saved before: {', '.join(job.saved or []) or 'none'})" if job.tries > 1 else ""
    _log(
        store,
        job_id,
        f"{_now()} job {job.id}: {job.kind} {job.manuscript_id} pages {job.pages or 'all'} on {worker}{again}",
    )
    reply: dict = {"state": "running", "kind": job.kind, "manuscript": job.manuscript_id, "mode": job.mode}
    if job.kind == "train":
        return reply | _start_training(edition, store, job)
    selected = pipeline.select_pages(edition.page_numbers(job.manuscript_id), job.pages, job.manuscript_id)
    pending = [n for n in selected if n not in (job.saved or [])]
    pages = []
    for n in pending:
        page = edition.read(job.manuscript_id, n).pages[0]
        entry = {"n": n, "image": page.image, "frame": page.frame, "version": transcription.page_version(page)}
        if job.kind == "recognize":
            entry["lines"] = [
                {"id": line.id, "baseline": line.baseline, "boundary": line.boundary}
                for line in pipeline.recognizable_lines(page)
            ]
        pages.append(entry)
    if job.kind == "recognize":
        model = Path(job.model)
        reply["model"] = {"name": job.name or model.name, "sha256": _file_digest(model), "size": model.stat().st_size}
    reply["pages"] = pages
    store._update(
        job_id,
        total=len(selected),
        done=len(selected) - len(pending),
        current=f"loading kraken, then page {pending[0]}" if pending else "saving",
        step={"step": "loading", "pages": pending[:1]} if pending else {"step": "saving"},
    )
    return reply


def _start_training(edition: Edition, store, job) -> dict:
    """A training job's start: its material (the split's lines on their pages) fixed now in
    ``<id>.training.json``, which the worker fetches as a zip and its model is recorded
    from; the base model to fine-tune, if any. Lines refused now fail the job."""
    from workbench.htr import training

    try:
        manuscripts = [edition.load(manuscript_id) for manuscript_id in job.manuscripts or [job.manuscript_id]]
        split = training.split_lines(manuscripts)
        training.check_enough(split)
        training.check_name(edition, job.name)
        base = training.ModelStore.of(edition).resolve(job.model) if job.model else None
        material = training.material(edition, manuscripts, split)
    except WorkbenchError as error:
        store._update(job.id, state="failed", finished=_now(), current="", message=str(error), error=error.code)
        store.heartbeat_path(job.id).unlink(missing_ok=True)
        _log(store, job.id, f"{_now()} failed: {error}")
        return {"state": "failed"}
    data = training.material_to_json(material, lambda page: str(page.image))
    write_atomically(_material_path(store, job.id), json.dumps(data, ensure_ascii=False).encode())
    store._update(
        job.id, done=0, current="loading kraken, cutting out the lines", step={"step": "cutting"}, results=None
    )
    reply: dict = {
        "name": job.name,
        "epochs": job.total,
        "lines": {name: sum(len(entry["lines"]) for entry in data[name]) for name in training.SETS},
    }
    if base is not None:
        reply["base"] = {"name": base.name, "sha256": _file_digest(base), "size": base.stat().st_size}
    return reply


def _material_path(store, job_id: str) -> Path:
    return store.folder / f"{job_id}.training.json"


def training_material(store, job_id: str, target) -> None:
    """The running training job's material as a zip into ``target`` (a binary file): its
    ``material.json`` and each page image once (a frame of a multi-page file as a PNG)."""
    import zipfile

    from workbench.images import facsimile

    data = json.loads(_material_path(store, job_id).read_text(encoding="utf-8"))
    names: dict[tuple[str, int | None], str] = {}
    with zipfile.ZipFile(target, "w") as archive:
        for entry in (entry for name in ("training", "validation", "held_out") for entry in data[name]):
            key = (entry["image"], entry["frame"])
            if key not in names:
                source = Path(entry["image"])
                names[key] = f"images/{len(names) + 1:05}{source.suffix.lower() if key[1] is None else '.png'}"
                if key[1] is None:
                    # Scans are compressed already: stored, not deflated again.
                    archive.write(source, names[key], compress_type=zipfile.ZIP_STORED)
                else:
                    with archive.open(names[key], "w") as member:
                        facsimile.open_page(source, key[1]).save(member, format="PNG")
            entry["image"], entry["frame"] = names[key], None
        archive.writestr("material.json", json.dumps(data, ensure_ascii=False), compress_type=zipfile.ZIP_DEFLATED)


def training_progress(store, job_id: str, data: dict) -> str:
    """An epoch a remote training finished: the job's progress, as a local training's."""
    from workbench.htr.kraken import EpochDone

    worker = str(data.get("worker", ""))
    try:
        accuracy = data.get("accuracy")
        done = EpochDone(
            int(data["epoch"]),
            int(data["epochs"]),
            None if data.get("loss") is None else float(data["loss"]),
            None if accuracy is None else min(1.0, max(0.0, float(accuracy))),
            best=bool(data.get("best")),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise Refused(422, "bad-result", f"not an epoch ({type(error).__name__}: {error})") from None
    with store._locked():
        job = store._read(job_id)
        if job.state != "running" or job.worker != worker or job.kind != "train":
            return job.state if not job.active else "superseded"
        step = {"step": "epoch", "epoch": done.epoch, "epochs": done.epochs, "accuracy": done.accuracy}
        job.done, job.current, job.step = (
            min(done.epoch, job.total),
            str(done),
            step
            | {
                "cer": done.cer,
                "best": done.best,
            },
        )
        store.heartbeat_path(job_id).touch()
        store._write(job)
    return "running"


def trained_model(edition: Edition, store, job_id: str, data: dict, weights) -> dict:
    """A remote training's model (``weights``, a file object) and how it was made: kept
    through the same store as a local training's, once; raises Refused."""
    import tempfile

    from workbench import jobs
    from workbench.htr import kraken, training

    worker = str(data.get("worker", ""))
    with _job_lock(store, job_id):
        job = store._read(job_id)
        if job.kind != "train":
            raise Refused(422, "kind", f"a {job.kind} job makes no model")
        if job.state == "done" and (job.outcome or {}).get("model") == job.name:
            return {"applied": False, "already": True}  # a second delivery of the same upload
        if running_job(store, job_id, worker) is None:
            raise Refused(409, "not-running", f"job {job_id} is {job.state}, and not run by {worker}")
        try:
            result = kraken.TrainingResult(
                accuracy=_share(data["accuracy"]),
                epoch=_count(data["epoch"], job.total),
                epochs_run=_count(data["epochs_run"], job.total),
                seconds=max(0.0, float(data["seconds"])),
            )
            scores = data.get("scores")
            if scores is not None:
                scores = training.Scores(
                    cer=max(0.0, float(scores["cer"])),
                    wer=max(0.0, float(scores["wer"])),
                    lines=_count(scores["lines"]),
                    characters=_count(scores["characters"]),
                )
        except (KeyError, TypeError, ValueError) as error:
            raise Refused(422, "bad-result", f"not a training's result ({type(error).__name__}: {error})") from None
        split = training.material_from_json(
            json.loads(_material_path(store, job_id).read_text(encoding="utf-8")), Path("/")
        ).split()
        record = training.model_record(
            job.name, job.who, job.manuscripts or [job.manuscript_id], job.model, job.total, split,
            training.Trained(result, scores),
        )  # fmt: skip
        edition.models_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=edition.models_dir, prefix=f".{job.name}.upload-") as work:
            path = Path(work) / "model.safetensors"
            with open(path, "wb") as file:
                shutil.copyfileobj(weights, file, 1 << 20)
            try:
                check_safetensors(path)
                training.keep(edition, record, path)
            except WorkbenchError as error:
                raise Refused(422, "bad-model", f"job {job_id}: {error}") from None
        message, outcome = jobs._training_outcome(record)
        store._update(job_id, state="done", finished=_now(), current="", message=message, outcome=outcome)
        store.heartbeat_path(job_id).unlink(missing_ok=True)
        _material_path(store, job_id).unlink(missing_ok=True)
        _log(store, job_id, f"{_now()} done: {message}")
        return {"applied": True}


def _share(value: object) -> float:
    share = float(value)
    if not 0 <= share <= 1:
        raise ValueError(f"{share} is not a share between 0 and 1")
    return share


def _count(value: object, most: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or (most is not None and value > most):
        raise ValueError(f"{value!r} is not a count" + (f" up to {most}" if most is not None else ""))
    return value


def check_safetensors(path: Path) -> None:
    """Refuse a file that is not a whole safetensors file (what kraken writes a model as):
    its header read and every tensor's bytes there. Nothing is loaded or run."""
    size = path.stat().st_size
    with open(path, "rb") as file:
        prefix = file.read(8)
        length = int.from_bytes(prefix, "little") if len(prefix) == 8 else -1
        if length <= 1 or 8 + length > size:
            raise WorkbenchError("the model file is not a safetensors file")
        try:
            header = json.loads(file.read(length))
        except ValueError:
            raise WorkbenchError("the model file's header is not JSON") from None
    tensors = (
        {name: value for name, value in header.items() if name != "__metadata__"} if isinstance(header, dict) else {}
    )
    try:
        end = max(int(value["data_offsets"][1]) for value in tensors.values())
    except (KeyError, TypeError, ValueError, IndexError):
        raise WorkbenchError("the model file holds no tensors") from None
    if 8 + length + end != size:
        raise WorkbenchError(f"the model file is cut short or too long ({size} bytes, {8 + length + end} expected)")


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def running_job(store, job_id: str, worker: str):
    """The job if ``worker`` runs it now, else None (ended, put back in line, another run's)."""
    job = store._read(job_id)
    return job if job.state == "running" and job.worker == worker else None


def beat(store, job_id: str, worker: str, output: str) -> str:
    """A heartbeat from the worker running the job, with its new output; the job's state as
    the worker should take it: "running", or why it should stop."""
    if output:
        _log(store, job_id, output[-LOG_CHUNK:])
    with store._locked():
        job = store._read(job_id)
        if job.state == "running" and job.worker == worker:
            store.heartbeat_path(job_id).touch()
            return "running"
    if job.state == "queued":
        return "queued"  # the worker's process has not started the job yet
    return job.state if not job.active else "superseded"


class Refused(Exception):
    """A result the workbench did not apply: ``status`` (409, 422) and why."""

    def __init__(self, status: int, reason: str, message: str):
        super().__init__(message)
        self.status, self.reason = status, reason


def page_result(edition: Edition, store, job_id: str, page_n: str, data: dict) -> dict:
    """Apply a worker's result for one page, once (module docstring); raises Refused."""
    worker = str(data.get("worker", ""))
    # One result of a job at a time: two deliveries of the same result must not both
    # find the page unsaved.
    with _job_lock(store, job_id):
        job = store._read(job_id)
        if page_n in (job.saved or []):
            return {"applied": False, "already": True}
        if running_job(store, job_id, worker) is None:
            raise Refused(409, "not-running", f"job {job_id} is {job.state}, and not run by {worker}")
        selected = pipeline.select_pages(edition.page_numbers(job.manuscript_id), job.pages, job.manuscript_id)
        if page_n not in selected:
            raise Refused(422, "not-a-page", f"page {page_n} is not one of job {job_id}'s")
        page = edition.read(job.manuscript_id, page_n).pages[0]
        entry: dict = {"page": page_n, "image": page.image}
        version = data.get("version")
        if not isinstance(version, str):
            raise Refused(422, "no-version", "a result names the page's version the job saw")
        try:
            if data.get("error"):
                entry["error"] = str(data["error"])[:2000]
            elif job.kind == "segment":
                layout = layout_from_json(data.get("layout"))
                report = pipeline.apply_segmentation(
                    edition, job.manuscript_id, page_n, layout, job.who, job.mode or "replace", version=version
                )
                entry["report"] = asdict(report)
            elif job.kind == "recognize":
                results = recognized_from_json(data.get("lines"))
                model_name = job.name or Path(job.model).name
                entry["recognized"] = pipeline.apply_recognition(
                    edition, job.manuscript_id, page_n, results, job.who, model_name, version=version
                )
            else:
                raise Refused(422, "kind", f"a {job.kind} job sends no page results")
        except transcription.PageChanged as error:
            entry["skipped"] = True
            _record(store, job_id, entry, saved=False)
            _log(store, job_id, f"{_now()} page {page_n} skipped: {error}")
            raise Refused(409, "page-changed", str(error)) from None
        except WorkbenchError as error:
            raise Refused(422, "bad-result", f"page {page_n}: {error}") from None
        _record(store, job_id, entry, saved="error" not in entry)
        what = f"failed: {entry['error']}" if "error" in entry else "saved"
        _log(store, job_id, f"{_now()} page {page_n} ({page.image}) {what}")
        return {"applied": "error" not in entry}


def _record(store, job_id: str, entry: dict, saved: bool) -> None:
    with store._locked():
        job = store._read(job_id)
        results = [r for r in job.results or [] if r["page"] != entry["page"]] + [entry]
        job.results = results
        if saved:
            job.saved = [*(job.saved or []), entry["page"]]
        selected = job.total
        finished = {r["page"] for r in results} | set(job.saved or [])
        job.done = min(len(finished), selected) if selected else len(finished)
        job.current, job.step = f"page {entry['page']} done", {"step": "pages", "pages": []}
        store._write(job)


class _job_lock:
    """A job's own lock file: serialises the application of its results."""

    def __init__(self, store, job_id: str):
        self.path = store.folder / f"{job_id}.results.lock"

    def __enter__(self) -> None:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(self.path, "a")  # noqa: SIM115 (held until __exit__)
        fcntl.flock(self.file, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        self.file.close()  # closing releases the lock


def finish_run(edition: Edition, store, job_id: str, data: dict) -> str:
    """The worker's process is done, or failed (``data["error"]``): the job's end; its state."""
    from workbench import jobs

    worker = str(data.get("worker", ""))
    with _job_lock(store, job_id):
        job = running_job(store, job_id, worker)
        if job is None:
            return store._read(job_id).state
        error = data.get("error")
        if not error and job.kind == "train":
            error = {"message": "the worker ended the training without sending its model", "code": "no-model-sent"}
        if error:
            _material_path(store, job_id).unlink(missing_ok=True)
            message, code = str(error.get("message", "failed"))[:4000], str(error.get("code") or "error")[:40]
            store._update(job_id, state="failed", finished=_now(), current="", message=message, error=code)
            store.heartbeat_path(job_id).unlink(missing_ok=True)
            _log(store, job_id, f"{_now()} failed: {message}")
            return "failed"
        summary = pipeline.RunSummary()
        skipped = []
        for entry in job.results or []:
            if entry.get("skipped"):
                skipped.append(entry["page"])
                continue
            outcome = pipeline.PageOutcome(entry["page"], entry["image"], error=entry.get("error"))
            outcome.recognized = entry.get("recognized", 0)
            if "report" in entry:
                outcome.report = MergeReport(**entry["report"])
            summary.outcomes.append(outcome)
        what = (
            f"segmented with kraken {kraken.SEGMENTATION_MODEL}"
            if job.kind == "segment"
            else f"recognised with {job.name or Path(job.model).name}"
        )
        pipeline.record_change(edition, job.manuscript_id, job.who, summary, what)
        message, outcome = jobs._summary_message(job.kind, summary), jobs._outcome(summary)
        if skipped:
            message += f"; page(s) {', '.join(skipped)} skipped: changed by an editor since the job started"
        outcome["skipped"] = skipped
        state = "failed" if summary.failed else "done"
        store._update(job_id, state=state, finished=_now(), current="", message=message, outcome=outcome)
        store.heartbeat_path(job_id).unlink(missing_ok=True)
        _log(store, job_id, f"{_now()} {state}: {message}")
        return state


def lost_run(store, job_id: str, worker: str, why: str, again: bool) -> str:
    """The consumer saw the job's process die without a word: back in line if ``again``
    (Huey runs the task again), else the job failed. The job's state."""
    with store._locked():
        job = store._read(job_id)
        if job.state != "running" or job.worker != worker:
            return job.state
    _log(store, job_id, f"{_now()} {worker}: {why}")
    if again and store._requeue(job_id, why) is not None:
        return "queued"
    return store._stopped(job_id).state


def layout_from_json(data: object) -> Layout:
    """A page's layout as a worker sent it, checked: a bad one is refused, never saved."""
    try:
        width, height = int(data["width"]), int(data["height"])
        regions = [
            Region(str(r["id"]), _points(r["boundary"]), kind=str(r.get("kind") or "text")) for r in data["regions"]
        ]
        lines = [
            Line(
                str(item["id"]),
                _points(item["boundary"]),
                _points(item["baseline"]),
                region=str(item["region"]) if item.get("region") else None,
            )
            for item in data["lines"]
        ]
        repaired = int(data.get("repaired", 0))
    except (KeyError, TypeError, ValueError) as error:
        raise WorkbenchError(f"not a page layout ({type(error).__name__}: {error})") from None
    if width <= 0 or height <= 0:
        raise WorkbenchError("not a page layout (no size)")
    return Layout(width, height, regions, lines, repaired=repaired)


def _points(data: object) -> list[tuple[int, int]]:
    return [(int(x), int(y)) for x, y in data]


def layout_to_json(layout: Layout) -> dict:
    return {
        "width": layout.width,
        "height": layout.height,
        "regions": [{"id": r.id, "boundary": r.boundary, "kind": r.kind} for r in layout.regions],
        "lines": [
            {"id": ln.id, "boundary": ln.boundary, "baseline": ln.baseline, "region": ln.region} for ln in layout.lines
        ],
        "repaired": layout.repaired,
    }


def recognized_from_json(data: object) -> dict[str, kraken.Recognized]:
    try:
        found = [
            kraken.Recognized(
                str(item["id"]),
                str(item["text"]),
                None if item.get("confidence") is None else float(item["confidence"]),
            )
            for item in data
        ]
    except (KeyError, TypeError, ValueError) as error:
        raise WorkbenchError(f"not line texts ({type(error).__name__}: {error})") from None
    return {item.line_id: item for item in found}


# -- the worker's side --------------------------------------------------------------------


class Api:
    """The workbench's worker API, as a remote worker calls it."""

    def __init__(self, base_url: str, token: str, timeout: float = 60.0):
        import requests

        self.base = base_url.rstrip("/") + "/api/worker/"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout

    def call(
        self,
        method: str,
        path: str,
        *,
        json_body: dict | None = None,
        ok: tuple[int, ...] = (200,),
        files: dict | None = None,
        data: dict | None = None,
        stream: bool = False,
    ):
        """The reply; a workbench that does not answer is asked again for a minute
        (it may be restarting), then the call fails."""
        import requests

        deadline = time.monotonic() + 60
        while True:
            for file in (files or {}).values():
                file.seek(0)  # a call again sends the whole file again
            try:
                reply = self.session.request(
                    method,
                    self.base + path,
                    json=json_body,
                    files=files,
                    data=data,
                    timeout=self.timeout,
                    stream=stream,
                )
            except requests.ConnectionError as error:
                if time.monotonic() > deadline:
                    raise WorkbenchError(f"the workbench at {self.base} does not answer: {error}") from None
                time.sleep(2)
                continue
            if reply.status_code == 401:
                raise WorkbenchError(f"the workbench at {self.base} refused the worker token")
            if reply.status_code not in ok:
                raise WorkbenchError(f"{method} {path}: HTTP {reply.status_code}: {reply.text[:500]}")
            return reply

    def json(self, method: str, path: str, body: dict | None = None, ok: tuple[int, ...] = (200,)) -> tuple[int, dict]:
        reply = self.call(method, path, json_body=body, ok=ok)
        return reply.status_code, reply.json()

    def download(self, path: str, target: Path) -> Path:
        reply = self.call("GET", path, stream=True)  # a training's material may be large: never all in memory
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        with reply, open(partial, "wb") as file:
            for block in reply.iter_content(1 << 20):
                file.write(block)
        partial.replace(target)
        return target


def api_from_environment() -> Api:
    return Api(os.environ["WORKBENCH_REMOTE_URL"], os.environ["WORKBENCH_WORKER_TOKEN"])


def read_token(token_file: Path | None) -> str:
    """The worker token: from ``token_file``, else the WORKBENCH_WORKER_TOKEN variable."""
    if token_file is not None:
        try:
            token = Path(token_file).read_text().strip()
        except OSError as error:
            raise WorkbenchError(f"cannot read the worker token: {error}") from None
    else:
        token = os.environ.get("WORKBENCH_WORKER_TOKEN", "").strip()
    if not token:
        raise WorkbenchError("a remote worker needs a worker token: --token-file FILE or WORKBENCH_WORKER_TOKEN")
    return token


def run_task(api_url: str, token: str, workdir: Path, job_id: str, retries: int, device: str | None) -> None:
    """The queue's task on a remote worker: run the job's process, relay its output as
    heartbeats, stop it when the job is cancelled, report it if it dies."""
    folder = Path(workdir) / job_id
    folder.mkdir(parents=True, exist_ok=True)
    output = folder / "output.log"
    environment = os.environ | {"WORKBENCH_REMOTE_URL": api_url, "WORKBENCH_WORKER_TOKEN": token}
    environment.pop("WORKBENCH_EDITION", None)
    if device:
        environment["WORKBENCH_DEVICE"] = device
    with open(output, "ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "workbench.remote", job_id],
            cwd=folder,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # cancel stops it and whatever it started, nothing else
        )
    api = Api(api_url, token)
    worker = f"{socket.gethostname()}/{process.pid}"
    sent = 0
    state = "running"
    while True:
        try:
            status = process.wait(timeout=queue.HEARTBEAT_INTERVAL)
        except subprocess.TimeoutExpired:
            status = None
        sent, state = _relay(api, job_id, worker, output, sent)
        if status is not None:
            break
        if state not in ("running", "queued"):  # cancelled, or no longer this run's: stop it
            log.info("job %s is %s: stopping its process", job_id, state)
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    if status >= 0 or state not in ("running", "queued"):
        shutil.rmtree(folder, ignore_errors=True)
        return
    why = f"its process was killed by {signal.Signals(-status).name} on {socket.gethostname()}"
    _, reply = api.json("POST", f"jobs/{job_id}/lost", {"worker": worker, "why": why, "again": retries > 0})
    shutil.rmtree(folder, ignore_errors=True)
    if reply.get("state") == "queued":
        log.warning("job %s: %s; it runs again (%d retries left)", job_id, why, retries)
        raise queue.WorkerKilled(f"job {job_id}: {why}")


def _relay(api: Api, job_id: str, worker: str, output: Path, sent: int) -> tuple[int, str]:
    """Send the heartbeat with the output since ``sent``; (bytes sent so far, the job's state)."""
    try:
        with open(output, "rb") as file:
            file.seek(sent)
            chunk = file.read(LOG_CHUNK)
    except FileNotFoundError:
        chunk = b""
    try:
        _, reply = api.json(
            "POST", f"jobs/{job_id}/beat", {"worker": worker, "output": chunk.decode("utf-8", "replace")}
        )
    except WorkbenchError as error:
        log.warning("job %s: heartbeat not delivered (%s)", job_id, error)
        return sent, "running"
    return sent + len(chunk), reply.get("state", "running")


def run_job_process(job_id: str) -> int:
    """``python -m workbench.remote JOB_ID``: run one job through the API; the exit status."""
    api = api_from_environment()
    worker = f"{socket.gethostname()}/{os.getpid()}"
    _, spec = api.json("POST", f"jobs/{job_id}/start", {"worker": worker})
    if spec["state"] != "running":
        print(f"job {job_id} is {spec['state']}: nothing to do", flush=True)
        return 0
    device = os.environ.get("WORKBENCH_DEVICE")
    print(
        f"{_now()} job {job_id}: {spec['kind']} {spec['manuscript']} on {worker}" + (f" ({device})" if device else ""),
        flush=True,
    )
    if spec["kind"] == "train":
        # Cancelling sends SIGTERM: end through SystemExit, so that the half-made model's
        # working folder goes on the way out (as a local training's does).
        signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    try:
        if spec["kind"] == "train":
            _do_training(api, job_id, worker, spec, device)
        else:
            model = _model(api, job_id, spec["model"]) if spec["kind"] == "recognize" else None
            for page in spec["pages"]:
                _do_page(api, job_id, worker, spec["kind"], page, model, device)
    except Exception as error:
        message = str(error) if isinstance(error, WorkbenchError) else f"{type(error).__name__}: {error}"
        print(f"{_now()} failed: {message}", flush=True)
        api.json(
            "POST",
            f"jobs/{job_id}/finish",
            {"worker": worker, "error": {"message": message, "code": getattr(error, "code", "") or "error"}},
        )
        return 1
    _, reply = api.json("POST", f"jobs/{job_id}/finish", {"worker": worker})
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # KiB on Linux
    print(f"{_now()} {reply.get('state')} (peak memory of this job's process: {peak} MB)", flush=True)
    return 0


def _model(api: Api, job_id: str, model: dict) -> Path:
    """The recognition model, fetched once per machine and kept by its digest."""
    cache = Path(os.environ.get("WORKBENCH_MODEL_CACHE", Path.cwd().parent / "models"))
    path = cache / model["sha256"] / model["name"]
    if not path.is_file() or _file_digest(path) != model["sha256"]:
        print(f"{_now()} fetching the model {model['name']} ({model['size']} bytes)", flush=True)
        api.download(f"jobs/{job_id}/model", path)
        if _file_digest(path) != model["sha256"]:
            path.unlink()
            raise WorkbenchError(f"the model {model['name']} arrived damaged (its SHA-256 differs)")
    return path


def _do_training(api: Api, job_id: str, worker: str, spec: dict, device: str | None) -> None:
    """Fetch the job's lines on their pages, train here, send the model and its scores."""
    import tempfile
    import zipfile

    from workbench.htr import training

    base = _model(api, job_id, spec["base"]) if spec.get("base") else None
    lines = spec["lines"]
    print(
        f"{_now()} fetching the training material: {lines['training']} line(s) to train on, "
        f"{lines['validation']} to choose the epoch by, {lines['held_out']} held out",
        flush=True,
    )
    with tempfile.TemporaryDirectory(dir=Path.cwd(), prefix="training-") as work:
        work_dir = Path(work)
        archive = api.download(f"jobs/{job_id}/training", work_dir / "material.zip")
        material_dir = work_dir / "material"
        with zipfile.ZipFile(archive) as opened:
            data = json.loads(opened.read("material.json"))
            images = {entry["image"] for name in training.SETS for entry in data[name]}
            for name in images:
                # Names the workbench chose (images/00001.png); anything else is not extracted.
                if not name.startswith("images/") or "/" in name[7:] or name[7:].startswith("."):
                    raise WorkbenchError(f"the training material names an odd file {name!r}")
                opened.extract(name, material_dir)
        archive.unlink()
        material = training.material_from_json(data, material_dir)
        print(f"{_now()} {kraken.WHAT_IS_NORMAL}", flush=True)

        def progress(done: kraken.EpochDone) -> None:
            print(f"{_now()} {done}", flush=True)
            body = {"worker": worker, "epoch": done.epoch, "epochs": done.epochs, "loss": done.loss}
            _, reply = api.json("POST", f"jobs/{job_id}/epoch", body | {"accuracy": done.accuracy, "best": done.best})
            if reply.get("state") != "running":
                raise WorkbenchError(f"job {job_id} is {reply.get('state')}: training stopped")

        weights = work_dir / "model.safetensors"
        trained = training.fit(
            material, weights, work_dir / "kraken", base=base, epochs=int(spec["epochs"]), progress=progress,
            device=device,
        )  # fmt: skip
        result = {
            "worker": worker,
            "accuracy": trained.result.accuracy,
            "epoch": trained.result.epoch,
            "epochs_run": trained.result.epochs_run,
            "seconds": trained.result.seconds,
            "scores": asdict(trained.scores) if trained.scores else None,
        }
        print(f"{_now()} sending the model {spec['name']} ({weights.stat().st_size} bytes)", flush=True)
        with open(weights, "rb") as file:
            reply = api.call(
                "POST", f"jobs/{job_id}/trained", files={"model": file}, data={"result": json.dumps(result)},
                ok=(200, 409),
            )  # fmt: skip
        if reply.status_code == 409:
            raise WorkbenchError(f"the workbench did not keep the model: {reply.json().get('message')}")


def _do_page(api: Api, job_id: str, worker: str, kind: str, page: dict, model: Path | None, device: str | None) -> None:
    n = page["n"]
    # Each step timed: what working over HTTP adds to kraken's time (bench/job_queue.py reads it).
    started = time.perf_counter()
    image = api.download(f"jobs/{job_id}/pages/{n}/image", Path.cwd() / f"page-{n}{Path(page['image']).suffix}")
    fetched = time.perf_counter()
    body: dict = {"worker": worker, "version": page["version"]}
    try:
        if kind == "segment":
            body["layout"] = layout_to_json(kraken.segment_file(kraken.PageImage(image, page["frame"])))
        else:
            from workbench.images import facsimile

            lines = [Line(item["id"], _points(item["boundary"]), _points(item["baseline"])) for item in page["lines"]]
            found = kraken.recognize_lines(facsimile.open_page(image, page["frame"]), lines, model, device)
            body["lines"] = [{"id": r.line_id, "text": r.text, "confidence": r.confidence} for r in found]
    except WorkbenchError:
        raise  # the model itself is unusable: no point going on
    except Exception as error:  # this page's image, reported; the job goes on
        body["error"] = pipeline._describe(error)
    finally:
        image.unlink(missing_ok=True)
    computed = time.perf_counter()
    status, reply = api.json("POST", f"jobs/{job_id}/pages/{n}/result", body, ok=(200, 409))
    timing = (
        f"(fetched in {fetched - started:.3f} s, kraken {computed - fetched:.3f} s, "
        f"sent in {time.perf_counter() - computed:.3f} s)"
    )
    if status == 409:
        print(f"{_now()} page {n}: not saved ({reply.get('reason')}: {reply.get('message')})", flush=True)
        if reply.get("reason") == "not-running":
            raise WorkbenchError(f"job {job_id} is no longer this worker's")
    else:
        print(f"{_now()} page {n} {'failed: ' + body['error'] if 'error' in body else 'done'} {timing}", flush=True)


# -- the worker command ------------------------------------------------------------------------


def run_remote_worker(
    url: str,
    token: str,
    queues: list[str],
    workers: int | None,
    redis_url: str | None = None,
    workdir: Path | None = None,
) -> None:
    """``workbench worker --remote URL``: take jobs from the workbench's Redis queue and run
    them through its API, until SIGINT or SIGTERM."""
    workdir = Path(workdir or Path.cwd()).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    unknown = [name for name in queues if name not in queue.QUEUES]
    if unknown or not queues:
        raise WorkbenchError(f"unknown queue(s) {', '.join(unknown) or '(none)'}: use {', '.join(queue.QUEUES)}")
    if "low" in queues:
        raise WorkbenchError(
            "a remote worker takes the cpu and gpu queues: the low queue's jobs (exports, reindexing) "
            "read the edition's files, so a worker on the workbench's machine runs them"
        )
    api = Api(url, token)
    _, settings = api.json("GET", "queue")
    redis_url = redis_url or settings.get("redis")
    if not redis_url:
        raise WorkbenchError(
            f"the workbench at {url} keeps its queue in SQLite; remote workers need a Redis queue "
            "([queue] redis in its workbench.toml)"
        )
    device = None
    if "gpu" in queues:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    consumers = []
    for name in queues:

        def run(job_id: str, task, queue_name: str = name) -> None:
            run_task(url, token, workdir, job_id, task.retries if task else 0, device if queue_name == "gpu" else None)

        count = workers or (queue.machine_slots() if name == "cpu" else 1)
        consumers.append(queue.start_consumer(queue.remote_huey(redis_url, name, run), count))
    stop = threading.Event()
    previous = {number: signal.signal(number, lambda *_: stop.set()) for number in (signal.SIGINT, signal.SIGTERM)}
    counts = ", ".join(f"{name} ×{consumer.workers}" for name, consumer in zip(queues, consumers, strict=True))
    log.info("workbench remote worker %d: queues %s on %s for %s, in %s", os.getpid(), counts, redis_url, url, workdir)
    try:
        stop.wait()
    finally:
        for consumer in consumers:
            consumer.stop(graceful=False)
        for number, handler in previous.items():
            signal.signal(number, handler)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(
            "usage: python -m workbench.remote JOB_ID (WORKBENCH_REMOTE_URL, WORKBENCH_WORKER_TOKEN set)",
            file=sys.stderr,
        )
        sys.exit(2)
    sys.exit(run_job_process(sys.argv[1]))
