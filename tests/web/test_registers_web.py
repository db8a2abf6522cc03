"""The registers on the web: the names the editor offers while a line is typed, a line saved
with a tagged name (and refused with an unknown key), the reading room's register pages
(every published line naming a person, place or work) and the author page, in both languages."""

from __future__ import annotations

import json

import pytest

from tests.web.client import MS, save
from workbench.bibliography import Bibliography, Entry, Person
from workbench.edition import Edition
from workbench.register import Entity, Register, Source
from workbench.search.indexing import Indexer

LINE_ID = f"{MS}_p1_l2"


@pytest.fixture
def registers(sample_edition: Edition) -> Register:
    """Example entries (not facts: the tests' own), a work by the person with the sample as its manuscript."""
    register = Register(sample_edition)
    register.add(Entity("gorno", "Горно село", kind="place", name_original="Горно село"), "test")
    register.add(
        Entity(
            "ivanov",
            "Иван Иванов",
            name_original="Иванъ Ивановъ",
            name_latin="Ivan Ivanov",
            note="Учител и преводач (пример за тестовете).",
            birth="1860",
            birth_place="gorno",
            death="1920",
            identifiers={"Wikidata": "Q42"},
            sources=[Source("Пример, не факт", "https://example.org/ivanov")],
        ),
        "test",
    )
    Bibliography(sample_edition).add(
        [
            Entry(
                title="Хамлетъ",
                type="translation",
                title_modern="Хамлет",
                translators=[Person("Ивановъ, Иванъ", "register.xml#ivanov")],
                year=1900,
                manuscripts=[MS],
            ),
            Entry(title="Стихотворения", authors=[Person("Ивановъ, Иванъ", "register.xml#ivanov")], year=1895),
        ],
        "test",
    )
    return register


def test_the_editor_is_offered_matching_names_in_either_spelling(editor, registers):
    def offered(**args) -> list[dict]:
        response = editor.get("/registers/names", query_string=args)
        assert response.status_code == 200
        return json.loads(response.get_data(as_text=True))

    assert offered(kind="person", q="Иван") == [{"key": "ivanov", "label": "Иван Иванов / Иванъ Ивановъ / Ivan Ivanov"}]
    assert offered(kind="person", q="ивановъ") == offered(kind="person", q="иванов")  # the old spelling folds
    assert offered(kind="person", q="Петър") == []
    assert [o["key"] for o in offered(kind="place", q="гор")] == ["gorno"]
    assert offered(kind="work", q="хамлет") == [{"key": "b001", "label": "Хамлетъ (1900)"}]
    assert editor.get("/registers/names?kind=thing").status_code == 400


def test_a_tagged_name_is_saved_and_an_unknown_key_refused_in_bulgarian(editor, registers, sample_edition):
    before = sample_edition.tei_path(MS).read_bytes()
    refused = save(editor, "писа {@Петъръ|petrov}")
    body = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "колона 15: Няма запис в регистъра или в библиографията с този ключ." in body
    assert "<mark>p</mark>" in body and sample_edition.tei_path(MS).read_bytes() == before
    wrong = save(editor, "{@Горно|gorno}")
    assert wrong.status_code == 422 and "Този ключ е на друг вид запис" in wrong.get_data(as_text=True)
    assert save(editor, "писа {@Иванъ|ivanov} отъ {#Горно|gorno}").status_code == 200
    line = sample_edition.load(MS).pages[0].lines[1]
    assert line.text == (
        'писа <persName ref="register.xml#ivanov">Иванъ</persName> отъ '
        '<placeName ref="register.xml#gorno">Горно</placeName>'
    )
    preview = editor.post("/preview", data={"text": "{@Иванъ|nobody}"}, headers={"X-CSRFToken": editor.token})
    assert "Няма запис в регистъра" in preview.get_data(as_text=True)


