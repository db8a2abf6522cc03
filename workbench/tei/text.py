"""The text of one line: its TEI inline markup (a fragment), checked, and the plain texts
made from it, diplomatic (as written) and reading (normalised)."""

from __future__ import annotations

from xml.sax.saxutils import escape as xml_escape

from lxml import etree

from workbench.model import Line, WorkbenchError
from workbench.tei.xml import TEI_NS, XML_ID, parser

# Inline markup is line-scoped (design.md §2): only these elements may stand inside a line.
INLINE_ELEMENTS = frozenset(
    {"choice", "abbr", "expan", "del", "add", "unclear", "gap", "supplied", "hi", "persName", "placeName", "title"}
)
# Names a line may tag, each pointing with @ref into the register or the bibliography.
NAME_ELEMENTS = ("persName", "placeName", "title")


def parse_fragment(text: str, line_id: str) -> etree._Element:
    try:
        fragment = etree.fromstring(f'<ab xmlns="{TEI_NS}">{text}</ab>', parser())
    except etree.XMLSyntaxError as error:
        raise WorkbenchError(f"line {line_id}: the text is not well-formed markup ({error.msg})") from None
    for element in fragment.iterdescendants():
        if not isinstance(element.tag, str):
            raise WorkbenchError(f"line {line_id}: comments and processing instructions are not allowed in a line")
        name = etree.QName(element)
        if name.namespace != TEI_NS or name.localname not in INLINE_ELEMENTS:
            raise WorkbenchError(
                f"line {line_id}: <{name.localname}> is not allowed inside a line; "
                f"use one of {', '.join(sorted(INLINE_ELEMENTS))}"
            )
        if element.get(XML_ID) is not None:
            # The workbench names the document's elements itself; an id typed into a line
            # could repeat one elsewhere in the document, which would make it unreadable.
            raise WorkbenchError(f"line {line_id}: xml:id is not allowed inside a line (on <{name.localname}>)")
    return fragment


def text_fragment(plain: str) -> str:
    """Plain text (from a recognition model, say) as a line's content: escaped, no markup."""
    return xml_escape(plain)


def line_plain_text(line: Line) -> str:
    """The line's text without its markup (every text node, expansions included)."""
    if not line.text:
        return ""
    return "".join(parse_fragment(line.text, line.id).itertext())


def line_refs(text: str) -> tuple[str, ...]:
    """What the line's tagged names point at (``register.xml#trifonov``, ``bibliography.xml#b001``),
    each once, in the order they first appear."""
    if not text:
        return ()
    refs = (
        element.get("ref")
        for element in parse_fragment(text, "line").iterdescendants(*(f"{{{TEI_NS}}}{name}" for name in NAME_ELEMENTS))
    )
    return tuple(dict.fromkeys(ref for ref in refs if ref))


def diplomatic_text(text: str) -> str:
    """A line's words as written on the page: deletions and abbreviations in, expansions,
    supplied text and gaps out (what the "exact spelling" search looks in)."""
    return _plain(parse_fragment(text, "line"), reading=False) if text else ""


def reading_text(text: str) -> str:
    """A line's normalised reading: expansions instead of abbreviations, deletions left out,
    supplied text in (what a reader's search looks in)."""
    return _plain(parse_fragment(text, "line"), reading=True) if text else ""


def _plain(element: etree._Element, reading: bool) -> str:
    parts = [element.text or ""]
    for child in element:
        name = etree.QName(child).localname
        left_out = ("expan", "supplied", "gap") if not reading else ("abbr", "del", "gap")
        if name not in left_out:
            parts.append(_plain(child, reading))
        elif name == "gap":
            parts.append(" ")  # a gap separates the words around it
        parts.append(child.tail or "")
    return "".join(parts)
