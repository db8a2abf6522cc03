"""The page editor in a real browser: Debian's chromium driven by Playwright, against a real HTTP server."""

from __future__ import annotations

import re
import threading
import time

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from werkzeug.serving import make_server

from tests.builders import REPO, consuming
from tests.web.client import MS, PASSWORD
from workbench.model import Region
from workbench.search import indexing
from workbench.search.index import Query
from workbench.tei.text import diplomatic_text
from workbench.web import create_app

ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="module")
def chromium():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        yield browser
        browser.close()


# Every page records what the Content-Security-Policy blocked, before any of its own scripts run.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective}: ${event.blockedURI || "inline"} (${event.sourceFile}:${event.lineNumber})`);
});
"""


class CspWatchedBrowser:
    """The browser as the tests use it, where every context's pages report CSP violations:
    the page's own ``securitypolicyviolation`` events and Chromium's console messages
    (which also cover pages navigated away from)."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.contexts: list[BrowserContext] = []
        self.console: list[str] = []

    def new_context(self, **options) -> BrowserContext:
        context = self.browser.new_context(**options)
        context.add_init_script(RECORD_CSP_VIOLATIONS)
        context.on("console", self._console)
        self.contexts.append(context)
        return context

    def _console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.console.append(message.text)

    def violations(self) -> list[str]:
        found = list(self.console)
        for context in self.contexts:
            for page in context.pages:
                try:
                    found += page.evaluate("window.__cspViolations || []")
                except PlaywrightError:
                    continue  # a page closed or navigating: its console messages were kept
        return found

    def forget_violations(self) -> None:
        self.console.clear()
        for context in self.contexts:
            for page in context.pages:
                page.evaluate("window.__cspViolations = []")

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def browser(chromium):
    """Each test's browser; the test fails if anything on any of its pages broke the CSP."""
    watched = CspWatchedBrowser(chromium)
    yield watched
    violations = watched.violations()
    watched.close()
    assert violations == [], f"Content-Security-Policy violations: {violations}"


@pytest.fixture
def server(sample_edition, accounts):
    """The app on a real HTTP server on loopback; yields its base URL."""
    accounts.add("maria", "editor", PASSWORD)
    app = create_app(sample_edition.root, {"LOGIN_RATE_LIMIT": "1000 per minute"})
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    # localhost, not 127.0.0.1: browsers keep Secure cookies on http://localhost only.
    with consuming(sample_edition.root):  # the queue's worker, as serve starts it
        yield f"http://localhost:{http.server_port}"
    http.shutdown()
    app.extensions["indexer"].stop()


def logged_in(browser: CspWatchedBrowser, base: str, name: str = "ivan") -> Page:
    page = browser.new_context(locale="bg-BG").new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")
    expect(page.locator("h1")).to_have_text("Ръкописи")
    return page


def open_page(page: Page, base: str, n: int = 1) -> None:
    page.goto(f"{base}/m/{MS}/p/{n}/")
    expect(page.locator("form.line").first).to_be_visible()


def row(page: Page, k: int):
    return page.locator(f"#line-{MS}_p1_l{k}")


def test_correct_three_lines_with_the_keyboard_alone(browser, server, sample_edition):
    page = logged_in(browser, server)
    open_page(page, server)
    page.locator(f"#line-{MS}_p1_l1 input.text").focus()
    expect(page.locator(f"#zone-{MS}_p1_l1")).to_have_class("zone verified current")
    new_texts = [
        "Живъ е той, живъ е! Тамъ на Балкана!",
        "потъненъ въ кърви [[лежи]] и пъшка",
        "юнакъ съ {+дълбока|above} рана",
    ]
    for text in new_texts:
        page.keyboard.press("Control+a")
        page.keyboard.type(text)
        page.keyboard.press("Enter")
    for k in (1, 2, 3):
        expect(row(page, k)).to_have_class("line saved corrected")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "editor.png"), full_page=False)

    page.reload()
    for k, text in enumerate(new_texts, start=1):
        expect(row(page, k).locator("input.text")).to_have_value(text)
    lines = sample_edition.load(MS).pages[0].lines
    assert [line.text for line in lines[:3]] == [
        "Живъ е той, живъ е! Тамъ на Балкана!",
        "потъненъ въ кърви <del>лежи</del> и пъшка",
        'юнакъ съ <add place="above">дълбока</add> рана',
    ]
    assert sample_edition.problems(MS, tei_all=True) == []


