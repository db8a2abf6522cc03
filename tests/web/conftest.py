"""Fixtures of the web tests: accounts, an app factory, and clients anonymous and logged in."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask

from tests.web.client import MS, PASSWORD, log_in
from workbench.edition import Edition
from workbench.users import Users
from workbench.web import create_app


@pytest.fixture
def accounts(sample_edition: Edition) -> Users:
    """The sample edition's accounts: "ivan", an editor (add others with ``accounts.add``)."""
    users = Users(sample_edition.users_file)
    users.add("ivan", "editor", PASSWORD)
    return users


@pytest.fixture
def make_app(sample_edition: Edition, accounts: Users) -> Callable[..., Flask]:
    """An app over the sample edition, in testing mode over plain HTTP unless ``config`` says otherwise."""

    def make(**config) -> Flask:
        return create_app(sample_edition.root, {"TESTING": True, "SESSION_COOKIE_SECURE": False, **config})

    return make


@pytest.fixture
def app(make_app) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask):
    return app.test_client()


@pytest.fixture
def editor(client):
    """A client logged in as ivan, with the page's CSRF token as ``client.token``."""
    assert log_in(client).status_code == 302
    page = client.get(f"/m/{MS}/p/1/").get_data(as_text=True)
    client.token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    return client


@pytest.fixture
def worker(app, sample_edition):
    """A client with a worker token, calling the API as a remote worker does: a JSON
    ``body``, or form ``data`` (a model file sent with its result)."""
    from workbench import remote

    token = remote.create_token(sample_edition.root, "gpu-host")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}

    def call(method: str, path: str, body: dict | None = None, data: dict | None = None):
        return client.open(f"/api/worker/{path}", method=method, json=body, data=data, headers=headers)

    return call
