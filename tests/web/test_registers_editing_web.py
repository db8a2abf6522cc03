"""The editors' register pages: list, add, edit and delete people and places, in Bulgarian;
a stale version is a 409 with the entry as it now reads; an entry still named by a line (in
any manuscript, published or not), a bibliography entry or another entry is not deleted,
and the page says where it is named."""

from __future__ import annotations

import re

from lxml import html

from tests.web.client import MS, save
from workbench.bibliography import Bibliography, Entry, Person
from workbench.edition import Edition
from workbench.register import Entity, Register, Source


def token_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def alerts(page: str) -> list[str]:
    """Each paragraph and item of the page's alerts, as read."""
    found = html.fromstring(page).xpath("//*[@role='alert']/p | //*[@role='alert']//li")
    return [" ".join(element.text_content().split()) for element in found]


def form_of(entity: Entity, **changes: str) -> dict:
    values = {
        "name": entity.name,
        "name_original": entity.name_original or "",
        "name_latin": entity.name_latin or "",
        "note": entity.note or "",
        "birth": entity.birth or "",
        "birth_place": entity.birth_place or "",
        "death": entity.death or "",
        "death_place": entity.death_place or "",
        "sources": "\n".join(f"{s.text} | {s.url}" if s.url else s.text for s in entity.sources),
        "version": entity.version,
        **{f"id_{authority}": value for authority, value in entity.identifiers.items()},
    }
    values.update(changes)
    return values


def test_the_list_shows_people_and_places_with_links_to_edit_them(editor):
    page = editor.get("/registers/").get_data(as_text=True)
    assert "Регистри на лица и места" in page
    tree = html.fromstring(page)
    people = tree.xpath("//table[@data-section='persons']//tr[@id]/@id")
    places = tree.xpath("//table[@data-section='places']//tr[@id]/@id")
    assert people == ["entity-trifonov"] and places == ["entity-dryanovo", "entity-ruse"]
    assert tree.xpath("//a[@href='/registers/persons/trifonov/edit']/text()") == ["Трифон Цанев Трифонов"]
    assert tree.xpath("//a[@href='/registers/persons/new']/text()") == ["Добавяне на лице"]
    assert "Редактиране на регистрите" in editor.get("/bibliography/").get_data(as_text=True)  # the top bar


def test_an_editor_adds_a_person_and_bad_fields_are_refused_in_bulgarian(editor, sample_edition: Edition):
    page = editor.get("/registers/persons/new").get_data(as_text=True)
    assert "Ново лице" in page and "Място на раждане" in page
    before = Register(sample_edition).path.read_bytes()
    data = {
        "csrf_token": token_of(page),
        "key": "1petrov",
        "name": "Петър Петров",
        "name_original": "Петъръ Петровъ",
        "name_latin": "Petar Petrov",
        "birth": "около 1870",
        "birth_place": "ruse",
        "death": "1931-02",
        "note": "Учител (пример за тестовете, не факт).",
        "id_VIAF": "12345",
        "id_Wikidata": "42",
        "id_GND": "",
        "sources": "Пример за тестовете | https://example.org/petrov\nБележка без връзка",
    }
    refused = editor.post("/registers/persons/new", data=data)
    assert refused.status_code == 422
    said = alerts(refused.get_data(as_text=True))
    assert said == [
        "Нищо не е запазено:",
        "Ключът 1petrov не може да се използва: латински букви, цифри, „-“, „_“ и „.“, като започва с буква.",
        "Датата на раждане, около 1870, не е дата: пишете 1866, 1866-10 или 1866-10-05.",
        "42 не е идентификатор в Wikidata.",
    ]
    body = refused.get_data(as_text=True)
    assert 'value="Петъръ Петровъ"' in body and "Пример за тестовете | https://example.org/petrov" in body  # kept
    assert Register(sample_edition).path.read_bytes() == before
    taken = editor.post("/registers/persons/new", data={**data, "key": "trifonov", "birth": "1870", "id_Wikidata": ""})
    assert taken.status_code == 422
    assert alerts(taken.get_data(as_text=True)) == [
        "Нищо не е запазено:",
        "В регистъра вече има запис trifonov: изберете друг ключ.",
    ]
    added = editor.post("/registers/persons/new", data={**data, "key": "petrov", "birth": "1870", "id_Wikidata": "Q42"})
    assert added.status_code == 302
    petrov = Register(sample_edition).get("petrov", "person")
    assert (petrov.name, petrov.name_original, petrov.name_latin) == ("Петър Петров", "Петъръ Петровъ", "Petar Petrov")
    assert (petrov.birth, petrov.birth_place, petrov.death, petrov.death_place) == ("1870", "ruse", "1931-02", None)
    assert petrov.identifiers == {"VIAF": "12345", "Wikidata": "Q42"}
    assert petrov.sources == [
        Source("Пример за тестовете", "https://example.org/petrov"),
        Source("Бележка без връзка", None),
    ]
    assert "„Петър Петров“ е добавен в регистъра." in editor.get("/registers/").get_data(as_text=True)
    place = editor.post(
        "/registers/places/new", data={"csrf_token": data["csrf_token"], "key": "varna", "name": "Варна"}
    )
    assert place.status_code == 302 and Register(sample_edition).get("varna", "place").name == "Варна"


