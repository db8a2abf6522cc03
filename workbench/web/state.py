"""The web application's state, in one place: the edition it serves and what hangs off
it (accounts, search index, jobs, models, reviews), and the Flask extensions.

``create_app`` (web/__init__.py) fills ``app.extensions``; views reach the state only
through these functions, never through module globals of their own.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from limits.storage import Storage

from workbench.edition import Edition
from workbench.htr.training import AutoRetrain, ModelStore
from workbench.jobs import JobStore
from workbench.review import Reviews
from workbench.search.index import WhooshIndex
from workbench.users import Users

csrf = CSRFProtect()
# The storage comes from the app's RATELIMIT_STORAGE_URI: the edition's (create_app).
limiter = Limiter(key_func=get_remote_address, default_limits=[])


class EditionLimitsStorage(Storage):
    """Flask-Limiter's counters in an SQLite file of the edition (``.workbench/limits.sqlite``),
    so that every server process counts the same failed logins: ``limits`` itself offers
    only memory (one process's) or a server (Redis, Memcached, MongoDB).

    Fixed windows, as Flask-Limiter's default strategy uses them: a counter and the time
    its window ends, per key. URI: ``workbench-sqlite:///path/to/file``.
    """

    STORAGE_SCHEME = ["workbench-sqlite"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: float | str | bool):
        self.path = (uri or "").removeprefix("workbench-sqlite://")
        self._local = threading.local()
        super().__init__(uri, wrap_exceptions, **options)

    @property
    def base_exceptions(self) -> type[Exception]:
        return sqlite3.Error

    def _db(self) -> sqlite3.Connection:
        # A connection per thread, and never one made before a fork (gunicorn's workers).
        owner, connection = getattr(self._local, "db", (None, None))
        if owner != (os.getpid(), threading.get_ident()):
            connection = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("CREATE TABLE IF NOT EXISTS hits (key TEXT PRIMARY KEY, count INTEGER, ends REAL)")
            self._local.db = ((os.getpid(), threading.get_ident()), connection)
        return connection

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        db = self._db()
        now = time.time()
        db.execute("BEGIN IMMEDIATE")  # read and write as one, against the other processes
        try:
            row = db.execute("SELECT count, ends FROM hits WHERE key = ?", (key,)).fetchone()
            count = amount if row is None or row[1] <= now else row[0] + amount
            ends = now + expiry if row is None or row[1] <= now else row[1]
            db.execute("INSERT OR REPLACE INTO hits (key, count, ends) VALUES (?, ?, ?)", (key, count, ends))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return count

    def get(self, key: str) -> int:
        row = self._db().execute("SELECT count, ends FROM hits WHERE key = ?", (key,)).fetchone()
        return 0 if row is None or row[1] <= time.time() else row[0]

    def get_expiry(self, key: str) -> float:
        row = self._db().execute("SELECT ends FROM hits WHERE key = ?", (key,)).fetchone()
        return time.time() if row is None else row[0]

    def check(self) -> bool:
        try:
            self._db().execute("SELECT 1")
        except sqlite3.Error:
            return False
        return True

    def reset(self) -> int | None:
        return self._db().execute("DELETE FROM hits").rowcount

    def clear(self, key: str) -> None:
        self._db().execute("DELETE FROM hits WHERE key = ?", (key,))


def edition() -> Edition:
    return current_app.extensions["edition"]


def users() -> Users:
    return current_app.extensions["users"]


def search_index() -> WhooshIndex:
    return current_app.extensions["search"]


def jobs() -> JobStore:
    return JobStore.of(edition())


def models() -> ModelStore:
    return ModelStore.of(edition())


def retraining() -> AutoRetrain:
    """The automatic retraining check ([recognition] retrain_after), with the process's line counts."""
    return current_app.extensions["retraining"]


def reviews() -> Reviews:
    return Reviews(edition().review_dir)


def index_changed() -> None:
    """Let the search indexer look at tei/ now rather than at its next round."""
    indexer = current_app.extensions.get("indexer")
    if indexer is not None:
        indexer.wake()