def test_escape_reverts_and_arrows_move(browser, server, sample_edition):
    page = logged_in(browser, server)
    open_page(page, server)
    field = row(page, 2).locator("input.text")
    field.focus()
    original = field.input_value()
    page.keyboard.type(" грѣшка")
    page.keyboard.press("Escape")
    expect(field).to_have_value(original)
    page.keyboard.press("ArrowUp")
    expect(row(page, 1).locator("input.text")).to_be_focused()
    page.keyboard.press("Shift+Enter")  # at the first line: stays there
    page.keyboard.press("ArrowDown")
    expect(field).to_be_focused()


def test_verify_shortcut_and_jump_to_next_unverified(browser, server, sample_edition):
    with sample_edition.edit(MS, who="test", pages=["1"]) as manuscript:
        for line in manuscript.pages[0].lines[3:6]:
            line.status = "corrected"
    page = logged_in(browser, server)
    open_page(page, server)
    row(page, 1).locator("input.text").focus()
    page.keyboard.press("Alt+n")
    expect(row(page, 4).locator("input.text")).to_be_focused()
    page.keyboard.press("Control+Enter")
    expect(row(page, 4)).to_have_class("line saved verified")
    expect(row(page, 5).locator("input.text")).to_be_focused()
    assert sample_edition.load(MS).pages[0].lines[3].status == "verified"


def test_two_editors_on_one_line_get_a_conflict_not_a_lost_save(browser, server, sample_edition):
    ivan, maria = logged_in(browser, server, "ivan"), logged_in(browser, server, "maria")
    open_page(ivan, server)
    open_page(maria, server)
    ivan_field, maria_field = (p.locator(f"#line-{MS}_p1_l2 input.text") for p in (ivan, maria))
    ivan_field.fill("версия на Иван")
    ivan_field.press("Enter")
    expect(row(ivan, 2)).to_have_class("line saved corrected")
    maria_field.fill("версия на Мария")
    maria_field.press("Enter")
    conflict = row(maria, 2).locator(".message.conflict")
    expect(conflict).to_be_visible()
    expect(conflict.locator("code.theirs")).to_have_text("версия на Иван")
    expect(conflict.locator("code.yours")).to_have_text("версия на Мария")
    assert sample_edition.load(MS).pages[0].lines[1].text == "версия на Иван"
    # Maria merges both and saves knowingly over Ivan's version.
    maria_field = row(maria, 2).locator("input.text")
    maria_field.fill("версия на Иван и Мария")
    maria_field.press("Enter")
    expect(row(maria, 2)).to_have_class("line saved corrected")
    assert sample_edition.load(MS).pages[0].lines[1].text == "версия на Иван и Мария"
    # Taking theirs instead is one click.
    ivan_field = row(ivan, 2).locator("input.text")
    ivan_field.fill("Иван пак")
    ivan_field.press("Enter")
    row(ivan, 2).locator("button.take-theirs").click()
    expect(row(ivan, 2).locator("input.text")).to_have_value("версия на Иван и Мария")


def test_palette_inserts_at_the_cursor(browser, server):
    page = logged_in(browser, server)
    open_page(page, server)
    field = row(page, 1).locator("input.text")
    field.fill("бл")
    field.press("ArrowLeft")
    page.locator("button.char[data-char='ѣ']").click()
    expect(field).to_have_value("бѣл")
    field.press("End")
    field.press("Alt+2")  # the palette's second character
    expect(field).to_have_value("бѣлѫ")


def test_malformed_shorthand_is_shown_in_place_and_the_text_kept(browser, server, sample_edition):
    before = sample_edition.tei_path(MS).read_bytes()
    page = logged_in(browser, server)
    open_page(page, server)
    field = row(page, 3).locator("input.text")
    field.fill("юнакъ [[съ дълбока")
    expect(row(page, 3).locator(".preview .error mark")).to_be_visible()  # live preview points at it
    field.press("Enter")
    expect(row(page, 3)).to_have_class("line error verified")
    expect(row(page, 3).locator(".message.error mark")).to_be_visible()
    expect(row(page, 3).locator("input.text")).to_have_value("юнакъ [[съ дълбока")
    assert sample_edition.tei_path(MS).read_bytes() == before


