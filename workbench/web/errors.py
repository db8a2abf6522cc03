"""Error answers and the security headers every answer carries.

An error is answered with a translated page in the site's layout (error.html) or, to an
htmx request, with just its message (_error.html), which the page shows where the request
came from (editor.js): an error page must never be swapped into the list of lines.
Every "not found" gets the same page, whatever was not found and whether it exists but is
not published: the answer tells nothing about what is hidden.
"""

from __future__ import annotations

from flask import Flask, Response, render_template, request, session
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from htmx_flask import make_response as htmx_response
from werkzeug.exceptions import HTTPException, InternalServerError

# No inline scripts or styles anywhere (htmx's own indicator styles are off in base.html),
# no plugins, no framing, forms post only here.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
CODES = (400, 401, 403, 404, 405, 409, 413, 429, 500)


def init_app(app: Flask) -> None:
    app.after_request(add_security_headers)
    for code in CODES:
        app.register_error_handler(code, error_response)


def add_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def error_response(error: HTTPException) -> tuple[str, int, dict[str, str]]:
    code = error.code if isinstance(error, HTTPException) and error.code in CODES else 500
    if isinstance(error, CSRFError) and "user" not in session:
        # Logged out (in another tab, say) or the session expired: the token went with the
        # session. Say so, with a way to log in again, rather than blame the page.
        code = 401
    if code == 500 and not isinstance(error, InternalServerError):
        error = InternalServerError(original_exception=error)
    message = _message(error, code)
    headers = {"Allow": ", ".join(error.valid_methods)} if getattr(error, "valid_methods", None) else {}
    if request.htmx:
        # Never swapped in (not even where base.html's responseHandling swaps, e.g. 409):
        # editor.js shows it in the row or list the request came from.
        return htmx_response(render_template("_error.html", code=code, message=message), code, headers, reswap="none")
    return render_template("error.html", code=code, message=message), code, headers


def _message(error: HTTPException, code: int) -> str:
    if isinstance(error, CSRFError) and code == 400:
        return _("This page is out of date for your session (you may have logged in again): reload it and try again.")
    if code == 429 and request.endpoint == "auth.login":
        return _(
            "Too many failed logins for this account or from this address. "
            "Wait a minute, or ask an admin to unlock the account."
        )
    messages = {
        400: _("The request could not be understood: reload the page and try again."),
        401: _("You are not logged in, or your session has ended: log in again, then try again."),
        403: _("You do not have the rights for this: your role does not include it."),
        404: _("There is nothing here: no such manuscript, page or line, or it is not published."),
        405: _("This address does not take this kind of request."),
        409: _("Someone else changed this at the same time: reload the page and try again."),
        413: _("What was sent is too large."),
        429: _("Too many attempts in a short time: wait a minute and try again."),
        500: _("Something went wrong on the server. Try again; if it happens again, tell the administrator."),
    }
    return messages[code]
