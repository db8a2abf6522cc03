"""The web workbench: a Flask application over one edition folder.

One blueprint per area: ``auth`` (log in and out); for editors ``manuscripts``
(the list, a manuscript, publishing, metadata), ``admin`` (accounts), ``lines`` (the page editor, line
saves, history), ``layout`` (correcting the segmentation), ``jobs``, ``models``,
``transfers`` (import and export); for everyone ``reader`` (published manuscripts,
the reading view, search). The app's state is reached through web/state.py. A background thread keeps the search
index in step with ``tei/`` (``indexing.IndexerProcess``: a child process of the one server
process that holds the indexer's lock file). Serve it with gunicorn (`workbench serve`): one
process with threads, or several (``--processes``): each keeps its in-memory copy of a
manuscript and catches up with the others' saves from the changes log (edition.py).
"""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path

from flask import Flask, request, send_from_directory, session
from flask_babel import Babel, format_decimal
from htmx_flask import Htmx
from werkzeug.middleware.proxy_fix import ProxyFix

from workbench import packaged
from workbench.edition import Edition
from workbench.htr import training
from workbench.model import WorkbenchError
from workbench.search import indexing
from workbench.tei import validation
from workbench.users import Users
from workbench.web import errors
from workbench.web.state import csrf, limiter

LANGUAGES = ("bg", "en")
# The manuscripts' letters and marks (combining acute U+0301, grave U+0300, titlo U+0483).
DEFAULT_PALETTE = ["ѣ", "ѫ", "ѭ", "ѧ", "і", "ы", "ѳ", "ѵ", "ъ", "ь", "\u0301", "\u0300", "\u0483"]


def create_app(
    edition_root: str | Path | None = None,
    test_config: dict | None = None,
    *,
    behind_proxy: bool | None = None,
    insecure_http: bool = False,
) -> Flask:
    """The app over the edition at ``edition_root``. ``behind_proxy`` (default: the
    edition's ``workbench.toml``, ``[server] behind_proxy``) trusts one reverse proxy's
    X-Forwarded-For/-Proto/-Host; ``insecure_http`` lets the session cookie travel over
    plain HTTP (``workbench serve --insecure-http``: a trial on a closed network only)."""
    app = Flask(__name__)
    root = Path(edition_root or os.environ.get("WORKBENCH_EDITION", "."))
    edition = Edition(root)
    settings = _edition_settings(root)
    if behind_proxy is None:
        behind_proxy = bool(settings.get("server", {}).get("behind_proxy", False))
    app.config.from_mapping(
        SECRET_KEY=_secret_key(edition),
        SESSION_COOKIE_SECURE=not insecure_http,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,  # a philologist's page may stay open all day
        BABEL_DEFAULT_LOCALE="bg",
        # Failed logins only. Per address: generous, a library's staff may share one (NAT).
        LOGIN_RATE_LIMIT="50 per minute",
        LOGIN_ACCOUNT_RATE_LIMIT="10 per minute",  # per account name: stops guessing one password
        # Counted in a file of the edition, so all server processes (--processes) share the counts.
        RATELIMIT_STORAGE_URI=f"workbench-sqlite://{edition.state_dir / 'limits.sqlite'}",
        BEHIND_PROXY=behind_proxy,
        MAX_CONTENT_LENGTH=4 * 1024**3,  # an imported zip of page scans can be large; transfer.py checks it
        PALETTE=settings.get("editor", {}).get("palette", DEFAULT_PALETTE),
        # The model of manuscripts without a default of their own (web/models.py).
        RECOGNITION_MODEL=settings.get("recognition", {}).get("model"),
        # Retrain a manuscript's model once this many lines were verified since (0: never; training.AutoRetrain).
        RETRAIN_AFTER=settings.get("recognition", {}).get("retrain_after", 0),
    )
    if test_config:
        app.config.update(test_config)
    app.config.setdefault("SEARCH_INDEXER", not app.testing)
    # tei_all takes 15 s to load; loaded now, the first TEI export does not wait for it.
    app.config.setdefault("WARM_TEI_ALL", not app.testing)
    if app.config["BEHIND_PROXY"]:
        # The client's address (the login rate limit's key), scheme (is the request secure,
        # which CSRF's referrer check and the login page's warning read) and host, as the
        # one proxy in front saw them; without a proxy these headers are anyone's to forge.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)
    app.extensions["edition"] = edition
    app.extensions["users"] = Users.of(edition)
    app.extensions["search"] = indexing.open_index(edition)
    app.extensions["retraining"] = training.AutoRetrain(edition, _retrain_after(app.config["RETRAIN_AFTER"]))
    if app.config["SEARCH_INDEXER"]:
        # In a child process unless told otherwise (the benchmarks compare the two).
        if app.config.get("SEARCH_INDEXER_PROCESS", True):
            indexer = indexing.IndexerProcess(edition)
        else:
            indexer = indexing.IndexerThread(indexing.Indexer(edition, app.extensions["search"]))
        indexer.start()
        app.extensions["indexer"] = indexer
    if app.config["WARM_TEI_ALL"]:
        app.extensions["tei_all"] = validation.warm_tei_all(edition.schema_dir)

    csrf.init_app(app)
    Htmx(app)  # request.htmx: whether htmx made the request, and what it says of it
    limiter.init_app(app)
    errors.init_app(app)
    Babel(app, locale_selector=_locale)

    from workbench.web import (
        admin,
        auth,
        bibliography,
        iiif,
        jobs,
        layout,
        lines,
        manuscripts,
        models,
        reader,
        registers,
        review,
        rows,
        tiles,
        transfers,
        worker_api,
    )

    for area in (auth, manuscripts, lines, layout, review, jobs, models, transfers, reader, tiles, iiif, admin):
        app.register_blueprint(area.bp)
    app.register_blueprint(worker_api.bp)  # remote workers, with a token (remote.py)
    app.register_blueprint(bibliography.bp)
    app.register_blueprint(bibliography.reading)
    app.register_blueprint(registers.bp)
    app.register_blueprint(registers.reading)
    app.context_processor(rows.labels)

    @app.get("/assets/<name>")
    def asset(name: str):
        path = packaged.front_end(name)  # htmx and the viewers, from the npm registry
        if path is None:
            return send_from_directory(app.static_folder, name, max_age=3600)
        return send_from_directory(path.parent, path.name, max_age=86400)

    @app.context_processor
    def language():
        # Numbers with decimals in the reader's locale (a decimal comma in Bulgarian).
        return {"language": _locale(), "languages": LANGUAGES, "format_decimal": format_decimal}

    return app


def _locale() -> str:
    wanted = request.args.get("lang")
    if wanted in LANGUAGES:
        session["lang"] = wanted
    return session.get("lang", "bg")


def _secret_key(edition: Edition) -> str:
    """A random key made on first start and kept with the edition (never in the code)."""
    path = edition.secret_key_file
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as file:
        file.write(secrets.token_hex(32))
    return path.read_text().strip()


def _retrain_after(value: object) -> int:
    """``[recognition] retrain_after``: a whole number of lines, 0 for off; anything else is
    refused when the server starts, not found wrong on some later save."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise WorkbenchError(
            f"workbench.toml: [recognition] retrain_after must be a whole number of lines (0: off), not {value!r}"
        )
    return value


def _edition_settings(root: Path) -> dict:
    path = root / "workbench.toml"
    if not path.exists():
        return {}
    with open(path, "rb") as file:
        return tomllib.load(file)