def test_an_edit_over_a_colleagues_change_is_a_409_and_saves_nothing(editor, sample_edition: Edition):
    trifonov = Register(sample_edition).get("trifonov")
    page = editor.get("/registers/persons/trifonov/edit").get_data(as_text=True)
    token = token_of(page)
    assert f'name="version" value="{trifonov.version}"' in page and 'name="key"' not in page  # the key stays
    # A colleague saves first.
    changed = Entity(**{**vars(trifonov), "name_original": "Трифонъ Трифоновъ"})
    Register(sample_edition).update(changed, "maria", trifonov.version)
    stale = editor.post(
        "/registers/persons/trifonov/edit", data={**form_of(trifonov, note="Моята бележка."), "csrf_token": token}
    )
    assert stale.status_code == 409
    body = stale.get_data(as_text=True)
    assert "Някой друг междувременно промени този запис" in body
    assert 'value="Трифонъ Трифоновъ"' in body  # the entry as it now reads
    now = Register(sample_edition).get("trifonov")
    assert now.name_original == "Трифонъ Трифоновъ" and now.note == trifonov.note
    saved = editor.post(
        "/registers/persons/trifonov/edit", data={**form_of(now, note="Моята бележка."), "csrf_token": token}
    )
    assert saved.status_code == 302
    after = Register(sample_edition).get("trifonov")
    assert after.note == "Моята бележка." and after.name_original == "Трифонъ Трифоновъ"
    assert after.sources == trifonov.sources and after.birth_place == "dryanovo"
    # A bad date on an edit keeps the form, with the version it was read at.
    bad = editor.post("/registers/persons/trifonov/edit", data={**form_of(after, death="1926?"), "csrf_token": token})
    assert bad.status_code == 422 and "Датата на смърт, 1926?, не е дата" in bad.get_data(as_text=True)
    assert f'name="version" value="{after.version}"' in bad.get_data(as_text=True)
    # A delete from a page showing an older version is refused too.
    gone = editor.post("/registers/places/ruse/delete", data={"version": "0" * 16, "csrf_token": token})
    assert gone.status_code == 409 and "промени този запис" in gone.get_data(as_text=True)
    assert Register(sample_edition).get("ruse")
    assert editor.get("/registers/persons/ruse/edit").status_code == 404  # a place, not a person


