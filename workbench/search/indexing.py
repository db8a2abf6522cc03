"""Keeping the search index in step with ``tei/``: published manuscripts only, page by page.

The TEI files are the source of truth; the index is rebuilt or caught up from them.
Catching up does not need to be told what changed, so saves from the web editor,
jobs, the command line and hand edits all reach the index the same way:

1. a manuscript whose TEI file is unchanged on disk (same inode, size, mtime) is skipped;
2. otherwise, when this process saved the file itself since the last catch-up, only the
   pages its saves touched are read (``Edition.page_revisions``): a save of one line in a
   published 15,000-line manuscript costs the indexer one page, not a copy of them all;
3. otherwise each page's digest (title, dates and every line's id and text) is compared
   with the digest recorded when it was indexed, and only pages that differ are replaced.

A web process runs this in a background thread every half second (``IndexerThread``),
so a saved line is findable within about a second without the save request waiting.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from workbench.edition import Edition, PageRevisions
from workbench.files import write_atomically
from workbench.model import Manuscript, Page, WorkbenchError
from workbench.queue import lower_priority
from workbench.search.index import LineRecord, SearchIndex, WhooshIndex
from workbench.tei.text import diplomatic_text, line_refs, reading_text

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]  # (manuscript id, its pages done, its pages to index)


def open_index(edition: Edition) -> WhooshIndex:
    return WhooshIndex(edition.index_dir)


def line_records(manuscript: Manuscript, page: Page) -> list[LineRecord]:
    """The page's transcribed lines as the index keeps them (lines without text are not searchable)."""
    return [
        LineRecord(
            manuscript_id=manuscript.id,
            title=manuscript.title,
            page_n=page.n,
            line_id=line.id,
            line_n=number,
            diplomatic=diplomatic_text(line.text),
            reading=reading_text(line.text),
            years=manuscript.years,
            refs=line_refs(line.text),
        )
        for number, line in enumerate(page.lines, start=1)
        if line.text
    ]


def _carried(manuscript: Manuscript) -> tuple[str, object]:
    """The header's fields that every line record carries."""
    return manuscript.title, manuscript.years


def page_digest(manuscript: Manuscript, page: Page) -> str:
    digest = hashlib.blake2b(digest_size=16)
    digest.update("{}\0{}\0".format(*_carried(manuscript)).encode())
    for line in page.lines:
        digest.update(f"{line.id}\0{line.text}\0".encode())
    return digest.hexdigest()


