"""Remote workers as they run in production: a real server (`workbench serve`), a real
redis-server, and `workbench worker --remote` processes in folders of their own, with no
edition and no WORKBENCH_EDITION: everything they get comes over HTTP.

Recognition uses a real kraken model with random weights (tests/builders.py): it reads
noise, but loading kraken and the model gives a job a few seconds in which it is running
and has saved nothing, which is when the faults strike. The end-to-end segmentation of a
rendered page is the slow test.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.builders import (
    RedisServer,
    Server,
    group_members,
    make_manuscript,
    serving,
    start_remote_worker,
    stop,
    untrained_model,
    wait_for,
    wait_until_ended,
)
from workbench.edition import Edition
from workbench.jobs import Job, JobStore
from workbench.layout.log import LayoutLog
from workbench.model import Manuscript


@pytest.fixture
def served(edition: Edition, redis_server: RedisServer, tmp_path: Path) -> Iterator[Server]:
    """The edition (manuscript "letters": two pages, lines 2 and 3 of each empty) served by
    `workbench serve` without a worker of its own; its queue on Redis."""
    edition.root.mkdir(parents=True)
    (edition.root / "workbench.toml").write_text(
        f'[queue]\nredis = "{redis_server.url}"\nstale_after = 4\nretries = 1\n'
    )
    edition.create(make_manuscript("letters", pages=2, lines=3), who="tester")
    folder = edition.facsimile_dir / "letters"
    folder.mkdir(parents=True, exist_ok=True)
    for n in (1, 2):
        Image.new("L", (1000, 1400), 236).save(folder / f"{n:03}.png")
    with serving(edition, tmp_path) as server:
        yield server


def recognitions(edition: Edition, line_id: str) -> int:
    """How often the line was given machine text (journal entries with a kraken source)."""
    return len([e for e in edition.journal.entries("letters", line_id) if (e.source or "").startswith("kraken:")])


def job_processes(job: Job) -> list[int]:
    """The remote job process running ``job`` (host/pid: the host is this one)."""
    pid = int(job.worker.rpartition("/")[2])
    return group_members(pid)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return untrained_model(tmp_path)


def test_a_remote_worker_runs_a_job_through_the_api_and_its_output_is_the_jobs_log(served, model, tmp_path):
    store = JobStore.of(served.edition)
    job = store.submit(served.edition, "recognize", "letters", "ivan", model=model)
    worker = start_remote_worker(served, tmp_path / "machine-1")
    try:
        job = wait_until_ended(store, job.id, timeout=240)
        # The job's working folder on the worker, cleaned up once its process has ended.
        wait_for(lambda: not (tmp_path / "machine-1" / job.id).exists(), timeout=30)
    finally:
        output = stop(worker)
    assert (job.state, job.saved, job.done, job.tries) == ("done", ["1", "2"], 2, 1), output + job.message
    assert job.worker.startswith(os.uname().nodename + "/")
    assert f"queues cpu ×1 on {served.edition.root}" not in output and "remote worker" in output
    # The machine text went through the edition's own save: journalled, with its model.
    for n in ("1", "2"):
        assert [recognitions(served.edition, f"letters_p{n}_l{k}") for k in (1, 2, 3)] == [0, 1, 1]
    page = served.edition.load("letters").pages[0]
    assert page.lines[1].status == "automatic" and page.lines[0].text == "Живъ е той"
    log = store.log_path(job.id).read_text()
    # Written by the web process (the run) and relayed from the worker's process (its output).
    assert f"job {job.id}: recognize letters pages all on {job.worker}" in log
    assert f"job {job.id}: recognize letters on {job.worker}" in log
    assert served.edition.problems("letters") == []


def test_a_remote_worker_killed_mid_page_is_noticed_and_another_worker_saves_each_page_once(served, model, tmp_path):
    store = JobStore.of(served.edition)
    first = start_remote_worker(served, tmp_path / "machine-1")
    job = store.submit(served.edition, "recognize", "letters", "ivan", model=model)
    try:
        wait_for(lambda: store.get(job.id).state == "running", timeout=120)
        running = store.get(job.id)
        assert running.saved is None  # kraken and the model are loading: page 1 is in hand
        # The machine gone: the worker (its consumer) and the job's process (a session of its own).
        os.killpg(first.pid, signal.SIGKILL)
        os.killpg(int(running.worker.rpartition("/")[2]), signal.SIGKILL)
        first.wait()
        wait_for(lambda: not job_processes(running), timeout=30)
        assert store.get(job.id).state == "running"  # its heartbeat is not stale yet
        # Noticed by its silence: back in line, not "running" for ever.
        wait_for(lambda: store.get(job.id).state == "queued", timeout=30)
        assert "the remote worker " + running.worker + " stopped answering" in store.get(job.id).current
        second = start_remote_worker(served, tmp_path / "machine-2")
        try:
            job = wait_until_ended(store, job.id, timeout=240)
        finally:
            output = stop(second)
    finally:
        stop(first)
    assert (job.state, job.tries, job.saved) == ("done", 2, ["1", "2"]), output + job.message
    assert job.worker != running.worker
    for n in ("1", "2"):
        assert [recognitions(served.edition, f"letters_p{n}_l{k}") for k in (2, 3)] == [1, 1]
    assert "(run 2; pages saved before: none)" in store.log_path(job.id).read_text()


def test_a_job_process_killed_on_a_remote_worker_runs_again_there(served, model, tmp_path):
    store = JobStore.of(served.edition)
    worker = start_remote_worker(served, tmp_path / "machine-1")
    job = store.submit(served.edition, "recognize", "letters", "ivan", model=model)
    try:
        wait_for(lambda: store.get(job.id).state == "running", timeout=120)
        running = store.get(job.id)
        os.killpg(int(running.worker.rpartition("/")[2]), signal.SIGKILL)  # the job's process alone
        job = wait_until_ended(store, job.id, timeout=240)
    finally:
        output = stop(worker)
    assert (job.state, job.tries, job.saved) == ("done", 2, ["1", "2"]), output + job.message
    log = store.log_path(job.id).read_text()
    assert "its process was killed by SIGKILL" in log and "it runs again" in output
    assert [recognitions(served.edition, f"letters_p{n}_l2") for n in ("1", "2")] == [1, 1]


def test_cancel_reaches_a_remote_worker(served, model, tmp_path):
    # Forty pages, so that the cancel comes in the middle of the job. It reaches the worker by
    # whichever comes first: the heartbeat's answer (which stops the process: a page of real
    # handwriting takes kraken minutes) or the refusal of the next page's image or result.
    served.edition.create(make_manuscript("long", pages=40, lines=3), who="tester")
    folder = served.edition.facsimile_dir / "long"
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(1, 41):
        Image.new("L", (1000, 1400), 236).save(folder / f"{n:03}.png")
    store = JobStore.of(served.edition)
    worker = start_remote_worker(served, tmp_path / "machine-1")
    job = store.submit(served.edition, "recognize", "long", "ivan", model=model)

    def machine_read() -> int:
        return len([e for e in served.edition.journal.entries("long") if (e.source or "").startswith("kraken:")])

    try:
        wait_for(lambda: store.get(job.id).state == "running", timeout=120)
        running = store.get(job.id)
        assert job_processes(running)
        store.cancel(job.id, who="maria")  # under the manuscript's lock: no save is half done
        at_cancel = machine_read()
        wait_for(lambda: not job_processes(running), timeout=15)
        assert worker.poll() is None  # the worker goes on, ready for the next job
    finally:
        output = stop(worker)
    job = store.get(job.id)
    assert job.state == "cancelled", output
    assert len(job.saved or []) < 40
    assert machine_read() == at_cancel  # nothing saved after the cancel


def test_a_remote_jobs_error_and_log_reach_the_workbench(served, tmp_path):
    store = JobStore.of(served.edition)
    broken = tmp_path / "broken.mlmodel"
    broken.write_bytes(b"not a model at all")
    worker = start_remote_worker(served, tmp_path / "machine-1")
    job = store.submit(served.edition, "recognize", "letters", "ivan", model=broken)
    try:
        job = wait_until_ended(store, job.id, timeout=240)
    finally:
        stop(worker)
    assert (job.state, job.error) == ("failed", "not-a-model")
    assert "broken.mlmodel is not a kraken recognition model" in job.message
    log = store.log_path(job.id).read_text()
    assert f"fetching the model broken.mlmodel ({len(b'not a model at all')} bytes)" in log  # the worker's output
    assert "failed: broken.mlmodel is not a kraken recognition model" in log


def test_a_remote_worker_needs_a_good_token_and_a_redis_queue(served, tmp_path):
    bad = tmp_path / "bad-token"
    bad.write_text("wbw_not-a-token")
    worker = start_remote_worker(Server(served.url, served.edition, bad, served.process), tmp_path / "machine-1")
    output = worker.communicate(timeout=60)[0]
    assert worker.returncode == 1 and "refused the worker token" in output


@pytest.mark.slow
def test_a_page_is_segmented_by_kraken_on_a_remote_worker(served, page_png, tmp_path):
    """End to end: a rendered page, segmented by real kraken on a remote worker; the layout
    comes back over HTTP and the workbench saves it, logged once, as a local job would."""
    served.edition.create(Manuscript(id="scan", title="Писмо"), who="tester")
    served.edition.add_pages("scan", [page_png], who="tester")
    store = JobStore.of(served.edition)
    worker = start_remote_worker(served, tmp_path / "machine-1")
    job = store.submit(served.edition, "segment", "scan", "ivan")
    try:
        job = wait_until_ended(store, job.id, timeout=600)
    finally:
        output = stop(worker)
    assert (job.state, job.saved) == ("done", ["1"]), output + job.message
    page = served.edition.load("scan").pages[0]
    assert len(page.lines) >= 6  # eight written lines on the page
    records = [r for r in LayoutLog(served.edition.layout_dir).records("scan", "1") if r.action == "resegment"]
    assert len(records) == 1 and records[0].who == "ivan"
    assert job.message.startswith(f"1 page(s) segmented, {len(page.lines)} line(s)")
    assert served.edition.problems("scan") == []
