"""A tagged name's key is checked by the core save of a line, not only by the web editor:
a line saved through ``transcription.save_line`` (scripts, the command line, any API) or
brought back by a revert with a key the register or the bibliography lacks is refused with
an ``UnknownKey`` (code ``unknown_key`` or ``wrong_key``), and nothing is written."""

from __future__ import annotations

import pytest

from workbench import transcription
from workbench.edition import Edition
from workbench.register import Entity, Register, UnknownKey

MS = "trifonov-sample"
LINE = f"{MS}_p1_l2"


def current(edition: Edition) -> str:
    _page, line = transcription.find_line(edition, MS, LINE)
    return transcription.line_version(line)


def test_a_line_with_an_unknown_or_wrong_key_is_refused_and_nothing_saved(sample_edition: Edition):
    before = sample_edition.tei_path(MS).read_bytes()
    journal = list(sample_edition.journal.entries(MS, LINE))
    for text, code, message in [
        (
            'писа <persName ref="register.xml#petrov">Петъръ</persName>',
            "unknown_key",
            'the register has no entry "petrov"',
        ),
        ('<title ref="bibliography.xml#b007">Хамлетъ</title>', "unknown_key", 'the bibliography has no entry "b007"'),
        (
            '<persName ref="register.xml#ruse">Русе</persName>',
            "wrong_key",
            '"ruse" is a place in the register, not a person',
        ),
        (
            '<placeName ref="register.xml#trifonov">Т.</placeName>',
            "wrong_key",
            '"trifonov" is a person in the register, not a place',
        ),
    ]:
        with pytest.raises(UnknownKey) as refused:
            transcription.save_line(sample_edition, MS, LINE, text, current(sample_edition), "script")
        assert (str(refused.value), refused.value.code) == (message, code)
        assert refused.value.params == {"key": message.split('"')[1]}
    assert sample_edition.tei_path(MS).read_bytes() == before
    assert list(sample_edition.journal.entries(MS, LINE)) == journal


def test_known_keys_and_refs_to_elsewhere_are_saved(sample_edition: Edition):
    text = (
        'писа <persName ref="register.xml#trifonov">Трифонъ</persName> въ '
        '<placeName ref="register.xml#ruse">Русе</placeName> и '
        '<persName ref="https://viaf.org/viaf/12345">Шекспиръ</persName>'
    )
    saved = transcription.save_line(sample_edition, MS, LINE, text, current(sample_edition), "script")
    assert saved.text == text == sample_edition.load(MS).pages[0].lines[1].text


def test_a_revert_to_a_version_naming_a_deleted_entry_is_refused(sample_edition: Edition):
    register = Register(sample_edition)
    register.add(Entity("petrov", "Петър Петров"), "test")
    tagged = 'писа <persName ref="register.xml#petrov">Петъръ</persName>'
    transcription.save_line(sample_edition, MS, LINE, tagged, current(sample_edition), "ivan")
    transcription.save_line(sample_edition, MS, LINE, "писа Петъръ", current(sample_edition), "ivan")
    register.delete("petrov", "test", register.get("petrov").version)  # nothing tags it now
    number = [version.text for version in transcription.history(sample_edition, MS, LINE)].index(tagged)
    with pytest.raises(UnknownKey, match='the register has no entry "petrov"'):
        transcription.revert(sample_edition, MS, LINE, number, current(sample_edition), "ivan")
    assert sample_edition.load(MS).pages[0].lines[1].text == "писа Петъръ"
