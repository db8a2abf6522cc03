"""The edit journal: every change to a line's text, appended, never rewritten.

One JSON Lines file per manuscript under ``.workbench/journal/``. With the TEI files
it is what must be backed up (design.md §1): the TEI holds the current text, the
journal how it got there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path


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
        if not entries:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        data = "".join(json.dumps(asdict(entry), ensure_ascii=False) + "\n" for entry in entries)
        with open(self.path(manuscript_id), "a", encoding="utf-8") as journal:
            journal.write(data)
            journal.flush()
            os.fsync(journal.fileno())

    def entries(self, manuscript_id: str, line_id: str | None = None) -> Iterator[Entry]:
        path = self.path(manuscript_id)
        if not path.exists():
            return
        with open(path, encoding="utf-8") as journal:
            for raw in journal:
                if not raw.strip():
                    continue
                try:
                    entry = Entry(**json.loads(raw))
                except (ValueError, TypeError):
                    continue  # a line torn by a crash mid-append; the ones before it stand
                if line_id is None or entry.line == line_id:
                    yield entry
