"""The edit journal: every change to a line's text, appended, never rewritten.

One JSON Lines file per manuscript under ``.workbench/journal/``. With the TEI files
it is what must be backed up (design.md §1): the TEI holds the current text, the
journal how it got there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from workbench.files import AppendLog


@dataclass
class Entry:
    time: str
    manuscript: str
    line: str
    old: str
    new: str
    who: str
    source: str
    status: str | None = None
    event: str = "text"  # "text", or "removed" for a line taken out with its text


class Journal:
    def __init__(self, folder: Path):
        self.folder = folder

    def path(self, manuscript_id: str) -> Path:
        return self.folder / f"{manuscript_id}.jsonl"

    def append(self, manuscript_id: str, entries: list[Entry]) -> None:
        """Append and fsync, so an acknowledged save is on disk before the TEI changes."""
        AppendLog(self.path(manuscript_id)).append(asdict(entry) for entry in entries)

    def entries(self, manuscript_id: str, line_id: str | None = None) -> Iterator[Entry]:
        for record in AppendLog(self.path(manuscript_id)).records():
            try:
                entry = Entry(**record)
            except TypeError:
                continue  # not an entry (a line torn by a crash may still parse as JSON)
            if line_id is None or entry.line == line_id:
                yield entry
