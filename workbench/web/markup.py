"""A line's TEI inline markup as HTML, for the editor and the reading room."""

from __future__ import annotations

from collections.abc import Callable
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

from lxml import etree

from workbench.tei.text import NAME_ELEMENTS, parse_fragment
from workbench.tei.xml import NSMAP

# A tagged name's page, from its @ref, or None (the reading room links names to the registers).
NameUrl = Callable[[str], str | None]


def line_html(text: str, reading: bool = False, name_url: NameUrl | None = None) -> str:
    """A line's content as HTML for display: escaped text, each TEI element as a ``span``.

    Diplomatic (default): deletions struck through, additions raised, abbreviations
    with their expansion in brackets, unclear text marked, gaps as [...], supplied
    text in square brackets. ``reading``: the normalised reading text (deletions
    left out, expansions instead of abbreviations, additions in place). A tagged name
    (person, place, work) is marked in both, and is a link where ``name_url`` gives one.
    """
    if not text:
        return ""
    return "".join(_html_content(parse_fragment(text, "preview"), reading, name_url))


def _html_content(element: etree._Element, reading: bool, name_url: NameUrl | None = None) -> list[str]:
    parts = [xml_escape(element.text or "")]
    for child in element:
        parts += _html_element(child, reading, name_url)
        parts.append(xml_escape(child.tail or ""))
    return parts


def _html_element(element: etree._Element, reading: bool, name_url: NameUrl | None = None) -> list[str]:
    name = etree.QName(element).localname
    if name in NAME_ELEMENTS:
        ref = element.get("ref") or ""
        url = name_url(ref) if name_url and ref else None
        tag = f"a href={quoteattr(url)}" if url else "span"
        inner = _html_content(element, reading, name_url)
        return [f'<{tag} class="tei-name tei-{name}" data-ref={quoteattr(ref)}>', *inner, f"</{tag.split()[0]}>"]
    attributes = " ".join(f"data-{key}={quoteattr(value)}" for key, value in element.attrib.items())
    if name == "gap":
        extent = element.get("quantity")
        label = f"[…{extent}]" if extent else "[…]"
        return [f'<span class="tei-gap" {attributes}>{xml_escape(label)}</span>']
    if name == "choice":
        abbr = element.find("tei:abbr", NSMAP)
        expan = element.find("tei:expan", NSMAP)
        if reading:
            return _html_content(expan, reading, name_url) if expan is not None else []
        inner = _html_content(abbr, reading, name_url) if abbr is not None else []
        if expan is not None:
            inner += ['<span class="tei-expan">(', *_html_content(expan, reading, name_url), ")</span>"]
        return ['<span class="tei-choice">', *inner, "</span>"]
    if name == "del" and reading:
        return []
    if reading:
        return _html_content(element, reading, name_url)
    place = element.get("place", "")
    return [
        f'<span class="tei-{name} {xml_escape(place)}" {attributes}>',
        *_html_content(element, reading, name_url),
        "</span>",
    ]
