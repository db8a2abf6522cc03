"""The bibliography on the web: the editors' pages (add, edit, merge, delete, 409 on a
concurrent change) and the reading room's /read/bibliography (groups, facets, search in
either spelling, citations, holdings, links to published manuscripts only)."""

from __future__ import annotations

import re

import pytest
from lxml import html

from tests.web.client import MS
from workbench.bibliography import Bibliography, Entry, Holding, Original, Person
from workbench.edition import Edition


def form_of(entry: Entry, **changes) -> dict:
    values = {
        "type": entry.type,
        "title": entry.title,
        "title_modern": entry.title_modern or "",
        "authors": "\n".join(p.name + (f" | {p.ref}" if p.ref else "") for p in entry.authors),
        "translators": "\n".join(p.name + (f" | {p.ref}" if p.ref else "") for p in entry.translators),
        "year": str(entry.year or ""),
        "place": entry.place or "",
        "holdings": "\n".join(f"{h.library} | {h.shelfmark or ''} | {h.url or ''}" for h in entry.holdings),
        "version": entry.version,
        "manuscripts": entry.manuscripts,
    }
    values.update(changes)
    return values


@pytest.fixture
def entries(sample_edition: Edition) -> list[Entry]:
    """Entries made up for the tests (not facts about Trifonov's works)."""
    return Bibliography(sample_edition).add(
        [
            Entry(
                title="Хамлетъ, принцъ датски",
                type="translation",
                title_modern="Хамлет, принц датски",
                authors=[Person("Шекспиръ, Уилямъ")],
                translators=[Person("Трифоновъ, Трифонъ", "register.xml#trifonov")],
                place="София",
                year=1900,
                language="bg",
                original=Original("William Shakespeare", "Hamlet", "en"),
                holdings=[Holding("Регионална библиотека – Русе", "II 1234", "https://catalogue.example/1")],
                manuscripts=[MS],
            ),
            Entry(title="Стихотворения", authors=[Person("Трифоновъ, Трифонъ")], place="Русе", year=1912),
            Entry(
                title="Нѣколко думи за превода",
                authors=[Person("Трифоновъ, Трифонъ")],
                periodical="Периодическо списание",
                volume="12",
                pages="45–60",
                year=1895,
            ),
            Entry(title="Трифон Трифонов", type="about", authors=[Person("Иванов, Иван")], year=1926, language="bg"),
        ],
        "test",
    )


def token_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_an_editor_adds_an_entry_and_a_bad_year_is_refused_in_bulgarian(editor, sample_edition):
    page = editor.get("/bibliography/new").get_data(as_text=True)
    assert "Заглавие както е публикувано" in page
    data = {
        "csrf_token": token_of(page),
        "type": "work",
        "title": "Стихотворения",
        "authors": "Трифоновъ, Трифонъ | register.xml#trifonov",
        "year": "19xx",
        "holdings": "Регионална библиотека – Русе | II 55 |",
    }
    refused = editor.post("/bibliography/new", data=data)
    assert refused.status_code == 422
    assert "Годината трябва да е от четири цифри" in refused.get_data(as_text=True)
    assert Bibliography(sample_edition).entries() == []
    added = editor.post("/bibliography/new", data={**data, "year": "1912"})
    assert added.status_code == 302
    [entry] = Bibliography(sample_edition).entries()
    assert entry.authors == [Person("Трифоновъ, Трифонъ", "register.xml#trifonov")]
    assert entry.holdings == [Holding("Регионална библиотека – Русе", "II 55")]
    assert "Записът b001 е добавен." in editor.get("/bibliography/").get_data(as_text=True)


def test_an_edit_over_a_colleagues_change_is_a_409_and_saves_nothing(editor, sample_edition, entries):
    hamlet = entries[0]
    page = editor.get(f"/bibliography/{hamlet.id}/edit").get_data(as_text=True)
    token = token_of(page)
    assert f'name="version" value="{hamlet.version}"' in page
    # A colleague saves first.
    Bibliography(sample_edition).update(Entry(**{**vars(hamlet), "year": 1901}), "maria", hamlet.version)
    stale = editor.post(f"/bibliography/{hamlet.id}/edit", data={**form_of(hamlet, year="1899"), "csrf_token": token})
    assert stale.status_code == 409
    body = stale.get_data(as_text=True)
    assert "Някой друг междувременно промени този запис" in body and 'value="1901"' in body
    assert Bibliography(sample_edition).get(hamlet.id).year == 1901
    current = Bibliography(sample_edition).get(hamlet.id)
    saved = editor.post(f"/bibliography/{hamlet.id}/edit", data={**form_of(current, year="1899"), "csrf_token": token})
    assert saved.status_code == 302 and Bibliography(sample_edition).get(hamlet.id).year == 1899
    # A delete from a page showing the version before that save is refused too.
    stale_delete = editor.post(
        f"/bibliography/{hamlet.id}/delete", data={"version": current.version, "csrf_token": token}
    )
    assert stale_delete.status_code == 409 and "промени този запис" in stale_delete.get_data(as_text=True)
    assert Bibliography(sample_edition).get(hamlet.id).year == 1899
    latest = Bibliography(sample_edition).get(hamlet.id)
    Bibliography(sample_edition).delete(hamlet.id, "maria", latest.version)
    gone = editor.post(f"/bibliography/{hamlet.id}/edit", data={**form_of(latest), "csrf_token": token})
    assert gone.status_code == 409 and "Някой друг междувременно изтри този запис." in gone.get_data(as_text=True)