def test_history_and_revert(browser, server, sample_edition):
    original = sample_edition.load(MS).pages[0].lines[0].text
    page = logged_in(browser, server)
    open_page(page, server)
    for text in ("първа поправка", "втора поправка"):
        field = row(page, 1).locator("input.text")
        field.fill(text)
        field.press("Enter")
        expect(row(page, 1)).to_have_class("line saved corrected")
    row(page, 1).locator("button.history-button").click()
    history = row(page, 1).locator(".history table")
    expect(history).to_contain_text("втора поправка")
    expect(history).to_contain_text("ivan")
    row(page, 1).locator("button.show-diff").click()
    expect(row(page, 1).locator(".diff ins")).to_be_visible()
    history.locator("tr", has_text=original.split()[0]).locator("button.revert").click()
    history.locator("tr", has_text=original.split()[0]).locator("button.revert-confirm").click()  # asked first
    expect(row(page, 1).locator("input.text")).to_have_value(original)
    assert sample_edition.load(MS).pages[0].lines[0].text == original
    assert len(list(sample_edition.journal.entries(MS, f"{MS}_p1_l1"))) == 3


def test_clicking_a_line_on_the_facsimile_focuses_its_input(browser, server):
    page = logged_in(browser, server)
    open_page(page, server)
    page.locator(f"#zone-{MS}_p1_l5").dispatch_event("click")
    expect(row(page, 5).locator("input.text")).to_be_focused()
    expect(page.locator(f"#zone-{MS}_p1_l5")).to_have_class("zone verified current")


def test_english_interface(browser, server):
    page = logged_in(browser, server)
    page.goto(f"{server}/?lang=en")
    expect(page.locator("h1")).to_have_text("Manuscripts")
    open_page(page, server)
    expect(page.locator("details.help summary")).to_have_text("Keyboard")


def test_zoom_and_pan_the_facsimile(browser, server):
    page = logged_in(browser, server)
    open_page(page, server)
    svg = page.locator("#facsimile")
    before = svg.evaluate("element => getComputedStyle(element).transform")
    page.locator("[data-zoom=in]").click()
    page.wait_for_function(
        "before => getComputedStyle(document.getElementById('facsimile')).transform !== before", arg=before
    )
    assert svg.evaluate("element => getComputedStyle(element).transform") != before


@pytest.mark.slow
def test_segment_a_page_from_the_editor_with_a_progress_bar(browser, server, sample_edition, page_png):
    sample_edition.add_pages(MS, [page_png], who="tester")  # page 3, without lines
    page = logged_in(browser, server)
    open_page_without_lines = f"{server}/m/{MS}/p/3/"
    page.goto(open_page_without_lines)
    expect(page.locator("form.line")).to_have_count(0)
    page.get_by_role("button", name="Сегментирай страницата").click()
    job = page.locator("#jobs .job")
    expect(job.locator("progress")).to_be_visible()
    # When the job is done, the page shows the new lines by itself.
    expect(page.locator("form.line")).to_have_count(8, timeout=240_000)
    assert len(sample_edition.load(MS).pages[2].lines) == 8
    assert sample_edition.problems(MS) == []


def test_reader_finds_old_spelling_by_modern_words_and_lands_on_the_line(browser, server, sample_edition):
    sample_edition.set_published(MS, True, "tester")
    # The server's background indexer picks the change up by itself; wait until it has.
    index = indexing.open_index(sample_edition)
    for _ in range(300):
        if index.search(Query("ръкави")).hits:
            break
        time.sleep(0.1)
    page = browser.new_context(locale="bg-BG").new_page()
    page.goto(f"{server}/read/")
    page.fill("input[name=q]", "бели ръкави")
    page.press("input[name=q]", "Enter")
    hit = page.locator("li.hit").first
    expect(hit.locator("mark")).to_have_text(["бѣли", "рѫкави"])
    expect(page.locator("#results")).to_have_count(1)  # the fragment replaced the container
    expect(hit.locator("img.crop")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/read/search\?q="))  # the results have an address of their own
    hit.locator("a.where").click()
    expect(page).to_have_url(re.compile(rf"/read/{MS}/2/2\?q=.*&hit=1$"))
    expect(page.locator(f"#zone-{MS}_p2_l2")).to_have_class(re.compile(r"\bcurrent\b"))
    expect(page.locator(f"#line-{MS}_p2_l2")).to_have_class(re.compile(r"\bcurrent\b"))
    expect(page.locator(f"#line-{MS}_p2_l2")).to_be_in_viewport()
    # Lit for the eye too, not only by class: the zone's fill is not transparent.
    fill = page.locator(f"#zone-{MS}_p2_l2").evaluate("zone => getComputedStyle(zone).fill")
    assert fill not in ("transparent", "rgba(0, 0, 0, 0)", "none"), fill
    # Hovering a line of text lights its zone; clicking a zone lights its text.
    page.locator(f"#line-{MS}_p2_l5").hover()
    expect(page.locator(f"#zone-{MS}_p2_l5")).to_have_class(re.compile(r"\bhover\b"))
    page.locator(f"#zone-{MS}_p2_l7").click(force=True)
    expect(page.locator(f"#line-{MS}_p2_l7")).to_have_class(re.compile(r"\bcurrent\b"))
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "reader.png"))
    page.get_by_role("link", name="Текст за четене").click()
    expect(page).to_have_url(re.compile(rf"/read/{MS}/2/2\?text=reading$"))
    expect(page.locator(f"#line-{MS}_p2_l2")).to_have_class(re.compile(r"\bcurrent\b"))


