"""The manuscript page in a real browser (issue #18): segmenting every page asks first,
in the page; an export link says it is being prepared until the download comes; the
project's favicon loads. All under the Content-Security-Policy (the ``browser`` fixture)."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.web.client import MS
from tests.web.test_browser import ARTIFACTS, browser, chromium, logged_in, server  # noqa: F401


def test_segmenting_the_whole_manuscript_asks_in_the_page_and_cancel_takes_it_back(browser, server):  # noqa: F811
    page = logged_in(browser, server)
    page.goto(f"{server}/m/{MS}/")
    step = page.locator("details.segment-all")
    question = step.get_by_text("Да се сегментират ли всички 2 страници?")
    yes = step.get_by_role("button", name="Да, сегментирай")
    expect(question).to_be_hidden()
    step.locator("summary").click()
    expect(question).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "manuscript-segment-all-question.png", full_page=True)
    step.get_by_role("button", name="Отказ").click()
    expect(question).to_be_hidden()
    expect(step.locator("summary")).to_be_focused()
    expect(page.locator("#jobs .job")).to_have_count(0)  # nothing started

    step.locator("summary").click()
    yes.click()
    job = page.locator("#jobs .job")
    expect(job).to_be_visible()
    expect(job).to_contain_text("Сегментиране")
    expect(question).to_be_hidden()  # answered
    # Stopped at once: the test is about the question, not about kraken.
    job.get_by_role("button", name="Отказ").click()
    expect(page.locator("#jobs .job")).to_have_attribute("data-state", "cancelled")


def test_an_export_link_says_preparing_until_its_download_arrives(browser, server, tmp_path):  # noqa: F811
    page = logged_in(browser, server)
    page.goto(f"{server}/m/{MS}/")
    link = page.get_by_role("link", name="TEI", exact=True)
    with page.expect_download(timeout=120_000) as download:
        # Clicked from the page's own script turn, so the state is read before any answer can arrive.
        preparing = link.evaluate("link => { link.click(); return link.classList.contains('preparing'); }")
    assert preparing
    expect(link.locator("xpath=following-sibling::span[@role='status']")).to_have_text("подготвя се…")
    download.value.save_as(tmp_path / "export.xml")
    assert (tmp_path / "export.xml").read_bytes().startswith(b"<?xml")
    expect(link).not_to_have_class(re.compile("preparing"), timeout=10_000)
    expect(page.locator(".preparing-note")).to_have_count(0)
    assert "ready=" in link.get_attribute("href")

    with page.expect_download() as download:
        page.get_by_role("link", name="Обикновен текст").click()
    assert download.value.suggested_filename == f"{MS}-text.zip"
    expect(page.locator("a.export.preparing")).to_have_count(0, timeout=10_000)


def test_the_favicon_is_the_projects_own_and_loads(browser, server):  # noqa: F811
    page = logged_in(browser, server)
    href = page.locator("link[rel=icon]").get_attribute("href")
    assert href == "/assets/favicon.svg"
    kind = page.evaluate(
        "url => fetch(url).then(response => response.ok && response.headers.get('content-type'))", href
    )
    assert kind.startswith("image/svg+xml")
