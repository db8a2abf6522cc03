"""The sample edition's names, and what a client without a browser does: read the CSRF
token, log in, find a line's version, save a line."""

from __future__ import annotations

import re

MS = "trifonov-sample"
LINE = f"{MS}_p1_l2"
PASSWORD = "correct horse battery"


def csrf_token(client, path="/login", **options) -> str:
    page = client.get(path, **options).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def log_in(client, name="ivan", password=PASSWORD):
    return client.post("/login", data={"name": name, "password": password, "csrf_token": csrf_token(client)})


def line_base(client, line_id=LINE) -> str:
    page = client.get(f"/m/{MS}/p/1/").get_data(as_text=True)
    row = page[page.index(f'id="line-{line_id}"') :]
    return re.search(r'name="base" value="([^"]+)"', row).group(1)


def save(client, text, base=None, status="", line_id=LINE, headers=None):
    base = base if base is not None else line_base(client, line_id)
    headers = headers if headers is not None else {"X-CSRFToken": client.token, "HX-Request": "true"}
    return client.post(f"/m/{MS}/lines/{line_id}", data={"text": text, "base": base, "status": status}, headers=headers)
