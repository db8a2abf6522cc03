"""The page editor's line rows in a real browser (chromium): their layout at the usual screen
widths, revert with confirmation, conflicts, history and its differences."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from tests.web import test_browser
from tests.web.client import MS, PASSWORD
from tests.web.test_browser import ARTIFACTS, logged_in, open_page

# test_browser.py's fixtures (chromium, each test's CSP-watched browser, the app on HTTP), here too.
chromium, browser, server = test_browser.chromium, test_browser.browser, test_browser.server

# For every line row: its widest element against the row, the text field against its image,
# and whether the field's text overflows (scrolls inside) the field.
MEASURE_ROWS = """
() => [...document.querySelectorAll("form.line")].map((row) => {
  const input = row.querySelector("input.text");
  const image = row.querySelector("img.crop");
  const box = row.getBoundingClientRect();
  const outside = [...row.querySelectorAll("*")]
    .filter((element) => element.getClientRects().length)
    .filter((element) => {
      const rect = element.getBoundingClientRect();
      return rect.left < box.left - 0.5 || rect.right > box.right + 0.5;
    })
    .map((element) => element.tagName + "." + element.className);
  return {
    id: row.id,
    scrollWidth: input.scrollWidth,
    clientWidth: input.clientWidth,
    inputWidth: input.getBoundingClientRect().width,
    imageWidth: image.getBoundingClientRect().width,
    imageLoaded: image.complete && image.naturalWidth > 0,
    fontSize: parseFloat(getComputedStyle(input).fontSize),
    rootFontSize: parseFloat(getComputedStyle(document.documentElement).fontSize),
    outside,
  };
})
"""


def row(page: Page, k: int):
    return page.locator(f"#line-{MS}_p1_l{k}")


@pytest.mark.parametrize("width, height", [(1280, 720), (1366, 768), (1440, 900), (1920, 1080)])
def test_each_line_is_as_wide_as_its_image_at_common_screen_widths(browser, server, width, height):
    page = logged_in(browser, server)
    page.set_viewport_size({"width": width, "height": height})
    open_page(page, server)
    for image in page.locator("form.line img.crop").all():
        image.scroll_into_view_if_needed()  # the crops load lazily
    page.wait_for_function("[...document.querySelectorAll('img.crop')].every((i) => i.complete && i.naturalWidth)")
    page.locator("form.line").first.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"rows-{width}x{height}.png"))
    rows = page.evaluate(MEASURE_ROWS)
    assert len(rows) > 5
    for measured in rows:
        assert measured["imageLoaded"], measured
        assert measured["scrollWidth"] <= measured["clientWidth"], measured  # the whole line is in view
        assert measured["inputWidth"] >= 0.9 * measured["imageWidth"], measured
        assert measured["outside"] == [], measured
        # Large enough to compare letter by letter with the image.
        assert measured["fontSize"] >= 1.25 * measured["rootFontSize"], measured


def logged_in_at(browser, base: str, name: str, timezone: str) -> Page:
    """Logged in from a browser in ``timezone`` (the sample edition's times are UTC)."""
    page = browser.new_context(locale="bg-BG", timezone_id=timezone).new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")
    expect(page.locator("h1")).to_have_text("Ръкописи")
    return page


def save_in_browser(page: Page, k: int, text: str) -> None:
    field = row(page, k).locator("input.text")
    field.fill(text)
    field.press("Enter")
    expect(row(page, k).locator("input.text")).to_have_attribute("data-original", text)
    expect(row(page, k)).to_contain_class("saved")


def test_revert_to_the_empty_version_asks_first_and_leaves_the_line_without_status(browser, server, sample_edition):
    line_id = f"{MS}_p1_l1"
    with sample_edition.edit(MS, who="import", pages=["1"]) as manuscript:
        line = manuscript.pages[0].lines[0]
        line.text, line.status, line.resp, line.cert = "", None, None, None
    page = logged_in(browser, server)
    open_page(page, server)
    save_in_browser(page, 1, "първи прочит")
    row(page, 1).locator("button.history-button").click()
    empty = row(page, 1).locator(".history tr", has=page.locator("input[aria-label='A 1']"))
    empty.locator("button.revert").click()
    # Nothing happened yet: a question, with the confirming button focused.
    question = empty.locator(".revert-question")
    expect(question).to_be_visible()
    expect(question).to_contain_text("Да се изпразни ли редът")
    expect(question.locator("button.revert-confirm")).to_be_focused()
    expect(row(page, 1).locator("input.text")).to_have_value("първи прочит")
    # Escape cancels; the keyboard alone asks again and confirms.
    page.keyboard.press("Escape")
    expect(question).to_be_hidden()
    expect(empty.locator("button.revert")).to_be_focused()
    page.keyboard.press("Enter")
    expect(question.locator("button.revert-confirm")).to_be_focused()
    page.keyboard.press("Enter")
    expect(row(page, 1)).to_have_class("line saved untranscribed")
    expect(row(page, 1).locator("input.text")).to_have_value("")
    line = sample_edition.load(MS).pages[0].lines[0]
    assert (line.text, line.status, line.resp) == ("", None, None)
    assert [entry.new for entry in sample_edition.journal.entries(MS, line_id)][-1] == ""


def test_a_conflict_keeps_the_focus_names_the_colleague_and_shows_local_time(browser, server, sample_edition):
    ivan = logged_in_at(browser, server, "ivan", "Europe/Sofia")
    maria = logged_in_at(browser, server, "maria", "America/New_York")
    open_page(ivan, server)
    open_page(maria, server)
    save_in_browser(maria, 2, "версия на Мария")
    entry = list(sample_edition.journal.entries(MS, f"{MS}_p1_l2"))[-1]
    ivan.bring_to_front()
    ivan_field = row(ivan, 2).locator("input.text")
    ivan_field.fill("версия на Иван")
    ivan_field.press("Enter")
    conflict = row(ivan, 2).locator(".message.conflict")
    expect(conflict).to_be_visible()
    # The line is not saved: the focus stays on it, not on the next line.
    expect(row(ivan, 2).locator("input.text")).to_be_focused()
    expect(conflict).to_contain_text("Версията на maria")
    expect(conflict.locator("button.take-theirs")).to_have_text("Вземете тази версия")
    assert not any(word in conflict.inner_text() for word in ("Неговият", "неговия", "Нейният"))
    # The colleague's time in the user's own time zone (Sofia is UTC+2 or +3), not UTC.
    utc = datetime.fromisoformat(entry.time.replace("Z", "+00:00"))
    local = utc.astimezone(ZoneInfo("Europe/Sofia"))
    time = conflict.locator("time")
    expect(time).to_have_attribute("datetime", entry.time)
    expect(time).to_contain_text(local.strftime("%H:%M"))
    assert utc.strftime("%H:%M") not in time.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    row(ivan, 2).screenshot(path=str(ARTIFACTS / "rows-conflict.png"))
    # Seen on another day (the history's times), the date is shown too.
    ivan.clock.set_fixed_time(utc + timedelta(days=3))
    row(ivan, 2).locator("button.history-button").click()
    maria_time = row(ivan, 2).locator(".history tbody tr").first.locator("time")
    expect(maria_time).to_have_attribute("datetime", entry.time)
    expect(maria_time).to_contain_text(str(local.year))
    expect(maria_time).to_contain_text(local.strftime("%H:%M"))


def test_history_panels_compare_their_own_versions_by_words_or_letters(browser, server, sample_edition):
    page = logged_in(browser, server)
    open_page(page, server)
    for text in ("първа поправка", "съвсем друг ред", "съвсем друг редъ"):
        save_in_browser(page, 1, text)
    save_in_browser(page, 2, "единъ")
    save_in_browser(page, 2, "два")
    first, second = row(page, 1), row(page, 2)
    first.locator("button.history-button").click()
    first.locator("input[aria-label='A 1']").check()
    first.locator("input[aria-label='B 2']").check()
    second.locator("button.history-button").click()  # opening another panel keeps this one's choices
    expect(second.locator(".history table")).to_be_visible()
    expect(first.locator("input[aria-label='A 1']")).to_be_checked()
    first.locator("button.show-diff").click()
    diff = first.locator(".diff")
    expect(diff).to_contain_text("Версия 1 → версия 2")
    # A rewritten line: whole words struck and added, not scattered letters.
    expect(diff.locator("del").first).to_have_text("първа")
    expect(diff.locator("ins").first).to_have_text("съвсем")
    ARTIFACTS.mkdir(exist_ok=True)
    first.screenshot(path=str(ARTIFACTS / "rows-history.png"))
    diff.locator("button.diff-by").click()  # letter by letter, on request
    expect(diff.locator("code.diff-text.char")).to_be_visible()
    assert diff.locator("del").count() > 2
    diff.locator("button.diff-by").click()
    expect(diff.locator("code.diff-text.word")).to_be_visible()
    # Lines much alike compare letter by letter at once.
    first.locator("input[aria-label='A 2']").check()
    first.locator("input[aria-label='B 3']").check()
    first.locator("button.show-diff").click()
    expect(diff.locator("code.diff-text.char ins")).to_have_text("ъ")
    # The source is shown only when it is not who saved it.
    saved_row = first.locator(".history tbody tr").first
    assert saved_row.locator("td").nth(3).inner_text() == "ivan"
    assert saved_row.locator("td").nth(5).inner_text() == ""