def test_delete_and_merge_from_the_list(editor, sample_edition, entries):
    page = editor.get("/bibliography/").get_data(as_text=True)
    token = token_of(page)
    hamlet, poems, article, about = entries
    versions = {f"version-{entry.id}": entry.version for entry in entries}
    merged = editor.post(
        "/bibliography/merge", data={"keep": poems.id, "other": article.id, "csrf_token": token, **versions}
    )
    assert merged.status_code == 302
    assert [entry.id for entry in Bibliography(sample_edition).entries()] == [hamlet.id, poems.id, about.id]
    again = editor.post(
        "/bibliography/merge", data={"keep": poems.id, "other": about.id, "csrf_token": token, **versions}
    )
    assert again.status_code == 409  # poems changed with the merge: the versions sent are old
    deleted = editor.post(f"/bibliography/{about.id}/delete", data={"version": about.version, "csrf_token": token})
    assert deleted.status_code == 302
    assert [entry.id for entry in Bibliography(sample_edition).entries()] == [hamlet.id, poems.id]
    same = editor.post("/bibliography/merge", data={"keep": poems.id, "other": poems.id, "csrf_token": token})
    assert same.status_code == 422


def entry_ids(page: str) -> list[str]:
    return html.fromstring(page).xpath("//li[contains(@class, 'entry')]/@id")


def test_the_reading_room_groups_by_type_and_year_with_citations_and_holdings(client, entries):
    page = client.get("/read/bibliography").get_data(as_text=True)
    tree = html.fromstring(page)
    groups = [" ".join(h.text_content().split()) for h in tree.xpath("//section[@class='bibliography-group']/h2")]
    assert groups == ["Произведения на автора", "Преводи на автора", "Писано за автора"]
    assert entry_ids(page) == ["b003", "b002", "b001", "b004"]  # works by year: 1895, 1912
    hamlet = tree.get_element_by_id("cite-b001").text_content()
    assert hamlet == "Шекспиръ, Уилямъ. Хамлетъ, принцъ датски / Прев. Трифонъ Трифоновъ. – София, 1900."
    assert "Регионална библиотека – Русе, сигнатура II 1234" in page
    assert f'href="/read/{MS}/"' in page  # the published manuscript
    english = client.get("/read/bibliography?lang=en&style=harvard").get_data(as_text=True)
    assert "Translations by the author" in english
    assert "Шекспиръ, У. (1900) Хамлетъ, принцъ датски. Translated by Т. Трифоновъ. София." in english


def test_an_unpublished_manuscript_is_neither_linked_nor_counted(client, sample_edition, entries):
    sample_edition.set_published(MS, False, "test")
    page = client.get("/read/bibliography").get_data(as_text=True)
    assert f"/read/{MS}/" not in page
    assert entry_ids(client.get("/read/bibliography?manuscript=yes").get_data(as_text=True)) == []


def test_facets_filter_and_count(client, entries):
    page = client.get("/read/bibliography?type=work").get_data(as_text=True)
    assert entry_ids(page) == ["b003", "b002"]
    assert entry_ids(client.get("/read/bibliography?decade=1890").get_data(as_text=True)) == ["b003"]
    assert entry_ids(client.get("/read/bibliography?manuscript=yes").get_data(as_text=True)) == ["b001"]
    assert entry_ids(client.get("/read/bibliography?language=bg&type=about").get_data(as_text=True)) == ["b004"]
    tree = html.fromstring(client.get("/read/bibliography?type=work").get_data(as_text=True))
    decades = [" ".join(a.text_content().split()) for a in tree.xpath("//ul[@data-facet='decade']//a")]
    assert decades == ["1890-те години (1)", "1910-те години (1)"]  # counted within the type chosen
    types = [" ".join(a.text_content().split()) for a in tree.xpath("//ul[@data-facet='type']//a")]
    assert "Преводи на автора (1)" in types  # the other types stay reachable


def test_search_finds_an_old_spelling_title_typed_in_modern_spelling(client, entries):
    assert entry_ids(client.get("/read/bibliography?q=няколко думи").get_data(as_text=True)) == ["b003"]
    assert entry_ids(client.get("/read/bibliography?q=хамлет").get_data(as_text=True)) == ["b001"]
    assert entry_ids(client.get("/read/bibliography?q=трифонов&type=about").get_data(as_text=True)) == ["b004"]
    nothing = client.get("/read/bibliography?q=макбет").get_data(as_text=True)
    assert entry_ids(nothing) == [] and "Няма съвпадащ запис." in nothing


def test_an_empty_bibliography_is_a_page_not_an_error(client):
    response = client.get("/read/bibliography")
    assert response.status_code == 200 and "0 записа" in response.get_data(as_text=True)
