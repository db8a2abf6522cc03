"""TEI encoding: building, reading back, inline markup, hostile XML."""

from __future__ import annotations

import pytest
from lxml import etree

from tests.builders import make_manuscript
from workbench.model import WorkbenchError
from workbench.tei import codec
from workbench.tei.text import line_plain_text, text_fragment
from workbench.tei.xml import NSMAP, XML_ID, InvalidXML, parse_xml, parser


def test_round_trip_is_identical():
    manuscript = make_manuscript(pages=2)
    manuscript.pages[0].lines[
        1
    ].text = 'а <del rend="strikethrough">бѣ</del> <choice><abbr>г.</abbr><expan>господинъ</expan></choice> &amp; <unclear reason="faded">ѫ</unclear>'
    manuscript.pages[0].lines[1].status = "verified"
    manuscript.pages[0].lines[1].resp = manuscript.sources[0].id
    manuscript.pages[1].lines[2].cert = 0.875
    data = codec.serialize(codec.build_document(manuscript))
    again = codec.parse_manuscript(data)
    assert codec.serialize(codec.build_document(again)) == data
    line = again.pages[0].lines[1]
    assert line.text == manuscript.pages[0].lines[1].text
    assert line.status == "verified"
    assert again.pages[1].lines[2].cert == pytest.approx(0.875)
    assert [p.id for p in again.pages] == ["ms1_p1", "ms1_p2"]
    assert again.author == "Трифон Трифонов" and again.shelfmark == "T-1"


def test_encoding_links_text_and_facsimile_both_ways():
    root = codec.build_document(make_manuscript()).getroot()
    ns = NSMAP
    zone = root.find(".//tei:zone[@type='line']", ns)
    lb = root.find(".//tei:lb", ns)
    assert lb.get("facs") == f"#{zone.get(XML_ID)}"
    assert zone.get("corresp") == f"#{lb.get(XML_ID)}"
    assert zone.find("tei:path[@type='baseline']", ns) is not None
    # Zones carry @points only: @ulx…@lry as well make validation ten times slower.
    assert zone.get("ulx") is None
    assert root.find(".//tei:graphic", ns).get("url") == "../facsimiles/ms1/001.png"


def test_plain_text_is_escaped_and_read_without_markup():
    manuscript = make_manuscript()
    line = manuscript.pages[0].lines[1]
    line.text = text_fragment("a < b & ]]> <script>")
    data = codec.serialize(codec.build_document(manuscript))
    assert b"<script>" not in data
    assert line_plain_text(codec.parse_manuscript(data).pages[0].lines[1]) == "a < b & ]]> <script>"


@pytest.mark.parametrize(
    "text, complaint",
    [
        ("unclosed <del>word", "not well-formed"),
        ("<lb/>two lines in one", "<lb> is not allowed inside a line"),
        ("<p>paragraph</p>", "<p> is not allowed"),
        ("&unknown;", "not well-formed"),
        ("<!-- comment -->", "comments"),
        # An id typed into a line could repeat one elsewhere in the document (saved, the
        # file could no longer be read): the workbench names elements itself.
        ('<hi xml:id="ms1_p1">word</hi>', "xml:id is not allowed inside a line"),
    ],
)
def test_invalid_markup_in_a_line_is_refused(text, complaint):
    manuscript = make_manuscript()
    manuscript.pages[0].lines[1].text = text
    with pytest.raises(WorkbenchError, match=complaint):
        codec.build_document(manuscript)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<TEI xmlns="http://www.tei-c.org/ns/1.0">&lol4;</TEI>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE TEI [<!ENTITY xxe SYSTEM "file:///etc/passwd"><!ENTITY net SYSTEM "http://127.0.0.1:9/x">]>
<TEI xmlns="http://www.tei-c.org/ns/1.0">&xxe;&net;</TEI>"""


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "external-entity"])
def test_hostile_xml_is_rejected_without_resolving_anything(payload):
    with pytest.raises(InvalidXML, match="DOCTYPE") as caught:
        codec.parse_manuscript(payload, "hostile.xml")
    assert "root:" not in str(caught.value)  # nothing of /etc/passwd leaked into the message


def test_the_parser_never_expands_entities():
    # Even below parse_xml's DOCTYPE check, the parser itself resolves nothing.
    root = etree.fromstring(EXTERNAL_ENTITY, parser())
    assert "root:" not in etree.tostring(root, encoding="unicode")


def test_malformed_xml_gets_a_message_with_its_position():
    with pytest.raises(InvalidXML, match=r"broken.xml cannot be read as XML: .*line 1"):
        codec.parse_manuscript(b"<TEI><teiHeader></TEI>", "broken.xml")


def test_a_document_that_is_not_tei_is_refused():
    with pytest.raises(WorkbenchError, match="not a TEI document"):
        codec.parse_manuscript(b"<html/>", "page.html")


def test_spaces_at_the_ends_of_a_line_are_kept_and_indentation_is_not():
    """eScriptorium's lines often end in a space; TEI → workbench → TEI must keep it, while
    the line break and indentation the file puts after each line are not part of it."""
    manuscript = make_manuscript(lines=5)
    texts = ["ends in a space ", " starts with one", "  both  ", "<del>струк</del> ", "none"]
    for line, text in zip(manuscript.pages[0].lines, texts, strict=True):
        line.text = text
    data = codec.serialize(codec.build_document(manuscript))
    again = codec.parse_manuscript(data)
    assert [line.text for line in again.pages[0].lines] == texts
    assert codec.serialize(codec.build_document(again)) == data
    # Written by hand, or by another tool: each line on a line of its own, indented.
    by_hand = data.replace(b"ends in a space \n", b"ends in a space\n        \n")
    assert codec.parse_manuscript(by_hand).pages[0].lines[0].text == "ends in a space"


def test_line_types_and_ids_from_other_tools_are_kept_in_valid_tei():
    from workbench.tei import validation

    manuscript = make_manuscript(lines=3)
    page = manuscript.pages[0]
    page.regions[0].source_id = "eSc_textblock_5597fbb3"
    first, second, third = page.lines
    first.kind, first.source_id = "HeadingLine:title", "eSc_line_4f950f30"
    second.kind = "heading"  # a type, but made in the workbench: no foreign id
    data = codec.serialize(codec.build_document(manuscript))
    root = etree.fromstring(data)
    zones = {zone.get(XML_ID): zone for zone in root.iterfind(".//tei:zone", NSMAP)}
    assert (zones[first.id].get("subtype"), zones[first.id].get("n")) == ("HeadingLine:title", "eSc_line_4f950f30")
    assert (zones[second.id].get("subtype"), zones[second.id].get("n")) == ("heading", None)
    assert (zones[third.id].get("subtype"), zones[third.id].get("n")) == (None, None)
    assert zones[page.regions[0].id].get("n") == "eSc_textblock_5597fbb3"
    again = codec.parse_manuscript(data).pages[0]
    assert [(line.kind, line.source_id) for line in again.lines] == [
        ("HeadingLine:title", "eSc_line_4f950f30"),
        ("heading", None),
        (None, None),
    ]
    assert again.regions[0].source_id == "eSc_textblock_5597fbb3"
    tree = parse_xml(data)
    assert validation.check_project(tree) == []
    assert validation.check_tei_all(tree) == []