def test_metadata_import_and_export_in_the_browser(browser, server, sample_edition, tmp_path):
    import zipfile

    page = logged_in(browser, server)
    page.goto(f"{server}/m/{MS}/")
    page.get_by_role("link", name="Метаданни").click()
    page.fill("#field-dimensions", "голям")
    page.fill("#field-hands", "Трифонов, черно мастило\nмолив")
    page.get_by_role("button", name="Запази").click()
    expect(page.locator("#error-dimensions")).to_contain_text("милиметри")
    expect(page.locator("#field-hands")).to_have_value("Трифонов, черно мастило\nмолив")  # nothing typed is lost
    page.fill("#field-dimensions", "210 × 170")
    page.get_by_role("button", name="Запази").click()
    expect(page.locator("body")).to_contain_text("Метаданните са запазени.")
    manuscript = sample_edition.load(MS)
    assert (manuscript.dimensions, manuscript.hands) == ((210, 170), ["Трифонов, черно мастило", "молив"])
    assert sample_edition.problems(MS, tei_all=True) == []

    with page.expect_download() as download:
        page.get_by_role("link", name="TEI", exact=True).click()
    saved = tmp_path / "export.xml"
    download.value.save_as(saved)
    assert b"<handNote" in saved.read_bytes()

    page.goto(f"{server}/")
    page.get_by_role("link", name="Внасяне на ръкопис (PAGE, ALTO или TEI)").click()
    folder = REPO / "tests/data/ground-truth/page2019-escriptorium"
    archive = tmp_path / "forais.zip"
    with zipfile.ZipFile(archive, "w") as packed:
        for path in folder.iterdir():
            packed.write(path, path.name)
    page.set_input_files("input[name=file]", str(archive))
    page.locator("form:has(input[name=file])").get_by_role("button", name="Внасяне").click()
    expect(page.locator("body")).to_contain_text("Внесени са 2 страници като forais.")
    page.get_by_role("link", name="Отвори").click()
    page.get_by_role("link", name="Страница 1").click()
    expect(page.locator("input[name=text], textarea[name=text]").first).to_have_value(re.compile("qm ouu aldeia"))


@pytest.mark.slow
def test_train_a_model_and_recognise_with_it_from_the_browser(browser, server, sample_edition):
    """The sample's verified lines are few: two epochs make a poor model, but a real one."""
    from workbench.htr.training import ModelStore

    page = logged_in(browser, server)
    page.goto(f"{server}/m/{MS}/")
    page.get_by_role("link", name="Модели").first.click()  # the no-model note links there too
    expect(page.locator("h1")).to_have_text("Модели за разпознаване")
    page.fill("input[name=name]", "sample-1")
    page.fill("input[name=epochs]", "2")
    page.get_by_role("button", name="Обучи").click()
    job = page.locator("#jobs .job")
    expect(job.locator("progress")).to_have_attribute("max", "2")
    expect(job).to_have_attribute("data-state", "done", timeout=240_000)
    expect(job).to_contain_text("Моделът sample-1 е обучен на")
    page.get_by_role("link", name="Виж модела").click()
    expect(page.locator("#model-sample-1")).to_contain_text("sample-1")
    record = ModelStore.of(sample_edition).get("sample-1")
    assert record.epochs == 2 and record.training_lines > 0

    # Its error rates are on the page; now it recognises the sample (a job, from the manuscript's page).
    with sample_edition.edit(MS, who="tester") as manuscript:
        for line in manuscript.pages[1].lines:
            line.text, line.status, line.resp, line.cert = "", None, None, None
    page.goto(f"{server}/m/{MS}/")
    page.select_option("form.recognize select[name=model]", "sample-1")
    page.locator("form.recognize button").click()
    job = page.locator("#jobs .job")
    expect(job).to_have_attribute("data-state", "done", timeout=180_000)
    manuscript = sample_edition.load(MS)
    sources = {source.id: source for source in manuscript.sources}
    # Two epochs read little or nothing yet; what they read is the model's, and the run is recorded.
    assert "recognised with sample-1" in manuscript.changes[-1].text
    recognised = [line for line in manuscript.pages[1].lines if line.text]
    assert all(line.status == "automatic" and sources[line.resp].name == "sample-1" for line in recognised)
    assert all(line.status == "verified" for line in manuscript.pages[0].lines)  # a person's lines untouched
    page.goto(f"{server}/m/{MS}/uncertain")
    expect(page.locator("h1")).to_have_text("Най-несигурните редове")


