"""The edit journal: every change to a line's text, appended, never rewritten.

One JSON Lines file per manuscript under ``.workbench/journal/``. With the TEI files
it is what must be backed up (design.md §1): the TEI holds the current text, the
journal how it got there.

The journal is tamper-evident: every entry carries ``prev``, the SHA-256 of the entry
before it (of that line's bytes exactly as stored, without its newline: the journal
writes each entry one way only, so the stored line is its canonical form, and any
change to it, even of spacing, changes the hash); the first entry's ``prev`` is
``GENESIS``. ``workbench verify`` follows the chain (``check``), so an entry edited,
removed or moved shows as a break after it. The chain has no end of its own: the last
entry, edited or cut off, leaves no break, which is why verify also records each
journal's head and length and checks them next time (preservation.py).

Journals written before the chain are upgraded once, in place, **at the first append**
(the caller holds the manuscript's lock: every append comes from ``Edition._save``) or
by ``workbench verify --upgrade`` for journals nobody writes to any more. Upgrading at
the first append means no journal stays unchained because nobody remembered a command,
and no save ever writes a chained entry after unchained ones. The upgrade adds
``"prev": …`` at the end of each line and changes nothing else in it, writes the whole
file to a temporary file and renames it over the journal.

Appends stay cheap: the hash of the last entry is kept in memory with the file's
(inode, size), and the file is read (its last lines only) when another process or an
upgrade has changed it since.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from workbench.files import AppendLog, write_atomically
from workbench.model import WorkbenchError

GENESIS = "0" * 64  # the ``prev`` of a journal's first entry


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


def line_hash(line: bytes) -> str:
    """What the next entry's ``prev`` holds: the SHA-256 of a stored line (without its newline)."""
    return hashlib.sha256(line).hexdigest()


@dataclass
class Break:
    """A place where the chain does not hold."""

    position: int  # the line number (from 1) of the entry whose ``prev`` is wrong
    entry: dict  # that entry, as stored
    after: int | None  # the line number of the entry before it (None: it is the first)
    written_after: int | None  # where the entry its ``prev`` names stands now, if anywhere


@dataclass
class ChainReport:
    """What ``Journal.check`` found in one manuscript's journal."""

    entries: int = 0
    chained: int = 0  # entries with a ``prev``
    head: str = GENESIS  # the hash of the last entry
    breaks: list[Break] = field(default_factory=list)
    torn: list[int] = field(default_factory=list)  # line numbers of lines that are not JSON entries
    unchained: list[int] = field(default_factory=list)  # entries without ``prev`` in a chained journal
    hashes: list[str] = field(default_factory=list)  # every entry's hash, in order

    @property
    def old_format(self) -> bool:
        """Written before the chain and not upgraded yet."""
        return self.entries > 0 and self.chained == 0


