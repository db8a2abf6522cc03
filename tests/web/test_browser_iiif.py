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
    # Mirador speaks the page's language: its own labels in Bulgarian.
    expect(page.get_by_text("Показване на 20 анотации")).to_be_visible()
    expect(page.locator("#mirador button[aria-label='Увеличаване']")).to_be_visible()
    assert page.locator("#mirador button[aria-label='Zoom in']").count() == 0
    page.wait_for_timeout(1000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "iiif-mirador.png"))
    assert any(url.endswith(f"/iiif/{MS}/manifest.json") for url in requested)
    assert any(url.endswith(f"/iiif/{MS}/1/info.json") for url in requested)
    tiles = [url for url in requested if "/iiif/" in url and url.endswith("default.jpg")]
    assert tiles, requested

    # Zoom in with Mirador's own button: the full-resolution tiles arrive.
    for _ in range(4):
        page.locator("#mirador button[aria-label='Увеличаване']").click()
        page.wait_for_timeout(400)
    page.wait_for_timeout(1500)
    finer = [url for url in requested if "/iiif/" in url and url.endswith("/512,512/0/default.jpg")]
    assert finer, requested
    page.screenshot(path=str(ARTIFACTS / "iiif-mirador-zoomed.png"))

    # The next page: its image and its own lines.
    page.locator("#mirador button[aria-label='Следващ елемент']").click()
    expect(
        page.locator("#mirador [role=menuitem]", has_text="гологлавъ, по бѣли рѫкави и по халатъ,").first
    ).to_be_visible(timeout=15000)
    expect(page.get_by_text("Показване на 16 анотации")).to_be_visible()
    page.wait_for_timeout(1500)
    assert any(url.endswith(f"/iiif/{MS}/2/info.json") for url in requested)
    page.screenshot(path=str(ARTIFACTS / "iiif-mirador-page2.png"))


def test_mirador_searches_in_modern_spelling_and_lands_on_the_line(browser, server, published):  # noqa: F811
    page = browser.new_context(locale="bg-BG", viewport={"width": 1400, "height": 900}).new_page()
    searched: list[str] = []
    page.on("request", lambda request: searched.append(request.url) if "/search1?" in request.url else None)
    page.goto(f"{server}/read/{MS}/viewer")
    page.wait_for_selector("#mirador .openseadragon-canvas canvas", timeout=30000)
    page.locator("#mirador button[aria-label='Търсене']").click()
    field = page.locator("#mirador input[id^=search-]")
    field.fill("бели ръкави")
    field.press("Enter")
    result = page.locator("#mirador li", has_text="гологлавъ, по бѣли рѫкави и по халатъ,").first
    expect(result).to_be_visible(timeout=15000)
    assert searched and "q=" in searched[0]
    expect(result).to_contain_text("стр. 2")  # the canvas label in the page's language
    # The hit is on page 2: the viewer goes there (by itself, to the first hit) and marks the line's box.
    result.click()
    expect(page.get_by_text("2 от 2")).to_be_visible(timeout=15000)
    # Mirador's own state: the window shows page 2's canvas with the hit's annotation selected.
    state = page.evaluate(
        "() => { const s = window.miradorInstance.store.getState(); const w = Object.values(s.windows)[0];"
        " return {canvas: w.canvasId, search: JSON.stringify(s.searches)}; }"
    )
    assert state["canvas"] == f"{server}/iiif/{MS}/canvas/2"
    assert "#hit-1" in state["search"], state["search"]
    page.wait_for_timeout(2000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "iiif-mirador-search.png"))
