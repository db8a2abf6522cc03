"""Accounts, for admins: the list (role, disabled, locked out by the login limit), a
new account, disabling and enabling, another role, a new password (typed, or made up
and shown once), unlocking; and the journal of these changes, latest first. Every
change goes through users.py, which journals it and ends the account's sessions where
it should."""

from __future__ import annotations

import secrets

from flask import abort, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from workbench.model import WorkbenchError
from workbench.users import MIN_PASSWORD, ROLES, USER_NAME, LastAdminError
from workbench.web.auth import locked_out, staff_blueprint
from workbench.web.state import edition, users

bp = staff_blueprint("admin", __name__, role="admin", url_prefix="/admin")
JOURNAL_SHOWN = 200
# No look-alikes (0/O, 1/l/I): a made-up password is read off the screen and typed.
PASSWORD_ALPHABET = "abcdefghijkmnpqrstuvwxyzACDEFGHJKLMNPQRSTUVWXYZ23456789"


def role_labels() -> dict[str, str]:
    return {"transcriber": _("transcriber"), "reviewer": _("reviewer"), "editor": _("editor"), "admin": _("admin")}


def action_labels() -> dict[str, str]:
    return {
        "add": _("added"),
        "disable": _("disabled"),
        "enable": _("enabled"),
        "role": _("role changed"),
        "password": _("password reset"),
        "unlock": _("unlocked"),
    }


@bp.get("/accounts")
def accounts():
    return _accounts_page()


def _accounts_page(generated: tuple[str, str] | None = None) -> str:
    listed = [(account, locked_out(account)) for account in users().all()]
    return render_template(
        "accounts.html",
        accounts=listed,
        roles=ROLES,
        role_labels=role_labels(),
        action_labels=action_labels(),
        journal=users().history()[:JOURNAL_SHOWN],
        generated=generated,
        min_password=MIN_PASSWORD,
    )


@bp.post("/accounts")
def add_account():
    name, role, password = (request.form.get(field, "") for field in ("name", "role", "password"))
    if not USER_NAME.fullmatch(name):
        flash(_("A name has letters, digits, '.', '-' and '_' (up to 64), and starts with a letter or digit."))
    elif users().get(name) is not None:
        flash(_("There is an account %(name)s already.", name=name))
    elif role not in ROLES:
        flash(_("Choose a role."))
    elif len(password) < MIN_PASSWORD:
        flash(_("A password has at least %(count)d characters.", count=MIN_PASSWORD))
    elif _applied(lambda: users().add(name, role, password, who=g.user.name)):
        flash(_("Account %(name)s added.", name=name))
    return redirect(url_for("admin.accounts"))


@bp.post("/accounts/<name>/active")
def set_active(name: str):
    if request.form.get("active") not in ("0", "1"):
        abort(400)  # not from the page's form: never guess between disabling and enabling
    disabled = request.form["active"] == "0"
    if _applied(lambda: users().set_disabled(name, disabled, who=g.user.name), name):
        flash(
            _("%(name)s disabled: their sessions are over.", name=name)
            if disabled
            else _("%(name)s enabled.", name=name)
        )
    return redirect(url_for("admin.accounts"))


@bp.post("/accounts/<name>/role")
def set_role(name: str):
    role = request.form.get("role", "")
    if role not in ROLES:
        flash(_("Choose a role."))
    elif _applied(lambda: users().set_role(name, role, who=g.user.name), name):
        flash(_("%(name)s is now %(role)s.", name=name, role=role_labels()[role]))
    return redirect(url_for("admin.accounts"))


@bp.post("/accounts/<name>/password")
def reset_password(name: str):
    typed = request.form.get("password", "")
    if typed and len(typed) < MIN_PASSWORD:
        flash(_("A password has at least %(count)d characters.", count=MIN_PASSWORD))
        return redirect(url_for("admin.accounts"))
    password = typed or "-".join(
        "".join(secrets.choice(PASSWORD_ALPHABET) for _letter in range(4)) for _group in range(4)
    )
    if not _applied(lambda: users().set_password(name, password, who=g.user.name), name):
        return redirect(url_for("admin.accounts"))
    if typed:
        flash(_("New password of %(name)s saved: their sessions are over.", name=name))
        return redirect(url_for("admin.accounts"))
    # Shown in this answer only: never in a flash message, which would travel in the cookie.
    return _accounts_page(generated=(name, password))


