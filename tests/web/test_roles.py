"""Who may do what, route by route, generated from the app's own url_map: every route has
a rule here (a new route without one fails), and the server enforces it for every role."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.web.client import LINE, MS, PASSWORD, log_in
from workbench.users import ROLES
from workbench.web.auth import required_role

# Every route of the app and the least role it needs; None: public (readers, logging in).
RULES: dict[str, str | None] = {
    "static": None,
    "asset": None,
    "auth.login": None,
    "auth.logout": None,
    "reader.home": None,
    "reader.manuscript": None,
    "reader.page": None,
    "reader.page_image": None,
    "reader.line_image": None,
    "reader.search": None,
    "tiles.base": None,
    "tiles.info": None,
    "tiles.tile": None,
    "reader.export": None,
    "reader.viewer": None,
    "iiif.collection": None,
    "iiif.manifest": None,
    "iiif.lines": None,
    "iiif.search": None,
    "iiif.search1": None,
    "manuscripts.index": "transcriber",
    "manuscripts.manuscript": "transcriber",
    "manuscripts.uncertain_lines": "transcriber",
    "manuscripts.publish": "editor",
    "manuscripts.edit_metadata": "editor",
    "manuscripts.set_default_model": "editor",
    "lines.page": "transcriber",
    "lines.page_image": "transcriber",
    "lines.line_image": "transcriber",
    "lines.save_line": "transcriber",
    "lines.preview": "transcriber",
    "lines.history": "transcriber",
    "lines.diff": "transcriber",
    "lines.revert": "transcriber",
    "layout.add_line": "transcriber",
    "layout.delete_line": "transcriber",
    "layout.merge_lines": "transcriber",
    "layout.split_line": "transcriber",
    "layout.move_line": "transcriber",
    "layout.undo_layout": "transcriber",
    "review.review_lines": "transcriber",
    "review.next_line": "reviewer",
    "review.send_back": "reviewer",
    "review.comments": "transcriber",
    "review.add_comment": "transcriber",
    "review.resolve_comment": "transcriber",
    "jobs.start_job": "editor",
    "jobs.job": "transcriber",
    "jobs.cancel_job": "editor",
    "jobs.download": "editor",
    "models.index": "editor",
    "models.train": "editor",
    "models.retrain": "editor",
    "transfer.export": "editor",
    "transfer.export_job": "editor",
    "transfer.import_manuscript": "editor",
    "admin.accounts": "admin",
    "admin.add_account": "admin",
    "admin.set_active": "admin",
    "admin.set_role": "admin",
    "admin.reset_password": "admin",
    "admin.unlock": "admin",
    "admin.verification": "admin",
    "admin.start_verification": "admin",
    "bibliography_reader.read_bibliography": None,
    "bibliography.index": "editor",
    "bibliography.add": "editor",
    "bibliography.edit": "editor",
    "bibliography.delete": "editor",
    "bibliography.merge": "editor",
    "registers.names": "transcriber",
    "registers.manage": "editor",
    "registers.add_entity": "editor",
    "registers.edit_entity": "editor",
    "registers.delete_entity": "editor",
    "register_reader.index": None,
    "register_reader.entry": None,
    "register_reader.author": None,
    # Remote workers' API: a worker token, never a browser session (tests/web/test_worker_api.py).
    "worker_api.queue_settings": "worker",
    "worker_api.start": "worker",
    "worker_api.beat": "worker",
    "worker_api.page_image": "worker",
    "worker_api.model": "worker",
    "worker_api.page_result": "worker",
    "worker_api.finish": "worker",
    "worker_api.lost": "worker",
    "worker_api.training_material": "worker",
    "worker_api.epoch": "worker",
    "worker_api.trained": "worker",
}

VALUES = {
    "manuscript_id": MS,
    "n": "1",
    "line_id": LINE,
    "line_n": 1,
    "job_id": "0" * 12,
    "kind": "tei",
    "comment_id": "c" * 12,
    "section": "persons",
}


@pytest.fixture
def app(make_app, accounts) -> Flask:
    for role in ROLES:
        accounts.add(f"a-{role}", role, PASSWORD)
    # CSRF is tested elsewhere; here every request must reach the role check.
    return make_app(WTF_CSRF_ENABLED=False)


def routes(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, method, URL) for every route, with values that name real things."""
    found = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            values = {name: VALUES.get(name, "style.css") for name in rule.arguments}
            url = app.url_map.bind("localhost").build(rule.endpoint, values, method=None)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                found.append((rule.endpoint, method, url))
    return found


def test_every_route_has_a_rule_and_the_app_declares_the_same(app):
    endpoints = {endpoint for endpoint, _, _ in routes(app)}
    assert endpoints == set(RULES), "a route without a rule here (or a rule for a route that is gone)"
    with app.app_context():
        assert {endpoint: required_role(endpoint) for endpoint in endpoints} == RULES


def test_each_role_reaches_what_it_may_and_is_refused_the_rest(app):
    staff = [(endpoint, method, url) for endpoint, method, url in routes(app) if RULES[endpoint] in ROLES]
    for role in ROLES:
        client = app.test_client()
        assert log_in(client, f"a-{role}").status_code == 302
        for endpoint, method, url in staff:
            response = client.open(url, method=method, headers={"Accept-Language": "bg"})
            allowed = ROLES.index(role) >= ROLES.index(RULES[endpoint])
            if allowed:
                assert response.status_code not in (401, 403), (role, endpoint, response.status_code)
            else:
                assert response.status_code == 403, (role, endpoint, response.status_code)
                assert "Нямате права" in response.get_data(as_text=True), (role, endpoint)


def test_anonymous_requests_to_staff_routes_go_to_the_login(app):
    client = app.test_client()
    for endpoint, method, url in routes(app):
        if RULES[endpoint] not in ROLES:
            continue
        response = client.open(url, method=method)
        assert response.status_code == 302 and "/login" in response.headers["Location"], (endpoint, method)
        assert client.open(url, method=method, headers={"HX-Request": "true"}).status_code == 401, endpoint


def test_worker_routes_refuse_every_browser_session_and_take_only_a_worker_token(app):
    from workbench import remote

    token = remote.create_token(app.extensions["edition"].root, "gpu-1")
    worker_routes = [(endpoint, method, url) for endpoint, method, url in routes(app) if RULES[endpoint] == "worker"]
    assert worker_routes
    for role in (None, *ROLES):
        client = app.test_client()
        if role:
            assert log_in(client, f"a-{role}").status_code == 302
        for endpoint, method, url in worker_routes:
            response = client.open(url, method=method)
            assert response.status_code == 401 and response.is_json, (role, endpoint, response.status_code)
            wrong = client.open(url, method=method, headers={"Authorization": f"Bearer {token}x"})
            assert wrong.status_code == 401, (role, endpoint)
    client = app.test_client()
    for endpoint, method, url in worker_routes:
        response = client.open(url, method=method, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code != 401, endpoint  # past the token check (the job itself does not exist)