class Journal:
    def __init__(self, folder: Path):
        self.folder = folder
        # manuscript id → (the last entry's hash, the file's (inode, size) after it)
        self._heads: dict[str, tuple[str, tuple[int, int]]] = {}

    def path(self, manuscript_id: str) -> Path:
        return self.folder / f"{manuscript_id}.jsonl"

    def append(self, manuscript_id: str, entries: list[Entry]) -> None:
        """Append and fsync, so an acknowledged save is on disk before the TEI changes.

        The caller holds the manuscript's lock (``Edition.lock``): the chain is read
        and extended as one step.
        """
        if not entries:
            return
        path = self.path(manuscript_id)
        previous = self._head(manuscript_id, path)
        lines = []
        for entry in entries:
            line = json.dumps({**asdict(entry), "prev": previous}, ensure_ascii=False)
            previous = line_hash(line.encode("utf-8"))
            lines.append(line)
        AppendLog(path).append_lines(lines)
        stat = path.stat()
        self._heads[manuscript_id] = (previous, (stat.st_ino, stat.st_size))

    def entries(self, manuscript_id: str, line_id: str | None = None) -> Iterator[Entry]:
        for record in AppendLog(self.path(manuscript_id)).records():
            record.pop("prev", None)
            try:
                entry = Entry(**record)
            except TypeError:
                continue  # not an entry (a line torn by a crash may still parse as JSON)
            if line_id is None or entry.line == line_id:
                yield entry

    def upgrade(self, manuscript_id: str) -> bool:
        """Chain a journal written before the chain; False if there was nothing to do.

        The caller holds the manuscript's lock. Each line keeps its bytes, with
        ``, "prev": "…"`` added before its closing brace; torn lines stay as they are.
        """
        path = self.path(manuscript_id)
        if not path.exists():
            return False
        raw_lines = path.read_bytes().split(b"\n")
        parsed = [_parse(raw) for raw in raw_lines]
        if not any(record is not None for record in parsed):
            return False
        if any(record is not None and "prev" in record for record in parsed):
            if all(record is None or "prev" in record for record in parsed):
                return False  # chained already
            raise WorkbenchError(
                f"{path} is partly chained: it was changed after it was upgraded; "
                "restore it from a backup (workbench verify shows where)"
            )
        previous = GENESIS
        out = []
        for raw, record in zip(raw_lines, parsed, strict=True):
            if record is None:
                if raw.strip():
                    out.append(raw)  # a torn line: kept, outside the chain
                continue
            body = raw.rstrip()
            chained = body[:-1] + (b", " if record else b"") + f'"prev": "{previous}"}}'.encode()
            if json.loads(chained) != {**record, "prev": previous}:
                raise WorkbenchError(f"{path}: an entry could not be upgraded without changing it: {raw[:80]!r}")
            out.append(chained)
            previous = line_hash(chained)
        write_atomically(path, b"".join(line + b"\n" for line in out))
        self._heads.pop(manuscript_id, None)
        return True

    def check(self, manuscript_id: str) -> ChainReport:
        """Follow the chain through the journal: where it breaks, which lines are torn."""
        report = ChainReport()
        path = self.path(manuscript_id)
        if not path.exists():
            return report
        rows = []  # (line number, record, hash)
        for number, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
            if not raw.strip():
                continue
            record = _parse(raw)
            if record is None:
                report.torn.append(number)
            else:
                rows.append((number, record, line_hash(raw)))
        where = {digest: number for number, _, digest in rows}
        report.entries = len(rows)
        report.chained = sum("prev" in record for _, record, _ in rows)
        if report.old_format:
            report.hashes = [digest for _, _, digest in rows]
            report.head = rows[-1][2]
            return report
        previous, previous_number = GENESIS, None
        for number, record, digest in rows:
            if "prev" not in record:
                report.unchained.append(number)
            elif record["prev"] != previous:
                written_after = where.get(record["prev"])
                report.breaks.append(Break(number, record, previous_number, written_after))
            previous, previous_number = digest, number
            report.hashes.append(digest)
        report.head = previous
        return report

    def _head(self, manuscript_id: str, path: Path) -> str:
        """The hash the next entry's ``prev`` takes; upgrades an unchained journal first."""
        try:
            stat = path.stat()
        except FileNotFoundError:
            return GENESIS
        known = self._heads.get(manuscript_id)
        if known is not None and known[1] == (stat.st_ino, stat.st_size):
            return known[0]
        last = _last_record(path)
        if last is None:
            return GENESIS
        record, raw = last
        if "prev" not in record:
            try:
                upgraded = self.upgrade(manuscript_id)
            except WorkbenchError:
                # Partly chained (changed after its upgrade): a save must still go
                # through; verify names the entries without a chain.
                upgraded = False
            if upgraded:
                record, raw = _last_record(path)
        return line_hash(raw)


def _parse(raw: bytes) -> dict | None:
    """The entry on a stored line; None for a line that is not one (torn by a crash)."""
    if not raw.strip():
        return None
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _last_record(path: Path, block: int = 1 << 16) -> tuple[dict, bytes] | None:
    """The last line of ``path`` that is an entry, and its bytes; read from the end, a block at a time."""
    with open(path, "rb") as file:
        end = file.seek(0, os.SEEK_END)
        start = end
        tail = b""
        while True:
            start = max(0, start - block)
            file.seek(start)
            tail = file.read(end - start)
            lines = tail.split(b"\n")
            # The first piece may be the end of a line that starts before ``start``.
            complete = lines if start == 0 else lines[1:]
            for raw in reversed(complete):
                record = _parse(raw)
                if record is not None:
                    return record, raw
            if start == 0:
                return None
