"""The real server in several processes (`workbench serve --processes 2`, gunicorn): what
each process keeps for itself is safe to have twice (the search indexer runs in one, the
login limit is counted in the edition), and a kill -9 of the whole server in the middle
of saves loses no save it acknowledged."""

from __future__ import annotations

import fcntl
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from PIL import Image

from tests.builders import REPO, make_manuscript
from workbench import transcription
from workbench.edition import Edition
from workbench.model import Line
from workbench.search import indexing
from workbench.search.index import Query
from workbench.users import Users
from workbench.web.state import EditionLimitsStorage

PASSWORD = "correct horse battery"
PAGES, LINES = 30, 10


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(root: Path, processes: int, *options: str) -> tuple[subprocess.Popen, str]:
    """`workbench serve --processes N` in a process group of its own (the test kills it whole)."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "workbench", "--edition", str(root), "serve", *options]
        + ["--processes", str(processes), "--threads", "4", "--port", str(port), "--insecure-http"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            requests.get(f"{base}/login", timeout=10)
            return server, base
        except requests.RequestException:
            time.sleep(0.2)
    os.killpg(server.pid, signal.SIGKILL)
    raise AssertionError("the server did not answer within 120 s")


def _log_in(base: str, name: str) -> requests.Session:
    session = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', session.get(f"{base}/login").text).group(1)
    response = session.post(f"{base}/login", data={"name": name, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 200 and "/login" not in response.url, response.text[:300]
    page = session.get(f"{base}/")
    session.headers["X-CSRFToken"] = re.search(r'"X-CSRFToken": "([^"]+)"', page.text).group(1)
    session.headers["HX-Request"] = "true"
    return session


@pytest.fixture
def served_edition(tmp_path: Path) -> Edition:
    edition = Edition(tmp_path / "edition")
    manuscript = make_manuscript(pages=PAGES, lines=LINES)
    edition.create(manuscript, "tester")
    # The editor's rows stat each page's image (crop URLs): a real one, under every page's name.
    folder = edition.facsimile_dir / "ms1"
    folder.mkdir(parents=True)
    Image.new("L", (1000, 1400), 230).save(folder / "page.png")
    for page in manuscript.pages:
        os.link(folder / "page.png", folder / page.image)
    users = Users(edition.users_file)
    for k in range(4):
        users.add(f"editor{k}", "editor", PASSWORD)
    return edition


def _fresh_base(line_id: str) -> str:
    return transcription.line_version(Line(line_id, [], [], text="", status=None))


def test_kill_9_of_the_server_mid_save_loses_no_acknowledged_save(served_edition: Edition):
    root = served_edition.root
    server, base = _serve(root, processes=2)
    try:
        editors = [_log_in(base, f"editor{k}") for k in range(4)]
        acknowledged: list[tuple[str, str, str]] = []  # (line id, text, editor)
        lock = threading.Lock()
        stop = threading.Event()
        # Every save goes to a line nobody saved before (lines 2-10; line 1 has text already),
        # so none conflicts and each acknowledged one must be in the file afterwards.
        free_lines = iter([f"ms1_p{n}_l{k}" for k in range(2, LINES + 1) for n in range(1, PAGES + 1)])

        def edit(k: int, session: requests.Session) -> None:
            while not stop.is_set():
                with lock:
                    line_id = next(free_lines, None)
                if line_id is None:
                    return
                text = f"поправка на editor{k} в {line_id}"
                try:
                    response = session.post(
                        f"{base}/m/ms1/lines/{line_id}", data={"text": text, "base": _fresh_base(line_id)}, timeout=30
                    )
                except requests.RequestException:
                    return  # the server is gone: this save was never acknowledged
                if response.status_code == 200:
                    with lock:
                        acknowledged.append((line_id, text, f"editor{k}"))

        threads = [threading.Thread(target=edit, args=(k, s)) for k, s in enumerate(editors)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 40 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.killpg(server.pid, signal.SIGKILL)  # master and workers at once, saves in flight
        server.wait(timeout=30)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
    assert len(acknowledged) >= 40

    edition = Edition(root)
    assert edition.problems("ms1") == []
    texts = {line.id: line.text for line in edition.load("ms1").lines()}
    journal = [(entry.line, entry.new, entry.who) for entry in edition.journal.entries("ms1")]
    assert [save for save in acknowledged if texts[save[0]] != save[1]] == []
    assert [save for save in acknowledged if save not in journal] == []
    assert len(journal) == len(set(journal))  # no save journalled twice

    # The edition serves again after the crash, and the processes agree on what it holds.
    server, base = _serve(root, processes=2)
    try:
        session = _log_in(base, "editor0")
        line_id = next(line.id for line in edition.load("ms1").lines() if not line.text)
        response = session.post(
            f"{base}/m/ms1/lines/{line_id}", data={"text": "после", "base": _fresh_base(line_id)}, timeout=30
        )
        assert response.status_code == 200
        page_n = line_id.split("_p")[1].split("_")[0]
        for _ in range(6):  # new connections: both processes answer some
            viewer = requests.Session()
            viewer.cookies.update(session.cookies)
            page = viewer.get(f"{base}/m/ms1/p/{page_n}/", timeout=30)
            assert page.status_code == 200 and "после" in page.text
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
    assert {line.id: line.text for line in Edition(root).load("ms1").lines()}[line_id] == "после"


def test_a_reading_room_server_beside_the_editors_shows_their_saves(served_edition: Edition):
    # The deployment the README gives for a published edition: readers on a server of
    # their own (a proxy routes /read/ there), editors on another, one edition.
    served_edition.set_published("ms1", True, "tester")
    editors, base = _serve(served_edition.root, 1)
    readers, reading = _serve(served_edition.root, 1, "--no-worker")
    try:
        session = _log_in(base, "editor0")
        assert "нѣкогашенъ" not in requests.get(f"{reading}/read/ms1/3/", timeout=30).text
        saved = session.post(
            f"{base}/m/ms1/lines/ms1_p3_l2", data={"text": "нѣкогашенъ градъ", "base": _fresh_base("ms1_p3_l2")}
        )
        assert saved.status_code == 200
        page = requests.get(f"{reading}/read/ms1/3/", timeout=30)  # the next read catches up
        assert page.status_code == 200 and "нѣкогашенъ градъ" in page.text
        # Found in modern spelling, through the reading room's server, once indexed.
        _wait(lambda: "ms1/3/2" in requests.get(f"{reading}/read/search", params={"q": "некогашен"}).text, 30)
    finally:
        for server in (editors, readers):
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)


def test_two_server_processes_count_failed_logins_together(served_edition: Edition):
    server, base = _serve(served_edition.root, processes=2)
    try:
        codes = []
        for _ in range(12):
            session = requests.Session()  # a new connection each time: either process may answer
            token = re.search(r'name="csrf_token" value="([^"]+)"', session.get(f"{base}/login").text).group(1)
            response = session.post(
                f"{base}/login", data={"name": "editor1", "password": "wrong", "csrf_token": token}, timeout=30
            )
            codes.append(response.status_code)
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
    # 10 per minute per account name (LOGIN_ACCOUNT_RATE_LIMIT), whichever process counted them.
    assert codes[:10] == [401] * 10 and codes[10:] == [429, 429], codes
    with sqlite3.connect(served_edition.state_dir / "limits.sqlite") as db:
        counts = dict(db.execute("SELECT key, count FROM hits").fetchall())
    assert any("editor1" in key and count == 10 for key, count in counts.items()), counts


def test_the_limit_storage_is_shared_between_processes(tmp_path: Path):
    uri = f"workbench-sqlite://{tmp_path / 'limits.sqlite'}"
    here = EditionLimitsStorage(uri)
    assert here.incr("login/ivan", 60) == 1
    script = "import sys; from workbench.web.state import EditionLimitsStorage as S; print(S(sys.argv[1]).incr('login/ivan', 60))"
    other = subprocess.run(
        [sys.executable, "-c", script, uri], cwd=REPO, env={"PYTHONPATH": str(REPO)}, capture_output=True, text=True
    )
    assert other.stdout.strip() == "2", other.stderr
    assert here.get("login/ivan") == 2 and here.get_expiry("login/ivan") > time.time() + 50
    here.clear("login/ivan")
    assert here.get("login/ivan") == 0
    assert here.incr("login/maria", 0) == 1  # a window of 0 s has ended at once: counted anew
    assert here.incr("login/maria", 0) == 1


def test_only_one_indexer_indexes_and_another_takes_over(edition: Edition):
    edition.create(make_manuscript(pages=2), "tester")
    first = indexing.IndexerThread(indexing.Indexer(edition), interval=0.05)
    second = indexing.IndexerThread(indexing.Indexer(edition), interval=0.05)
    first.start()
    time.sleep(0.3)
    second.start()
    time.sleep(0.3)
    assert first.leading and not second.leading
    with open(edition.locks_dir / "indexer.lock", "a") as lock, pytest.raises(BlockingIOError):
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    first.stop()
    first.join(timeout=10)
    deadline = time.monotonic() + 10
    while not second.leading and time.monotonic() < deadline:
        time.sleep(0.05)
    second.stop()
    second.join(timeout=10)
    assert second.leading


def test_the_server_indexes_in_a_child_process_it_restarts_and_stops(edition: Edition):
    """IndexerProcess (what create_app starts): the catching up, with its Whoosh merges,
    happens in a child process, never holding the web process's GIL."""
    edition.create(make_manuscript(pages=2), "tester")
    edition.set_published("ms1", True, "tester")
    index = indexing.open_index(edition)

    def found(word: str) -> list[str]:
        return [hit.line_id for hit in index.search(Query(word)).hits]

    group_before = Path("/proc/self/autogroup").read_text() if Path("/proc/self/autogroup").exists() else None
    indexer = indexing.IndexerProcess(edition, interval=0.2)
    indexer.start()
    try:
        _wait(lambda: found("живъ"), 60)
        child = indexer.child
        assert child is not None and child.pid != os.getpid() and child.poll() is None
        # Below the server's priority: requests go first, findability has time to spare.
        own = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, child.pid) == min(19, own + indexing.INDEXER_NICE)
        ours = Path("/proc/self/autogroup")
        if ours.exists():  # it shares the server's scheduling group, which keeps its value
            assert Path(f"/proc/{child.pid}/autogroup").read_text() == ours.read_text() == group_before
        with edition.edit("ms1", "tester", pages=["2"]) as manuscript:
            manuscript.page("2").lines[1].text = "нѣкогашенъ"
        indexer.wake()
        _wait(lambda: found("нѣкогашенъ") == ["ms1_p2_l2"], 30)
        child.kill()  # a child that dies is started again
        child.wait(timeout=30)
        _wait(lambda: indexer.child is not child and indexer.child.poll() is None, 30)
        with edition.edit("ms1", "tester", pages=["1"]) as manuscript:
            manuscript.page("1").lines[2].text = "пакъ"
        _wait(lambda: found("пакъ") == ["ms1_p1_l3"], 30)
    finally:
        indexer.stop()
        indexer.join(timeout=60)
    assert indexer.child.poll() is not None  # stopping the thread ends its child