# -- correcting the segmentation by hand ------------------------------------------------
# Each edit through the page editor: the TEI on disk stays valid and no character is lost.


def page_lines(edition):
    return edition.load(MS).pages[0].lines


def characters(lines) -> list[str]:
    """Every character written on the page, whatever line it is on (spaces aside)."""
    return sorted("".join("".join(diplomatic_text(line.text).split()) for line in lines))


def assert_valid_and_complete(edition, before: list[str]) -> None:
    assert edition.problems(MS) == []
    assert characters(page_lines(edition)) == before


def client_point(page: Page, x: float, y: float) -> tuple[float, float]:
    """Where the page pixel (x, y) of the facsimile is on the screen, at its zoom and pan."""
    return tuple(
        page.evaluate(
            """([x, y]) => {
                const svg = document.getElementById("facsimile");
                const point = new DOMPoint(x, y).matrixTransform(svg.getScreenCTM());
                return [point.x, point.y];
            }""",
            [x, y],
        )
    )


def test_add_a_line_by_clicking_its_baseline_points(browser, server, sample_edition):
    before = characters(page_lines(sample_edition))
    page = logged_in(browser, server)
    open_page(page, server)
    page.get_by_role("button", name="Добави ред").click()
    expect(page.locator("#layout-hint")).not_to_be_empty()
    clicks = [(200, 1690), (600, 1696), (1000, 1692)]
    for x, y in clicks:
        page.mouse.click(*client_point(page, x, y))
    page.keyboard.press("Enter")
    expect(page.locator("form.line")).to_have_count(21)
    new = page.locator(f"#line-{MS}_p1_l21")
    expect(new.locator("input.text")).to_be_focused()  # ready to type its text
    expect(page.locator(f"#zone-{MS}_p1_l21")).to_be_attached()
    page.keyboard.type("нов редъ")
    page.keyboard.press("Enter")
    expect(new).to_have_class(re.compile("saved"))
    line = page_lines(sample_edition)[-1]
    assert line.id == f"{MS}_p1_l21" and line.text == "нов редъ"
    assert all(abs(x - cx) <= 2 and abs(y - cy) <= 2 for (x, y), (cx, cy) in zip(line.baseline, clicks, strict=True))
    assert len(line.boundary) >= 3
    assert_valid_and_complete(sample_edition, sorted(before + list("новредъ")))


def test_merge_two_lines_keeps_text_typed_elsewhere_and_undo_splits_them_again(browser, server, sample_edition):
    lines = page_lines(sample_edition)
    before = characters(lines)
    page = logged_in(browser, server)
    open_page(page, server)
    row(page, 10).locator("input.text").fill("не е записано още")  # typed, not saved
    row(page, 2).locator("input.text").focus()
    page.keyboard.press("Alt+m")
    expect(page.locator("form.line")).to_have_count(19)
    expect(row(page, 2).locator("input.text")).to_have_value(f"{lines[1].text} {lines[2].text}")
    expect(row(page, 10).locator("input.text")).to_have_value("не е записано още")  # still there, unsaved
    saved = page_lines(sample_edition)
    assert saved[1].text == f"{lines[1].text} {lines[2].text}" and f"{MS}_p1_l3" not in [line.id for line in saved]
    assert_valid_and_complete(sample_edition, before)
    page.get_by_role("button", name="Отмени").click()
    expect(page.locator("form.line")).to_have_count(20)
    expect(row(page, 3).locator("input.text")).to_have_value(lines[2].text)
    assert [(line.id, line.text) for line in page_lines(sample_edition)] == [(line.id, line.text) for line in lines]
    assert_valid_and_complete(sample_edition, before)


