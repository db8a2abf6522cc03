"""Reading XML from outside: the one hardened parser (design.md §2), for TEI, PAGE and ALTO alike,
and the TEI and XML namespaces."""

from __future__ import annotations

from lxml import etree

from workbench.model import WorkbenchError

TEI_NS = "http://www.tei-c.org/ns/1.0"
XML_NS = "http://www.w3.org/XML/1998/namespace"
NSMAP = {"tei": TEI_NS, "xml": XML_NS}
XML_ID = f"{{{XML_NS}}}id"

# Outside input never expands entities, loads a DTD or touches the network
# (billion laughs, XXE); huge_tree stays off so libxml2's size limits apply.
_PARSER_OPTIONS = dict(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


class InvalidXML(WorkbenchError):
    """The bytes are not acceptable XML (malformed, or with a DOCTYPE or entities).

    ``code`` says which ("not-xml" or "doctype"), ``line`` where the parser stopped, for an
    interface that words the message in its own language."""

    def __init__(self, message: str, code: str = "not-xml", line: int | None = None):
        super().__init__(message)
        self.code, self.line = code, line


def parser(**options: bool) -> etree.XMLParser:
    """The hardened parser every piece of outside XML goes through."""
    return etree.XMLParser(**_PARSER_OPTIONS, **options)


def parse_xml(data: bytes, name: str = "document") -> etree._ElementTree:
    """Parse untrusted XML, refusing DTDs and entity declarations with a clear message."""
    try:
        tree = etree.ElementTree(etree.fromstring(data, parser(remove_blank_text=False)))
    except etree.XMLSyntaxError as error:
        raise InvalidXML(f"{name} cannot be read as XML: {error}", "not-xml", error.lineno) from None
    docinfo = tree.docinfo
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None or docinfo.doctype:
        raise InvalidXML(
            # Neutral about what the file is: PAGE and ALTO come through here as well as TEI.
            f"{name} has a DOCTYPE declaration, which the workbench refuses in any XML it reads: "
            "entity declarations can expand without bound or read other files",
            "doctype",
        )
    return tree
