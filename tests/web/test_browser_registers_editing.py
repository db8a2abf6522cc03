"""The editors' register pages in a real browser (chromium, under the CSP): an editor adds a
person through the form, a bad date is refused in place with the text kept, and the person
is then in the list and offered to the editor's autocomplete. Screenshot in test-artifacts/."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.web.test_browser import ARTIFACTS, browser, chromium, logged_in, server  # noqa: F401
from workbench.register import Register, Source


def test_an_editor_adds_a_person_through_the_page(browser, server, sample_edition):  # noqa: F811
    ARTIFACTS.mkdir(exist_ok=True)
    page = logged_in(browser, server)
    page.get_by_role("link", name="Редактиране на регистрите").click()
    expect(page.locator("h1")).to_have_text("Регистри на лица и места")
    page.get_by_role("link", name="Добавяне на лице").click()
    expect(page.locator("h1")).to_have_text("Ново лице")
    page.fill("#field-key", "petrov")
    page.fill("#field-name", "Петър Петров")
    page.fill("#field-name_original", "Петъръ Петровъ")
    page.fill("#field-name_latin", "Petar Petrov")
    page.fill("#field-birth", "около 1870")
    page.select_option("#field-birth_place", label="Русе")
    page.fill("#field-note", "Учител (пример за теста, не факт).")
    page.fill("#field-id_Wikidata", "Q42")
    page.fill("#field-sources", "Пример за теста | https://example.org/petrov")
    page.get_by_role("button", name="Запази").click()
    problems = page.locator("#entity-problems")
    expect(problems).to_contain_text("Датата на раждане, около 1870, не е дата")
    expect(page.locator("#field-name_original")).to_have_value("Петъръ Петровъ")  # nothing typed is lost
    expect(page.locator("#field-birth_place")).to_have_value("ruse")
    assert "petrov" not in Register(sample_edition).keys()
    page.fill("#field-birth", "1870")
    page.screenshot(path=str(ARTIFACTS / "register-add-person.png"), full_page=True)
    page.get_by_role("button", name="Запази").click()
    expect(page.locator("p.flash")).to_have_text("„Петър Петров“ е добавен в регистъра.")
    expect(page.locator("#entity-petrov")).to_contain_text("Петъръ Петровъ")
    expect(page.locator("#entity-petrov")).to_contain_text("Wikidata Q42")
    page.screenshot(path=str(ARTIFACTS / "register-list.png"), full_page=True)
    petrov = Register(sample_edition).get("petrov", "person")
    assert (petrov.birth, petrov.birth_place, petrov.identifiers) == ("1870", "ruse", {"Wikidata": "Q42"})
    assert petrov.sources == [Source("Пример за теста", "https://example.org/petrov")]
    offered = page.request.get(f"{server}/registers/names?kind=person&q=петровъ").json()
    assert offered == [{"key": "petrov", "label": "Петър Петров / Петъръ Петровъ / Petar Petrov"}]