def test_an_entry_still_named_is_not_deleted_and_the_page_says_where(editor, sample_edition: Edition):
    token = token_of(editor.get("/registers/").get_data(as_text=True))
    # Withdrawn from the reading room (so not in the search index): its lines are found all the same.
    sample_edition.set_published(MS, False, "tester")
    assert save(editor, "писа {@Трифонъ|trifonov} въ {#Русе|ruse}").status_code == 200
    assert save(editor, "{@Т. Трифоновъ|trifonov}", line_id=f"{MS}_p1_l5").status_code == 200
    Bibliography(sample_edition).add(
        [Entry(title="Пример (не факт)", authors=[Person("Трифоновъ", "register.xml#trifonov")])], "test"
    )
    before = Register(sample_edition).path.read_bytes()
    trifonov = Register(sample_edition).get("trifonov")
    refused = editor.post("/registers/persons/trifonov/delete", data={"version": trifonov.version, "csrf_token": token})
    assert refused.status_code == 409
    tree = html.fromstring(refused.get_data(as_text=True))
    listed = [" ".join(a.text_content().split()) for a in tree.xpath("//*[@id='entity-in-use']//a")]
    assert listed == [f"{MS}, стр. 1, ред 2", f"{MS}, стр. 1, ред 5", "Библиографски запис b001"]
    assert tree.xpath("//*[@id='entity-in-use']//a/@href")[0] == f"/m/{MS}/p/1/#line-{MS}_p1_l2"
    assert "не е изтрит: все още е посочен" in tree.xpath("string(//*[@id='entity-in-use']/p)")
    # Dryanovo is Trifonov's place of birth.
    dryanovo = Register(sample_edition).get("dryanovo")
    place = editor.post("/registers/places/dryanovo/delete", data={"version": dryanovo.version, "csrf_token": token})
    assert place.status_code == 409 and "Място на раждане или смърт на trifonov" in place.get_data(as_text=True)
    assert Register(sample_edition).path.read_bytes() == before
    # Once nothing names it, it goes.
    assert save(editor, "писа Трифонъ въ {#Русе|ruse}").status_code == 200
    assert save(editor, "Т. Трифоновъ", line_id=f"{MS}_p1_l5").status_code == 200
    entry = Bibliography(sample_edition).get("b001")
    Bibliography(sample_edition).delete("b001", "test", entry.version)
    ruse = Register(sample_edition).get("ruse")
    assert (
        editor.post("/registers/places/ruse/delete", data={"version": ruse.version, "csrf_token": token}).status_code
        == 409
    )
    deleted = editor.post("/registers/persons/trifonov/delete", data={"version": trifonov.version, "csrf_token": token})
    assert deleted.status_code == 302
    assert "trifonov" not in Register(sample_edition).keys()
    assert "„Трифон Цанев Трифонов“ е изтрит от регистъра." in editor.get("/registers/").get_data(as_text=True)


def test_a_transcriber_may_not_edit_the_registers(client, accounts, sample_edition: Edition):
    from tests.web.client import PASSWORD, log_in

    accounts.add("petya", "transcriber", PASSWORD)
    assert log_in(client, "petya").status_code == 302
    assert client.get("/registers/").status_code == 403
    assert client.get("/registers/names?kind=person&q=Триф").status_code == 200  # the autocomplete stays open
    assert "Редактиране на регистрите" not in client.get(f"/m/{MS}/").get_data(as_text=True)


def test_reverting_to_a_version_that_names_a_deleted_entry_is_refused_in_bulgarian(editor, sample_edition: Edition):
    from tests.web.client import line_base
    from workbench import transcription

    line_id = f"{MS}_p1_l2"
    Register(sample_edition).add(Entity("petrov", "Петър Петров"), "test")
    assert save(editor, "писа {@Петъръ|petrov}").status_code == 200
    assert save(editor, "писа Петъръ").status_code == 200
    Register(sample_edition).delete("petrov", "test", Register(sample_edition).get("petrov").version)
    tagged = 'писа <persName ref="register.xml#petrov">Петъръ</persName>'
    number = [version.text for version in transcription.history(sample_edition, MS, line_id)].index(tagged)
    refused = editor.post(
        f"/m/{MS}/lines/{line_id}/revert",
        data={"version": str(number), "base": line_base(editor, line_id)},
        headers={"X-CSRFToken": editor.token, "HX-Request": "true"},
    )
    assert refused.status_code == 422
    assert "Няма запис в регистъра или в библиографията с този ключ." in refused.get_data(as_text=True)
    assert sample_edition.load(MS).pages[0].lines[1].text == "писа Петъръ"
