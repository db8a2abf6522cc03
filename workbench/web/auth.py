"""Logging in and out, and who may do what: every staff view needs a login and a role
(users.py: transcriber < reviewer < editor < admin), checked here on the server for
every request. Readers never need an account."""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import NotFound as NotFoundHere

from workbench.model import NotFound, WorkbenchError
from workbench.users import Role
from workbench.web import errors
from workbench.web.state import limiter, users

bp = Blueprint("auth", __name__)


@bp.before_app_request
def load_user() -> None:
    name = session.get("user")
    user = users().get(name) if name else None
    # A disabled account loses access at its next request, not at its next login.
    g.user = user if user and not user.disabled else None


def login_required(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapped(**kwargs):
        if g.user is None:
            if request.headers.get("HX-Request"):
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
        return render_template("message.html", message=str(error)), 404

    return blueprint


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def login():
    if request.method == "POST":
        user = users().authenticate(request.form.get("name", ""), request.form.get("password", ""))
        if user is None:
            flash(_("Wrong name or password, or the account is disabled."))
            return render_template("login.html"), 401
        language = session.get("lang")
        session.clear()  # a fresh session at login: nothing carried over from before
        session["user"] = user.name
        if language:
            session["lang"] = language
        target = request.args.get("next", "")
        # Only local paths: never redirect to another site after login.
        return redirect(
            target if target.startswith("/") and not target.startswith("//") else url_for("manuscripts.index")
        )
    return render_template("login.html")


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("auth.login"))
