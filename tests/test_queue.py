"""The job queue: Huey in SQLite (Redis: tests/test_queue_redis.py), its consumers, priorities,
the limit on kraken jobs, and the faults a worker meets (kill -9, a consumer gone for good).

Jobs run in real processes started by real consumers: threads of this process
(``consuming``), or a ``workbench worker`` process. Fast tests use recognition on
pages without lines (kraken is never loaded) and segmentation stopped while kraken
loads; the slow one segments a rendered page through a worker killed mid-job.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from huey import PriorityRedisHuey, SqliteHuey
from PIL import Image

from tests.builders import REPO, consuming, group_members, start_worker, stop, wait_for, wait_until_ended
from workbench import queue
from workbench.edition import Edition
from workbench.jobs import STOPPED, JobStore
from workbench.layout.log import LayoutLog
from workbench.model import Manuscript, WorkbenchError


def settings(edition: Edition, text: str) -> None:
    edition.root.mkdir(parents=True, exist_ok=True)
    (edition.root / "workbench.toml").write_text(f"[queue]\n{text}\n")


@pytest.fixture
def manuscripts(edition: Edition, tmp_path: Path) -> Edition:
    """Three manuscripts (a, b, c) of two blank page images each, not yet segmented."""
    for number in (1, 2):
        Image.new("L", (400 + number, 600), 236).save(tmp_path / f"blank{number}.png")
    for manuscript_id in ("a", "b", "c"):
        edition.create(Manuscript(id=manuscript_id, title=manuscript_id), who="tester")
        edition.add_pages(manuscript_id, [tmp_path / "blank1.png", tmp_path / "blank2.png"], who="tester")
    return edition


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "model.mlmodel"
    path.write_bytes(b"never loaded: the pages have no lines")
    return path


@pytest.fixture
def store(edition: Edition) -> Iterator[JobStore]:
    store = JobStore.of(edition)
    yield store
    for job in store.list():
        if job.active:
            store.cancel(job.id)
    for job in store.list():
        if job.pid:
            wait_for(lambda pid=job.pid: not group_members(pid), timeout=30)


# -- settings and queues -------------------------------------------------------------


def test_the_queue_is_sqlite_in_the_edition_unless_redis_is_set(edition):
    huey = queue.huey_for(edition.root, "cpu")
    assert isinstance(huey, SqliteHuey) and huey.name == "workbench.cpu"
    assert Path(huey.storage.filename) == edition.root / ".workbench" / "queue.db"
    assert queue.huey_for(edition.root, "gpu").name == "workbench.gpu"  # a Huey instance per queue
    settings(edition, 'redis = "redis://127.0.0.1:6390/3"')
    huey = queue.huey_for(edition.root, "low")
    assert isinstance(huey, PriorityRedisHuey) and huey.name == "workbench.low"  # priorities need this storage
    assert huey.storage.conn.connection_pool.connection_kwargs["db"] == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('redis = "localhost:6379"', "\\[queue\\] redis: 'localhost:6379' is not a redis:// URL"),
        ("kraken_jobs = 0", "\\[queue\\] kraken_jobs: at least 1"),
        ('kraken_jobs = "two"', "\\[queue\\] kraken_jobs: 'two' is not a whole number"),
        ("retries = -1", "\\[queue\\] retries: -1 is not a whole number"),
        ("stale_after = 1", "\\[queue\\] stale_after: more than 2 seconds"),
        ("nice = 20", "\\[queue\\] nice: 20 is more than 19"),
        ("nice = -5", "\\[queue\\] nice: -5 is not a whole number"),
        ("workers = 4", "\\[queue\\]: unknown setting\\(s\\) workers; known: redis, kraken_jobs"),
    ],
)
def test_bad_queue_settings_are_refused_with_what_is_wrong(edition, text, message):
    settings(edition, text)
    with pytest.raises(WorkbenchError, match=message):
        queue.QueueSettings.of(edition.root)


def test_kraken_jobs_default_to_one_per_2_gb_of_memory_within_the_cores(edition, monkeypatch):
    assert 1 <= queue.QueueSettings.of(edition.root).jobs_at_once <= (os.cpu_count() or 1)
    monkeypatch.setattr(queue.os, "cpu_count", lambda: 16)
    monkeypatch.setattr(queue, "_available_memory", lambda: 9 * 1024**3)
    assert queue.machine_slots() == 4
    monkeypatch.setattr(queue, "_available_memory", lambda: 1024**3)
    assert queue.machine_slots() == 1
    monkeypatch.setattr(queue, "_available_memory", lambda: 200 * 1024**3)
    assert queue.machine_slots() == 16
    settings(edition, "kraken_jobs = 3")
    assert queue.QueueSettings.of(edition.root).jobs_at_once == 3
    assert queue.pages_at_once(edition.root) == 5  # 16 slots shared by 3 jobs at once


def test_jobs_go_to_the_queue_of_their_kind(edition):
    assert [queue.queue_for(edition.root, kind) for kind in ("segment", "recognize", "train", "reindex")] == [
        "cpu",
        "cpu",
        "gpu",
        "low",
    ]
    # A worker with CUDA about (its record fresh): recognition goes to the GPU too.
    record = edition.root / ".workbench" / "workers" / "gpu-host-1.json"
    record.parent.mkdir(parents=True)
    record.write_text('{"queues": ["gpu"], "cuda": true, "pid": 1, "host": "gpu-host"}')
    assert queue.queue_for(edition.root, "recognize") == "gpu"
    os.utime(record, (0, 0))  # that worker stopped long ago
    assert queue.queue_for(edition.root, "recognize") == "cpu"


# -- submitting, waiting, cancelling ----------------------------------------------------


def test_a_job_waits_in_the_queue_until_a_consumer_takes_it(manuscripts, store, model):
    job = store.submit(manuscripts, "recognize", "a", "ivan", model=model)
    assert queue.pending(manuscripts.root, "cpu") == [job.id]
    assert (store.get(job.id).state, store.get(job.id).pid) == ("queued", None)  # waiting is not dead
    assert not store.log_path(job.id).exists()  # no process started
    with consuming(manuscripts.root):
        job = wait_until_ended(store, job.id, timeout=60)
    assert (job.state, job.done, job.tries) == ("done", 2, 1), job.message
    assert queue.pending(manuscripts.root, "cpu") == []


def test_cancelling_a_queued_job_revokes_its_task(manuscripts, store, model):
    job = store.submit(manuscripts, "recognize", "a", "ivan", model=model)
    store.cancel(job.id, who="maria")
    assert queue.huey_for(manuscripts.root, "cpu").is_revoked(job.id)
    after = store.submit(manuscripts, "recognize", "b", "ivan", model=model)
    with consuming(manuscripts.root):
        wait_until_ended(store, after.id, timeout=60)
    job = store.get(job.id)
    assert (job.state, job.tries, job.pid) == ("cancelled", 0, None)  # never run
    assert job.message == "cancelled by maria after 0 of 2 page(s); the pages finished stay saved"
    assert not store.log_path(job.id).exists()


def test_a_single_page_job_overtakes_the_batches_waiting(manuscripts, store, model):
    settings(manuscripts, "kraken_jobs = 1")
    batches = [store.submit(manuscripts, "recognize", m, "ivan", model=model) for m in ("a", "b")]
    page = store.submit(manuscripts, "recognize", "c", "maria", pages="2", model=model)
    assert queue.pending(manuscripts.root, "cpu") == [page.id, batches[0].id, batches[1].id]
    with consuming(manuscripts.root):
        ended = [wait_until_ended(store, job.id, timeout=60) for job in (page, *batches)]
    assert [job.state for job in ended] == ["done", "done", "done"]
    assert ended[0].started < ended[1].started < ended[2].started


def test_no_more_kraken_jobs_at_once_than_the_setting_allows(manuscripts, store, model):
    settings(manuscripts, "kraken_jobs = 1")
    submitted = [store.submit(manuscripts, "recognize", m, "ivan", model=model) for m in ("a", "b", "c")]
    with consuming(manuscripts.root):
        ended = sorted((wait_until_ended(store, job.id, 60) for job in submitted), key=lambda job: job.started)
    # One at a time: each started after the one before had finished.
    assert all(before.finished <= after.started for before, after in zip(ended, ended[1:], strict=False))


def test_a_worker_command_in_another_folder_runs_the_queued_jobs(manuscripts, store, model, tmp_path):
    jobs = [store.submit(manuscripts, "recognize", m, "ivan", model=model) for m in ("a", "b")]
    worker = start_worker(manuscripts, tmp_path / "elsewhere", "--queues", "cpu", "--workers", "2")
    try:
        ended = [wait_until_ended(store, job.id, timeout=60) for job in jobs]
    finally:
        output = stop(worker)
    assert [job.state for job in ended] == ["done", "done"], output
    assert "queues cpu ×2 on " + str(manuscripts.root / ".workbench" / "queue.db") in output
    assert worker.returncode == 0
    assert not list((manuscripts.root / ".workbench" / "workers").glob("*.json"))  # its record removed


def test_the_worker_command_refuses_an_unknown_queue(edition, tmp_path):
    worker = start_worker(edition, tmp_path / "elsewhere", "--queues", "cpu,fast")
    output, _ = worker.communicate(timeout=60)
    assert worker.returncode == 1 and "Error: unknown queue(s) fast: use cpu, gpu, low" in output


# -- faults -------------------------------------------------------------------------------


@pytest.fixture
def scanned(edition: Edition, page_png: Path) -> Edition:
    edition.create(Manuscript(id="letters", title="Писма"), who="tester")
    edition.add_pages("letters", [page_png], who="tester")
    return edition


def test_a_job_whose_process_is_killed_runs_again(scanned, store):
    settings(scanned, "retries = 1")
    with consuming(scanned.root):
        job = store.submit(scanned, "segment", "letters", "ivan")
        wait_for(lambda: store.get(job.id).state == "running" and store.get(job.id).tries == 1, timeout=30)
        first = store.get(job.id).pid
        os.killpg(first, signal.SIGKILL)  # while kraken loads, as the out-of-memory killer would
        wait_for(lambda: store.get(job.id).tries == 2 and store.get(job.id).state == "running", timeout=30)
        again = store.get(job.id)
        assert again.pid != first and group_members(again.pid)
        assert "its process was killed by SIGKILL" not in again.message  # it is not over
        store.cancel(again.id)
    log = store.log_path(job.id).read_text()
    assert log.count(f"job {job.id}: segment letters") == 2 and "(run 2; pages saved before: none)" in log


def test_a_job_whose_worker_and_process_are_killed_is_stopped_when_its_heartbeat_is_stale(scanned, store, tmp_path):
    settings(scanned, "stale_after = 4\nretries = 1")
    worker = start_worker(scanned, tmp_path / "elsewhere", "--queues", "cpu")
    try:
        job = store.submit(scanned, "segment", "letters", "ivan")
        wait_for(lambda: store.get(job.id).state == "running", timeout=30)
        running = store.get(job.id)
        assert store.heartbeat_path(job.id).exists()
        worker.kill()  # the consumer first: nobody is left to run the job again
        worker.wait()
        os.killpg(running.pid, signal.SIGKILL)
        wait_for(lambda: not group_members(running.pid), timeout=30)
        assert store.get(job.id).state == "running"  # its heartbeat is still fresh
        wait_for(lambda: not store.get(job.id).active, timeout=15)
    finally:
        stop(worker)
    job = store.get(job.id)
    assert job.state == "failed" and job.error == "stopped" and job.message.startswith(STOPPED)
    assert not store.heartbeat_path(job.id).exists()
    assert scanned.problems("letters") == []


def niceness(pid: int) -> set[int]:
    """The nice value of each thread of ``pid`` (on Linux a priority is a thread's)."""
    values = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            values.add(int((task / "stat").read_text().rsplit(")", 1)[1].split()[16]))
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that ended meanwhile
    return values


@pytest.mark.parametrize(("text", "expected"), [("", 10), ("nice = 3", 3), ("nice = 0", 0)])
def test_a_job_process_and_its_threads_run_below_the_workers_priority(scanned, store, text, expected):
    # Kraken fills a core for minutes; the editors' saves in the server should not wait behind it.
    settings(scanned, text)
    own = os.getpriority(os.PRIO_PROCESS, 0)
    with consuming(scanned.root):
        job = store.submit(scanned, "segment", "letters", "ivan")
        wait_for(lambda: store.get(job.id).state == "running", timeout=30)
        pid = store.get(job.id).pid
        # Once kraken is loading, the process has started its threads (torch's among them).
        wait_for(lambda: len(list(Path(f"/proc/{pid}/task").iterdir())) > 1, timeout=60)
        assert niceness(pid) == {min(19, own + expected)}
        if queue._autogroup(pid) and expected:  # the kernel schedules sessions as groups: the group's value counts
            assert Path(f"/proc/{pid}/autogroup").read_text().split()[-2:] == ["nice", str(min(19, own + expected))]
        store.cancel(job.id)


@pytest.mark.parametrize("ours", ["", "/autogroup-7 nice 0\n"])
def test_a_child_in_no_scheduling_group_gets_its_threads_value_alone(tmp_path, monkeypatch, ours):
    # Where a cgroup schedules the processes (containers, CI machines), the kernel leaves
    # /proc/PID/autogroup empty: the child's own nice value is all there is to set.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        for pid, text in ((child.pid, ""), (os.getpid(), ours)):
            (tmp_path / str(pid)).mkdir()
            (tmp_path / str(pid) / "autogroup").write_text(text)
        monkeypatch.setattr(queue, "PROC", tmp_path)
        queue.lower_priority(child.pid, 4)
        assert os.getpriority(os.PRIO_PROCESS, child.pid) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 4)
        assert (tmp_path / str(child.pid) / "autogroup").read_text() == ""  # no group to write to
    finally:
        child.kill()
        child.wait()


