"""IIIF import from the import page (editors), against a IIIF server on loopback."""

from __future__ import annotations

import pytest

from tests.exchange.test_iiif_import import manifest_v3, server  # noqa: F401  (the loopback IIIF server)
from tests.web.client import csrf_token, log_in


@pytest.fixture
def editor_on(make_app):
    def logged_in(**config):
        client = make_app(**config).test_client()
        assert log_in(client).status_code == 302
        return client

    return logged_in


def post_manifest(client, url: str, **fields):
    token = csrf_token(client, "/import")
    return client.post(
        "/import", data={"csrf_token": token, "manifest": url, **fields}, headers={"Accept-Language": "bg"}
    )


def test_the_import_page_offers_a_manifest_address(editor_on):
    page = editor_on().get("/import", headers={"Accept-Language": "bg"}).get_data(as_text=True)
    assert 'id="import-iiif"' in page and 'name="manifest"' in page and "Адрес на манифеста" in page


def test_an_editor_imports_a_manifest(editor_on, server, sample_edition):  # noqa: F811
    url = manifest_v3(server, ["a", "b"])
    client = editor_on(IIIF_IMPORT_PRIVATE_ADDRESSES=True)  # the test's server is on loopback
    response = post_manifest(client, url, id="from-iiif")
    assert response.status_code == 200, response.get_data(as_text=True)
    page = response.get_data(as_text=True)
    assert "from-iiif" in page and "f. 2r" in page
    manuscript = sample_edition.load("from-iiif")
    assert manuscript.title == "Сборник от Трифон Трифонов" and len(manuscript.pages) == 2


def test_the_servers_own_network_is_refused_by_default(editor_on, server, sample_edition):  # noqa: F811
    url = manifest_v3(server, ["a"])
    response = post_manifest(editor_on(), url, id="from-iiif")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Нищо не беше внесено" in page and "local or private address (127.0.0.1); not fetched" in page
    assert server.requests == []  # nothing was asked of it
    assert not sample_edition.tei_path("from-iiif").exists()


@pytest.mark.parametrize("address", ["", "ftp://example.org/manifest.json", "file:///etc/passwd", "manifest.json"])
def test_an_address_that_is_not_http_is_refused(editor_on, address):
    response = post_manifest(editor_on(), address)
    assert response.status_code == 422
    assert "Въведете адреса (http или https) на IIIF манифест." in response.get_data(as_text=True)


def test_a_bad_manifest_says_why_and_imports_nothing(editor_on, server, sample_edition):  # noqa: F811
    server.files["/bad.json"] = (b'{"type": "Collection"}', "application/json")
    response = post_manifest(editor_on(IIIF_IMPORT_PRIVATE_ADDRESSES=True), f"{server.base}/bad.json", id="bad")
    assert response.status_code == 422
    assert "not a IIIF Presentation manifest" in response.get_data(as_text=True)
    assert not sample_edition.tei_path("bad").exists()
