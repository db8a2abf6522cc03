"""What the web layer does against attacks and leaks (web/errors.py, web/facsimiles.py): the
security headers on every answer, no inline script or style for the CSP to allow, editor
images kept out of shared caches, one "not found" for everything hidden, and translated
error pages (a message only, to htmx)."""

from __future__ import annotations

import re

import pytest
from flask import abort

from tests.builders import REPO
from tests.web.client import LINE, MS, PASSWORD, csrf_token, log_in, save

TEMPLATES = REPO / "workbench/web/templates"
HX = {"HX-Request": "true"}


# -- security headers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/read/", 200),
        ("/login", 200),
        (f"/m/{MS}/p/1/", 200),
        (f"/m/{MS}/p/1/image", 200),
        (f"/m/{MS}/p/1/lines/{LINE}.png", 200),
        ("/assets/editor.js", 200),
        ("/assets/htmx.min.js", 200),
        ("/no/such/address", 404),
        ("/logout", 405),
    ],
)
def test_every_answer_carries_the_security_headers(editor, path, status):
    response = editor.get(path)
    assert response.status_code == status
    policy = dict(
        directive.strip().split(" ", 1) for directive in response.headers["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert policy["base-uri"] == "'self'" and policy["form-action"] == "'self'"
    assert "unsafe" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_a_refused_save_carries_the_security_headers_too(client):
    response = client.post(f"/m/{MS}/lines/{LINE}", data={"text": "x"}, headers=HX)
    assert response.status_code == 401  # no session, no CSRF token
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("template", sorted(path.name for path in TEMPLATES.glob("*.html")))
def test_templates_have_no_inline_script_style_or_handler(template):
    """What the CSP would block: a <script> without src, a <style>, a style="" or on...="" attribute."""
    html = (TEMPLATES / template).read_text()
    # A JSON data block (type="application/json") is data, not script: the CSP does not apply.
    assert not re.search(r"<script(?![^>]*\b(?:src=|type=\"application/json\"))[^>]*>", html)
    assert "<style" not in html
    assert not re.search(r"\sstyle\s*=", html)
    assert not re.search(r"\son[a-z]+\s*=", html)


def test_htmx_is_told_not_to_inject_styles_or_evaluate_code(editor):
    page = editor.get(f"/m/{MS}/p/1/").get_data(as_text=True)
    config = re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", page).group(1)
    assert '"includeIndicatorStyles": false' in config and '"allowEval": false' in config


# -- caching of images ------------------------------------------------------------------


def test_editor_images_are_private_to_the_browser(editor):
    page = editor.get(f"/m/{MS}/p/1/").get_data(as_text=True)
    crop = re.search(r'<img class="crop" src="([^"]+)"', page).group(1).replace("&amp;", "&")
    for path in (crop, f"/m/{MS}/p/1/image"):
        response = editor.get(path)
        assert response.status_code == 200
        cache = response.headers["Cache-Control"]
        assert "private" in cache and "public" not in cache, (path, cache)
        assert "max-age=" in cache


def test_reader_images_are_public_until_the_manuscript_is_withdrawn(editor, sample_edition):
    token = csrf_token(editor, f"/m/{MS}/")
    assert editor.post(f"/m/{MS}/publish", data={"published": "1", "csrf_token": token}).status_code == 303
    reader = editor.application.test_client()
    paths = (f"/read/{MS}/1/image", f"/read/{MS}/1/lines/{LINE}.png")
    for path in paths:
        response = reader.get(path)
        assert response.status_code == 200 and "public" in response.headers["Cache-Control"]
    assert editor.post(f"/m/{MS}/publish", data={"published": "0", "csrf_token": token}).status_code == 303
    for path in paths:
        assert reader.get(path).status_code == 404  # not from the app's caches of pages and crops
    assert (sample_edition.cache_dir / "lines").exists()  # the crop was cached, and still is not served


# -- one "not found" for everything hidden ----------------------------------------------


def main_of(response) -> str:
    html = response.get_data(as_text=True)
    return html[html.index("<main") : html.index("</main>")]


def test_the_reader_answers_hidden_and_missing_things_alike(app, sample_edition):
    sample_edition.set_published(MS, False, "tester")
    reader = app.test_client()
    answers = {
        path: reader.get(path)
        for path in (
            "/read/nothing/",
            "/read/nothing/1/image",
            f"/read/{MS}/",  # exists, not published
            f"/read/{MS}/1/",
            f"/read/{MS}/1/image",
            f"/read/{MS}/1/lines/{LINE}.png",
        )
    }
    sample_edition.set_published(MS, True, "tester")
    answers.update(
        {path: reader.get(path) for path in (f"/read/{MS}/99/", f"/read/{MS}/1/99", f"/read/{MS}/1/lines/nope.png")}
    )
    assert {path: response.status_code for path, response in answers.items()} == dict.fromkeys(answers, 404)
    # The same body, but for the CSRF token: it carries the second it was signed in.
    bodies = {re.sub(r'"X-CSRFToken": "[^"]+"', "", response.get_data(as_text=True)) for response in answers.values()}
    assert len(bodies) == 1, bodies
    assert "Тук няма нищо" in bodies.pop()


def test_the_editor_answers_unknown_things_alike_and_as_the_reader_does(editor):
    paths = (
        "/m/nothing/",
        "/m/nothing/p/1/",
        f"/m/{MS}/p/99/",
        f"/m/{MS}/p/99/image",
        f"/m/{MS}/p/1/lines/nope.png",
    )
    answers = {path: editor.get(path) for path in paths}
    assert {path: response.status_code for path, response in answers.items()} == dict.fromkeys(paths, 404)
    assert len({response.get_data(as_text=True) for response in answers.values()}) == 1
    html = answers["/m/nothing/"].get_data(as_text=True)
    assert str(editor.application.extensions["edition"].root) not in html  # no paths, no list of manuscripts
    reader = editor.application.test_client()
    assert main_of(answers["/m/nothing/"]) == main_of(reader.get("/read/nothing/"))


# -- error pages ------------------------------------------------------------------------


@pytest.fixture
def failing(make_app):
    """An app with one more route that fails with the code asked for (500: an exception)."""
    app = make_app(PROPAGATE_EXCEPTIONS=False)

    def fail(code: int):
        if code == 500:
            raise RuntimeError("a bug")
        abort(code)

    app.add_url_rule("/fail/<int:code>", view_func=fail)
    return app.test_client()


CODES = (400, 401, 403, 404, 405, 409, 413, 429, 500)


def test_each_error_has_its_own_translated_message_in_the_site_layout(failing):
    messages = set()
    for code in CODES:
        response = failing.get(f"/fail/{code}")
        html = response.get_data(as_text=True)
        assert response.status_code == code
        assert '<header class="top">' in html and '<p class="flash" role="alert">' in html, code
        message = re.search(r'<p class="flash" role="alert">([^<]+)</p>', html).group(1)
        assert re.search("[а-я]", message) and not re.search("[a-z]{3}", message), (code, message)
        messages.add(message)
    assert len(messages) == len(CODES)


def test_errors_answer_htmx_with_a_message_only_never_to_be_swapped(failing):
    for code in CODES:
        response = failing.get(f"/fail/{code}", headers=HX)
        html = response.get_data(as_text=True).strip()
        assert response.status_code == code
        assert html.startswith('<p class="message error failure" role="alert"') and "<html" not in html, code
        assert response.headers["HX-Reswap"] == "none"
    login_link = failing.get("/fail/401", headers=HX).get_data(as_text=True)
    assert 'href="/login" target="_blank"' in login_link


def test_real_failures_get_the_translated_pages(client, app, accounts):
    """The codes as the app's own checks give them, not only as a view aborts."""
    # No session (logged out, or it expired): its CSRF token went with it; the page says to log in.
    lost = client.post(f"/m/{MS}/lines/{LINE}", data={"text": "x"}, headers=HX)
    assert lost.status_code == 401 and "Не сте влезли" in lost.get_data(as_text=True)
    refused = client.post(
        f"/m/{MS}/lines/{LINE}", data={"text": "x"}, headers={**HX, "X-CSRFToken": csrf_token(client)}
    )
    assert refused.status_code == 401 and "Не сте влезли" in refused.get_data(as_text=True)
    assert client.get("/logout").status_code == 405
    accounts.add("petar", "transcriber", PASSWORD)
    log_in(client, "petar")
    token = csrf_token(client, f"/m/{MS}/")
    forbidden = client.post(f"/m/{MS}/publish", data={"published": "1", "csrf_token": token})
    assert forbidden.status_code == 403 and "Нямате права" in forbidden.get_data(as_text=True)
    stale = client.post(f"/m/{MS}/publish", data={"published": "1", "csrf_token": "a token of another session"})
    assert stale.status_code == 400 and "Тази страница е остаряла" in stale.get_data(as_text=True)


def test_a_line_save_too_large_or_too_often_is_refused_with_a_message(make_app):
    client = make_app(MAX_CONTENT_LENGTH=1000, LOGIN_RATE_LIMIT="2 per minute").test_client()
    log_in(client)
    client.token = re.search(r'"X-CSRFToken": "([^"]+)"', client.get(f"/m/{MS}/p/1/").get_data(as_text=True)).group(1)
    too_large = save(client, "ѣ" * 2000)
    assert too_large.status_code == 413 and 'role="alert"' in too_large.get_data(as_text=True)
    client.post("/logout", data={"csrf_token": client.token})
    statuses = [log_in(client, password="wrong password").status_code for _ in range(3)]
    assert statuses[-1] == 429
    assert "помолете администратор да отключи профила" in log_in(client, password="wrong password").get_data(
        as_text=True
    )
