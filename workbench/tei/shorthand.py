"""The editor's inline-markup shorthand, and its exact conversion to and from TEI.

Philologists correct lines by typing text, not XML. The shorthand follows the
Leiden conventions where they have an ASCII form (``[[…]]`` deleted, ``[…]``
supplied) and writes every other construct as ``{`` + one sign + content + ``}``;
a keyword after ``|`` becomes the one attribute a construct may carry. See
SHORTHAND.md for the table shown to editors.

Three rules keep it unambiguous, so that conversion is lossless both ways:

- ``\\ [ ] { } |`` are always markup; a backslash makes the next character
  literal, whatever it is. Nothing else is ever markup, so ``+ ? * .`` and
  parentheses, common in the manuscripts, are typed as they are.
- ``[[`` always opens a deletion. (So ``[[[x]]]`` is a deletion that begins with
  supplied text; supplied text that begins with a deletion has no spelling and
  ``from_tei`` says so.)
- Right after ``{``, ``+``/``?``/``*``/``...`` choose addition, unclear text,
  highlighting, gap, and ``@``/``#``/``~`` a name of a person, a place or a work;
  anything else begins an abbreviation, whose first character is escaped when it
  would look like one of those signs.

A name's keyword is not from a list but a key: ``{@Трифонъ|trifonov}`` is
``<persName ref="register.xml#trifonov">``, ``{~Хамлетъ|b001}`` is
``<title ref="bibliography.xml#b001">``. Whether the key is in the register is the
caller's to check (``register.check_refs``): this module knows no edition.

A keyword, present or absent, maps to an attribute, present or absent: there are
no defaults, so nothing is added or lost on the way.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import NoReturn
from xml.sax.saxutils import escape as xml_escape

from lxml import etree

from workbench.model import WorkbenchError
from workbench.tei.xml import TEI_NS, XML_NS, parser

MARKUP = frozenset("\\[]{}|")


class ShorthandError(WorkbenchError):
    """A line the shorthand cannot convert, and where: the web form puts a caret there.

    ``position`` is the 0-based index of the offending character in the input (at
    most ``len(input)``); the message counts columns from 1, as editors do.
    """

    def __init__(self, position: int, message: str, code: str = "markup") -> None:
        super().__init__(f"column {position + 1}: {message}")
        self.position = position
        # What kind of mistake, for a translated message (the web editor's "Bulgarian").
        self.code = code


def pointer(text: str, position: int) -> str:
    """``text`` and, under it, a caret at ``position``, for a monospaced error display.

    Combining marks (stress U+0301, titlo U+0483) take no column of their own, and
    tabs are copied, so the caret stays under the character it means.
    """
    before = text[:position]
    pad = "".join("\t" if char == "\t" else " " for char in before if not unicodedata.combining(char))
    return f"{text}\n{pad}^"


@dataclass(frozen=True)
class _Kind:
    """One construct: its TEI element, how it is written, the keywords it takes."""

    element: str
    noun: str  # for messages
    opener: str
    closer: str
    attribute: str | None = None
    keywords: tuple[str, ...] = ()
    target: str | None = None  # a name: the file its key points into (``@ref="file#key"``)


_DEL = _Kind("del", "deletion", "[[", "]]", "rend", ("strikethrough", "overwritten", "erasure"))
_SUPPLIED = _Kind("supplied", "supplied text", "[", "]", "reason", ("lost", "omitted", "illegible", "damage"))
_ADD = _Kind("add", "addition", "{+", "}", "place", ("above", "below", "margin", "inline"))
_UNCLEAR = _Kind("unclear", "unclear text", "{?", "}", "reason", ("faded", "damage", "illegible"))
_HI = _Kind("hi", "highlighted text", "{*", "}", "rend", ("underline", "superscript", "subscript"))
_GAP = _Kind("gap", "gap", "{...", "}", "reason", ("illegible", "lost"))
# Names: the keyword is a key of the register (people, places) or of the bibliography (works).
_PERSON = _Kind("persName", "person's name", "{@", "}", "ref", target="register.xml")
_PLACE = _Kind("placeName", "place name", "{#", "}", "ref", target="register.xml")
_WORK = _Kind("title", "title of a work", "{~", "}", "ref", target="bibliography.xml")
# A key as register.py allows it (an xml:id kept to what can be typed and stand in a URL).
NAME_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
# An abbreviation is one construct written in two parts: "{" abbr "|" expan "}".
_ABBR = _Kind("abbr", "abbreviation", "{", "|")
_EXPAN = _Kind("expan", "abbreviation", "{", "}")

_CONTAINERS = {kind.element: kind for kind in (_DEL, _SUPPLIED, _ADD, _UNCLEAR, _HI, _PERSON, _PLACE, _WORK)}
_SIGNS = {"+": _ADD, "?": _UNCLEAR, "*": _HI, "@": _PERSON, "#": _PLACE, "~": _WORK}
# The names a line can tag, and the file each one's key points into.
NAMES: dict[str, str] = {kind.element: kind.target for kind in (_PERSON, _PLACE, _WORK)}
# The attribute each construct may carry, and its allowed values: the README shows these.
KEYWORDS: dict[str, tuple[str, tuple[str, ...]]] = {
    kind.element: (kind.attribute, kind.keywords) for kind in (_DEL, _ADD, _UNCLEAR, _GAP, _SUPPLIED, _HI)
}


@dataclass(frozen=True)
class Construct:
    """A row of the editors' table: what they type, and what the line then holds."""

    name: str
    shorthand: str
    tei: str
    note: str


