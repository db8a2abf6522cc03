"""The reading room in a real browser (chromium, under the CSP): deep zoom from tiles, zones linked
to lines, citations, hit to hit, accessibility (axe-core) and a phone's screen."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.builders import REPO
from tests.web.client import MS
from tests.web.test_browser import ARTIFACTS, browser, chromium, server  # noqa: F401
from workbench.search import indexing
from workbench.search.index import Query

AXE = REPO / "node_modules/axe-core/axe.min.js"


@pytest.fixture
def published(sample_edition):
    sample_edition.set_published(MS, True, "tester")
    index = indexing.open_index(sample_edition)
    for _ in range(300):  # the server's background indexer picks the change up by itself
        if index.search(Query("ръкави")).hits:
            break
        time.sleep(0.1)
    return sample_edition


def viewer_ready(page: Page) -> None:
    # Tiles drawn: OpenSeadragon's world has the image and it is fully loaded.
    page.wait_for_function(
        "() => window.OpenSeadragon && document.querySelector('#viewer .openseadragon-canvas canvas')"
        " && document.querySelector('#facsimile').closest('.openseadragon-canvas')"
    )
    page.wait_for_timeout(800)


def test_deep_zoom_loads_tiles_not_the_image_and_zones_link_to_lines(browser, server, published):  # noqa: F811
    page = browser.new_context(locale="bg-BG", viewport={"width": 1280, "height": 800}).new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{server}/read/{MS}/1/")
    viewer_ready(page)
    tiles = [url for url in requested if "/iiif/" in url and url.endswith("default.jpg")]
    assert tiles, requested
    assert not [url for url in requested if url.endswith("/image")]  # never the whole scan
    assert any(url.endswith(f"/iiif/{MS}/1/info.json") for url in requested)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "reader-deep-zoom.png"))

    # Zoom in with the button, then with the keyboard on the viewer: finer tiles are fetched.
    before = len(tiles)
    page.get_by_role("button", name="Увеличи").click()
    page.locator("#viewer .openseadragon-canvas").focus()
    for _ in range(3):
        page.keyboard.press("+")
    page.wait_for_timeout(1500)
    finer = [url for url in requested if "/iiif/" in url and url.endswith("default.jpg")]
    assert len(finer) > before
    assert any(re.search(r"/\d+,\d+,512,512/512,512/0/default.jpg$", url) for url in finer), finer  # full resolution
    page.screenshot(path=str(ARTIFACTS / "reader-zoomed.png"))

    # Back to the whole page: a click on a zone lights its line.
    page.get_by_role("button", name="Цялата страница").click()
    page.wait_for_timeout(800)
    zone = page.locator(f"#zone-{MS}_p1_l5")
    zone.click()
    expect(page.locator(f"#line-{MS}_p1_l5")).to_have_class(re.compile(r"\bcurrent\b"))
    expect(zone).to_have_class(re.compile(r"\bcurrent\b"))
    # And a click on a line lights its zone.
    page.locator(f"#line-{MS}_p1_l8 .text").click()
    expect(page.locator(f"#zone-{MS}_p1_l8")).to_have_class(re.compile(r"\bcurrent\b"))
    expect(page.locator(f"#line-{MS}_p1_l5")).not_to_have_class(re.compile(r"\bcurrent\b"))
    box = page.locator(f"#zone-{MS}_p1_l8").bounding_box()
    viewer = page.locator("#viewer").bounding_box()
    # The zones lie over the drawn page: a line's zone about as wide on screen as the line
    # (a viewer opened at a wrong zoom drew nothing and shrank the overlay to a pixel).
    assert box["width"] > viewer["width"] / 4, (box, viewer)
    drawn = page.evaluate(
        "() => { const c = document.querySelector('#viewer canvas'); const d = c.getContext('2d')"
        ".getImageData(0, 0, c.width, c.height).data; let dark = 0;"
        " for (let i = 0; i < d.length; i += 4) if (d[i] < 100) dark++; return dark; }"
    )
    assert drawn > 1000, drawn  # the page's ink is on the canvas
    assert viewer["x"] <= box["x"] and box["x"] + box["width"] <= viewer["x"] + viewer["width"] + 1
    page.screenshot(path=str(ARTIFACTS / "reader-zone.png"))


def test_keyboard_through_lines_and_copy_a_citation(browser, server, published):  # noqa: F811
    context = browser.new_context(locale="bg-BG")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
    page = context.new_page()
    page.goto(f"{server}/read/{MS}/1/2")
    viewer_ready(page)
    page.locator(f"#line-{MS}_p1_l2 a.number").focus()
    page.keyboard.press("ArrowDown")
    expect(page.locator(f"#line-{MS}_p1_l3 a.number")).to_be_focused()
    expect(page.locator(f"#zone-{MS}_p1_l3")).to_have_class(re.compile(r"\bcurrent\b"))
    page.keyboard.press("Tab")
    expect(page.locator(f"#line-{MS}_p1_l4 a.number")).to_be_focused()
    outline = page.locator(f"#line-{MS}_p1_l4 a.number").evaluate("a => getComputedStyle(a).outlineStyle")
    assert outline == "solid"  # the focus is visible
    expect(page.locator("#cite-line")).to_have_text(re.compile(rf"ред 4\. .*/read/{MS}/1/4$"))
    page.locator("button[data-copy=cite-line]").click()
    expect(page.locator(".copied")).to_have_text("Копирано.")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.locator("#cite-line").inner_text().strip()
    page.screenshot(path=str(ARTIFACTS / "reader-keyboard.png"))


def test_search_within_a_manuscript_and_go_from_hit_to_hit(browser, server, published):  # noqa: F811
    page = browser.new_context(locale="bg-BG").new_page()
    page.goto(f"{server}/read/{MS}/1/")
    page.locator("form.search.within input[name=q]").fill("ръкави")
    page.locator("form.search.within input[name=q]").press("Enter")
    expect(page).to_have_url(re.compile(rf"/read/search\?manuscript={MS}&q="))
    hit = page.locator("li.hit").first
    expect(hit.locator("mark")).to_have_text(["рѫкави"])
    page.goto(f"{server}/read/search?manuscript={MS}&q=е&exact=1")
    page.locator("li.hit a.where").first.click()
    expect(page.locator(".hits-nav")).to_contain_text("намерено 1 от")
    page.locator("a.next-hit").click()
    expect(page.locator(".hits-nav")).to_contain_text("намерено 2 от")
    expect(page.locator(".text-line.current")).to_have_count(1)
    expect(page.locator(".text-line.current")).to_be_in_viewport()
    page.screenshot(path=str(ARTIFACTS / "reader-hit.png"))
    page.locator("a.previous-hit").click()
    expect(page.locator(".hits-nav")).to_contain_text("намерено 1 от")


def test_no_serious_or_critical_accessibility_violations(browser, server, published):  # noqa: F811
    page = browser.new_context(locale="bg-BG").new_page()
    axe = AXE.read_text()
    found = {}
    for path in ("/read/", f"/read/{MS}/", f"/read/{MS}/1/3", "/read/search?q=ръкави"):
        page.goto(f"{server}{path}")
        if "/1/" in path:
            viewer_ready(page)
        page.evaluate(axe)  # evaluated over CDP: not an inline script, so the CSP does not apply
        result = page.evaluate("axe.run().then(r => r.violations.map(v => [v.id, v.impact, v.nodes.length]))")
        found[path] = [violation for violation in result if violation[1] in ("serious", "critical")]
    assert found == {path: [] for path in found}, found


def test_a_phone_shows_the_facsimile_above_the_text_and_a_tap_lights_the_zone(browser, server, published):  # noqa: F811
    context = browser.new_context(
        locale="bg-BG", viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True, device_scale_factor=2
    )
    page = context.new_page()
    page.goto(f"{server}/read/{MS}/1/")
    viewer_ready(page)
    facsimile = page.locator("#viewer").bounding_box()
    first_line = page.locator(f"#line-{MS}_p1_l1").bounding_box()
    assert facsimile["width"] >= 370 and facsimile["y"] + facsimile["height"] <= first_line["y"]
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    page.locator(f"#line-{MS}_p1_l3 .text").tap()
    expect(page.locator(f"#zone-{MS}_p1_l3")).to_have_class(re.compile(r"\bcurrent\b"))
    page.screenshot(path=str(ARTIFACTS / "reader-phone.png"))
    page.locator(f"#line-{MS}_p1_l3").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "reader-phone-text.png"))