def test_split_a_line_at_a_clicked_point_and_the_cursor(browser, server, sample_edition):
    lines = page_lines(sample_edition)
    before = characters(lines)
    third = lines[2]  # "юнакъ съ дълбока на гърди рана,"
    page = logged_in(browser, server)
    open_page(page, server)
    page.locator("[data-zoom=in]").click()  # the point is found whatever the zoom
    field = row(page, 3).locator("input.text")
    field.focus()
    field.press("Home")
    for _ in range(len("юнакъ съ дълбока ")):
        field.press("ArrowRight")
    row(page, 3).get_by_role("button", name="Раздели реда при курсора (Alt+S)").click()
    (x0, y0), (x1, y1) = third.baseline
    cut = round(x0 + (x1 - x0) * 0.55)
    page.mouse.click(*client_point(page, cut, y0 - 15))
    expect(page.locator("form.line")).to_have_count(21)
    expect(row(page, 3).locator("input.text")).to_have_value("юнакъ съ дълбока")
    expect(page.locator(f"#line-{MS}_p1_l21 input.text")).to_have_value("на гърди рана,")
    left, right = page_lines(sample_edition)[2:4]
    assert (left.id, right.id) == (third.id, f"{MS}_p1_l21")
    assert abs(left.baseline[-1][0] - cut) <= 3 and abs(right.baseline[0][0] - cut) <= 3
    assert_valid_and_complete(sample_edition, before)


def test_split_with_the_keyboard_alone_cuts_in_proportion(browser, server, sample_edition):
    before = characters(page_lines(sample_edition))
    page = logged_in(browser, server)
    open_page(page, server)
    field = row(page, 4).locator("input.text")
    field.focus()
    field.press("End")
    for _ in range(len("въ сила мѫжка.")):
        field.press("ArrowLeft")
    page.keyboard.press("Alt+s")
    page.keyboard.press("Enter")
    expect(page.locator("form.line")).to_have_count(21)
    expect(page.locator(f"#line-{MS}_p1_l21 input.text")).to_have_value("въ сила мѫжка.")
    assert_valid_and_complete(sample_edition, before)


def test_delete_a_line_and_undo_brings_it_back_with_its_text(browser, server, sample_edition):
    lines = page_lines(sample_edition)
    before = characters(lines)
    page = logged_in(browser, server)
    open_page(page, server)
    row(page, 5).locator("input.text").focus()
    page.keyboard.press("Alt+Delete")
    expect(page.locator("form.line")).to_have_count(19)
    expect(page.locator(f"#zone-{MS}_p1_l5")).to_have_count(0)
    assert sample_edition.problems(MS) == []
    removed = [entry for entry in sample_edition.journal.entries(MS, f"{MS}_p1_l5") if entry.event == "removed"]
    assert removed[-1].old == lines[4].text  # the text is in the line's history
    page.keyboard.press("Alt+z")
    expect(page.locator("form.line")).to_have_count(20)
    expect(row(page, 5).locator("input.text")).to_have_value(lines[4].text)
    expect(page.locator(f"#zone-{MS}_p1_l5")).to_be_attached()
    assert_valid_and_complete(sample_edition, before)


def test_reorder_by_keyboard_and_by_drag_then_undo_both(browser, server, sample_edition):
    ids = [line.id for line in page_lines(sample_edition)]
    before = characters(page_lines(sample_edition))
    page = logged_in(browser, server)
    open_page(page, server)
    row(page, 1).locator("input.text").focus()
    page.keyboard.press("Alt+ArrowDown")
    expect(page.locator("form.line").nth(1)).to_have_id(f"line-{ids[0]}")
    expect(row(page, 1).locator("input.text")).to_be_focused()  # the moved line keeps the focus
    assert [line.id for line in page_lines(sample_edition)][:2] == [ids[1], ids[0]]
    # Drag line 4 by its handle onto the upper half of the first row. (Playwright's
    # drag_to scrolls between press and release, which ends a drag in chromium: the
    # mouse, step by step, as a person drags.)
    handle, target = row(page, 4).locator(".handle").bounding_box(), page.locator("form.line").first.bounding_box()
    page.mouse.move(handle["x"] + 5, handle["y"] + 5)
    page.mouse.down()
    page.mouse.move(target["x"] + 40, target["y"] + 10, steps=8)
    page.mouse.up()
    expect(page.locator("form.line").first).to_have_id(f"line-{ids[3]}")
    assert [line.id for line in page_lines(sample_edition)][:3] == [ids[3], ids[1], ids[0]]
    assert_valid_and_complete(sample_edition, before)
    page.get_by_role("button", name="Отмени").click()
    expect(page.locator("form.line").first).to_have_id(f"line-{ids[1]}")
    page.get_by_role("button", name="Отмени").click()
    expect(page.locator("form.line").first).to_have_id(f"line-{ids[0]}")
    assert [line.id for line in page_lines(sample_edition)] == ids
    assert_valid_and_complete(sample_edition, before)