@bp.post("/accounts/<name>/unlock")
def unlock(name: str):
    if _applied(lambda: users().unlock(name, who=g.user.name), name):
        flash(_("%(name)s may log in again.", name=name))
    return redirect(url_for("admin.accounts"))


def _applied(change, name: str | None = None) -> bool:
    """Make the change, or say why not. An admin changing their own account keeps this
    session (the others of that account end as they should)."""
    try:
        change()
    except LastAdminError:
        flash(_("That would leave no active admin: make another account admin first."))
        return False
    except WorkbenchError as error:
        if name is not None and users().get(name) is None:
            flash(_("There is no account %(name)s.", name=name))
        else:
            flash(_account_refusal(error))
        return False
    if name == g.user.name:
        account = users().get(name)
        if account is not None and not account.disabled:
            session["generation"] = account.session_generation
    return True


# -- checking the edition (preservation.py) ------------------------------------------


def finding_messages() -> dict[str, str]:
    """Each kind of problem preservation.py reports, in the interface's language."""
    return {
        "changed": _("Facsimile %(file)s has changed since it was added (its checksum is not the one recorded)."),
        "missing": _("Facsimile %(file)s is listed in SHA256SUMS but is not there."),
        "unlisted": _("Facsimile %(file)s is there but not listed in SHA256SUMS."),
        "unreadable": _("Reading facsimile %(file)s failed: %(error)s"),
        "invalid": _("The TEI document is not valid: %(problem)s"),
        "chain-changed": _(
            "Journal entry at line %(position)s (line %(line)s, %(time)s) does not follow the entry before it "
            "(line %(after)s): that entry was changed, or entries after it were removed."
        ),
        "chain-moved": _(
            "Journal entry at line %(position)s (line %(line)s, %(time)s) was written after the entry now at "
            "line %(written_after)s: entries were moved."
        ),
        "chain-first": _(
            "Journal entry at line %(position)s (line %(line)s, %(time)s) is not the first one written: "
            "the entries before it were removed."
        ),
        "unchained": _("Journal entry at line %(position)s has no hash of the entry before it: it was added by hand."),
        "old-journal": _(
            "The journal (%(entries)s entries) is not chained yet, so changes to it cannot be detected: "
            "run workbench verify --upgrade (the next save upgrades it too)."
        ),
        "cut-short": _(
            "The journal has %(entries)s entries, but had %(recorded)s at the last check: entries were removed."
        ),
        "head-changed": _("Journal entry %(recorded)s (the last one at the last check) was changed or removed."),
        "torn": _(
            "Journal line %(position)s is torn (a crash during a save); it is skipped, nothing acknowledged was lost."
        ),
        "not-indexed": _("Published, but not in the search index: run workbench reindex."),
        "index-behind": _("The search index is behind on page(s) %(pages)s: run workbench reindex."),
        "index-extra": _("The search index has page(s) %(pages)s that are no longer in the manuscript."),
        "index-unpublished": _("Not published, but the search index still has %(pages)s page(s) of it."),
        "index-gone": _("The search index has a manuscript that is no longer in the edition."),
        "failed": _("The check itself failed: %(error)s"),
        "not-recorded": _("The result could not be kept (%(error)s)."),
    }


@bp.get("/verify")
def verification():
    from workbench import preservation

    return render_template(
        "verify.html",
        result=preservation.last_result(edition()),
        running=preservation.running(edition()) is not None,
        messages=finding_messages(),
    )


@bp.post("/verify")
def start_verification():
    from workbench import preservation

    if preservation.start(edition(), g.user.name) is None:
        flash(_("A check is running already; its result appears here when it ends."))
    else:
        flash(_("The check has started; its result appears here when it ends (reload the page)."))
    return redirect(url_for("admin.verification"))


def _account_refusal(error: WorkbenchError) -> str:
    """Why an account change was refused, in the admin's language (users.py says it in English)."""
    params = getattr(error, "params", {})
    messages = {
        "user-name": lambda: _(
            "A name has letters, digits, '.', '-' and '_' (up to 64), and starts with a letter or digit."
        ),
        "user-exists": lambda: _("There is an account %(name)s already.", **params),
        "no-user": lambda: _("There is no account %(name)s.", **params),
        "role": lambda: _("Choose a role."),
        "password": lambda: _("The password must have at least %(minimum)s characters.", **params),
    }
    wording = messages.get(getattr(error, "code", ""))
    return wording() if wording else _("The account was not changed.")