class Indexer:
    def __init__(self, edition: Edition, index: SearchIndex | None = None):
        self.edition = edition
        self.index = index if index is not None else open_index(edition)
        self._state_path = edition.index_dir / "pages.json"
        self._lock = threading.Lock()  # one catch-up at a time in this process
        # What the last catch-up saw of each manuscript: its page revisions, the file's stat it
        # recorded with them (so a state file changed by another process is noticed), and the
        # header fields every record carries (a header-only save changes no page's revision).
        self._seen: dict[str, tuple[PageRevisions, list[int], tuple[str, object]]] = {}

    def catch_up(self, progress: Progress | None = None, bulk: bool = False) -> int:
        """Bring the index up to date with ``tei/``; the number of pages (re)indexed or dropped.

        ``bulk``: many pages are expected (a rebuild from the command line): index with
        both cores.
        """
        with self._lock:
            # Open the index first: a new one (a first run, another version) has nothing in it.
            state = {} if self.index.open() else self._read_state()
            if not state:
                self._seen.clear()
            on_disk = self.edition.manuscript_ids()
            done = 0
            for manuscript_id in [m for m in state if m not in on_disk]:
                self.index.remove_manuscript(manuscript_id)
                done += len(state.pop(manuscript_id)["pages"])
                self._write_state(state)
            todo = [(m, self._changed(m, state)) for m in on_disk]
            todo = [(m, stat) for m, stat in todo if stat is not None]
            for manuscript_id, stat in todo:
                done += self._catch_up_manuscript(manuscript_id, stat, state, bulk, progress)
                self._write_state(state)
            return done

    def rebuild(self, progress: Progress | None = None) -> int:
        """Throw the index away and build it again from ``tei/``."""
        with self._lock:
            self.index.clear()
            self._write_state({})
        return self.catch_up(progress, bulk=True)

    def _changed(self, manuscript_id: str, state: dict) -> list[int] | None:
        """The TEI file's (inode, size, mtime) if it changed since it was indexed, else None."""
        try:
            stat = self.edition.tei_path(manuscript_id).stat()
        except OSError:
            return None
        key = [stat.st_ino, stat.st_size, stat.st_mtime_ns]
        return None if state.get(manuscript_id, {}).get("stat") == key else key

    def _catch_up_manuscript(
        self, manuscript_id: str, stat: list[int], state: dict, bulk: bool, progress: Progress | None
    ) -> int:
        known = state.get(manuscript_id, {}).get("pages", {})
        seen = self._seen.pop(manuscript_id, None)
        try:
            # The header first: an unpublished manuscript's pages are never copied (a
            # copy of 15,000 lines, after every save, held the manuscript's lock ~0.1 s).
            header = self.edition.header(manuscript_id)
            if not header.published:
                if known:
                    self.index.remove_manuscript(manuscript_id)
                state[manuscript_id] = {"stat": stat, "pages": {}}
                return len(known)
            revisions = self.edition.page_revisions(manuscript_id)
            recorded = state.get(manuscript_id, {}).get("stat")
            if (
                seen is not None
                and seen[1:] == (recorded, _carried(header))
                and seen[0].generation == revisions.generation
            ):
                manuscript = self._saved_pages(manuscript_id, seen[0], revisions)
            else:
                manuscript = None
            if manuscript is None:
                manuscript, digests = self.edition.read(manuscript_id), {}
            else:
                digests = {n: digest for n, digest in known.items() if n in revisions.pages}
        except WorkbenchError as error:
            # An invalid hand-edited file: keep what the index has; try again when it changes.
            log.warning("search index: %s skipped: %s", manuscript_id, error)
            state.setdefault(manuscript_id, {"pages": {}})["stat"] = stat
            return 0
        digests.update((page.n, page_digest(manuscript, page)) for page in manuscript.pages)
        changed = [page for page in manuscript.pages if known.get(page.n) != digests[page.n]]
        gone = [n for n in known if n not in digests]
        if changed or gone:

            def records() -> Iterator[LineRecord]:
                for done, page in enumerate(changed, start=1):
                    yield from line_records(manuscript, page)
                    if progress:
                        progress(manuscript_id, done, len(changed))

            self.index.replace_pages(
                manuscript_id, [page.n for page in changed] + gone, records(), **({"bulk": True} if bulk else {})
            )
        state[manuscript_id] = {"stat": stat, "pages": digests}
        self._seen[manuscript_id] = (revisions, stat, _carried(manuscript))
        return len(changed) + len(gone)

    def _saved_pages(self, manuscript_id: str, before: PageRevisions, now: PageRevisions) -> Manuscript | None:
        """The manuscript with only the pages saved between two revisions, or None if one of
        them went meanwhile (then the caller reads it all)."""
        saved = [n for n, revision in now.pages.items() if before.pages.get(n) != revision]
        try:
            pages = [self.edition.read(manuscript_id, n).pages[0] for n in saved]
            return self.edition.header(manuscript_id).copy(pages=pages)
        except WorkbenchError:
            return None

    def _read_state(self) -> dict:
        try:
            return json.loads(self._state_path.read_text())
        except (OSError, ValueError):
            return {}

    def _write_state(self, state: dict) -> None:
        self._state_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self._state_path, json.dumps(state).encode(), durable=False)  # derived data


class IndexerThread(threading.Thread):
    """Catches the index up every ``interval`` seconds, or at once when woken.

    Of several server processes on one edition only one indexes: the one holding the
    edition's indexer lock file (``locks/indexer.lock``); the others try for it every
    ``interval``, so one of them takes over when that process ends.
    """

    def __init__(self, indexer: Indexer, interval: float = 0.5):
        super().__init__(name="search-indexer", daemon=True)
        self.indexer = indexer
        self.interval = interval
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._leading = threading.Event()

    def run(self) -> None:
        leader = None
        try:
            while not self._stopping.is_set():
                if leader is None:
                    leader = _take_lock(self.indexer.edition.locks_dir / "indexer.lock")
                if leader is not None:
                    self._leading.set()
                    try:
                        self.indexer.catch_up()
                    except Exception:  # the thread must outlive one bad catch-up; the next one retries
                        log.exception("search index: catching up failed")
                self._wake.wait(self.interval)
                self._wake.clear()
        finally:
            if leader is not None:
                leader.close()  # releases the lock

    @property
    def leading(self) -> bool:
        """Whether this process's thread is the one that indexes (holds the lock now)."""
        return self._leading.is_set()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()


