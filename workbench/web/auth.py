"""Logging in and out. Only editors have accounts; readers never need one."""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from workbench.model import WorkbenchError
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


def staff_blueprint(name: str, import_name: str, **options) -> Blueprint:
    """A blueprint of views for people with an account: every view needs a login, and a
    WorkbenchError a view lets through (an unknown manuscript, say) is shown as a message."""
    blueprint = Blueprint(name, import_name, **options)

    @blueprint.before_request
    @login_required
    def require_login() -> None:
        """login_required redirects to the login page, or answers 401 to htmx."""

    @blueprint.errorhandler(WorkbenchError)
    def workbench_error(error: WorkbenchError):
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