def test_a_running_job_keeps_its_heartbeat_fresh(scanned, store):
    settings(scanned, "stale_after = 4")
    with consuming(scanned.root):
        job = store.submit(scanned, "segment", "letters", "ivan")
        wait_for(lambda: store.get(job.id).state == "running", timeout=30)
        beat = store.heartbeat_path(job.id)
        first = beat.stat().st_mtime
        wait_for(lambda: beat.stat().st_mtime > first, timeout=10)
        store.cancel(job.id)


@pytest.mark.slow
def test_a_worker_killed_mid_job_is_run_again_and_saves_each_page_once(edition, store, page_png, tmp_path):
    """Real kraken through ``workbench worker``: two pages, a page at a time; the job's
    process is killed after the first page is saved, and the run again does only the second."""
    # As many kraken jobs as the machine has slots: each job segments a page at a time.
    settings(edition, f"kraken_jobs = {queue.machine_slots()}\nretries = 1")
    edition.create(Manuscript(id="letters", title="Писма"), who="tester")
    second = tmp_path / "second.png"
    Image.open(page_png).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(second)
    edition.add_pages("letters", [page_png, second], who="tester")
    worker = start_worker(edition, tmp_path / "elsewhere", "--queues", "cpu", "--workers", "1")
    try:
        job = store.submit(edition, "segment", "letters", "ivan")
        wait_for(lambda: store.get(job.id).saved == ["1"], timeout=300)
        os.killpg(store.get(job.id).pid, signal.SIGKILL)
        job = wait_until_ended(store, job.id, timeout=300)
    finally:
        output = stop(worker)
    assert (job.state, job.tries, job.saved, job.done, job.total) == ("done", 2, ["1", "2"], 2, 2), output
    log = LayoutLog(edition.layout_dir)
    assert [len([r for r in log.records("letters", n) if r.action == "resegment"]) for n in ("1", "2")] == [1, 1]
    assert "(run 2; pages saved before: 1)" in store.log_path(job.id).read_text()
    assert job.message.endswith("(and page(s) 1 by an earlier run, whose process was killed)")
    assert (job.outcome["pages"], job.outcome["of"]) == (2, 2)
    assert all(page.lines for page in edition.load("letters").pages)
    assert edition.problems("letters") == []


