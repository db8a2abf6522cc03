"""Correcting one line at a time: versions, conflicts, history and revert.

A line's version is a digest of its text and status. An editor saves with the
version they started from; if the line changed since, the save is refused with a
``Conflict`` carrying the current line, so that nobody overwrites a colleague's
work unseen (design.md §5: no last-write-wins).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from workbench import register
from workbench.edition import Edition
from workbench.journal import Entry
from workbench.model import Line, Manuscript, NotFound, Page, Status, WorkbenchError


class Conflict(WorkbenchError):
    def __init__(self, current: Line, entry: Entry | None):
        self.current = current
        self.entry = entry  # the journal entry of the change the editor had not seen
        who = f" by {entry.who}" if entry else ""
        super().__init__(f"line {current.id} was changed{who} since it was loaded")


@dataclass
class Version:
    number: int  # 0 is the line before any recorded change
    text: str
    status: str | None
    who: str
    time: str
    source: str


def line_version(line: Line) -> str:
    return hashlib.blake2s(f"{line.status}\0{line.text}".encode(), digest_size=8).hexdigest()


class PageChanged(WorkbenchError):
    """A job's result for a page that changed since the job saw it: not applied."""

    code = "page-changed"


def page_version(page: Page) -> str:
    """A page's state as a job saw it: its regions and every line's place, geometry, text and
    status. A remote worker's result carries the version it was computed from, and is
    refused when the page changed since (an editor's work is never overwritten)."""
    digest = hashlib.blake2s(digest_size=8)
    for region in page.regions:
        digest.update(f"r{region.id}\0{region.kind}\0{region.boundary}\n".encode())
    for line in page.lines:
        digest.update(f"l{line.id}\0{line.region}\0{line.baseline}\0{line.boundary}\0".encode())
        digest.update(f"{line_version(line)}\n".encode())
    return digest.hexdigest()


def find_line(edition: Edition, manuscript_id: str, line_id: str) -> tuple[Page, Line]:
    """(a copy of the page, the line) for a line id."""
    page_n = page_number(manuscript_id, line_id)
    try:
        page = edition.read(manuscript_id, page_n).pages[0]
    except WorkbenchError:
        raise _no_line(manuscript_id, line_id) from None
    return page, line_on(page, manuscript_id, line_id)


def page_number(manuscript_id: str, line_id: str) -> str:
    """The page is part of a line's id (``<ms>_p<n>_l<k>``): no need to search for it."""
    page_n = line_id.removeprefix(f"{manuscript_id}_p").partition("_l")[0]
    if not page_n.isdigit():
        raise _no_line(manuscript_id, line_id)
    return page_n


def line_on(page: Page, manuscript_id: str, line_id: str) -> Line:
    line = next((line for line in page.lines if line.id == line_id), None)
    if line is None:
        raise _no_line(manuscript_id, line_id)
    return line


def check_version(edition: Edition, manuscript_id: str, line: Line, base_version: str) -> None:
    """Refuse (``Conflict``) a change to a line that changed since the editor saw ``base_version``."""
    if line_version(line) != base_version:
        entries = list(edition.journal.entries(manuscript_id, line.id))
        raise Conflict(line.copy(), entries[-1] if entries else None)


def _no_line(manuscript_id: str, line_id: str) -> NotFound:
    return NotFound(f"manuscript {manuscript_id} has no line {line_id}")


def save_line(
    edition: Edition,
    manuscript_id: str,
    line_id: str,
    text: str,
    base_version: str,
    who: str,
    status: Status | None = None,
) -> Line:
    """Save a person's text for a line (TEI inline fragment), unless it changed since ``base_version``.

    The status becomes ``status`` if given, else ``corrected`` when the text changed
    (so a verified line that is edited again needs verifying again). ``@resp`` names
    whoever produced the text, so it changes only with the text.
    """
    if not isinstance(text, str):
        # Written as it is, None became the word "None" in the TEI.
        raise WorkbenchError(
            f"line {line_id}: no text to save (got {type(text).__name__}); an empty string saves a line without text"
        )
    page_n = page_number(manuscript_id, line_id)
    # A tagged name must point at an entry of the register or the bibliography, however the
    # line comes (the web editor checks it too, to put the caret on the key).
    register.check_refs(edition, text)

    def change(manuscript: Manuscript) -> Line:
        line = line_on(manuscript.page(page_n), manuscript_id, line_id)
        check_version(edition, manuscript_id, line, base_version)
        if text != line.text:
            line.text = text
            line.resp = manuscript.source("transcription", who).id
            line.cert = None  # a person's text: the machine's confidence no longer applies
            line.status = status or "corrected"
        elif status:
            line.status = status
        # A copy: the line itself belongs to the edition's cached manuscript.
        return line.copy()

    # Saves by several editors at once are written together (Edition.apply).
    return edition.apply(manuscript_id, page_n, change, who)


def history(edition: Edition, manuscript_id: str, line_id: str) -> list[Version]:
    """Every version of a line, oldest first, from the journal (which is never capped)."""
    versions: list[Version] = []
    for entry in edition.journal.entries(manuscript_id, line_id):
        if not versions:
            versions.append(Version(0, entry.old, None, "", "", ""))
        versions.append(Version(len(versions), entry.new, entry.status, entry.who, entry.time, entry.source))
    return versions


def revert(edition: Edition, manuscript_id: str, line_id: str, number: int, base_version: str, who: str) -> Line:
    """Make version ``number`` the line's text again; the revert is itself a new version.

    A version with text comes back ``corrected`` (a person chose it); an empty one (the
    line before anybody transcribed it) leaves the line as it was then: without text,
    status, responsibility or confidence.
    """
    versions = history(edition, manuscript_id, line_id)
    if not 0 <= number < len(versions):
        raise WorkbenchError(f"line {line_id} has no version {number}")
    text = versions[number].text
    if text:
        return save_line(edition, manuscript_id, line_id, text, base_version, who, status="corrected")
    page_n = page_number(manuscript_id, line_id)

    def empty(manuscript: Manuscript) -> Line:
        line = line_on(manuscript.page(page_n), manuscript_id, line_id)
        check_version(edition, manuscript_id, line, base_version)
        line.text, line.status, line.resp, line.cert = "", None, None, None
        return line.copy()

    return edition.apply(manuscript_id, page_n, empty, who)
