"""The web application's state, in one place: the edition it serves and what hangs off
it (accounts, search index, jobs, models, reviews), and the Flask extensions.

``create_app`` (web/__init__.py) fills ``app.extensions``; views reach the state only
through these functions, never through module globals of their own.
"""

from __future__ import annotations

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

from workbench.edition import Edition
from workbench.htr.training import ModelStore
from workbench.jobs import JobStore
from workbench.review import Reviews
from workbench.search.index import WhooshIndex
from workbench.users import Users

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[], storage_uri="memory://")


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


def reviews() -> Reviews:
    return Reviews(edition().review_dir)


def index_changed() -> None:
    """Let the search indexer look at tei/ now rather than at its next round."""
    indexer = current_app.extensions.get("indexer")
    if indexer is not None:
        indexer.wake()