# One example per construct, for SHORTHAND.md and the README; the tests convert each both ways.
CONSTRUCTS: list[Construct] = [
    Construct(
        "abbreviation and its expansion",
        "{г.|господинъ}",
        "<choice><abbr>г.</abbr><expan>господинъ</expan></choice>",
        "neither part may be empty",
    ),
    Construct(
        "deletion", "[[той|strikethrough]]", '<del rend="strikethrough">той</del>', "rend: " + ", ".join(_DEL.keywords)
    ),
    Construct("addition", "{+отъ|above}", '<add place="above">отъ</add>', "place: " + ", ".join(_ADD.keywords)),
    Construct(
        "unclear text", "{?ѫ|faded}", '<unclear reason="faded">ѫ</unclear>', "reason: " + ", ".join(_UNCLEAR.keywords)
    ),
    Construct(
        "gap (3 characters; `{...}`: extent unknown)",
        "{...3|illegible}",
        '<gap reason="illegible" quantity="3" unit="chars"/>',
        "reason: " + ", ".join(_GAP.keywords),
    ),
    Construct(
        "supplied text",
        "[ѣ|omitted]",
        '<supplied reason="omitted">ѣ</supplied>',
        "reason: " + ", ".join(_SUPPLIED.keywords),
    ),
    Construct(
        "highlighting",
        "{*Балкана|underline}",
        '<hi rend="underline">Балкана</hi>',
        "rend: " + ", ".join(_HI.keywords),
    ),
    Construct(
        "a person's name, with its key in the register",
        "{@Трифонъ|trifonov}",
        '<persName ref="register.xml#trifonov">Трифонъ</persName>',
        "the person's key (`workbench register list`)",
    ),
    Construct(
        "a place name, with its key in the register",
        "{#Русчукъ|ruse}",
        '<placeName ref="register.xml#ruse">Русчукъ</placeName>',
        "the place's key",
    ),
    Construct(
        "the title of a work, with its bibliography entry",
        "{~Хамлетъ|b001}",
        '<title ref="bibliography.xml#b001">Хамлетъ</title>',
        "the entry's id (b001 …)",
    ),
]


# -- shorthand → TEI ----------------------------------------------------------------


def to_tei(shorthand: str) -> str:
    """The line as ``Line.text`` stores it: namespace-less TEI, text escaped as lxml writes it.

    Raises ShorthandError at the first thing that cannot be read, rather than
    guessing: a guess would put markup into the edition that nobody typed.
    """
    return _Reader(shorthand).line()


def _allowed(char: str) -> bool:
    # Control characters (tab and line breaks included: a line is one line) and what
    # XML cannot hold at all never belong in a transcription.
    return unicodedata.category(char) not in ("Cc", "Cs") and char not in "\ufffe\uffff"


