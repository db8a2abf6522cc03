"""Background jobs: checked on submit, run by real worker processes, cancellable, never silently stuck.

The fast tests start real workers too: recognition jobs on pages without lines
(the pipeline then never loads kraken), and segmentation jobs that are cancelled or
killed while kraken is still loading. The slow test segments a rendered page.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.builders import consuming, group_members, make_manuscript, wait_for, wait_until_ended
from workbench import jobs
from workbench.edition import Edition
from workbench.jobs import STOPPED, Job, JobStore
from workbench.model import Manuscript, WorkbenchError


@pytest.fixture
def store(edition: Edition) -> Iterator[JobStore]:
    store = JobStore.of(edition)
    with consuming(edition.root):
        yield store
    # Leave no worker behind, whatever the test did.
    for job in store.list():
        if job.active:
            store.cancel(job.id)
    for job in store.list():
        if job.pid:
            wait_for(lambda pid=job.pid: not group_members(pid), timeout=30)


@pytest.fixture
def imageless(edition: Edition) -> Edition:
    """Two pages whose images are not there: every page of a job on them fails."""
    edition.create(make_manuscript(pages=2), who="tester")
    return edition


@pytest.fixture
def scanned(edition: Edition, page_png: Path) -> Edition:
    """A manuscript of two real page images (a rendered page and a blank one), not yet segmented."""
    blank = page_png.with_name("blank.png")
    Image.new("L", (800, 1100), 236).save(blank)
    edition.create(Manuscript(id="letters", title="Писма", author="Трифон Трифонов"), who="tester")
    edition.add_pages("letters", [page_png, blank], who="tester")
    return edition


def write_job(store: JobStore, **fields) -> Job:
    job = Job(
        **{"id": "0123456789ab", "kind": "segment", "manuscript_id": "ms1", "created": "2025-01-01T00:00:00Z"} | fields
    )
    with store._locked():
        store._write(job)
    return job


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


# -- submit checks everything first -------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "manuscript_id", "pages", "model", "message"),
    [
        ("segment", "nosuch", None, None, "no manuscript 'nosuch' in .* \\(manuscripts: ms1\\)"),
        ("segment", "../ms1", None, None, "'../ms1' is not a valid manuscript id"),
        ("segment", "ms1", "1-x", None, "'1-x' is not a page list; write e.g. 3 or 1,4-6"),
        ("segment", "ms1", "2,9", None, "manuscript ms1 has no page 9"),
        ("segment", "ms1", None, "model.mlmodel", "a segment job takes no model"),
        ("recognize", "ms1", None, None, "a recognize job needs a recognition model"),
        ("recognize", "ms1", "1", "missing.mlmodel", "missing.mlmodel: no such model file"),
        ("ocr", "ms1", None, None, "unknown job kind 'ocr': use one of segment, recognize, train"),
    ],
)
def test_submit_refuses_a_bad_request_and_starts_nothing(
    imageless, store, tmp_path, kind, manuscript_id, pages, model, message
):
    (tmp_path / "model.mlmodel").write_bytes(b"a model")
    model = str(tmp_path / model) if model else None
    with pytest.raises(WorkbenchError, match=message):
        store.submit(imageless, kind, manuscript_id, "tester", pages=pages, model=model)
    assert store.list() == []
    assert not store.folder.exists() or not list(store.folder.glob("*.log"))


def test_submit_refuses_an_unknown_segmentation_mode(imageless, store):
    with pytest.raises(WorkbenchError, match="unknown segmentation mode 'merge': use replace or add"):
        store.submit(imageless, "segment", "ms1", "tester", mode="merge")
    assert store.list() == []


def test_submit_refuses_a_manuscript_without_pages(edition, store):
    edition.create(Manuscript(id="empty", title="Празно"), who="tester")
    with pytest.raises(WorkbenchError, match="empty has no pages yet; add page images first"):
        store.submit(edition, "segment", "empty", "tester")
    assert store.list() == []


# -- the store ------------------------------------------------------------------------


def test_a_job_round_trips_through_its_file(edition, store):
    job = write_job(
        store,
        kind="recognize",
        pages="1,4-6",
        model="/models/trifonov.mlmodel",
        who="иван",
        state="done",
        done=4,
        total=4,
        current="",
        message="4 page(s) recognised, 80 line(s) filled",
        started="2025-01-01T00:00:01.250Z",
        finished="2025-01-01T00:01:02.500Z",
        pid=12345,
    )
    assert store.get(job.id) == job
    assert store.path(job.id) == edition.root / ".workbench" / "jobs" / f"{job.id}.json"
    assert "иван" in store.path(job.id).read_text(encoding="utf-8")  # readable, not escaped
    assert not [p for p in store.folder.iterdir() if p.suffix == ".tmp"]


def test_an_unknown_or_malformed_job_id_is_an_error_not_a_path(store):
    with pytest.raises(WorkbenchError, match="no job '0123456789ab'"):
        store.get("0123456789ab")
    for bad in ("../../tei/ms1", "0123456789AB", ""):
        with pytest.raises(WorkbenchError, match="a job id is 12 hexadecimal digits"):
            store.get(bad)


def test_jobs_are_listed_newest_first_and_by_manuscript(store):
    write_job(store, id="aaaaaaaaaaaa", created="2025-03-01T10:00:00.000Z", state="done")
    write_job(store, id="bbbbbbbbbbbb", created="2025-03-01T12:00:00.000Z", state="failed", manuscript_id="ms2")
    write_job(store, id="cccccccccccc", created="2025-03-01T11:00:00.500Z", state="cancelled")
    write_job(store, id="dddddddddddd", created="2025-03-01T11:00:00.250Z", state="done")
    assert [job.id for job in store.list()] == ["bbbbbbbbbbbb", "cccccccccccc", "dddddddddddd", "aaaaaaaaaaaa"]
    assert [job.id for job in store.list("ms1")] == ["cccccccccccc", "dddddddddddd", "aaaaaaaaaaaa"]
    assert store.list("ms3") == []


def test_a_running_job_whose_worker_is_gone_is_reported_failed(store):
    running = write_job(store, id="aaaaaaaaaaaa", state="running", done=1, total=3, current="page 2", pid=dead_pid())
    assert store.get(running.id).state == "failed"
    job = store.get(running.id)
    assert job.message.startswith(STOPPED) and str(store.log_path(running.id)) in job.message
    assert job.finished and job.current == "" and job.done == 1
    assert store._read(running.id).state == "failed"  # recorded, not only reported
    # A pid now used by another process (here: this test) is not the worker either.
    queued = write_job(store, id="bbbbbbbbbbbb", state="queued", pid=jobs.os.getpid())
    assert [(job.id, job.state) for job in store.list() if job.id == queued.id] == [(queued.id, "failed")]
    assert store.active("ms1") is None


# -- real workers -------------------------------------------------------------------


def test_a_recognize_job_runs_in_a_worker_to_the_end(scanned, store, tmp_path):
    # The pages have no lines yet, so the pipeline has nothing to read and never loads kraken.
    model = tmp_path / "model.mlmodel"
    model.write_bytes(b"never loaded")
    job = store.submit(scanned, "recognize", "letters", "ivan", model=model)
    assert (job.state, job.done, job.total, job.model) == ("queued", 0, 2, str(model))
    # On the queue: the process that runs it is started by a consumer when a slot is free.
    assert job.pid is None and job.queue == "cpu" and store.get(job.id).kind == "recognize"
    job = wait_until_ended(store, job.id, timeout=60)
    assert job.pid and job.tries == 1 and job.saved == ["1", "2"]
    assert (job.state, job.done, job.total, job.current) == ("done", 2, 2, ""), job.message
    assert job.message == "2 page(s) recognised, 0 line(s) filled"
    assert (job.outcome["pages"], job.outcome["of"], job.outcome["filled"], job.outcome["failed"]) == (2, 2, 0, [])
    assert job.created <= job.started <= job.finished
    assert "page 2 (blank.png) done" in store.log_path(job.id).read_text()
    assert scanned.problems("letters") == []
    assert "recognised with model.mlmodel (by ivan)" in scanned.tei_path("letters").read_text(encoding="utf-8")


def test_a_job_with_failed_pages_fails_and_says_which(imageless, store, tmp_path):
    model = tmp_path / "model.mlmodel"
    model.write_bytes(b"never loaded")
    job = wait_until_ended(store, store.submit(imageless, "recognize", "ms1", "ivan", model=model).id, timeout=60)
    assert (job.state, job.done, job.total) == ("failed", 2, 2)
    assert job.message.startswith("2 of 2 page(s) failed: page 1 (001.png): FileNotFoundError")
    assert "page 2 (002.png): FileNotFoundError" in job.message
    assert (job.outcome["pages"], job.outcome["failed"]) == (0, ["1", "2"])  # what the web words
    assert imageless.problems("ms1") == []


def test_a_job_whose_pipeline_gives_up_fails_with_its_message(imageless, store, tmp_path, monkeypatch):
    # The worker's code, run here so the pipeline can be made to fail the way an
    # unusable model makes it fail (raising, rather than failing a page).
    def unusable_model(*args, **kwargs):
        raise WorkbenchError("x.mlmodel is not a kraken recognition model this version can load (bad)")

    monkeypatch.setattr(jobs.pipeline, "recognize", unusable_model)
    job = write_job(store, kind="recognize", model=str(tmp_path / "x.mlmodel"), total=2)
    with pytest.raises(WorkbenchError):
        jobs.run_worker(imageless.root, job.id)  # re-raised, so the traceback is in the worker's log
    job = store._read(job.id)
    assert (job.state, job.message) == (
        "failed",
        "x.mlmodel is not a kraken recognition model this version can load (bad)",
    )
    assert job.pid == jobs.os.getpid() and job.started and job.finished


def test_one_job_at_a_time_per_manuscript(scanned, imageless, store, tmp_path):
    model = tmp_path / "model.mlmodel"
    model.write_bytes(b"never loaded")
    first = store.submit(scanned, "segment", "letters", "ivan")
    for kind, model_path in (("segment", None), ("recognize", model)):
        with pytest.raises(WorkbenchError, match=f"job {first.id} \\(segment, (queued|running), started by ivan\\)"):
            store.submit(scanned, kind, "letters", "maria", pages="1", model=model_path)
    assert store.active("letters").id == first.id
    assert [job.id for job in store.list()] == [first.id]
    # Another manuscript is not held up.
    other = store.submit(imageless, "recognize", "ms1", "maria", model=model)
    assert store.active("ms1").id == other.id
    store.cancel(first.id)
    assert store.active("letters") is None
    second = store.submit(scanned, "segment", "letters", "maria", pages="2")
    assert (second.pages, second.total) == ("2", 1)
    store.cancel(second.id)


def test_cancel_stops_the_worker_and_its_pool_and_the_tei_stays_valid(scanned, store):
    before = scanned.tei_path("letters").read_bytes()
    # One job at a time gets all the machine's kraken slots: with two cores (and 4 GB),
    # the worker starts a pool of kraken processes in its group.
    (scanned.root / "workbench.toml").write_text("[queue]\nkraken_jobs = 1\n")
    job = store.submit(scanned, "segment", "letters", "ivan")
    wait_for(lambda: store.get(job.id).state == "running", timeout=30)
    job = store.get(job.id)
    if jobs.queue.machine_slots() > 1:
        wait_for(lambda: len(group_members(job.pid)) > 1, timeout=30)
    running = store.get(job.id)
    assert running.current == "loading kraken, then pages 1, 2" or running.current == "loading kraken, then page 1"
    cancelled = store.cancel(job.id, who="maria")
    assert cancelled.state == "cancelled" and cancelled.finished
    assert cancelled.message == "cancelled by maria after 0 of 2 page(s); the pages finished stay saved"
    wait_for(lambda: not group_members(job.pid), timeout=30)
    # Its worker is gone, but the job was cancelled, not stopped unexpectedly.
    assert store.get(job.id).state == "cancelled"
    assert store.cancel(job.id) == store.get(job.id)  # already ended: nothing to do
    assert scanned.tei_path("letters").read_bytes() == before
    assert scanned.problems("letters") == []


def test_a_worker_killed_outright_leaves_a_failed_job_not_a_running_one(scanned, store):
    (scanned.root / "workbench.toml").write_text("[queue]\nretries = 0\n")  # tests/test_queue.py: with retries
    job = store.submit(scanned, "segment", "letters", "ivan", pages="1")
    wait_for(lambda: store.get(job.id).state == "running", timeout=30)
    job = store.get(job.id)
    jobs.os.killpg(job.pid, signal.SIGKILL)  # as the kernel's out-of-memory killer would
    # Until the last of its threads has exited, the worker is not gone (waitpid says so).
    wait_for(lambda: not store.get(job.id).active, timeout=30)
    job = store.get(job.id)
    assert job.state == "failed" and job.message.startswith(STOPPED)
    assert store.active("letters") is None
    assert scanned.problems("letters") == []


# -- the command ----------------------------------------------------------------------


def test_jobs_command_lists_jobs_and_shows_one(edition, store, run):
    assert "No jobs in" in run("jobs").output
    write_job(store, id="aaaaaaaaaaaa", state="done", done=2, total=2, message="2 page(s) segmented, 16 line(s)")
    write_job(
        store,
        id="bbbbbbbbbbbb",
        kind="recognize",
        created="2025-01-02T00:00:00Z",
        state="running",
        done=1,
        total=3,
        current="page 2",
        model="/m/x.mlmodel",
        who="ivan",
        pid=jobs.os.getpid(),
    )
    listing = run("jobs").output.splitlines()
    assert listing[0].split() == ["bbbbbbbbbbbb", "recognize", "ms1", "failed", "1/3"]  # no worker: failed
    assert STOPPED in listing[1]
    assert listing[2].split() == ["aaaaaaaaaaaa", "segment", "ms1", "done", "2/2"]
    assert listing[3].strip() == "2 page(s) segmented, 16 line(s)"
    one = run("jobs", "bbbbbbbbbbbb").output
    assert "by ivan; pages all; model /m/x.mlmodel" in one and "log: " in one
    with pytest.raises(WorkbenchError, match="no job 'cccccccccccc'"):
        run("jobs", "cccccccccccc")


# -- the real thing ---------------------------------------------------------------------


@pytest.mark.slow
def test_a_segmentation_job_segments_a_rendered_page(edition, store, page_png):
    edition.create(Manuscript(id="letters", title="Писма"), who="tester")
    edition.add_pages("letters", [page_png], who="tester")
    job = store.submit(edition, "segment", "letters", "ivan")
    seen = []
    deadline = time.monotonic() + 300
    while (current := store.get(job.id)).active:
        assert time.monotonic() < deadline, f"the job did not end in 300 s: {current}"
        seen.append((current.state, current.done, current.total, current.current))
        time.sleep(0.5)
    assert (current.state, current.done, current.total, current.current) == ("done", 1, 1, ""), current.message
    assert ("running", 0, 1, "loading kraken, then page 1") in seen
    lines = edition.load("letters").pages[0].lines
    assert len(lines) == 8
    assert current.message == "1 page(s) segmented, 8 line(s)"
    assert edition.problems("letters") == []