class IndexerProcess(IndexerThread):
    """An ``IndexerThread`` whose catching up runs in a child process of its own
    (``python -m workbench.search.indexing EDITION``): the web server's process only takes
    the indexer lock, starts the child (again, if it ended) and passes wake-ups on to it.

    Why: a catch-up commits to Whoosh, and every so often that commit merges segments,
    seconds of pure Python (6.2 s measured on a 15,000-line index) that would hold the
    GIL against every request of the process that runs it.
    """

    def __init__(self, edition: Edition, interval: float = 0.5):
        threading.Thread.__init__(self, name="search-indexer", daemon=True)
        self.edition, self.interval = edition, interval
        self._wake, self._stopping, self._leading = threading.Event(), threading.Event(), threading.Event()
        self.child: subprocess.Popen | None = None

    def run(self) -> None:
        leader = None
        try:
            while not self._stopping.is_set():
                if leader is None:
                    leader = _take_lock(self.edition.locks_dir / "indexer.lock")
                if leader is not None:
                    self._leading.set()
                    if self.child is None or self.child.poll() is not None:
                        self.child = subprocess.Popen(
                            [sys.executable, "-m", "workbench.search.indexing", str(self.edition.root)],
                            cwd=Path(__file__).resolve().parent.parent.parent,
                            stdin=subprocess.DEVNULL,
                        )
                        lower_priority(self.child.pid, INDEXER_NICE)
                woken = self._wake.wait(self.interval)
                self._wake.clear()
                if woken and self.child is not None and self.child.poll() is None:
                    self.child.send_signal(signal.SIGUSR1)
        finally:
            if self.child is not None and self.child.poll() is None:
                self.child.terminate()  # it ends after the catch-up under way
                try:
                    self.child.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.child.kill()
                    self.child.wait()
            if leader is not None:
                leader.close()


# At most one catch-up (one Whoosh commit) per this many seconds. A commit costs the
# indexer ~0.1 s of CPU whatever it holds (writing a segment, merging the small ones)
# and makes every searcher reopen the index: one per save, eight editors' saves kept
# the indexer busy most of a core (bench/mixed_load.py). Saves within it share one.
CATCH_UP_GAP = 0.5


# The indexer's CPU priority below the web server's (nice steps). A save costs it ~27 ms
# of CPU (the changed lines' Whoosh segment, and merges), eight editors' saves a fifth of
# a core: requests waiting behind that is what readers and editors feel, while save →
# findable has room to spare (0.1-0.4 s against 2 s; bench/mixed_load.py).
INDEXER_NICE = 5


def follow(root: Path, interval: float = 0.5, gap: float = CATCH_UP_GAP) -> None:
    """Catch the index of the edition at ``root`` up every ``interval`` seconds, or on
    SIGUSR1 (no sooner than ``gap`` seconds after the last catch-up began), until
    SIGTERM or until the process that started this one ends."""
    indexer = Indexer(Edition(root))
    # The signals are waited for, not handled: the server sends one per save, and a
    # handler that sets an Event takes a lock, so a burst of saves nested handler in
    # handler until the process died of a RecursionError (bench/mixed_load.py, 8
    # editors). Blocked, a burst is one pending signal, and a SIGTERM during a catch-up
    # ends the process after it.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGTERM})
    parent = os.getppid()
    began = float("-inf")
    # A server killed outright leaves this process to init: then it ends too.
    while os.getppid() == parent:
        time.sleep(max(0.0, began + gap - time.monotonic()))
        began = time.monotonic()
        try:
            indexer.catch_up()
        except Exception:  # the next round retries
            log.exception("search index: catching up failed")
        woken = signal.sigtimedwait({signal.SIGUSR1, signal.SIGTERM}, interval)
        if woken is not None and woken.si_signo == signal.SIGTERM:
            return


def _take_lock(path: Path) -> IO | None:
    """The open lock file, locked by this process, or None if another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    file = open(path, "a")  # noqa: SIM115 (held open for as long as the lock is)
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        file.close()
        return None
    return file


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    follow(Path(sys.argv[1]))