def test_move_a_line_to_another_region(browser, server, sample_edition):
    with sample_edition.edit(MS, who="test", pages=["1"]) as manuscript:
        margin = [(1100, 100), (1230, 100), (1230, 1700), (1100, 1700)]
        manuscript.pages[0].regions.append(Region(f"{MS}_p1_r2", margin, "marginalia"))
    before = characters(page_lines(sample_edition))
    page = logged_in(browser, server)
    open_page(page, server)
    row(page, 7).locator("select.region-select").select_option(f"{MS}_p1_r2")
    expect(page.locator(".message.layout")).to_be_visible()
    expect(row(page, 7).locator("select.region-select")).to_have_value(f"{MS}_p1_r2")
    line = next(line for line in page_lines(sample_edition) if line.id == f"{MS}_p1_l7")
    assert line.region == f"{MS}_p1_r2"
    assert_valid_and_complete(sample_edition, before)
    assert sample_edition.problems(MS, tei_all=True) == []


def test_an_undo_that_would_lose_later_work_is_refused_with_a_message(browser, server, sample_edition):
    page = logged_in(browser, server)
    open_page(page, server)
    row(page, 8).locator("input.text").focus()
    page.keyboard.press("Alt+m")
    expect(page.locator("form.line")).to_have_count(19)
    field = row(page, 8).locator("input.text")
    field.fill("поправенъ следъ сливането")
    field.press("Enter")
    expect(row(page, 8)).to_have_class(re.compile("saved"))
    page.keyboard.press("Alt+z")
    expect(page.locator(".message.error.layout")).to_be_visible()
    expect(page.locator("form.line")).to_have_count(19)
    assert page_lines(sample_edition)[7].text == "поправенъ следъ сливането"


@pytest.mark.slow
def test_resegment_a_page_adding_only_the_missing_lines(browser, server, sample_edition):
    lines = page_lines(sample_edition)
    page = logged_in(browser, server)
    open_page(page, server)
    # A line kraken should find again is deleted, and another one is merged into its neighbour.
    row(page, 20).locator("input.text").focus()
    page.keyboard.press("Alt+Delete")
    expect(page.locator("form.line")).to_have_count(19)
    row(page, 1).locator("input.text").focus()
    page.keyboard.press("Alt+m")
    expect(page.locator("form.line")).to_have_count(18)
    kept = {line.id: line for line in page_lines(sample_edition)}
    page.locator("select[name=mode]").select_option("add")
    page.get_by_role("button", name="Сегментирай страницата").click()
    # When the job is done the page shows the lines by itself: the 18 as they were, and
    # the deleted line found again (empty); the merged line is not split up again.
    expect(page.locator("form.line")).to_have_count(19, timeout=240_000)
    after = page_lines(sample_edition)
    assert all(kept[line.id] == line for line in after if line.id in kept)
    (new,) = [line for line in after if line.id not in kept]
    assert abs(new.baseline[0][1] - lines[19].baseline[0][1]) < 20 and new.text == ""
    assert sample_edition.problems(MS) == []


# -- the Content-Security-Policy and failed requests --------------------------------------


def test_the_csp_watch_sees_an_inline_script_and_style_blocked(browser, server):
    """The watch every test runs under (the ``browser`` fixture) does report a violation."""
    page = browser.new_context(locale="bg-BG").new_page()
    page.goto(f"{server}/read/")
    page.evaluate(
        """() => {
        const script = document.createElement("script");
        script.textContent = "window.__inlineRan = true";
        document.head.append(script);
        document.body.setAttribute("style", "background: red");
    }"""
    )
    page.wait_for_function("window.__cspViolations.length >= 2")
    assert page.evaluate("window.__inlineRan") is None  # blocked, not only reported
    violations = browser.violations()
    assert any(violation.startswith("script-src") for violation in violations), violations
    assert any(violation.startswith("style-src") for violation in violations), violations
    for _ in range(50):  # Chromium's console reports them a moment later
        if len(browser.console) >= 2:
            break
        page.wait_for_timeout(100)
    assert any("inline script" in message for message in browser.console), browser.console
    browser.forget_violations()  # seen: the fixture's check must not fail this test


