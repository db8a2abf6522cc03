"""The registers of people and places: their TEI (valid for the project schema and
tei_all), saves (validated, journalled, version-checked) and the refusals of bad entries."""

from __future__ import annotations

import pytest
from lxml import etree

from workbench.edition import Edition
from workbench.register import BadEntity, Conflict, Entity, Register, Source, document, from_tei, to_tei
from workbench.tei import validation
from workbench.tei.xml import NSMAP, parse_xml


def person(**changes) -> Entity:
    values = dict(
        key="ivanov",
        name="Иван Иванов",
        name_original="Иванъ Ивановъ",
        name_latin="Ivan Ivanov",
        note="A person made for the examples of this test.",
        birth="1850-03",
        birth_place="ruse",
        death="1900",
        identifiers={"VIAF": "12345678", "Wikidata": "Q42", "GND": "118540238"},
        sources=[Source("Made up for the test", "https://example.org/source")],
    )
    values.update(changes)
    return Entity(**values)


def place(**changes) -> Entity:
    values = dict(key="ruse", kind="place", name="Русе", name_original="Русчукъ", note="A town on the Danube.")
    values.update(changes)
    return Entity(**values)


@pytest.fixture
def register(edition: Edition) -> Register:
    """An edition's register, empty (the sample's own has entries)."""
    return Register(edition)


def test_people_and_places_survive_tei_and_the_document_is_valid():
    entities = [person(), place()]
    tree = document(entities)
    assert validation.check_project(tree) == []
    assert validation.check_tei_all(tree) == []
    read = [from_tei(element) for element in tree.xpath("//tei:person | //tei:place", namespaces=NSMAP)]
    assert [(e.key, e.kind) for e in read] == [("ivanov", "person"), ("ruse", "place")]
    for original, back in zip(entities, read, strict=True):
        back.version = ""
        assert back == original
    xml = etree.tostring(to_tei(person()), encoding="unicode")
    # Both spellings are Bulgarian: the orthography is in @type, the transliteration in xml:lang.
    assert '<persName type="original" xml:lang="bg">Иванъ Ивановъ</persName>' in xml
    assert '<persName type="transliterated" xml:lang="bg-Latn">Ivan Ivanov</persName>' in xml
    assert '<birth when="1850-03"><placeName ref="#ruse"/></birth>' in xml
    assert '<idno type="Wikidata">Q42</idno>' in xml


def test_entities_are_saved_valid_and_journalled(register, edition):
    register.add(place(), "ivan")
    saved = register.add(person(), "ivan")
    assert saved.version and saved.birth_year == 1850 and saved.death_year == 1900
    tree = parse_xml(register.path.read_bytes(), "register.xml")
    assert validation.check_project(tree) == []
    assert [element.get("type") for element in tree.iterfind(".//tei:persName", NSMAP)] == [
        "modern",
        "original",
        "transliterated",
    ]
    assert register.keys() == {"ruse": "place", "ivanov": "person"}
    assert [e.key for e in register.entities("person")] == ["ivanov"]
    journal = list(edition.journal.entries("register"))
    assert [(entry.line, entry.who, entry.old) for entry in journal] == [("ruse", "ivan", ""), ("ivanov", "ivan", "")]
    # The register is not a manuscript.
    assert "register" not in edition.manuscript_ids()


def test_a_save_over_a_stale_version_is_a_conflict_and_saves_nothing(register):
    register.add(place(), "ivan")
    first = register.add(person(), "ivan")
    register.update(person(note="Changed by one editor."), "ivan", first.version)
    with pytest.raises(Conflict) as conflict:
        register.update(person(note="Changed by another."), "maria", first.version)
    assert conflict.value.current.note == "Changed by one editor."
    assert register.get("ivanov").note == "Changed by one editor."
    current = register.get("ivanov")
    register.delete("ivanov", "ivan", current.version)
    with pytest.raises(Conflict, match="removed"):
        register.update(person(), "maria", current.version)


@pytest.mark.parametrize(
    ("entity", "message"),
    [
        (person(key="1bad"), "is not a key"),
        (person(key="has space"), "is not a key"),
        (person(name=" "), "no name"),
        (person(birth="1866?"), "is not a date"),
        (person(identifiers={"VIAF": "Q42"}), "is not a VIAF identifier"),
        (person(identifiers={"ISNI": "1"}), "is not one of VIAF, Wikidata, GND"),
        (person(birth_place="varna"), "'varna' is not a place of the register"),
        (place(key="varna", birth="1800"), "a place has no birth"),
        (person(kind="work"), "kind 'work'"),
    ],
)
def test_bad_entities_are_refused_with_a_message_and_nothing_is_saved(register, entity, message):
    register.add(place(), "ivan")
    before = register.path.read_bytes()
    with pytest.raises(BadEntity, match=message):
        register.add(entity, "ivan")
    assert register.path.read_bytes() == before


