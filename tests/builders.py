"""What tests build and wait for: a manuscript of simple geometry, a real kraken model with
random weights, and waiting on jobs. Fixtures that use these are in conftest.py."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.edition import Edition
from workbench.jobs import Job, JobStore
from workbench.model import Line, Manuscript, Page, Region

if TYPE_CHECKING:
    from workbench.htr.training import ModelRecord

REPO = Path(__file__).resolve().parent.parent


def make_manuscript(manuscript_id: str = "ms1", pages: int = 1, lines: int = 3) -> Manuscript:
    """A manuscript with simple rectangular geometry, the first line transcribed."""
    manuscript = Manuscript(id=manuscript_id, title="Test manuscript", author="Трифон Трифонов", shelfmark="T-1")
    person = manuscript.source("transcription", "tester")
    for n in range(1, pages + 1):
        page = Page(
            id=f"{manuscript_id}_p{n}", n=str(n), image=f"{n:03}.png", width=1000, height=1400, mime_type="image/png"
        )
        page.regions.append(Region(f"{page.id}_r1", [(50, 50), (950, 50), (950, 1300), (50, 1300)]))
        for k in range(1, lines + 1):
            top = 60 + 50 * k
            page.lines.append(
                Line(
                    f"{page.id}_l{k}",
                    [(60, top), (900, top), (900, top + 40), (60, top + 40)],
                    [(60, top + 32), (900, top + 32)],
                    region=f"{page.id}_r1",
                )
            )
        page.lines[0].text, page.lines[0].status, page.lines[0].resp = "Живъ е той", "corrected", person.id
        manuscript.pages.append(page)
    return manuscript


def untrained_model(folder: Path) -> Path:
    """A real kraken recognition model with random weights: it reads noise, but for real.

    Training a useful model is another feature's job; this one exercises the same
    loading and recognition code a user's model goes through.
    """
    script = """
import sys
from kraken.lib.vgsl import TorchVGSLModel
from kraken.models import write_models
alphabet = "абвгдежзийклмнопрстуфхцчшщъьюяѣѫ ,.!"
codec = {c: [i + 1] for i, c in enumerate(alphabet)}
spec = f"[1,48,0,1 Cr3,3,16 Mp2,2 S1(1x24)1,3 Lbx32 O1c{len(alphabet) + 1}]"
model = TorchVGSLModel(vgsl=spec, codec=codec, model_type=["recognition"], seg_type="baselines", one_channel_mode="L")
print(write_models([model], sys.argv[1]))
"""
    result = subprocess.run(
        [sys.executable, "-c", script, str(folder / "untrained.mlmodel")], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip().splitlines()[-1])


def keep_model(
    edition: Edition,
    weights: Path,
    name: str,
    lines: int,
    *,
    base: str | None = None,
    cer: float | None = None,
    manuscripts: tuple[str, ...] = ("ms1",),
    created: str = "2026-01-01T00:00:00Z",
) -> ModelRecord:
    """A model kept as a training keeps one, which learnt from ``lines`` lines (training and validation)."""
    from workbench.htr import training  # torch and kraken: only for the tests that keep models

    record = training.ModelRecord(
        name=name,
        created=created,
        base=base,
        manuscripts=list(manuscripts),
        training_lines=lines - lines // 10,
        validation_lines=lines // 10,
        held_out=[],
        epochs=7,
        validation_accuracy=0.5,
        scores=training.Scores(cer=cer, wer=min(1.0, 2 * cer), lines=5, characters=100) if cer is not None else None,
    )
    copy = edition.models_dir / f"{name}.weights"
    edition.models_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(weights, copy)
    training.keep(edition, record, copy)
    return training.ModelStore.of(edition).get(name)


def wait_for(condition: Callable[[], object], timeout: float, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still waiting after {timeout} s"
        time.sleep(interval)


def wait_until_ended(store: JobStore, job_id: str, timeout: float) -> Job:
    wait_for(lambda: not store.get(job_id).active, timeout)
    return store.get(job_id)


def group_members(pgid: int) -> list[int]:
    """Live processes in process group ``pgid`` (zombies do not count: they have stopped)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _, group = stat.read_text().rpartition(")")[2].split()[:3]
        except (OSError, ValueError):
            continue  # the process ended meanwhile
        if int(group) == pgid and state != "Z":
            members.append(int(stat.parent.name))
    return members


@contextmanager
def consuming(edition_root: Path, queues: tuple[str, ...] = ("cpu", "gpu", "low")) -> Iterator[None]:
    """The edition's queues consumed by threads of this process while the block runs, as
    ``workbench serve``'s worker would: each job still runs in a real process of its own."""
    from workbench import queue

    running = queue.start_consumers(edition_root, queues)
    try:
        yield
    finally:
        running.stop()


@dataclass
class RedisServer:
    port: int
    folder: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        # Every write to the append-only file synced at once, so that a server killed
        # outright comes back with every task it had.
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self.answers, timeout=30)

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(7) == b"+PONG\r\n"
        except OSError:
            return False

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- a served edition and remote workers, as real processes -------------------------------


@dataclass
class Server:
    url: str
    edition: Edition
    token_file: Path
    process: subprocess.Popen


@contextmanager
def serving(edition: Edition, folder: Path) -> Iterator[Server]:
    """``workbench serve`` of ``edition`` without a worker of its own (its queue as its
    workbench.toml says), and a worker token for remote workers in ``folder``/token."""
    from workbench import remote

    folder.mkdir(parents=True, exist_ok=True)
    token_file = folder / "token"
    token_file.write_text(remote.create_token(edition.root, "test-machine"))
    port = free_port()
    (folder / "server").mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "workbench", "--edition", str(edition.root), "serve", "--no-worker"]
        + ["--insecure-http", "--port", str(port), "--threads", "4"],
        cwd=folder / "server",
        env=os.environ | {"PYTHONPATH": str(REPO)},
        stdout=open(folder / "server" / "output.log", "wb"),  # noqa: SIM115 (closed with the process)
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(url), timeout=120, interval=0.5)
        yield Server(url, edition, token_file, process)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/login", timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def start_remote_worker(server: Server, folder: Path, *options: str) -> subprocess.Popen:
    """`workbench worker --remote` in a folder of its own, with no edition to find; on the
    cpu queue, one job at a time, unless ``options`` say otherwise (a later option wins)."""
    folder.mkdir(parents=True, exist_ok=True)
    environment = {key: value for key, value in os.environ.items() if key != "WORKBENCH_EDITION"}
    return subprocess.Popen(
        [sys.executable, "-m", "workbench", "worker", "--remote", server.url, "--token-file", str(server.token_file)]
        + ["--queues", "cpu", "--workers", "1", *options],
        cwd=folder,
        env=environment | {"PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # kill -9 of the worker's group: the whole machine's work, gone
    )


def start_worker(edition: Edition, cwd: Path, *options: str) -> subprocess.Popen:
    """``workbench worker`` of ``edition`` in a process of its own, in a working folder of its own."""
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "workbench", "--edition", str(edition.root), "worker", *options],
        cwd=cwd,
        env=os.environ | {"PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop(worker: subprocess.Popen, timeout: float = 60) -> str:
    """Stop a worker as its service manager would (SIGTERM); its output."""
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
    return worker.communicate(timeout=timeout)[0]
