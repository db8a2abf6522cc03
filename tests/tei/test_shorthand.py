"""The editor's shorthand: every construct both ways, errors with positions, and properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from tests.builders import REPO, make_manuscript
from workbench.model import WorkbenchError
from workbench.tei import codec
from workbench.tei.shorthand import CONSTRUCTS, KEYWORDS, MARKUP, NAMES, ShorthandError, from_tei, pointer, to_tei
from workbench.tei.text import parse_fragment
from workbench.tei.validation import check_project

STRESS, TITLO = "\u0301", "\u0483"

# (shorthand, TEI): each converts to the other, exactly.
CASES = [
    ("", ""),
    ("Живъ е той, живъ е! Тамъ на Балкана,", "Живъ е той, живъ е! Тамъ на Балкана,"),
    ("ѣ ѫ ѭ і Ѣ Ѫ Ѭ І", "ѣ ѫ ѭ і Ѣ Ѫ Ѭ І"),
    (f"съ{STRESS}рдце б{TITLO}жїе", f"съ{STRESS}рдце б{TITLO}жїе"),  # combining marks stay where they are
    ("{г.|господинъ}", "<choice><abbr>г.</abbr><expan>господинъ</expan></choice>"),
    (f"{{б{TITLO}ъ|богъ}}", f"<choice><abbr>б{TITLO}ъ</abbr><expan>богъ</expan></choice>"),
    ("[[той]]", "<del>той</del>"),
    ("[[той|strikethrough]]", '<del rend="strikethrough">той</del>'),
    ("[[а|overwritten]]", '<del rend="overwritten">а</del>'),
    ("[[ѣ|erasure]]", '<del rend="erasure">ѣ</del>'),
    ("{+отъ}", "<add>отъ</add>"),
    ("{+отъ|above}", '<add place="above">отъ</add>'),
    (
        "{+отъ|below} {+и|margin} {+да|inline}",
        '<add place="below">отъ</add> <add place="margin">и</add> <add place="inline">да</add>',
    ),
    ("{?ѫ}", "<unclear>ѫ</unclear>"),
    (
        "{?ѫ|faded} {?ѭ|damage} {?і|illegible}",
        '<unclear reason="faded">ѫ</unclear> <unclear reason="damage">ѭ</unclear> <unclear reason="illegible">і</unclear>',
    ),
    ("{...}", "<gap/>"),
    ("{...3}", '<gap quantity="3" unit="chars"/>'),
    ("{...|lost}", '<gap reason="lost"/>'),
    ("{...12|illegible}", '<gap reason="illegible" quantity="12" unit="chars"/>'),
    ("[ѣ]", "<supplied>ѣ</supplied>"),
    ("[ѣ|omitted] [на|lost]", '<supplied reason="omitted">ѣ</supplied> <supplied reason="lost">на</supplied>'),
    ("{*Балкана}", "<hi>Балкана</hi>"),
    ("{*Балкана|underline} x{*2|superscript}", '<hi rend="underline">Балкана</hi> x<hi rend="superscript">2</hi>'),
    # nesting
    ("[[{?ѫ|faded}]]", '<del><unclear reason="faded">ѫ</unclear></del>'),
    ("[до{+шълъ|above}]", '<supplied>до<add place="above">шълъ</add></supplied>'),
    ("{+[ѣ]}", "<add><supplied>ѣ</supplied></add>"),
    ("[[[то]й]]", "<del><supplied>то</supplied>й</del>"),  # "[[" always opens a deletion
    ("[[[той]]]", "<del><supplied>той</supplied></del>"),
    ("[[а[б]]]", "<del>а<supplied>б</supplied></del>"),
    ("[а[[б]]]", "<supplied>а<del>б</del></supplied>"),
    ("[[[[а]]б]]", "<del><del>а</del>б</del>"),
    ("[а[б]]", "<supplied>а<supplied>б</supplied></supplied>"),
    (
        "{г{*дн|superscript}ъ|господинъ}",
        '<choice><abbr>г<hi rend="superscript">дн</hi>ъ</abbr><expan>господинъ</expan></choice>',
    ),
    ("{г.|г[осподи]нъ}", "<choice><abbr>г.</abbr><expan>г<supplied>осподи</supplied>нъ</expan></choice>"),
    ("{{*г|underline}|господинъ}", '<choice><abbr><hi rend="underline">г</hi></abbr><expan>господинъ</expan></choice>'),
    (
        "[[{г.|господинъ}|erasure]]",
        '<del rend="erasure"><choice><abbr>г.</abbr><expan>господинъ</expan></choice></del>',
    ),
    ("{?[[{...2|illegible}]]}", '<unclear><del><gap reason="illegible" quantity="2" unit="chars"/></del></unclear>'),
    # escapes, and characters that are markup in XML but plain text here
    (r"\[sic\] \{\} \| \\", "[sic] {} | \\"),
    ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ("\\]\\]> & &amp; \"'", "]]&gt; &amp; &amp;amp; \"'"),
    ("кой? 2+2 * 3 ... (така) a.b", "кой? 2+2 * 3 ... (така) a.b"),  # signs are signs only right after "{"
    (
        r"{\+a|b} {\?a|b} {\*a|b} {\...|b} {..|b}",
        "<choice><abbr>+a</abbr><expan>b</expan></choice> "
        "<choice><abbr>?a</abbr><expan>b</expan></choice> <choice><abbr>*a</abbr><expan>b</expan></choice> "
        "<choice><abbr>...</abbr><expan>b</expan></choice> <choice><abbr>..</abbr><expan>b</expan></choice>",
    ),
    ("{++}", "<add>+</add>"),
    (" водещи и крайни интервали ", " водещи и крайни интервали "),
]


@pytest.mark.parametrize("shorthand, fragment", CASES)
def test_hand_written_cases_convert_both_ways(shorthand, fragment):
    assert to_tei(shorthand) == fragment
    assert from_tei(fragment) == shorthand
    parse_fragment(fragment, "test")  # what Line.text must be


@pytest.mark.parametrize(
    "typed, canonical",
    [(r"\а\б", "аб"), (r"a\+b", "a+b"), (r"{\.\.\.|b}", r"{\...|b}"), (r"[\x]", "[x]")],
)
def test_needless_escapes_are_read_and_dropped(typed, canonical):
    assert to_tei(typed) == to_tei(canonical)
    assert from_tei(to_tei(typed)) == canonical


def test_from_tei_reads_any_spelling_of_the_same_markup():
    assert from_tei("<gap unit='chars' quantity='3' reason='lost'/>") == "{...3|lost}"
    assert from_tei("a &gt; b &#1123; <![CDATA[<x>]]>") == "a > b ѣ <x>"


# (input, position, words the message must contain)
ERRORS = [
    ("Живъ е той]] и", 10, 'column 11: "]]" closes a deletion that was never opened'),
    ("Живъ е той] и", 10, '"]" closes supplied text that was never opened'),
    ("[[той", 0, '"[[" opens a deletion that is never closed'),
    ("а [той", 2, '"[" opens supplied text that is never closed'),
    ("[[а {+б", 4, '"{+" opens an addition that is never closed'),
    ("{г.", 0, "never closed"),
    ("[[а]", 3, '"]" closes supplied text that was never opened; the deletion opened at column 1 closes with "]]"'),
    ("{а [б} в", 5, '"}" closes the abbreviation opened at column 1, but the supplied text opened at column 4'),
    ("[{+а]]", 4, '"]]" closes a deletion that was never opened'),
    ("а } б", 2, '"}" closes'),
    ("а|б", 1, '"|" stands outside any bracket'),
    ("{|господинъ}", 1, "abbreviation opened at column 1 empty"),
    ("{г.|}", 4, "expansion"),
    ("{г.}", 3, "before its expansion"),
    ("{г.|го|с}", 6, "second bar"),
    ("[[]]", 2, "deletion opened at column 1 empty"),
    ("{+|above}", 2, "empty"),
    ("{...0}", 4, "not an extent"),
    ("{...05}", 4, "not an extent"),
    ("{...x}", 4, '"x" cannot stand in a gap'),
    ("{...3.5}", 5, '"." cannot stand in a gap'),
    ("{....}", 4, "cannot stand in a gap"),
    ("{...3|gone}", 6, '"gone" is not a reason the shorthand knows for a gap; use illegible, lost'),
    ("{+отъ|top}", 6, '"top" is not a place the shorthand knows for an addition; use above, below, margin, inline'),
    ("[ѣ|gone]", 3, '"gone" is not a reason'),
    ("{?ѫ|blurry}", 4, '"blurry" is not a reason'),
    ("[[а|red]]", 4, '"red" is not a rend'),
    ("{*а|bold}", 4, '"bold" is not a rend'),
    ("[а|]", 2, '"|" in supplied text must be followed by its reason'),
    ("[а|lost|x]", 7, '"|" cannot follow the keyword'),
    ("{+а|above[}", 9, '"[" cannot follow the keyword of the addition'),
    ("кон\\", 3, "escapes nothing"),
    ("а\tб", 1, "U+0009"),
    ("а\nб", 1, "U+000A"),
    ("а\\\x00", 2, "U+0000"),
    ("а\ud800", 1, "U+D800 (not a character a text can hold)"),
    ("а\uffff", 1, "U+FFFF"),
]


@pytest.mark.parametrize("text, position, message", ERRORS)
def test_errors_name_the_column_and_the_character(text, position, message):
    with pytest.raises(ShorthandError) as caught:
        to_tei(text)
    assert caught.value.position == position
    assert str(caught.value).startswith(f"column {position + 1}: ")
    assert message in str(caught.value)
    assert isinstance(caught.value, WorkbenchError)


TEI_ERRORS = [
    ("<del>а", 6, "not well-formed"),
    ("&nbsp;", 6, "not well-formed"),
    ('а <del rend="x">б</del>', 2, '<del rend="x">: the shorthand knows strikethrough'),
    ('а <del hand="#h1">б</del>', 2, "@hand"),
    ('<del xml:id="d1">б</del>', 0, "@xml:id"),
    ("а <lb/>", 2, "<lb> cannot be written"),
    ("а <abbr>б</abbr>", 2, "<abbr> cannot be written"),
    ("а <!-- б -->", 2, "comments"),
    ('<x:del xmlns:x="urn:x">а</x:del>', 0, "not TEI"),
    ("а <del></del>", 2, "empty"),
    ("<choice><abbr>г.</abbr></choice>", 0, "exactly <abbr>"),
    ("<choice><expan>a</expan><abbr>b</abbr></choice>", 0, "exactly <abbr>"),
    ("<choice>\n <abbr>г.</abbr><expan>господинъ</expan></choice>", 0, "text between"),
    ("<choice><abbr></abbr><expan>б</expan></choice>", 8, "<abbr> is empty"),
    ('<gap quantity="2"/>', 0, "both @quantity"),
    ('<gap quantity="2" unit="lines"/>', 0, "both @quantity"),
    ('<gap quantity="0" unit="chars"/>', 0, "whole numbers"),
    ('<gap reason="gone"/>', 0, "illegible, lost"),
    ("<gap>а</gap>", 0, "content"),
    ("ъ <supplied><del>а</del></supplied>", 2, '"[[[" always reads as a deletion'),
    ("<supplied><supplied>а</supplied></supplied>", 0, "cannot be written"),
    ("ЖЖ\tx", 2, "U+0009"),
    ("ЖЖ&#10;x", 2, "U+000A"),
    ("ЖЖ\ud800x", 2, "U+D800"),
]


@pytest.mark.parametrize("fragment, position, message", TEI_ERRORS)
def test_markup_the_shorthand_cannot_write_is_refused_with_its_position(fragment, position, message):
    with pytest.raises(ShorthandError) as caught:
        from_tei(fragment)
    assert caught.value.position == position
    assert message in str(caught.value)


def test_pointer_puts_the_caret_under_the_character():
    assert pointer("Живъ е той]] и", 10) == "Живъ е той]] и\n          ^"
    # The stress mark takes no column; tabs are kept so the caret lines up.
    assert pointer(f"съ{STRESS}рдце]", 7) == f"съ{STRESS}рдце]\n      ^"
    assert pointer("\tа]", 2) == "\tа]\n\t ^"


def test_every_construct_has_an_example_that_converts_both_ways():
    assert {c.tei.split(">")[0].split()[0].strip("<") for c in CONSTRUCTS} == set(KEYWORDS) | set(NAMES) | {"choice"}
    for construct in CONSTRUCTS:
        assert to_tei(construct.shorthand) == construct.tei
        assert from_tei(construct.tei) == construct.shorthand


def test_the_readme_section_shows_every_construct():
    # Markdown tables need "|" inside a cell written as "\|".
    text = (REPO / "workbench" / "tei" / "SHORTHAND.md").read_text().replace("\\|", "|")
    for construct in CONSTRUCTS:
        assert f"`{construct.shorthand}`" in text and f"`{construct.tei}`" in text
    for attribute, keywords in KEYWORDS.values():
        assert f"{attribute}: {', '.join(keywords)}" in text


SHORTHAND_LINES = [
    "Живъ е [[той|strikethrough]], живъ е! {г.|господинъ}",
    "[до{+шълъ|above}] {?ѫ|faded} {...3|illegible} & <script> \\]\\]>",
    f"{{*Балкана|underline}} [[{{?ѭ}}]] съ{STRESS}рдце б{TITLO}ъ [ѣ|omitted] {{...}}",
]


def test_converted_lines_validate_in_a_document_and_come_back_unchanged():
    manuscript = make_manuscript()
    person = manuscript.sources[0].id
    for line, shorthand in zip(manuscript.pages[0].lines, SHORTHAND_LINES, strict=True):
        line.text, line.status, line.resp = to_tei(shorthand), "corrected", person
    document = codec.build_document(manuscript)
    assert check_project(document) == []
    again = codec.parse_manuscript(codec.serialize(document))
    assert [from_tei(line.text) for line in again.pages[0].lines] == SHORTHAND_LINES


# -- properties ------------------------------------------------------------------
#
# A line is generated as a tree, then written both ways by the two small writers
# below, which are the specification: the shorthand with exactly the escapes it
# needs, and the TEI as lxml serialises it.

LETTERS = "абвгдежзийклмнопрстуфхцчшщъьюяѣѫѭіѧЖТ .,;:!-'\"()0123456789xyz" + STRESS + TITLO
TRICKY = "[]{}|\\<>&+?*." + "]]>"
# Pieces that sit on the shorthand's edges: signs, dots, closers, XML's own markup.
EDGES = ["+", "?", "*", "...", "..", ".", "[", "[[", "]", "]]>", "{", "}", "|", "\\", "<script>", "&amp;", STRESS]
text_strategy = st.sampled_from(EDGES) | st.text(
    alphabet=st.sampled_from(LETTERS + TRICKY)
    | st.characters(exclude_categories=("Cc", "Cs"), exclude_characters="\ufffe\uffff"),
    min_size=1,
    max_size=6,
)
keyword = {element: st.none() | st.sampled_from(values) for element, (_, values) in KEYWORDS.items()}
gaps = st.tuples(st.just("gap"), keyword["gap"], st.none() | st.integers(1, 300).map(str))
texts = text_strategy.map(lambda s: ("text", s))


def _merged(nodes: list) -> list:
    """Adjacent text nodes are one text node, in XML and in the shorthand alike."""
    out: list = []
    for node in nodes:
        if node[0] == "text" and out and out[-1][0] == "text":
            out[-1] = ("text", out[-1][1] + node[1])
        else:
            out.append(node)
    return out


def _container(element: str, attribute: str | None, children: list) -> tuple:
    children = _merged(children)
    # "[[[" always reads as a deletion: supplied text cannot begin with one (see shorthand.py).
    if element == "supplied" and children[0][0] in ("del", "supplied"):
        children = [("text", "ѣ"), *children]
    return (element, attribute, children)


def _trees(inner: st.SearchStrategy) -> st.SearchStrategy:
    content = st.lists(inner, min_size=1, max_size=3)
    containers = [
        st.builds(_container, st.just(element), keyword[element], content)
        for element in ("del", "add", "unclear", "supplied", "hi")
    ]
    choice = st.tuples(st.just("choice"), content.map(_merged), content.map(_merged))
    return st.one_of(*containers, choice)


nodes = st.recursive(texts | gaps, _trees, max_leaves=8)
lines = st.lists(nodes, max_size=5).map(_merged)

OPEN = {"del": "[[", "supplied": "[", "add": "{+", "unclear": "{?", "hi": "{*"}
CLOSE = {"del": "]]", "supplied": "]", "add": "}", "unclear": "}", "hi": "}"}


def shorthand_of(tree: list) -> str:
    out = []
    for node in tree:
        kind = node[0]
        if kind == "text":
            out.append("".join("\\" + c if c in MARKUP else c for c in node[1]))
        elif kind == "gap":
            out.append("{..." + (node[2] or "") + (f"|{node[1]}" if node[1] else "") + "}")
        elif kind == "choice":
            abbr = shorthand_of(node[1])
            if node[1][0][0] == "text" and (node[1][0][1][0] in "+?*@#~" or node[1][0][1].startswith("...")):
                abbr = "\\" + abbr
            out.append("{" + abbr + "|" + shorthand_of(node[2]) + "}")
        else:
            out.append(OPEN[kind] + shorthand_of(node[2]) + (f"|{node[1]}" if node[1] else "") + CLOSE[kind])
    return "".join(out)


def _build(parent: etree._Element, tree: list) -> None:
    for node in tree:
        kind = node[0]
        if kind == "text":
            if len(parent):
                parent[-1].tail = (parent[-1].tail or "") + node[1]
            else:
                parent.text = (parent.text or "") + node[1]
            continue
        element = etree.SubElement(parent, kind)
        if kind == "gap":
            if node[1]:
                element.set("reason", node[1])
            if node[2]:
                element.set("quantity", node[2])
                element.set("unit", "chars")
        elif kind == "choice":
            _build(etree.SubElement(element, "abbr"), node[1])
            _build(etree.SubElement(element, "expan"), node[2])
        else:
            if node[1]:
                element.set(KEYWORDS[kind][0], node[1])
            _build(element, node[2])


def tei_of(tree: list) -> str:
    root = etree.Element("ab")
    _build(root, tree)
    written = etree.tostring(root, encoding="unicode")
    return "" if written == "<ab/>" else written.removeprefix("<ab>").removesuffix("</ab>")


PROPERTY = settings(max_examples=200, deadline=None)


@PROPERTY
@given(lines)
def test_any_valid_shorthand_line_survives_tei_and_back(tree):
    line = shorthand_of(tree)
    assert to_tei(line) == tei_of(tree)
    assert from_tei(to_tei(line)) == line


@PROPERTY
@given(lines)
def test_any_valid_tei_fragment_survives_shorthand_and_back(tree):
    fragment = tei_of(tree)
    parse_fragment(fragment, "generated")
    assert from_tei(fragment) == shorthand_of(tree)
    assert to_tei(from_tei(fragment)) == fragment


def _unescaped(shorthand: str) -> str:
    out, chars = [], iter(shorthand)
    for char in chars:
        out.append(next(chars, "") if char == "\\" else char)
    return "".join(out)


@PROPERTY
@given(
    st.text(alphabet=st.sampled_from("[]{}|\\+?*.0123аб ") | st.characters(), max_size=30)
    | st.just("")
    | lines.map(shorthand_of)
)
def test_any_string_converts_faithfully_or_is_refused_with_its_position(text):
    try:
        fragment = to_tei(text)
    except ShorthandError as error:
        assert 0 <= error.position <= len(text)
        assert str(error).startswith(f"column {error.position + 1}: ")
        if error.position < len(text):
            char = text[error.position]
            assert char in str(error) or f"U+{ord(char):04X}" in str(error)
        return
    parse_fragment(fragment, "converted")
    canonical = from_tei(fragment)
    assert to_tei(canonical) == fragment  # stable
    # Never a different line: at most needless backslashes are gone.
    assert _unescaped(canonical) == _unescaped(text)
    if "\\" not in text:
        assert canonical == text


XML_PIECES = [
    "<",
    ">",
    "/",
    "&",
    ";",
    "#",
    "=",
    '"',
    "'",
    " ",
    "а",
    "del",
    "gap",
    "choice",
    "abbr",
    "<!--",
    "-->",
    "&amp;",
]


@PROPERTY
@given(st.lists(st.sampled_from(XML_PIECES) | st.characters(), max_size=20).map("".join))
def test_any_fragment_converts_or_is_refused_with_its_position(fragment):
    try:
        shorthand = from_tei(fragment)
    except ShorthandError as error:
        assert 0 <= error.position <= len(fragment)
        return
    assert from_tei(to_tei(shorthand)) == shorthand


@settings(max_examples=25, deadline=None)
@given(st.lists(lines.map(shorthand_of), min_size=3, max_size=3))
def test_generated_lines_validate_in_a_document(shorthands):
    manuscript = make_manuscript()
    person = manuscript.sources[0].id
    for line, shorthand in zip(manuscript.pages[0].lines, shorthands, strict=True):
        line.text, line.status, line.resp = to_tei(shorthand), "corrected", person
    assert check_project(codec.build_document(manuscript)) == []