def test_register_pages_list_every_published_line_naming_the_entry(app, editor, registers, sample_edition):
    assert save(editor, "писа {@Иванъ|ivanov} отъ {#Горно|gorno}").status_code == 200
    assert save(editor, "{~Хамлетъ|b001} на {@{Ив.|Иванъ}|ivanov}", line_id=f"{MS}_p1_l3").status_code == 200
    sample_edition.set_published(MS, True, "tester")
    Indexer(sample_edition, app.extensions["search"]).catch_up()
    reader = app.test_client()
    page = reader.get("/read/register/persons/ivanov").get_data(as_text=True)
    assert "Иван Иванов" in page and "Иванъ Ивановъ" in page  # both spellings of the name
    assert "2 реда" in page
    assert "Както е написано:" in page and "писа Иванъ отъ Горно" in page
    assert "Хамлетъ на Ив." in page and "Хамлетъ на Иванъ" in page  # as written, and the reading text
    assert f"/read/{MS}/1/2" in page and f"/read/{MS}/1/3" in page
    assert 'href="https://www.wikidata.org/wiki/Q42"' in page
    place = reader.get("/read/register/places/gorno").get_data(as_text=True)
    assert "1 ред" in place and "писа Иванъ отъ Горно" in place
    work = reader.get("/read/register/works/b001").get_data(as_text=True)
    assert "1 ред" in work and "Хамлетъ на Ив." in work
    english = reader.get("/read/register/persons/ivanov?lang=en").get_data(as_text=True)
    assert "2 lines" in english and "As written:" in english and "Name in the old spelling" in english
    for missing in ("/read/register/persons/gorno", "/read/register/places/nobody", "/read/register/works/b999"):
        assert reader.get(missing).status_code == 404
    # An unpublished manuscript's lines are not shown.
    sample_edition.set_published(MS, False, "tester")
    Indexer(sample_edition, app.extensions["search"]).catch_up()
    assert "писа Иванъ" not in reader.get("/read/register/persons/ivanov").get_data(as_text=True)


def test_the_author_page_has_the_biography_works_manuscripts_and_a_timeline(app, registers, sample_edition):
    sample_edition.set_published(MS, True, "tester")
    Indexer(sample_edition, app.extensions["search"]).catch_up()
    reader = app.test_client()
    page = reader.get("/read/author/ivanov").get_data(as_text=True)
    assert "Учител и преводач (пример за тестовете)." in page
    assert "Преводи на автора" in page and "Произведения на автора" in page
    assert "Хамлетъ" in page and "Стихотворения" in page
    summary = sample_edition.summary(MS)
    lines = sum(summary.counts.values())
    assert f'data-manuscript="{MS}"' in page
    assert f"{summary.counts['verified']} от {lines} реда проверени" in page
    timeline = page[page.index('class="timeline"') : page.index("</ol>", page.index('class="timeline"'))]
    years = [int(y) for y in __import__("re").findall(r'<span class="year">(\d+)</span>', timeline)]
    assert years == sorted(years) and years[0] == 1860 and 1895 in years and 1900 in years and 1920 in years
    assert "Роден, Горно село" in timeline
    english = reader.get("/read/author/ivanov?lang=en").get_data(as_text=True)
    assert "Timeline" in english and "Born, Горно село" in english and "Manuscripts in the edition" in english
    assert reader.get("/read/author/gorno").status_code == 404
    index = reader.get("/read/register/").get_data(as_text=True)
    assert "/read/author/ivanov" in index and "/read/register/places/gorno" in index


def test_a_tagged_name_in_the_reading_view_links_to_its_register_page(app, editor, registers, sample_edition):
    assert save(editor, "писа {@Иванъ|ivanov} и {@Петъръ}").status_code == 200
    sample_edition.set_published(MS, True, "tester")
    page = app.test_client().get(f"/read/{MS}/1/").get_data(as_text=True)
    assert '<a href="/read/register/persons/ivanov" class="tei-name tei-persName"' in page
    assert '<span class="tei-name tei-persName" data-ref="">Петъръ</span>' in page
