"""Names tagged in a line: the shorthand {@…|key} (person), {#…|key} (place), {~…|id} (work),
their TEI (persName/placeName/title with @ref), valid inside a line, both ways; bad keys refused."""

from __future__ import annotations

import pytest

from tests.builders import make_manuscript
from workbench.tei import codec
from workbench.tei.shorthand import ShorthandError, from_tei, to_tei
from workbench.tei.text import diplomatic_text, line_refs, parse_fragment, reading_text
from workbench.tei.validation import check_project, check_tei_all
from workbench.web.markup import line_html

CASES = [
    ("{@Трифонъ|trifonov}", '<persName ref="register.xml#trifonov">Трифонъ</persName>'),
    ("{#Русчукъ|ruse}", '<placeName ref="register.xml#ruse">Русчукъ</placeName>'),
    ("{~Хамлетъ|b001}", '<title ref="bibliography.xml#b001">Хамлетъ</title>'),
    ("{@Иванъ}", "<persName>Иванъ</persName>"),  # a name not (yet) in the register
    (
        "{@Трифонъ {*Ц.|superscript} Трифоновъ|trifonov}",
        '<persName ref="register.xml#trifonov">Трифонъ <hi rend="superscript">Ц.</hi> Трифоновъ</persName>',
    ),
    (
        "[[{#Русе|ruse}]] {@{г.|господинъ} Петровъ|petrov}",
        '<del><placeName ref="register.xml#ruse">Русе</placeName></del> '
        '<persName ref="register.xml#petrov"><choice><abbr>г.</abbr><expan>господинъ</expan></choice> Петровъ</persName>',
    ),
    # An abbreviation that begins with a name's sign is written escaped.
    ("{\\@|при}", "<choice><abbr>@</abbr><expan>при</expan></choice>"),
    ("{\\#1|първи}", "<choice><abbr>#1</abbr><expan>първи</expan></choice>"),
    ("{\\~|тилда}", "<choice><abbr>~</abbr><expan>тилда</expan></choice>"),
    ("a @ # ~ b", "a @ # ~ b"),  # the signs are plain text outside "{"
]


@pytest.mark.parametrize(("shorthand", "tei"), CASES)
def test_names_convert_both_ways_exactly(shorthand, tei):
    assert to_tei(shorthand) == tei
    assert from_tei(tei) == shorthand


def test_tagged_lines_are_valid_inside_a_line_of_the_project_schema_and_tei_all():
    manuscript = make_manuscript()
    person = manuscript.sources[0].id
    typed = [shorthand for shorthand, _ in CASES[:6]]
    for line, shorthand in zip(manuscript.pages[0].lines, typed, strict=False):
        line.text, line.status, line.resp = to_tei(shorthand), "corrected", person
    document = codec.build_document(manuscript)
    assert check_project(document) == []
    assert check_tei_all(document) == []
    again = codec.parse_manuscript(codec.serialize(document))
    assert [from_tei(line.text) for line in again.pages[0].lines[: len(typed)]] == typed[: len(again.pages[0].lines)]


@pytest.mark.parametrize(
    ("shorthand", "column", "message"),
    [
        ("писа {@Трифонъ|1bad}", 16, '"1bad" is not a key'),
        ("{#Русе|ru se}", 8, '"ru se" is not a key'),
        ("{~Хамлетъ|}", 10, '"|" in a title of a work must be followed by its key in bibliography.xml'),
        ("{@Трифонъ|trifonov", 1, '"{@" opens a person\'s name that is never closed'),
        ("{@|trifonov}", 3, "leaves the person's name opened at column 1 empty"),
        # The line ending right after a keyword was an IndexError (a 500 in the editor).
        ("а {+отъ|above", 3, '"{+" opens an addition that is never closed (with "}")'),
        ("[[той|erasure", 1, '"[[" opens a deletion that is never closed (with "]]")'),
    ],
)
def test_a_bad_key_is_refused_with_its_column(shorthand, column, message):
    with pytest.raises(ShorthandError) as error:
        to_tei(shorthand)
    assert f"column {column}: " in str(error.value) and message in str(error.value)


@pytest.mark.parametrize(
    ("tei", "message"),
    [
        ('<persName ref="other.xml#x">a</persName>', "refs to register.xml#key only"),
        ('<title ref="register.xml#x">a</title>', "refs to bibliography.xml#key only"),
        ('<placeName ref="register.xml#">a</placeName>', "refs to register.xml#key only"),
        ('<persName type="x">a</persName>', "@type, which the shorthand cannot write"),
    ],
)
def test_names_the_shorthand_cannot_write_are_refused_not_dropped(tei, message):
    parse_fragment(tei, "l1")  # the line itself may hold them
    with pytest.raises(ShorthandError, match=message):
        from_tei(tei)


def test_a_line_knows_its_refs_and_keeps_the_names_in_both_texts():
    tei = to_tei("{@Трифонъ|trifonov} въ {#Русчукъ|ruse}, {@Трифонъ|trifonov}: {~{Х.|Хамлетъ}|b001}")
    assert line_refs(tei) == ("register.xml#trifonov", "register.xml#ruse", "bibliography.xml#b001")
    assert diplomatic_text(tei) == "Трифонъ въ Русчукъ, Трифонъ: Х."
    assert reading_text(tei) == "Трифонъ въ Русчукъ, Трифонъ: Хамлетъ"
    assert line_refs("") == () and line_refs("без имена") == ()


def test_names_are_marked_in_html_and_linked_where_a_page_is_given():
    tei = to_tei("{@Трифонъ|trifonov} и {@Иванъ}")
    html = line_html(tei, reading=True, name_url=lambda ref: f"/read/register/persons/{ref.partition('#')[2]}")
    assert (
        '<a href="/read/register/persons/trifonov" class="tei-name tei-persName" data-ref="register.xml#trifonov">'
        "Трифонъ</a>" in html
    )
    assert '<span class="tei-name tei-persName" data-ref="">Иванъ</span>' in html
    assert '<span class="tei-name tei-persName" data-ref="register.xml#trifonov">Трифонъ</span>' in line_html(tei)
