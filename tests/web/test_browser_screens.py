"""The screens of issue #18 that have no browser test of their own, in chromium under the
CSP: counts in agreeing Bulgarian plurals, every metadata mistake shown at once; and the
two screenshots the README shows (the correction screen, the reading room), written to
test-artifacts/ (copy them to docs/ when the screens change)."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.web.client import MS
from tests.web.test_browser import ARTIFACTS, browser, chromium, logged_in, open_page, server  # noqa: F401
from tests.web.test_browser_reader import published, viewer_ready  # noqa: F401


def test_counts_are_bulgarian_plurals_that_agree(browser, server):  # noqa: F811
    page = logged_in(browser, server)
    counts = page.locator(f"li:has(a[href='/m/{MS}/']) .counts")
    expect(counts).to_contain_text("реда")  # "N … реда", never "автоматичен: N"
    text = counts.inner_text()
    assert ":" not in text, text
    page.goto(f"{server}/m/{MS}/")
    first_page = page.locator("ol.pages li").first
    expect(first_page.locator(".counts")).to_contain_text("реда")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "manuscript-counts.png"), full_page=True)


def test_the_metadata_form_shows_every_mistake_at_once(browser, server, sample_edition):  # noqa: F811
    before = sample_edition.tei_path(MS).read_bytes()
    page = logged_in(browser, server)
    page.goto(f"{server}/m/{MS}/metadata")
    page.fill("#field-years", "някога")
    page.fill("#field-language", "български език")
    page.fill("#field-dimensions", "голям")
    page.locator("form button[type=submit]").last.click()
    for field in ("years", "language", "dimensions"):
        expect(page.locator(f"#error-{field}")).to_be_visible()
    expect(page.locator("#field-years")).to_have_attribute("aria-invalid", "true")
    page.screenshot(path=str(ARTIFACTS / "metadata-errors.png"), full_page=True)
    assert sample_edition.tei_path(MS).read_bytes() == before


def test_screenshots_of_the_correction_screen_and_the_reading_room(browser, server, published):  # noqa: F811
    page = browser.new_context(locale="bg-BG", viewport={"width": 1366, "height": 768}).new_page()
    page.goto(f"{server}/login")
    page.fill("input[name=name]", "ivan")
    page.fill("input[name=password]", "correct horse battery")
    page.press("input[name=password]", "Enter")
    open_page(page, server)
    page.locator(f"#line-{MS}_p1_l2 input.text").focus()
    page.screenshot(path=str(ARTIFACTS / "correction-screen.png"))
    reader = browser.new_context(locale="bg-BG", viewport={"width": 1366, "height": 768}).new_page()
    reader.goto(f"{server}/read/{MS}/1/")
    viewer_ready(reader)
    reader.locator("p.text-line").nth(1).click()
    reader.screenshot(path=str(ARTIFACTS / "reading-room.png"))
    assert (ARTIFACTS / "correction-screen.png").stat().st_size > 10_000
    assert (ARTIFACTS / "reading-room.png").stat().st_size > 10_000


def test_without_a_model_the_page_explains_and_a_split_by_keyboard_keeps_words_whole(browser, server):  # noqa: F811
    page = logged_in(browser, server)
    page.goto(f"{server}/m/{MS}/")
    note = page.locator("p.no-model")
    expect(note).to_contain_text("Още няма модел за разпознаване")
    expect(note.get_by_role("link")).to_have_attribute("href", "/models/")
    expect(page.locator("form.recognize select")).to_have_count(0)  # no empty list to puzzle over
    open_page(page, server)
    field = page.locator(f"#line-{MS}_p1_l4 input.text")  # "юнакъ въ младость и въ сила мѫжка."
    field.focus()
    field.press("End")
    for _ in range(len("жка.")):  # the caret inside "мѫжка"
        field.press("ArrowLeft")
    page.keyboard.press("Alt+s")
    page.keyboard.press("Enter")
    expect(page.locator("form.line")).to_have_count(21)
    expect(page.locator(f"#line-{MS}_p1_l21 input.text")).to_have_value("мѫжка.")  # cut at the word's start
    expect(page.locator(f"#line-{MS}_p1_l4 input.text")).to_have_value("юнакъ въ младость и въ сила")
