"""Accounts and sessions over HTTP: the admin page and its journal, sessions that end
on the server's word, where a login may send the browser, the login rate limit per
address and per account, and serving behind a TLS proxy or, for a trial, over plain HTTP."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from tests.web.client import MS, PASSWORD, csrf_token, log_in, save
from workbench.cli import cli
from workbench.web import create_app

ADMIN = "boss"


@pytest.fixture
def admin(app, accounts):
    """A client logged in as boss, an admin, with a CSRF token as ``admin.token``."""
    accounts.add(ADMIN, "admin", PASSWORD)
    client = app.test_client()
    assert log_in(client, ADMIN).status_code == 302
    client.token = csrf_token(client, "/admin/accounts")
    return client


def post(client, path: str, **form):
    return client.post(path, data={"csrf_token": client.token, **form})


def account_row(page: str, name: str) -> str:
    return re.search(rf'<tr id="account-{re.escape(name)}">(.*?)</tr>', page, re.S).group(1)


def journal_rows(page: str) -> list[list[str]]:
    table = page[page.index('id="accounts-journal"') :]
    body = table[table.index("<tbody>") : table.index("</tbody>")]
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


# -- A. the admin page -----------------------------------------------------------


def test_an_admin_manages_accounts_and_every_change_is_journalled(admin, app, sample_edition):
    page = admin.get("/admin/accounts?lang=en").get_data(as_text=True)
    assert 'value="editor" selected' in account_row(page, "ivan") and "active" in account_row(page, "ivan")

    assert (
        post(admin, "/admin/accounts", name="olga", role="transcriber", password="olga's password").status_code == 302
    )
    assert log_in(app.test_client(), "olga", "olga's password").status_code == 302

    post(admin, "/admin/accounts/ivan/active", active="0")
    page = admin.get("/admin/accounts").get_data(as_text=True)
    assert "disabled" in account_row(page, "ivan")
    assert log_in(app.test_client()).status_code == 401
    post(admin, "/admin/accounts/ivan/active", active="1")
    post(admin, "/admin/accounts/ivan/role", role="reviewer")
    assert app.extensions["users"].get("ivan").role == "reviewer"

    post(admin, "/admin/accounts/ivan/password", password="typed by the admin")
    assert log_in(app.test_client(), "ivan", "typed by the admin").status_code == 302
    response = post(admin, "/admin/accounts/ivan/password", password="")
    generated = re.search(r'id="generated-password">.*?<code>([^<]+)</code>', response.get_data(as_text=True), re.S)
    assert response.status_code == 200 and generated
    assert log_in(app.test_client(), "ivan", generated.group(1)).status_code == 302
    assert generated.group(1) not in admin.get("/admin/accounts").get_data(as_text=True)  # shown once

    log = sample_edition.accounts_log.read_text(encoding="utf-8")
    records = [json.loads(line) for line in log.splitlines()]
    assert [(r["who"], r["action"], r["account"]) for r in records] == [
        (ADMIN, "add", "olga"),
        (ADMIN, "disable", "ivan"),
        (ADMIN, "enable", "ivan"),
        (ADMIN, "role", "ivan"),
        (ADMIN, "password", "ivan"),
        (ADMIN, "password", "ivan"),
    ]
    assert records[3]["role"] == "reviewer" and records[3]["was"] == "editor"
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["at"]) for r in records)
    for secret in ("olga's password", "typed by the admin", generated.group(1), "scrypt", "password_hash"):
        assert secret not in log

    rows = journal_rows(admin.get("/admin/accounts?lang=en").get_data(as_text=True))
    assert [row[1:] for row in rows] == [
        [ADMIN, "password reset", "ivan"],
        [ADMIN, "password reset", "ivan"],
        [ADMIN, "role changed: editor → reviewer", "ivan"],
        [ADMIN, "enabled", "ivan"],
        [ADMIN, "disabled", "ivan"],
        [ADMIN, "added: transcriber", "olga"],
    ]
    bulgarian = admin.get("/admin/accounts?lang=bg").get_data(as_text=True)
    assert "Промени в профилите" in bulgarian and "сменена роля: редактор → проверител" in bulgarian


def test_bad_account_forms_are_refused_with_a_message_and_change_nothing(admin, app, sample_edition):
    for form, message in [
        ({"name": "no spaces", "role": "editor", "password": PASSWORD}, "A name has letters"),
        ({"name": "ivan", "role": "editor", "password": PASSWORD}, "There is an account ivan already."),
        ({"name": "olga", "role": "boss", "password": PASSWORD}, "Choose a role."),
        ({"name": "olga", "role": "editor", "password": "short"}, "at least 8 characters"),
    ]:
        response = admin.post(
            "/admin/accounts?lang=en", data={"csrf_token": admin.token, **form}, follow_redirects=True
        )
        assert message in response.get_data(as_text=True), form
    page = post(admin, "/admin/accounts/ivan/password?lang=en", password="short")
    assert "at least 8 characters" in admin.get("/admin/accounts").get_data(as_text=True)
    assert page.status_code == 302 and log_in(app.test_client()).status_code == 302  # ivan's password unchanged
    response = admin.post(
        "/admin/accounts/nobody/unlock?lang=en", data={"csrf_token": admin.token}, follow_redirects=True
    )
    assert "There is no account nobody." in response.get_data(as_text=True)
    assert post(admin, "/admin/accounts/ivan/active").status_code == 400  # neither disabled nor enabled
    assert [user.name for user in app.extensions["users"].all()] == ["ivan", ADMIN]
    assert not app.extensions["users"].get("ivan").disabled
    assert not sample_edition.accounts_log.exists()


def test_the_last_active_admin_can_neither_disable_nor_demote_themself(admin, app, accounts):
    for path, form in [
        ("/admin/accounts/boss/active", {"active": "0"}),
        ("/admin/accounts/boss/role", {"role": "editor"}),
    ]:
        response = admin.post(f"{path}?lang=en", data={"csrf_token": admin.token, **form}, follow_redirects=True)
        assert "That would leave no active admin" in response.get_data(as_text=True)
    boss = accounts.get(ADMIN)
    assert boss.role == "admin" and not boss.disabled

    post(admin, "/admin/accounts", name="anna", role="admin", password=PASSWORD)
    post(admin, "/admin/accounts/boss/role", role="editor")  # another admin now: allowed
    assert accounts.get(ADMIN).role == "editor"
    assert admin.get("/").status_code == 200  # their own change keeps this session
    assert admin.get("/admin/accounts").status_code == 403


def test_only_admins_see_the_accounts_link(admin, editor):
    assert 'href="/admin/accounts"' in admin.get("/").get_data(as_text=True)
    assert 'href="/admin/accounts"' not in editor.get("/").get_data(as_text=True)
    assert editor.get("/admin/accounts").status_code == 403


# -- B. sessions end on the server's word ------------------------------------------


def copy_of_session(app, client):
    """Another client holding a copy of ``client``'s session cookie (and its CSRF token)."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    thief.token = client.token
    return thief


