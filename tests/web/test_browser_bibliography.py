"""The reading room's bibliography in a real browser (chromium, under the CSP): filter by a
facet, copy an entry's citation."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.web.test_bibliography_web import entries  # noqa: F401
from tests.web.test_browser import ARTIFACTS, browser, chromium, server  # noqa: F401


def test_filter_by_a_facet_and_copy_a_citation(browser, server, entries):  # noqa: F811
    context = browser.new_context(locale="bg-BG")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
    page = context.new_page()
    page.goto(f"{server}/read/bibliography")
    expect(page.locator("li.entry")).to_have_count(4)
    page.locator("ul[data-facet=type] a", has_text="Преводи на автора").click()
    expect(page).to_have_url(re.compile(r"/read/bibliography\?type=translation$"))
    expect(page.locator("li.entry")).to_have_count(1)
    expect(page.locator("ul[data-facet=type] a.chosen")).to_have_text(re.compile("Преводи на автора"))
    entry = page.locator("li.entry#b001")
    expect(entry.locator(".manuscript-link a")).to_have_attribute("href", "/read/trifonov-sample/")
    entry.locator("button.copy").click()
    expect(entry.locator(".copied")).to_have_text("Копирано.")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == "Шекспиръ, Уилямъ. Хамлетъ, принцъ датски / Прев. Трифонъ Трифоновъ. – София, 1900."
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "reader-bibliography.png"), full_page=True)