def _wait(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_indexer_process_lives_through_a_burst_of_wake_up_signals(edition: Edition):
    """The server signals its indexer once per save. A signal handler that woke the loop
    could be interrupted by the next signal while the loop held the lock it needed: then
    it waited forever, nested handler in handler, until the process died (bench/mixed_load.py,
    8 editors). A loop that waits as often as it can makes that moment frequent."""
    edition.create(make_manuscript(pages=2), "tester")
    edition.set_published("ms1", True, "tester")
    index = indexing.open_index(edition)

    def found(word: str) -> list[str]:
        return [hit.line_id for hit in index.search(Query(word)).hits]

    follow = f"from pathlib import Path; from workbench.search.indexing import follow; follow(Path({str(edition.root)!r}), 1e-5, 0)"
    child = subprocess.Popen([sys.executable, "-c", follow], cwd=REPO, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait(lambda: found("живъ"), 60)
        began = time.monotonic()
        while time.monotonic() - began < 5 and child.poll() is None:
            os.kill(child.pid, signal.SIGUSR1)
        assert child.poll() is None
        with edition.edit("ms1", "tester", pages=["2"]) as manuscript:
            manuscript.page("2").lines[1].text = "бурята"
        os.kill(child.pid, signal.SIGUSR1)
        _wait(lambda: found("бурята") == ["ms1_p2_l2"], 30)
        child.terminate()  # SIGTERM: it ends (after a catch-up under way)
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.stderr.read() == b""


def test_saves_in_quick_succession_share_one_catch_up_of_the_index(edition: Edition):
    """A Whoosh commit costs ~0.1 s of CPU and reopens every searcher: the indexer process
    commits at most once per ``gap`` however many saves wake it."""
    edition.create(make_manuscript(pages=2), "tester")
    edition.set_published("ms1", True, "tester")
    index = indexing.open_index(edition)
    follow = f"from pathlib import Path; from workbench.search.indexing import follow; follow(Path({str(edition.root)!r}), 60, 2)"
    child = subprocess.Popen([sys.executable, "-c", follow], cwd=REPO, stdin=subprocess.DEVNULL)
    try:
        _wait(lambda: [hit.line_id for hit in index.search(Query("живъ")).hits], 60)
        generation = index.index.latest_generation()
        words = [f"дума{chr(0x430 + k)}" for k in range(10)]
        for k, word in enumerate(words):
            with edition.edit("ms1", "tester", pages=["2"]) as manuscript:
                manuscript.page("2").lines[k % 3].text = word
            os.kill(child.pid, signal.SIGUSR1)
            time.sleep(0.1)
        _wait(lambda: [hit.line_id for hit in index.search(Query(words[-1])).hits] == ["ms1_p2_l1"], 30)
        # Ten saves in about a second, a gap of 2 s: the first catch-up, then one more for the rest.
        assert 1 <= index.index.latest_generation() - generation <= 2
    finally:
        child.terminate()
        child.wait(timeout=30)