def admin_client(app):
    """A client logged in as an admin (made if need be), with its CSRF token."""
    if app.extensions["users"].get(ADMIN) is None:
        app.extensions["users"].add(ADMIN, "admin", PASSWORD)
    client = app.test_client()
    assert log_in(client, ADMIN).status_code == 302
    client.token = csrf_token(client, "/admin/accounts")
    return client


def end_by_logout(app, editor):
    assert editor.post("/logout", data={"csrf_token": editor.token}).status_code == 302


def end_by_role_change_on_the_command_line(app, editor):
    app.extensions["users"].set_role("ivan", "reviewer")


def end_by_password_reset(app, editor):
    post(admin_client(app), "/admin/accounts/ivan/password", password="a new password")


def end_by_role_change(app, editor):
    post(admin_client(app), "/admin/accounts/ivan/role", role="reviewer")


def end_by_disabling(app, editor):
    post(admin_client(app), "/admin/accounts/ivan/active", active="0")


@pytest.mark.parametrize(
    "end",
    [
        end_by_logout,
        end_by_role_change_on_the_command_line,
        end_by_password_reset,
        end_by_role_change,
        end_by_disabling,
    ],
)
def test_a_copy_of_the_cookie_is_refused_once_the_session_is_ended(app, editor, sample_edition, end):
    copy = copy_of_session(app, editor)
    assert copy.get(f"/m/{MS}/p/1/").status_code == 200  # the copy works while the session does
    tei = sample_edition.tei_path(MS).read_bytes()
    end(app, editor)
    response = copy.get(f"/m/{MS}/p/1/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert save(copy, "ѣ written by whoever holds the cookie", base="x").status_code == 401
    # The client that logged out holds no session (nor its CSRF token) at all any more.
    assert save(editor, "ѣ written after the end", base="x").status_code in (400, 401)
    assert sample_edition.tei_path(MS).read_bytes() == tei


def test_a_new_login_after_a_logout_works_and_other_accounts_keep_their_sessions(app, editor, admin):
    editor.post("/logout", data={"csrf_token": editor.token})
    assert admin.get("/admin/accounts").status_code == 200
    assert log_in(editor).status_code == 302
    assert editor.get(f"/m/{MS}/p/1/").status_code == 200


# -- C. where a login may send the browser -----------------------------------------

DEFAULT = "/"
NEXT_VARIANTS = [
    ("/m/trifonov-sample/", "/m/trifonov-sample/"),
    ("/m/trifonov-sample/p/1/%3Flang%3Den", "/m/trifonov-sample/p/1/?lang=en"),
    ("", DEFAULT),
    ("/%09/evil.example/", DEFAULT),  # a tab browsers drop: //evil.example/
    ("/%0a/evil.example/", DEFAULT),  # a newline: was a 500
    ("/%0d/evil.example/", DEFAULT),
    ("%0d%0aLocation:%20http://evil.example/", DEFAULT),
    ("//evil.example/", DEFAULT),
    ("///evil.example/", DEFAULT),
    ("/%5cevil.example/", DEFAULT),  # /\evil.example: browsers read \ as /
    ("/%5C%5Cevil.example/", DEFAULT),
    ("%5c%5cevil.example/", DEFAULT),
    ("/%2F/evil.example/", DEFAULT),
    ("/%252F/evil.example/", DEFAULT),  # encoded twice
    ("http://evil.example/", DEFAULT),
    ("https://evil.example/", DEFAULT),
    ("HtTpS://evil.example/", DEFAULT),
    ("http:/evil.example/", DEFAULT),
    ("javascript:alert(1)", DEFAULT),
    ("JaVaScRiPt:alert(1)", DEFAULT),
    ("%20//evil.example/", DEFAULT),  # leading space
    ("%20/m/trifonov-sample/", DEFAULT),
    ("evil.example", DEFAULT),
    ("/%EF%BC%8F/evil.example/", DEFAULT),  # full-width solidus: NFKC makes it /
    ("/%E2%80%AE/elpmaxe.live//", DEFAULT),  # right-to-left override
    ("/%00/evil.example/", DEFAULT),
    ("/%E3%80%80/evil.example/", DEFAULT),  # ideographic space
]


@pytest.mark.parametrize(("raw", "expected"), NEXT_VARIANTS)
def test_a_login_sends_the_browser_only_to_a_path_on_this_site(app, raw, expected):
    client = app.test_client()
    token = csrf_token(client)
    response = client.post(f"/login?next={raw}", data={"name": "ivan", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location == expected
    parts = urlsplit(location)
    assert not parts.scheme and not parts.netloc and location.startswith("/") and "\\" not in location


def test_the_table_of_redirects_is_long_enough():
    assert sum(expected == DEFAULT for _, expected in NEXT_VARIANTS) >= 15


# -- D. the login rate limit: per address and per account --------------------------


def test_guessing_one_password_locks_that_account_only_and_an_admin_unlocks_it(app, accounts):
    accounts.add("maria", "transcriber", PASSWORD)
    client = app.test_client()  # everyone behind one address
    statuses = [log_in(client, "maria", "a wrong guess").status_code for _ in range(12)]
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
    assert log_in(client, "maria").status_code == 429  # the right password too, while locked
    assert log_in(client, "ivan").status_code == 302  # her colleague, from the same address

    admin = admin_client(app)
    page = admin.get("/admin/accounts?lang=en").get_data(as_text=True)
    assert "locked out" in account_row(page, "maria") and "locked out" not in account_row(page, "ivan")
    post(admin, "/admin/accounts/maria/unlock")
    assert "locked out" not in account_row(admin.get("/admin/accounts").get_data(as_text=True), "maria")
    assert log_in(app.test_client(), "maria").status_code == 302
    assert accounts.history() == []  # the fixture's Users has no log; the app's does
    assert app.extensions["users"].history()[0]["action"] == "unlock"


def test_the_locked_out_answer_is_translated(app, accounts):
    client = app.test_client()
    for _ in range(10):
        log_in(client, "nobody", "a wrong guess")
    response = client.post(
        "/login?lang=bg", data={"name": "nobody", "password": "x", "csrf_token": csrf_token(client, "/login?lang=bg")}
    )
    assert response.status_code == 429 and "помолете администратор" in response.get_data(as_text=True)


def test_the_command_line_unlocks_an_account_the_server_has_locked(app, accounts, sample_edition):
    accounts.add("maria", "transcriber", PASSWORD)
    client = app.test_client()
    for _ in range(10):
        log_in(client, "maria", "a wrong guess")
    assert log_in(client, "maria").status_code == 429
    result = CliRunner().invoke(
        cli, ["--edition", str(sample_edition.root), "--user", "root", "user", "unlock", "maria"]
    )
    assert result.exit_code == 0 and result.output == "maria unlocked\n"
    assert log_in(client, "maria").status_code == 302
    assert json.loads(sample_edition.accounts_log.read_text())["who"] == "root"


def test_the_per_address_limit_still_counts_failures_across_names(make_app):
    client = make_app(LOGIN_RATE_LIMIT="5 per minute").test_client()
    statuses = [log_in(client, f"guess-{n}", "wrong").status_code for n in range(6)]
    assert statuses == [401] * 5 + [429]


# -- E. behind a TLS proxy, or plain HTTP for a trial ------------------------------

PROXIED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "workbench.library.example"}


def test_behind_a_proxy_the_forwarded_client_and_scheme_count(make_app):
    app = make_app(BEHIND_PROXY=True, SESSION_COOKIE_SECURE=True, LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()

    def attempt(address: str, n: int) -> int:
        headers = {**PROXIED, "X-Forwarded-For": address, "Referer": "https://workbench.library.example/login"}
        token = csrf_token(client, headers=headers)
        data = {"name": f"guess-{n}", "password": "wrong", "csrf_token": token}
        return client.post("/login", data=data, headers=headers).status_code

    assert [attempt("203.0.113.5", n) for n in range(4)] == [401, 401, 401, 429]
    assert attempt("203.0.113.6", 9) == 401  # another client behind the same proxy

    page = app.test_client().get("/login", headers=PROXIED)  # a new visitor: a new session cookie
    assert "Secure" in page.headers["Set-Cookie"] and 'id="plain-http"' not in page.get_data(as_text=True)
    headers = {**PROXIED, "X-Forwarded-For": "203.0.113.7", "Referer": "https://workbench.library.example/login"}
    data = {"name": "ivan", "password": PASSWORD, "csrf_token": csrf_token(client, headers=headers)}
    response = client.post("/login", data=data, headers=headers)
    assert response.status_code == 302 and "Secure" in response.headers["Set-Cookie"]


def test_without_a_proxy_forwarded_headers_are_ignored(make_app):
    client = make_app(LOGIN_RATE_LIMIT="3 per minute").test_client()
    statuses = [
        client.post(
            "/login",
            data={"name": f"guess-{n}", "password": "wrong", "csrf_token": csrf_token(client)},
            headers={"X-Forwarded-For": f"203.0.113.{n}"},
        ).status_code
        for n in range(4)
    ]
    assert statuses == [401, 401, 401, 429]


def test_workbench_toml_puts_the_app_behind_a_proxy(sample_edition, accounts):
    assert create_app(sample_edition.root, {"TESTING": True}).config["BEHIND_PROXY"] is False
    (sample_edition.root / "workbench.toml").write_text("[server]\nbehind_proxy = true\n")
    app = create_app(sample_edition.root, {"TESTING": True})
    assert app.config["BEHIND_PROXY"] is True
    # Seen as HTTPS (no warning that the login will fail) only as the proxy says.
    assert 'id="plain-http"' not in app.test_client().get("/login", headers={"X-Forwarded-Proto": "https"}).text
    assert 'id="plain-http"' in app.test_client().get("/login").text


def test_plain_http_is_explained_on_the_login_page_unless_insecure_http_is_chosen(sample_edition, accounts):
    secure = create_app(sample_edition.root, {"TESTING": True})
    assert secure.config["SESSION_COOKIE_SECURE"] is True
    page = secure.test_client().get("/login?lang=en")
    assert 'id="plain-http"' in page.get_data(as_text=True) and "Secure" in page.headers["Set-Cookie"]

    trial = create_app(sample_edition.root, {"TESTING": True}, insecure_http=True)
    assert trial.config["SESSION_COOKIE_SECURE"] is False
    client = trial.test_client()
    page = client.get("/login")
    assert 'id="plain-http"' not in page.get_data(as_text=True) and "Secure" not in page.headers["Set-Cookie"]
    assert log_in(client).status_code == 302 and client.get("/").status_code == 200
