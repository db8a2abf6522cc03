"""The IIIF manifest in a real IIIF viewer: Mirador (from npm, served by the app) in chromium,
under the reading room's CSP (the viewer page's own style-src, SECURITY.md)."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.web.client import MS
from tests.web.test_browser import ARTIFACTS, browser, chromium, server  # noqa: F401
from tests.web.test_browser_reader import published  # noqa: F401


def test_mirador_shows_the_pages_zooms_and_shows_line_annotations(browser, server, published):  # noqa: F811
    page = browser.new_context(locale="bg-BG", viewport={"width": 1400, "height": 900}).new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{server}/read/{MS}/")
    page.get_by_role("link", name="Разглеждане в IIIF визуализатор").click()
    page.wait_for_selector("#mirador .openseadragon-canvas canvas", timeout=30000)
    # The annotations panel lists the page's lines, as read from the manifest.
    listed = page.locator("#mirador [role=menuitem]", has_text="Живъ е той, живъ е! Тамъ на Балкана,")
    expect(listed.first).to_be_visible(timeout=15000)
    expect(page.get_by_text("Showing 20 annotations")).to_be_visible()
    page.wait_for_timeout(1000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "iiif-mirador.png"))
    assert any(url.endswith(f"/iiif/{MS}/manifest.json") for url in requested)
    assert any(url.endswith(f"/iiif/{MS}/1/info.json") for url in requested)
    tiles = [url for url in requested if "/iiif/" in url and url.endswith("default.jpg")]
    assert tiles, requested

    # Zoom in with Mirador's own button: the full-resolution tiles arrive.
    for _ in range(4):
        page.locator("#mirador button[aria-label='Zoom in']").click()
        page.wait_for_timeout(400)
    page.wait_for_timeout(1500)
    finer = [url for url in requested if "/iiif/" in url and url.endswith("/512,512/0/default.jpg")]
    assert finer, requested
    page.screenshot(path=str(ARTIFACTS / "iiif-mirador-zoomed.png"))

    # The next page: its image and its own lines.
    page.locator("#mirador button[aria-label='Next item']").click()
    expect(
        page.locator("#mirador [role=menuitem]", has_text="гологлавъ, по бѣли рѫкави и по халатъ,").first
    ).to_be_visible(timeout=15000)
    expect(page.get_by_text("Showing 16 annotations")).to_be_visible()
    page.wait_for_timeout(1500)
    assert any(url.endswith(f"/iiif/{MS}/2/info.json") for url in requested)
    page.screenshot(path=str(ARTIFACTS / "iiif-mirador-page2.png"))
