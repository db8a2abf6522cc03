"""A line's TEI inline markup as HTML, for the editor and the reading room."""

from __future__ import annotations

from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

from lxml import etree

from workbench.tei.text import parse_fragment
from workbench.tei.xml import NSMAP


def line_html(text: str, reading: bool = False) -> str:
    """A line's content as HTML for display: escaped text, each TEI element as a ``span``.

    Diplomatic (default): deletions struck through, additions raised, abbreviations
    with their expansion in brackets, unclear text marked, gaps as [...], supplied
    text in square brackets. ``reading``: the normalised reading text (deletions
    left out, expansions instead of abbreviations, additions in place).
    """
    if not text:
        return ""
    return "".join(_html_content(parse_fragment(text, "preview"), reading))


def _html_content(element: etree._Element, reading: bool) -> list[str]:
    parts = [xml_escape(element.text or "")]
    for child in element:
        parts += _html_element(child, reading)
        parts.append(xml_escape(child.tail or ""))
    return parts


def _html_element(element: etree._Element, reading: bool) -> list[str]:
    name = etree.QName(element).localname
    attributes = " ".join(f"data-{key}={quoteattr(value)}" for key, value in element.attrib.items())
    if name == "gap":
        extent = element.get("quantity")
        label = f"[…{extent}]" if extent else "[…]"
        return [f'<span class="tei-gap" {attributes}>{xml_escape(label)}</span>']
    if name == "choice":
        abbr = element.find("tei:abbr", NSMAP)
        expan = element.find("tei:expan", NSMAP)
        if reading:
            return _html_content(expan, reading) if expan is not None else []
        inner = _html_content(abbr, reading) if abbr is not None else []
        if expan is not None:
            inner += ['<span class="tei-expan">(', *_html_content(expan, reading), ")</span>"]
        return ['<span class="tei-choice">', *inner, "</span>"]
    if name == "del" and reading:
        return []
    if reading:
        return _html_content(element, reading)
    place = element.get("place", "")
    return [f'<span class="tei-{name} {xml_escape(place)}" {attributes}>', *_html_content(element, reading), "</span>"]
