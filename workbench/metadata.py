"""Manuscript metadata as editors type it: read, checked and written back as text.

The web form and the ``workbench metadata`` command both hand this module plain
strings (one per field) and show what ``as_text`` gives back; where each field
lives in the TEI header is tei.py's business.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field

from workbench.model import Editor, Manuscript, WorkbenchError

# The fields an editor can change, in the order forms show them.
FIELDS = (
    "title",
    "author",
    "date",
    "years",
    "language",
    "settlement",
    "repository",
    "collection",
    "shelfmark",
    "material",
    "extent",
    "dimensions",
    "hands",
    "editors",
    "licence",
)
_SIMPLE = ("title", "author", "date", "settlement", "repository", "collection", "shelfmark", "material", "extent")

# Licences editors name most often, by their SPDX identifiers; any other licence is given by its URL.
LICENCES = {
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC-BY-SA-4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
    "CC-BY-NC-4.0": "https://creativecommons.org/licenses/by-nc/4.0/",
    "CC-BY-NC-SA-4.0": "https://creativecommons.org/licenses/by-nc-sa/4.0/",
    "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "PDM-1.0": "https://creativecommons.org/publicdomain/mark/1.0/",
}

MAX_LENGTH = 500
_YEARS = re.compile(r"\s*(\d{3,4})\s*(?:[-–—]\s*(\d{3,4})\s*)?")
_DIMENSIONS = re.compile(r"\s*(\d{1,4})\s*(?:mm|мм)?\s*[x×хХ*]\s*(\d{1,4})\s*(?:mm|мм)?\s*", re.IGNORECASE)
# A BCP 47 language tag, loosely: a 2–3 letter language, then subtags (bg, bg-Cyrl, chu).
_LANGUAGE = re.compile(r"[a-zA-Z]{2,3}(?:-[a-zA-Z0-9]{1,8})*")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass
class MetadataError(WorkbenchError):
    """A value an editor typed that cannot go into the header; ``code`` names the kind of mistake."""

    field: str
    code: str
    message: str
    # The other fields' mistakes in the same update: an editor sees them all at once.
    others: list[MetadataError] = dataclass_field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(f"{error.field}: {error.message}" for error in self.every)

    @property
    def every(self) -> list[MetadataError]:
        return [self, *self.others]


def as_text(manuscript: Manuscript) -> dict[str, str]:
    """Each field as an editor would type it (what ``update`` reads back unchanged)."""
    values = {name: getattr(manuscript, name) or "" for name in _SIMPLE}
    years = manuscript.years
    values["years"] = "" if not years else str(years[0]) if years[0] == years[1] else f"{years[0]}–{years[1]}"
    values["language"] = manuscript.language or ""
    values["dimensions"] = f"{manuscript.dimensions[0]} × {manuscript.dimensions[1]}" if manuscript.dimensions else ""
    values["hands"] = "\n".join(manuscript.hands)
    values["editors"] = "\n".join(f"{editor.name}: {editor.responsibility}" for editor in manuscript.editors)
    values["licence"] = manuscript.licence or ""
    return values


def update(manuscript: Manuscript, values: Mapping[str, str]) -> list[str]:
    """Set the fields given in ``values`` (others stay as they are); the names of those that changed.

    An empty value clears a field (but a manuscript always has a title). Every value
    is checked before any is set, so a refused update changes nothing; the error raised
    then names every field's mistake (``MetadataError.every``), not just the first.
    """
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise WorkbenchError(f"unknown metadata field(s): {', '.join(sorted(unknown))}")
    parsed: dict[str, object] = {}
    errors: list[MetadataError] = []
    for name, raw in values.items():
        try:
            parsed[name] = _checked(name, raw)
        except MetadataError as error:
            errors.append(error)
    if "years" not in values and parsed.get("date") is not None:
        # A date that is just a year or a range ("1890–1895") gives the years as well.
        if _YEARS.fullmatch(parsed["date"]):
            try:
                parsed["years"] = _parse("years", parsed["date"])
            except MetadataError as error:
                errors.append(MetadataError("date", error.code, error.message))
    if errors:
        raise MetadataError(errors[0].field, errors[0].code, errors[0].message, errors[1:])
    changed = []
    for name, value in parsed.items():
        if getattr(manuscript, name) != value:
            setattr(manuscript, name, value)
            changed.append(name)
    return changed


def _checked(name: str, raw: str) -> object:
    text = raw.replace("\r\n", "\n").strip()
    if len(text) > MAX_LENGTH * (10 if name in ("hands", "editors") else 1):
        raise MetadataError(name, "too-long", f"at most {MAX_LENGTH} characters")
    if _CONTROL.search(text) or (name not in ("hands", "editors") and "\n" in text):
        raise MetadataError(name, "control", "line breaks and control characters are not allowed here")
    return _parse(name, text)


def _parse(name: str, text: str) -> object:
    if name == "title":
        if not text:
            raise MetadataError(name, "required", "a manuscript needs a title")
        return text
    if name in _SIMPLE:
        return text or None
    if not text:
        return [] if name in ("hands", "editors") else None
    if name == "years":
        match = _YEARS.fullmatch(text)
        if not match:
            raise MetadataError(name, "years", f"{text!r} is not a year or a range of years, e.g. 1890 or 1888–1892")
        first, last = int(match[1]), int(match[2] or match[1])
        if last < first:
            raise MetadataError(name, "years", f"the range {text!r} ends before it begins")
        return (first, last)
    if name == "language":
        if not _LANGUAGE.fullmatch(text):
            raise MetadataError(name, "language", f"{text!r} is not a language tag such as bg or chu")
        return text
    if name == "dimensions":
        match = _DIMENSIONS.fullmatch(text)
        if not match or not int(match[1]) or not int(match[2]):
            raise MetadataError(name, "dimensions", f"{text!r} is not height × width in millimetres, e.g. 210 × 170")
        return (int(match[1]), int(match[2]))
    if name == "hands":
        return [hand.strip() for hand in text.split("\n") if hand.strip()]
    if name == "editors":
        editors = []
        for row in filter(None, (row.strip() for row in text.split("\n"))):
            person, colon, responsibility = row.partition(":")
            if not colon or not person.strip() or not responsibility.strip():
                raise MetadataError(name, "editor", f"{row!r} is not 'name: responsibility'")
            editors.append(Editor(person.strip(), responsibility.strip()))
        return editors
    if name == "licence":
        url = LICENCES.get(text, text)
        if not re.fullmatch(r"https?://\S+", url):
            raise MetadataError(name, "licence", f"{text!r} is neither a licence URL nor one of {', '.join(LICENCES)}")
        return url
    raise AssertionError(name)