def test_a_save_after_logging_out_elsewhere_keeps_the_text_and_the_focus(browser, server, sample_edition):
    page = logged_in(browser, server)
    open_page(page, server)
    field = row(page, 2).locator("input.text")
    field.fill("потъненъ въ кърви лежи")
    other = page.context.new_page()  # another tab of the same browser: logs out
    other.goto(f"{server}/")
    expect(other.locator("h1")).to_have_text("Ръкописи")
    other.locator("header.top button[type=submit]").click()
    expect(other).to_have_url(re.compile("/login"))

    page.bring_to_front()
    field.press("Enter")
    failure = row(page, 2).locator(".message.failure")
    expect(failure).to_contain_text("Не сте влезли или сесията ви е изтекла")
    expect(failure.locator("a[target=_blank]")).to_have_attribute("href", "/login")
    expect(field).to_have_value("потъненъ въ кърви лежи")
    expect(field).to_be_focused()
    expect(page.locator("form.line")).to_have_count(len(page_lines(sample_edition)))  # nothing swapped in
    assert sample_edition.load(MS).pages[0].lines[1].text != "потъненъ въ кърви лежи"

    # Logged in again in the other tab, Enter saves what was typed (with the new session's token).
    other.fill("input[name=name]", "ivan")
    other.fill("input[name=password]", PASSWORD)
    other.press("input[name=password]", "Enter")
    expect(other.locator("h1")).to_have_text("Ръкописи")
    page.bring_to_front()
    field.press("Enter")
    expect(row(page, 2)).to_have_class("line saved corrected")
    assert sample_edition.load(MS).pages[0].lines[1].text == "потъненъ въ кърви лежи"


def test_review_a_transcriber_finishes_a_line_a_reviewer_finds_it_with_alt_n_and_sends_it_back(
    browser, server, sample_edition, accounts
):
    accounts.add("tanya", "transcriber", PASSWORD)
    accounts.add("rosen", "reviewer", PASSWORD)
    tanya = logged_in(browser, server, "tanya")
    open_page(tanya, server, 2)
    line = tanya.locator(f"#line-{MS}_p2_l3")
    line.locator("input.text").focus()
    tanya.keyboard.press("Control+a")
    tanya.keyboard.type("и гледа ядно то небето, то земята")
    tanya.keyboard.press("Control+Enter")
    expect(line.locator(".review-badge")).to_have_text("чака преглед")
    expect(line).to_have_class(re.compile(r"\bready\b"))
    # A comment on the line, typed and sent with Enter (which must not submit the line).
    line.locator("button.comments-button").click()
    line.locator("textarea[name=comment-new]").fill("„ядно“ или „жадно“?")
    line.locator("textarea[name=comment-new]").press("Control+Enter")
    expect(line.locator(".thread .comment")).to_contain_text("tanya")
    expect(line.locator(".thread .comment")).to_contain_text("„ядно“ или „жадно“?")
    lb = sample_edition.load(MS).page("2").lines[2]
    assert (lb.status, diplomatic_text(lb.text)) == ("corrected", "и гледа ядно то небето, то земята")

    rosen = logged_in(browser, server, "rosen")
    open_page(rosen, server, 1)
    rosen.locator(f"#line-{MS}_p1_l1 input.text").focus()
    rosen.keyboard.press("Alt+n")  # nothing awaits on page 1: the queue opens page 2 at the line
    rosen.wait_for_url(re.compile(rf"/m/{MS}/p/2/\?line={MS}_p2_l3$"))
    expect(rosen.locator(f"#line-{MS}_p2_l3 input.text")).to_be_focused()
    waiting = rosen.locator(f"#line-{MS}_p2_l3")
    waiting.locator("input[name=send-back]").fill("вижте оригинала: „жадно“")
    waiting.locator("input[name=send-back]").press("Enter")
    returned = rosen.locator(f"#line-{MS}_p2_l3")
    expect(returned.locator(".message.returned")).to_contain_text("Върнат от rosen: вижте оригинала: „жадно“")
    expect(returned.locator(".review-badge")).to_have_text("върнат")
    # The transcriber sees it on the manuscript's review page, among the lines sent back.
    tanya.goto(f"{server}/m/{MS}/review?status=returned")
    expect(tanya.locator(f"#line-{MS}_p2_l3 .message.returned")).to_contain_text("вижте оригинала")
