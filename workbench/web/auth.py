"""Logging in and out, and who may do what: every staff view needs a login and a role
(users.py: transcriber < reviewer < editor < admin), checked here on the server for
every request. Readers never need an account.

Sessions are Flask's signed cookies, so the server must be told when one is over: a
login records the account's session generation in the session, and ``load_user``
refuses a session whose generation is no longer the account's. A logout, a new
password, a new role and disabling the account bump it (users.py), which ends every
session of that account, a copy of its cookie included, at its next request. A
library was not worth it here: Flask-Login's alternative tokens need the same
per-account value kept on the server and compared (which is all this is) and bring
their own user-loading and "remember me" machinery the workbench does not use;
Flask-Session keeps sessions on the server but cannot find one account's sessions to
end them without an index of its own, and adds a store to back up and clean.

Logins are rate-limited twice (Flask-Limiter), counting failed attempts only: per
client address, generously, since a library's staff may all share one address; and
per account name, tightly, so that guessing one account's password stops without
locking out its colleagues. An admin unlocks an account (admin page, ``workbench user
unlock``) by renewing its key (``User.unlocks``), which works from another process too.
"""

from __future__ import annotations

import functools
import logging
import unicodedata
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from limits import parse
from werkzeug.exceptions import NotFound as NotFoundHere

from workbench.model import NotFound, WorkbenchError
from workbench.users import Role, User
from workbench.web import errors
from workbench.web.state import limiter, users

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)
ACCOUNT_LIMIT_SCOPE = "login-account"


@bp.before_app_request
def load_user() -> None:
    name = session.get("user")
    user = users().get(name) if name else None
    # A disabled account, or a session its account has ended since (logout, new password
    # or role), loses access at its next request, not at its next login.
    if user is None or user.disabled or session.get("generation") != user.session_generation:
        user = None
        if name:
            session.pop("user", None)
            session.pop("generation", None)
    g.user = user


def login_required(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapped(**kwargs):
        if g.user is None:
            if request.htmx:
                abort(401)
            return redirect(url_for("auth.login", next=request.full_path))
        return view(**kwargs)

    return wrapped


def requires(role: Role) -> Callable[[Callable], Callable]:
    """Mark a view as needing ``role``, more than its blueprint asks (checked by the
    blueprint's ``require_role``; the mark is also what the permission tests read)."""

    def mark(view: Callable) -> Callable:
        view.required_role = role
        return view

    return mark


def required_role(endpoint: str) -> Role | None:
    """The role a view needs: its own mark, else its blueprint's; None for public views."""
    view = current_app.view_functions.get(endpoint)
    blueprint = current_app.blueprints.get(endpoint.rpartition(".")[0])
    return getattr(view, "required_role", None) or getattr(blueprint, "required_role", None)


def staff_blueprint(name: str, import_name: str, role: Role = "transcriber", **options) -> Blueprint:
    """A blueprint of views for people with an account: every view needs a login and
    ``role`` (or what ``requires`` marks it with); an unknown manuscript, page or line
    gets the site's "not found" page, another WorkbenchError a view lets through is shown
    as a message."""
    blueprint = Blueprint(name, import_name, **options)
    blueprint.required_role = role

    @blueprint.before_request
    @login_required
    def require_role() -> None:
        needed = required_role(request.endpoint or "")
        if needed is not None and not g.user.can(needed):
            abort(403)

    @blueprint.errorhandler(WorkbenchError)
    def workbench_error(error: WorkbenchError):
        if isinstance(error, NotFound):
            return errors.error_response(NotFoundHere())  # the one "not found" page: no paths named
        # A refusal no view words itself: the reason stays in the log (in English, for the
        # admin); the page says, in the reader's language, that nothing was done.
        log.warning("refused %s: %s", request.path, error)
        return render_template("message.html", message=_("The workbench could not do this: nothing was changed.")), 422

    return blueprint


def _failed_login(response: Response) -> bool:
    return response.status_code == 401


def account_limit_key(name: str | None = None) -> str:
    """The per-account login limit's key: the name as typed (an unknown one too) and the
    account's unlock count, so that an unlock starts a fresh count."""
    name = request.form.get("name", "")[:100] if name is None else name  # keys in memory: bounded
    user = users().get(name)
    return f"account:{name}#{user.unlocks if user else 0}"


def locked_out(user: User) -> bool:
    """Whether the account's login limit refuses it now."""
    limit = parse(current_app.config["LOGIN_ACCOUNT_RATE_LIMIT"])
    return not limiter.limiter.test(limit, account_limit_key(user.name), ACCOUNT_LIMIT_SCOPE)


def local_target(target: str) -> str | None:
    """``target`` if it is a path on this site, else None: the one place a login sends
    the browser to. Refused: another site in any spelling (``//host``, ``/\\host``,
    ``/%09/host``, ``http:``, ``javascript:``), control characters and white space (a
    newline would also break the Location header), and what reads as one of those once
    percent-decoded or Unicode-normalised (``/%2F/host``, a full-width solidus)."""
    path = target.partition("?")[0]
    spellings = {target, unicodedata.normalize("NFKC", target)}
    for _round in range(3):  # doubly encoded too
        path = unquote(path)
        spellings |= {path, unicodedata.normalize("NFKC", path)}
    for spelling in spellings:
        if not spelling.startswith("/") or spelling.startswith("//") or "\\" in spelling:
            return None
        if any(character.isspace() or unicodedata.category(character).startswith("C") for character in spelling):
            return None
        parts = urlsplit(spelling)
        if parts.scheme or parts.netloc:
            return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"], deduct_when=_failed_login)
@limiter.shared_limit(
    lambda: current_app.config["LOGIN_ACCOUNT_RATE_LIMIT"],
    scope=ACCOUNT_LIMIT_SCOPE,
    key_func=account_limit_key,
    methods=["POST"],
    deduct_when=_failed_login,
)
def login():
    # Over plain HTTP a Secure session cookie is never sent back: say so, rather than
    # let the login fail with a CSRF error.
    cookie_lost = current_app.config["SESSION_COOKIE_SECURE"] and not request.is_secure
    if request.method == "POST":
        user = users().authenticate(request.form.get("name", ""), request.form.get("password", ""))
        if user is None:
            flash(_("Wrong name or password, or the account is disabled."))
            return render_template("login.html", cookie_lost=cookie_lost), 401
        language = session.get("lang")
        session.clear()  # a fresh session at login: nothing carried over from before
        session["user"] = user.name
        session["generation"] = user.session_generation
        if language:
            session["lang"] = language
        return redirect(local_target(request.args.get("next", "")) or url_for("manuscripts.index"))
    return render_template("login.html", cookie_lost=cookie_lost)


@bp.post("/logout")
def logout():
    if g.user is not None:
        users().end_sessions(g.user.name)  # every copy of this session's cookie is over too
    session.clear()
    return redirect(url_for("auth.login"))
