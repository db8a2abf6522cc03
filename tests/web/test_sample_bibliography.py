"""The bundled sample bibliography: valid, every entry's note names the public source it was
checked against (a URL) and what was not verified; the author page lists the works, in a
real browser (screenshot in test-artifacts/)."""

from __future__ import annotations

import shutil

from playwright.sync_api import expect

from tests.builders import REPO
from tests.web.test_browser import ARTIFACTS, browser, chromium, server  # noqa: F401
from workbench.bibliography import Bibliography
from workbench.edition import Edition
from workbench.tei import validation
from workbench.tei.xml import parse_xml


def test_the_sample_bibliography_is_valid_and_each_entry_names_its_source(tmp_path):
    tree = parse_xml((REPO / "tei" / "bibliography.xml").read_bytes(), "bibliography.xml")
    assert validation.check_project(tree) == []
    shutil.copytree(REPO / "tei", tmp_path / "tei")
    entries = Bibliography(Edition(tmp_path)).entries()
    assert [(entry.type, entry.title) for entry in entries] == [
        ("work", "Проза и поезия"),
        ("work", "Властители"),
        ("translation", "Макбет"),
        ("translation", "Русалка"),
        ("about", "Трифон Цанев Трифонов (1866 – 1926)"),
    ]
    for entry in entries:
        [note] = entry.notes
        assert note.startswith("Проверено по:") and "https://" in note and "Непроверено:" in note
        assert entry.pages is None and entry.place is None  # no source read gave them
    assert [entry.year for entry in entries] == [1893, None, None, None, 2021]


def test_the_author_page_shows_the_sample_works(browser, server, sample_edition):  # noqa: F811
    shutil.copy(REPO / "tei" / "bibliography.xml", sample_edition.tei_dir / "bibliography.xml")
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_context(locale="bg-BG").new_page()
    page.goto(f"{server}/read/author/trifonov")
    expect(page.locator("h1")).to_contain_text("Трифон Цанев Трифонов")
    for title in ("Проза и поезия", "Властители", "Макбет", "Русалка", "Трифон Цанев Трифонов (1866 – 1926)"):
        expect(page.locator("main")).to_contain_text(title)
    expect(page.locator(".timeline")).to_contain_text("1893")
    page.screenshot(path=str(ARTIFACTS / "reader-author-sample-bibliography.png"), full_page=True)
