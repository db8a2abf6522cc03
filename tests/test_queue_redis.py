"""The job queue on Redis: a real redis-server (Debian's, `make system-packages`) on a free
loopback port, started and stopped by a fixture; workers are real ``workbench worker``
processes in folders of their own."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PIL import Image

from tests.builders import RedisServer, start_worker, stop, wait_for, wait_until_ended
from workbench import queue
from workbench.edition import Edition
from workbench.jobs import JobStore
from workbench.model import Manuscript, WorkbenchError


@pytest.fixture
def edition_on_redis(edition: Edition, redis_server: RedisServer, tmp_path: Path) -> Edition:
    """Four manuscripts (a–d) of two blank pages, the queue on the Redis server."""
    edition.root.mkdir(parents=True)
    (edition.root / "workbench.toml").write_text(f'[queue]\nredis = "{redis_server.url}"\n')
    for number in (1, 2):
        Image.new("L", (400 + number, 600), 236).save(tmp_path / f"blank{number}.png")
    for manuscript_id in "abcd":
        edition.create(Manuscript(id=manuscript_id, title=manuscript_id), who="tester")
        edition.add_pages(manuscript_id, [tmp_path / "blank1.png", tmp_path / "blank2.png"], who="tester")
    return edition


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "model.mlmodel"
    path.write_bytes(b"never loaded: the pages have no lines")
    return path


def test_a_job_on_redis_runs_through_a_worker_in_another_folder(edition_on_redis, model, redis_server, tmp_path):
    store = JobStore.of(edition_on_redis)
    job = store.submit(edition_on_redis, "recognize", "a", "ivan", model=model)
    assert queue.pending(edition_on_redis.root, "cpu") == [job.id]
    assert not (edition_on_redis.root / ".workbench" / "queue.db").exists()  # Redis, not SQLite
    worker = start_worker(edition_on_redis, tmp_path / "elsewhere", "--queues", "cpu")
    try:
        job = wait_until_ended(store, job.id, timeout=60)
    finally:
        output = stop(worker)
    assert (job.state, job.done, job.tries) == ("done", 2, 1), output
    assert f"on Redis {redis_server.url}" in output
    assert queue.pending(edition_on_redis.root, "cpu") == []


def test_a_batch_completes_across_a_redis_restart(edition_on_redis, model, redis_server, tmp_path):
    store = JobStore.of(edition_on_redis)
    batch = [store.submit(edition_on_redis, "recognize", m, "ivan", model=model) for m in "abcd"]
    worker = start_worker(edition_on_redis, tmp_path / "elsewhere", "--queues", "cpu", "--workers", "1")
    try:
        wait_for(lambda: store.get(batch[0].id).state == "done", timeout=60)
        redis_server.kill()
        waiting = [job.id for job in batch if store.get(job.id).state == "queued"]
        assert waiting, "the batch ended before Redis was killed: nothing was tested"
        # While Redis is down nothing new can be queued, and nothing is lost saying so.
        with pytest.raises(WorkbenchError, match="could not put the job on the cpu queue: Error 111"):
            store.submit(edition_on_redis, "segment", "a", "maria", pages="1")
        time.sleep(2)  # the worker meets the dead server meanwhile
        # Its one thread may have taken the next job from Redis just before the outage (that
        # job runs on); the others stay in line, neither lost nor failed.
        states = [store.get(job_id).state for job_id in waiting]
        assert states[1:] == ["queued"] * (len(waiting) - 1) and states[0] in ("queued", "running", "done")
        redis_server.start()  # on the same port, from its append-only file
        ended = [wait_until_ended(store, job.id, timeout=90) for job in batch]
    finally:
        output = stop(worker)
    assert [job.state for job in ended] == ["done"] * 4, output
    assert [job.tries for job in ended] == [1] * 4  # each run once
    assert "Error reading from queue" in output  # the consumer met the outage and carried on
    assert len(store.list()) == 4