def _not_allowed(char: str) -> str:
    what = "a control character" if unicodedata.category(char) == "Cc" else "not a character a text can hold"
    return f"{_describe(char)} ({what}) cannot stand in a line"


def _describe(char: str) -> str:
    return f'"{char}"' if char.isprintable() else f"U+{ord(char):04X}"


class _Reader:
    """A recursive-descent reader: one method per construct, each returning TEI text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        # Constructs opened and not yet closed, with where they were opened: the
        # messages about a wrong closer name them.
        self.open: list[tuple[_Kind, int]] = []

    def line(self) -> str:
        tei = self.content()
        if self.pos < len(self.text):
            self.fail_here()  # content stops only at "]", "}" or "|", and nothing is open
        return tei

    def content(self) -> str:
        """Text and constructs up to the next "]", "}", "|" or the end: the caller decides what those mean."""
        # Plain text is escaped with & < > only, as lxml writes text and text_fragment does.
        parts: list[str] = []
        run: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\":
                if self.pos + 1 == len(self.text):
                    raise ShorthandError(
                        self.pos,
                        '"\\" at the end of the line escapes nothing; write \\\\ for a backslash',
                        code="escape",
                    )
                self.pos += 1
                run.append(self.literal())
            elif char in "[{":
                parts.append(xml_escape("".join(run)))
                run = []
                parts.append(self.bracket() if char == "[" else self.brace())
            elif char in "]}|":
                break
            else:
                run.append(self.literal())
        parts.append(xml_escape("".join(run)))
        return "".join(parts)

    def literal(self) -> str:
        char = self.text[self.pos]
        if not _allowed(char):
            raise ShorthandError(self.pos, _not_allowed(char), code="character")
        self.pos += 1
        return char

    def bracket(self) -> str:
        return self.container(_DEL if self.text.startswith("[[", self.pos) else _SUPPLIED)

    def brace(self) -> str:
        if self.text.startswith("{...", self.pos):
            return self.gap()
        sign = self.text[self.pos + 1 : self.pos + 2]
        return self.container(_SIGNS[sign]) if sign in _SIGNS else self.choice()

    def container(self, kind: _Kind) -> str:
        start = self.begin(kind)
        inner = self.content()
        self.check_open(kind, start)
        if not inner:
            raise ShorthandError(
                self.pos,
                f"{_describe(self.text[self.pos])} leaves the {kind.noun} opened at column {start + 1} empty",
                code="empty",
            )
        keyword = self.keyword(kind)
        self.close(kind)
        return _element(kind.element, {kind.attribute: keyword} if keyword else {}, inner)

    def choice(self) -> str:
        start = self.begin(_ABBR)
        abbr = self.content()
        self.check_open(_ABBR, start)
        if self.text[self.pos] == "}":
            raise ShorthandError(
                self.pos,
                f'"}}" ends the abbreviation opened at column {start + 1} before its expansion: write {{г.|господинъ}}',
                code="abbreviation",
            )
        if self.text[self.pos] != "|":
            self.fail_here()
        if not abbr:
            raise ShorthandError(
                self.pos, f'"|" leaves the abbreviation opened at column {start + 1} empty', code="empty"
            )
        self.pos += 1
        self.open[-1] = (_EXPAN, start)
        expan = self.content()
        self.check_open(_EXPAN, start)
        if not expan:
            raise ShorthandError(
                self.pos,
                f"{_describe(self.text[self.pos])} leaves the expansion of the abbreviation at column {start + 1} empty",
                code="empty",
            )
        self.close(_EXPAN)
        return f"<choice><abbr>{abbr}</abbr><expan>{expan}</expan></choice>"

    def gap(self) -> str:
        start = self.begin(_GAP)
        digits = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in "0123456789":
            self.pos += 1
        quantity = self.text[digits : self.pos]
        if quantity.startswith("0"):
            raise ShorthandError(
                digits,
                f'"{quantity}" is not an extent: a gap is 1 or more characters long, e.g. {{...3}}',
                code="extent",
            )
        reason = self.keyword(_GAP)
        self.check_open(_GAP, start)
        if self.text[self.pos] != "}":
            raise ShorthandError(
                self.pos,
                f"{_describe(self.text[self.pos])} cannot stand in a gap: write {{...}} (extent unknown), "
                "{...3} (three characters) or {...3|lost}",
                code="gap",
            )
        self.pos += 1
        self.open.pop()
        attributes = {"reason": reason} if reason else {}
        if quantity:
            attributes |= {"quantity": quantity, "unit": "chars"}
        return _element("gap", attributes, "")

    def begin(self, kind: _Kind) -> int:
        start = self.pos
        self.pos += len(kind.opener)
        self.open.append((kind, start))
        return start

    def check_open(self, kind: _Kind, start: int) -> None:
        if self.pos == len(self.text):
            closer = "}" if kind is _ABBR else kind.closer
            raise ShorthandError(
                start, f'"{kind.opener}" opens {_a(kind.noun)} that is never closed (with "{closer}")', code="unclosed"
            )

    def keyword(self, kind: _Kind) -> str | None:
        if not self.text.startswith("|", self.pos):
            return None
        bar = self.pos
        self.pos += 1
        while self.pos < len(self.text) and self.text[self.pos] not in MARKUP:
            self.literal()
        word = self.text[bar + 1 : self.pos]
        if kind.target:
            if not word:
                raise ShorthandError(
                    bar, f'"|" in {_a(kind.noun)} must be followed by its key in {kind.target}', code="key"
                )
            if not NAME_KEY.fullmatch(word):
                raise ShorthandError(
                    bar + 1,
                    f'"{word}" is not a key: after "|" in {_a(kind.noun)} comes its key in '
                    f"{kind.target}, letters, digits, -, _ and ., beginning with a letter, e.g. {{@Трифонъ|trifonov}}",
                    code="key",
                )
            return f"{kind.target}#{word}"
        choices = ", ".join(kind.keywords)
        if not word:
            raise ShorthandError(
                bar, f'"|" in {_a(kind.noun)} must be followed by its {kind.attribute}: {choices}', code="keyword"
            )
        if word not in kind.keywords:
            raise ShorthandError(
                bar + 1,
                f'"{word}" is not a {kind.attribute} the shorthand knows for {_a(kind.noun)}; use {choices}',
                code="keyword",
            )
        return word

    def close(self, kind: _Kind) -> None:
        if self.pos == len(self.text):  # the line ended after the keyword
            self.check_open(*self.open[-1])
        if self.text.startswith(kind.closer, self.pos):
            self.pos += len(kind.closer)
            self.open.pop()
            return
        self.fail_here()

    def fail_here(self) -> NoReturn:
        """Explain the character at ``pos``, which is not what the innermost open construct needs."""
        char = self.text[self.pos]
        token = "]]" if self.text.startswith("]]", self.pos) else char
        inner, inner_start = self.open[-1] if self.open else (None, 0)
        where = f"the {inner.noun} opened at column {inner_start + 1}" if inner else ""
        if token == "|":
            if inner is None:
                message = '"|" stands outside any bracket; write \\| for a literal bar'
            elif inner is _EXPAN:
                message = f'"|" is a second bar in {where}; write \\| for a literal bar'
            else:
                message = f'"|" cannot follow the keyword of {where}; write \\| for a literal bar'
        elif token in ("]]", "]", "}"):
            closes = {"]]": "a deletion", "]": "supplied text", "}": "a {…} construct"}[token]
            # "}" also ends an abbreviation that has not reached its "|" yet.
            target = next(
                ((k, s) for k, s in reversed(self.open) if k.closer == token or (token == "}" and k is _ABBR)), None
            )
            if target is None:
                message = f'"{token}" closes {closes} that was never opened'
                if inner:
                    message += f'; {where} closes with "{inner.closer}"'
            else:
                message = (
                    f'"{token}" closes the {target[0].noun} opened at column {target[1] + 1}, '
                    f'but {where} is still open; it closes with "{inner.closer}"'
                )
        else:  # only after a keyword: content() itself stops at nothing else
            message = f'{_describe(char)} cannot follow the keyword of {where}; it closes with "{inner.closer}"'
        raise ShorthandError(self.pos, message, code="bar" if token == "|" else "closer")


def _a(noun: str) -> str:
    return noun if noun.endswith("text") else f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def _element(name: str, attributes: dict[str, str], inner: str) -> str:
    # Keywords and digits need no attribute escaping; the order is the one lxml keeps.
    attrs = "".join(f' {key}="{value}"' for key, value in attributes.items())
    return f"<{name}{attrs}>{inner}</{name}>" if inner else f"<{name}{attrs}/>"


# -- TEI → shorthand ----------------------------------------------------------------

_WRAPPER = f'<ab xmlns="{TEI_NS}">'
_T = f"{{{TEI_NS}}}"


def from_tei(fragment: str) -> str:
    """The shorthand for a line's TEI; ``to_tei`` of the result gives the same markup back.

    Raises ShorthandError, positioned in ``fragment``, for markup the shorthand
    cannot write (another attribute, an unknown keyword, text inside <choice>…),
    rather than dropping it: the editor would save the line without it.
    """
    for position, char in enumerate(fragment):
        if unicodedata.category(char) == "Cs":  # lxml cannot even encode it to say where it is
            raise ShorthandError(position, _not_allowed(char), code="character")
    try:
        root = etree.fromstring(f"{_WRAPPER}{fragment}</ab>", parser())
    except etree.XMLSyntaxError as error:
        # libxml2's own line and column count in the wrapped text; the position is ours.
        reason = re.sub(r", line \d+, column \d+$", "", error.msg)
        raise ShorthandError(
            _syntax_error_position(fragment, error), f"the markup is not well-formed ({reason})", code="markup"
        ) from None
    return _Writer(fragment, root).content(root)


class _Writer:
    def __init__(self, fragment: str, root: etree._Element) -> None:
        self.fragment = fragment
        # Where each element, comment or processing instruction begins, for messages.
        self.nodes = list(root.iterdescendants())
        self.starts = dict(zip(self.nodes, _node_offsets(fragment), strict=False))

    def fail(self, node: etree._Element, message: str) -> NoReturn:
        raise ShorthandError(self.starts.get(node, 0), message, code="markup")

    def content(self, element: etree._Element) -> str:
        parts = [self.text(element.text, element)]
        for child in element:
            parts.append(self.node(child))
            parts.append(self.text(child.tail, element))
        return "".join(parts)

    def text(self, text: str | None, element: etree._Element) -> str:
        out = []
        for char in text or "":
            if not _allowed(char):
                raise ShorthandError(
                    _find_char(self.fragment, char, self.starts.get(element, 0)),
                    _not_allowed(char),
                    code="character",
                )
            out.append("\\" + char if char in MARKUP else char)
        return "".join(out)

    def node(self, node: etree._Element) -> str:
        if not isinstance(node.tag, str):
            self.fail(node, "comments and processing instructions cannot be written in the shorthand")
        name = etree.QName(node)
        if name.namespace != TEI_NS:
            self.fail(node, f"<{name.localname}> is not TEI; the shorthand writes TEI inline markup only")
        if name.localname == "choice":
            return self.choice(node)
        if name.localname == "gap":
            return self.gap(node)
        kind = _CONTAINERS.get(name.localname)
        if kind is None:
            self.fail(node, f"<{name.localname}> cannot be written in the shorthand here")
        keyword = self.keyword(node, kind)
        inner = self.content(node)
        if not inner:
            self.fail(node, f"the <{kind.element}> is empty; the shorthand has no empty {kind.noun}")
        if kind is _SUPPLIED and not node.text and node[0].tag in (f"{_T}del", f"{_T}supplied"):
            self.fail(
                node,
                f"<supplied> beginning with <{etree.QName(node[0]).localname}> cannot be written: "
                '"[[[" always reads as a deletion that begins with supplied text',
            )
        return f"{kind.opener}{inner}{'|' + keyword if keyword else ''}{kind.closer}"

    def keyword(self, node: etree._Element, kind: _Kind, others: tuple[str, ...] = ()) -> str | None:
        for attribute in node.attrib:
            if attribute not in (kind.attribute, *others):
                shown = attribute.replace(f"{{{XML_NS}}}", "xml:")
                self.fail(node, f"<{kind.element}> has @{shown}, which the shorthand cannot write")
        value = node.get(kind.attribute)
        if value is not None and kind.target:
            file, hash_sign, key = value.partition("#")
            if file != kind.target or not hash_sign or not NAME_KEY.fullmatch(key):
                self.fail(node, f'<{kind.element} ref="{value}">: the shorthand writes refs to {kind.target}#key only')
            return key
        if value is not None and value not in kind.keywords:
            self.fail(
                node,
                f'<{kind.element} {kind.attribute}="{value}">: the shorthand knows {", ".join(kind.keywords)}',
            )
        return value

    def choice(self, node: etree._Element) -> str:
        parts = list(node)
        if [part.tag for part in parts] != [f"{_T}abbr", f"{_T}expan"] or node.attrib:
            self.fail(node, "a <choice> the shorthand can write is exactly <abbr>…</abbr><expan>…</expan>")
        abbr, expan = parts
        if node.text or abbr.tail or expan.tail:
            self.fail(node, "text between the parts of a <choice> cannot be written in the shorthand")
        written = []
        for part in parts:
            if part.attrib:
                self.fail(part, f"<{etree.QName(part).localname}> with attributes cannot be written in the shorthand")
            inner = self.content(part)
            if not inner:
                self.fail(part, f"the <{etree.QName(part).localname}> is empty; the shorthand needs both parts")
            written.append(inner)
        # Escape a first character that would otherwise read as another construct's sign.
        if abbr.text and (abbr.text[0] in _SIGNS or abbr.text.startswith("...")):
            written[0] = "\\" + written[0]
        return "{" + "|".join(written) + "}"

    def gap(self, node: etree._Element) -> str:
        reason = self.keyword(node, _GAP, others=("quantity", "unit"))
        quantity, unit = node.get("quantity"), node.get("unit")
        if len(node) or node.text:
            self.fail(node, "a <gap> with content cannot be written in the shorthand")
        if (quantity is None) != (unit is None) or unit not in (None, "chars"):
            self.fail(node, '<gap> needs both @quantity and unit="chars", or neither (extent unknown)')
        if quantity is not None and not re.fullmatch(r"[1-9][0-9]*", quantity):
            self.fail(node, f'<gap quantity="{quantity}">: the shorthand writes whole numbers of characters from 1')
        return "{..." + (quantity or "") + ("|" + reason if reason else "") + "}"


def _node_offsets(fragment: str) -> list[int]:
    """Where each element, comment and processing instruction of a well-formed fragment begins.

    In well-formed XML a "<" outside comments, CDATA and processing instructions
    always begins a tag, so document order and source order agree.
    """
    offsets = []
    i = fragment.find("<")
    while i != -1:
        end = i + 1
        if fragment.startswith("<!--", i):
            offsets.append(i)
            end = fragment.index("-->", i) + 3
        elif fragment.startswith("<![CDATA[", i):
            end = fragment.index("]]>", i) + 3
        elif fragment.startswith("<?", i):
            offsets.append(i)
            end = fragment.index("?>", i) + 2
        elif not fragment.startswith("</", i):
            offsets.append(i)
        i = fragment.find("<", end)
    return offsets


def _find_char(fragment: str, char: str, default: int) -> int:
    """Where ``char`` stands in the fragment, written as itself or as a character reference."""
    if char in fragment:
        return fragment.index(char)
    for reference in re.finditer(r"&#(x[0-9a-fA-F]+|[0-9]+);", fragment):
        number = reference.group(1)
        try:
            found = chr(int(number[1:], 16) if number.startswith("x") else int(number))
        except (ValueError, OverflowError):
            continue  # not a reference at all (inside CDATA, say)
        if found == char:
            return reference.start()
    return default


def _syntax_error_position(fragment: str, error: etree.XMLSyntaxError) -> int:
    # libxml2 reports a 1-based line and a 1-based column in bytes, in the wrapped text.
    line, column = error.position
    lines = fragment.split("\n")
    if not 1 <= line <= len(lines):
        return len(fragment)
    budget = column - 1 - (len(_WRAPPER) if line == 1 else 0)  # the wrapper is ASCII
    within = 0
    for char in lines[line - 1]:
        budget -= len(char.encode("utf-8", errors="surrogatepass"))
        if budget < 0:
            break
        within += 1
    return min(sum(len(before) + 1 for before in lines[: line - 1]) + within, len(fragment))