# -- the gpu queue ------------------------------------------------------------------------


def test_a_gpu_worker_runs_its_jobs_on_cuda_if_torch_sees_it_else_on_the_cpu(manuscripts, store, model):
    import torch

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    with consuming(manuscripts.root, queues=("gpu",)):
        # The gpu worker announced itself; with CUDA, recognition goes to its queue.
        assert queue.cuda_worker_present(manuscripts.root) == torch.cuda.is_available()
        job = store.submit(manuscripts, "recognize", "a", "ivan", model=model)
        if job.queue == "cpu":  # no CUDA here: run it on the gpu queue as a CUDA-less gpu worker would
            with store._locked():
                job.queue = "gpu"
                store._write(job)
            queue.enqueue(manuscripts.root, job)
        job = wait_until_ended(store, job.id, timeout=60)
    assert job.state == "done", job.message
    assert f"job {job.id}: recognize a pages all on {expected}" in store.log_path(job.id).read_text()


# -- serve ----------------------------------------------------------------------------------


def test_serve_runs_a_worker_that_stops_with_it(manuscripts, store, model, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    job = store.submit(manuscripts, "recognize", "a", "ivan", model=model)
    serve = subprocess.Popen(
        [sys.executable, "-m", "workbench", "--edition", str(manuscripts.root), "serve", "--port", str(port)],
        cwd=tmp_path,
        env=os.environ | {"PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    records = manuscripts.root / ".workbench" / "workers"
    try:
        job = wait_until_ended(store, job.id, timeout=60)
        [record] = records.glob("*.json")
        worker = json.loads(record.read_text())["pid"]
        assert worker != serve.pid and Path(f"/proc/{worker}/stat").read_text().split()[3] == str(serve.pid)
    finally:
        serve.terminate()
        serve.wait(timeout=30)
    assert job.state == "done", job.message
    wait_for(lambda: not Path(f"/proc/{worker}").exists(), timeout=15)  # gone with the server
    assert not list(records.glob("*.json"))
