"""Names in a real browser (chromium, under the CSP): a name typed in the editor is offered
from the register and tagged with its key; the reading room's register page then lists the
line, and the author page shows the biography, the manuscript's progress and the timeline,
in Bulgarian. Screenshots go to test-artifacts/."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from tests.web.client import MS
from tests.web.test_browser import ARTIFACTS, browser, chromium, logged_in, open_page, row, server  # noqa: F401


def reload_until(page: Page, url: str, selector: str, seconds: float = 20) -> None:
    """The background indexer takes the save in within a second or two: look again until it has."""
    deadline = time.monotonic() + seconds
    while True:
        page.goto(url)
        if page.locator(selector).count() or time.monotonic() > deadline:
            return
        time.sleep(0.5)


def test_a_name_tagged_in_the_editor_shows_on_its_register_page(browser, server, sample_edition):  # noqa: F811
    ARTIFACTS.mkdir(exist_ok=True)
    page = logged_in(browser, server)
    open_page(page, server)
    line = row(page, 2).locator("input.text")
    line.fill("")
    line.press_sequentially("писа {@Трифонъ")
    choices = row(page, 2).locator(".name-choices li")
    expect(choices).to_have_count(1)
    expect(choices.first).to_contain_text("Трифон Цанев Трифонов")
    page.screenshot(path=str(ARTIFACTS / "editor-name-choices.png"))
    line.press("ArrowDown")
    line.press("Enter")  # takes the name: the line is not saved yet
    expect(line).to_have_value("писа {@Трифонъ|trifonov}")
    expect(row(page, 2).locator(".name-choices")).to_have_count(0)
    line.press_sequentially(" въ {#Русе")
    expect(row(page, 2).locator(".name-choices li").first).to_contain_text("Русе")
    row(page, 2).locator(".name-choices li").first.click()
    expect(line).to_have_value("писа {@Трифонъ|trifonov} въ {#Русе|ruse}")
    line.press("Enter")  # saves
    expect(row(page, 2).locator(".message.saved")).to_be_visible()
    saved = sample_edition.load(MS).pages[0].lines[1].text
    assert saved == (
        'писа <persName ref="register.xml#trifonov">Трифонъ</persName> въ '
        '<placeName ref="register.xml#ruse">Русе</placeName>'
    )

    reader = browser.new_context(locale="bg-BG").new_page()
    reload_until(reader, f"{server}/read/register/persons/trifonov", "li.mention")
    mention = reader.locator("li.mention")
    expect(mention).to_have_count(1)
    expect(mention).to_contain_text("писа Трифонъ въ Русе")
    expect(mention.locator("a")).to_have_attribute("href", f"/read/{MS}/1/2")
    expect(reader.locator("h1")).to_have_text("Трифон Цанев Трифонов")
    expect(reader.locator(".register-facts")).to_contain_text("Дряново")
    reader.screenshot(path=str(ARTIFACTS / "reader-register-person.png"), full_page=True)

    # The reading view links the name to the same page.
    reader.goto(f"{server}/read/{MS}/1/")
    reader.locator(f"#line-{MS}_p1_l2 a.tei-persName").click()
    expect(reader).to_have_url(f"{server}/read/register/persons/trifonov")

    reader.goto(f"{server}/read/author/trifonov")
    expect(reader.locator("h1")).to_contain_text("Трифон Цанев Трифонов")
    expect(reader.locator(".timeline .year")).to_have_text(["1866", "1926"])
    expect(reader.locator(".timeline")).to_contain_text("Роден, Дряново")
    manuscript = reader.locator(f"li.manuscript[data-manuscript='{MS}']")
    expect(manuscript).to_contain_text("реда проверени")
    expect(reader.locator(".author-life")).to_contain_text("Споменат в 1 ред от изданието")
    reader.screenshot(path=str(ARTIFACTS / "reader-author.png"), full_page=True)