def test_a_key_is_added_once(register):
    register.add(place(), "ivan")
    with pytest.raises(BadEntity, match="has an entry 'ruse' already"):
        register.add(place(name="Other"), "ivan")


def test_a_file_made_invalid_by_hand_is_refused_not_overwritten(register):
    register.add(place(), "ivan")
    broken = (
        register.path.read_bytes().replace(b"<placeName", b"<persName", 1).replace(b"</placeName>", b"</persName>", 1)
    )
    register.path.write_bytes(broken)
    with pytest.raises(validation.InvalidDocument, match="changed outside the workbench"):
        register.add(person(birth_place=None), "ivan")
    assert register.path.read_bytes() == broken


def test_the_cli_adds_lists_and_validates_the_register(run, edition: Edition):
    added = run("register", "add", "place", "ruse", "Русе", "--old", "Русчукъ")
    assert added.exit_code == 0 and "Added place ruse: Русе" in added.output
    added = run(
        "register",
        "add",
        "person",
        "ivanov",
        "Иван Иванов",
        "--born",
        "1850",
        "--born-in",
        "ruse",
        "--id",
        "Wikidata=Q42",
        "--source",
        "Made up for the test",
    )
    assert added.exit_code == 0, added.output
    listed = run("register", "list")
    assert listed.output.splitlines() == ["ivanov\tperson\tИван Иванов", "ruse\tplace\tРусе / Русчукъ"]
    assert run("register", "list", "--kind", "place").output.splitlines() == ["ruse\tplace\tРусе / Русчукъ"]
    refused = run("register", "add", "person", "petrov", "Петър", "--born-in", "varna")
    assert refused.exit_code == 1 and "'varna' is not a place of the register" in refused.output
    refused = run("register", "add", "person", "petrov", "Петър", "--id", "Q42")
    assert refused.exit_code == 2 and "AUTHORITY=NUMBER" in refused.output
    assert "tei/register.xml: valid" in run("validate").output
    Register(edition).path.write_text("<TEI/>")
    checked = run("validate")
    assert checked.exit_code == 1 and "tei/register.xml: INVALID" in checked.output


def test_a_line_may_tag_only_keys_the_register_and_the_bibliography_have(register, edition):
    from workbench.bibliography import Bibliography, Entry
    from workbench.register import check_keys
    from workbench.tei.shorthand import ShorthandError, to_tei

    register.add(place(), "ivan")
    register.add(person(), "ivan")
    Bibliography(edition).add([Entry(title="Хамлетъ")], "ivan")
    good = "{@Иванъ|ivanov} въ {#Русчукъ|ruse}: {~Хамлетъ|b001}, {@Петъръ}"
    check_keys(edition, good, to_tei(good))  # no error
    for typed, column, message in [
        ("писа {@Петъръ|petrov}", 15, 'the register has no entry "petrov"'),
        ("{~Макбетъ|b002}", 11, 'the bibliography has no entry "b002"'),
        ("{@Русе|ruse}", 8, '"ruse" is a place in the register, not a person'),
        ("{#Иванъ|ivanov}", 9, '"ivanov" is a person in the register, not a place'),
    ]:
        with pytest.raises(ShorthandError) as error:
            check_keys(edition, typed, to_tei(typed))
        assert str(error.value) == f"column {column}: {message}"


def test_the_sample_register_is_valid_and_every_entry_names_its_sources():
    from tests.builders import REPO

    tree = parse_xml((REPO / "tei" / "register.xml").read_bytes(), "register.xml")
    assert validation.check_project(tree) == [] and validation.check_tei_all(tree) == []
    entities = [from_tei(element) for element in tree.xpath("//tei:person | //tei:place", namespaces=NSMAP)]
    assert {entity.key for entity in entities} == {"trifonov", "dryanovo", "ruse"}
    for entity in entities:
        assert entity.sources and all(source.url and source.url.startswith("http") for source in entity.sources)
    trifonov = next(entity for entity in entities if entity.key == "trifonov")
    # What the Ruse library's bio-bibliography gives; what no source read gives is left out.
    assert (trifonov.name, trifonov.birth, trifonov.birth_place, trifonov.death) == (
        "Трифон Цанев Трифонов",
        "1866",
        "dryanovo",
        "1926",
    )
    assert trifonov.identifiers == {} and trifonov.death_place is None and trifonov.name_original is None
