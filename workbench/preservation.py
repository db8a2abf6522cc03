"""``workbench verify``: is the edition still what it was? Four checks, each read-only:

- **fixity**: every file in ``facsimiles/<id>/`` against that folder's ``SHA256SUMS``
  (a file changed, listed but missing, or there but not listed);
- **TEI**: every document against the project schema (and tei_all if asked);
- **journal**: the hash chain of every edit journal (journal.py): an entry edited,
  removed or moved breaks it. A line torn by a crash is not tampering: it is noted,
  and the chain runs on over it. The chain cannot see its own end cut off or changed,
  so each run records every journal's length and the hash of its last entry (in
  ``.workbench/verify.json``), and the next run checks that entry is still there,
  unchanged, at that place;
- **index**: the search index's record of what it indexed (``pages.json``) against the
  manuscripts: every published page indexed as it is now, nothing else.

The result is a ``Report``: counts, problems (any one makes ``workbench verify`` exit
non-zero) and notes (worth knowing, nothing lost: a torn line). Problems and notes have
a code and values, so the web interface can say them in its own language; ``text`` says
them in English.

In the web interface an admin starts a run with a button; it runs in a thread of the
web process (``start``), not as a job (jobs.py runs kraken per manuscript in worker
processes; a verify is edition-wide, light on memory, and reads files only), and its
result is kept in ``.workbench/verify.json`` with its time, for the admin page.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from workbench.edition import CHECKSUMS, Edition, _read_checksums
from workbench.files import write_atomically
from workbench.model import WorkbenchError

Progress = Callable[[int], None]  # bytes of facsimile just hashed
RESULT_FILE = "verify.json"


@dataclass
class Finding:
    code: str  # what kind of problem: see MESSAGES
    manuscript: str
    values: dict[str, str | int] = field(default_factory=dict)

    @property
    def text(self) -> str:
        sentence = MESSAGES[self.code].format(**self.values)
        return f"{self.manuscript}: {sentence}" if self.manuscript else sentence


# The plain-English sentence for each code (the web interface has its own, translated).
MESSAGES = {
    "changed": "facsimile {file} has changed since it was added (its SHA-256 is not the one in SHA256SUMS)",
    "missing": "facsimile {file} is listed in SHA256SUMS but is not there",
    "unlisted": "facsimile {file} is there but not listed in SHA256SUMS (added by hand, or the list was changed)",
    "unreadable": "facsimile {file} cannot be read: {error}",
    "invalid": "the TEI document is not valid: {problem}",
    "chain-changed": "journal entry at line {position} (line {line}, {time}) does not follow the entry before it "
    "(line {after}): that entry was changed, or entries after it were removed",
    "chain-moved": "journal entry at line {position} (line {line}, {time}) was written after the entry now at line "
    "{written_after}: entries were moved",
    "chain-first": "journal entry at line {position} (line {line}, {time}) is not the first entry written: "
    "the entries before it were removed",
    "unchained": "journal entry at line {position} has no hash of the entry before it: it was added by hand "
    "or by an old workbench",
    "old-journal": "the journal ({entries} entries) is not chained yet, so changes to it cannot be detected: "
    "run workbench verify --upgrade (a save also upgrades it)",
    "cut-short": "the journal has {entries} entries, but had {recorded} when it was last verified: entries were removed",
    "head-changed": "journal entry {recorded} (the last one when the journal was last verified) has been changed "
    "or removed",
    "torn": "journal line {position} is torn (a crash in the middle of a save); it is skipped, and no "
    "acknowledged change was lost",
    "not-indexed": "published, but not in the search index: run workbench reindex",
    "index-behind": "the search index is behind on page(s) {pages}: run workbench reindex (the web workbench "
    "catches up by itself)",
    "index-extra": "the search index has page(s) {pages} that are no longer in the manuscript: run workbench reindex",
    "index-unpublished": "not published, but the search index still has {pages} page(s) of it: run workbench reindex",
    "index-gone": "the search index has a manuscript that is no longer in the edition: run workbench reindex",
    "failed": "the check itself failed: {error}",
    "not-recorded": "the result could not be kept in .workbench/verify.json ({error}), so the next run cannot "
    "check the journals' ends against this one",
}


@dataclass
class Report:
    started: str = ""
    finished: str = ""
    who: str = ""
    tei_all: bool = False
    manuscripts: int = 0
    files: int = 0  # facsimile files hashed
    megabytes: float = 0.0
    documents: int = 0  # TEI documents validated
    entries: int = 0  # journal entries followed
    indexed_pages: int = 0  # published pages compared with the index
    problems: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)
    # manuscript id → [entries, hash of the last]: what the next run checks the journal's end against
    journal_heads: dict[str, list] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        """The summary a librarian reads: what was checked, then each problem in plain words."""
        rows = [
            f"Checked {self.manuscripts} manuscript(s): {self.files} facsimile file(s) ({self.megabytes:.1f} MB), "
            f"{self.documents} TEI document(s) ({'project schema and tei_all' if self.tei_all else 'project schema'}), "
            f"{self.entries} journal entries, {self.indexed_pages} published page(s) against the search index.",
        ]
        rows += [f"PROBLEM  {finding.text}" for finding in self.problems]
        rows += [f"note     {finding.text}" for finding in self.notes]
        rows.append(
            f"{len(self.problems)} problem(s) found." if self.problems else "No problems: the edition is intact."
        )
        return "\n".join(rows)

    def to_json(self) -> dict:
        return {**asdict(self), "ok": self.ok}

    @classmethod
    def from_json(cls, data: dict) -> Report:
        data = {name: value for name, value in data.items() if name in cls.__dataclass_fields__}
        for name in ("problems", "notes"):
            data[name] = [Finding(**finding) for finding in data.get(name, [])]
        return cls(**data)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def result_path(edition: Edition) -> Path:
    return edition.state_dir / RESULT_FILE


def last_result(edition: Edition) -> Report | None:
    try:
        return Report.from_json(json.loads(result_path(edition).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def facsimile_bytes(edition: Edition, manuscript_ids: list[str]) -> int:
    """How much there is to hash: the length of the progress bar."""
    return sum(path.stat().st_size for ms in manuscript_ids for path in _facsimile_files(edition, ms).values())


def verify(
    edition: Edition,
    manuscript_id: str | None = None,
    *,
    tei_all: bool = False,
    who: str = "",
    progress: Progress | None = None,
    save: bool = True,
) -> Report:
    """Check the edition (or one manuscript); ``save`` keeps the result in ``.workbench/verify.json``."""
    if manuscript_id is not None:
        edition.require(manuscript_id)
    ids = [manuscript_id] if manuscript_id else edition.manuscript_ids()
    previous = last_result(edition)
    recorded_heads = previous.journal_heads if previous else {}
    report = Report(started=_now(), who=who, tei_all=tei_all, manuscripts=len(ids))
    for ms in ids:
        _check_facsimiles(edition, ms, report, progress)
    valid = set()
    for ms in ids:
        problems = edition.problems(ms, tei_all=tei_all)
        report.documents += 1
        for problem in problems:
            where = f"line {problem.line}: " if problem.line else ""
            report.problems.append(Finding("invalid", ms, {"problem": f"{where}{problem.message} [{problem.check}]"}))
        if not problems:
            valid.add(ms)
    for ms in ids:
        _check_journal(edition, ms, report, recorded_heads.get(ms))
    _check_index(edition, ids, valid, report, every_manuscript=manuscript_id is None)
    report.finished = _now()
    if save:
        if manuscript_id is not None:
            # Keep the other manuscripts' recorded journal ends.
            report.journal_heads = {**recorded_heads, **report.journal_heads}
        try:
            edition.state_dir.mkdir(parents=True, exist_ok=True)
            write_atomically(result_path(edition), json.dumps(report.to_json(), ensure_ascii=False, indent=1).encode())
        except OSError as error:
            # A copy on read-only media is worth checking too.
            report.notes.append(Finding("not-recorded", "", {"error": error.strerror or str(error)}))
    return report


def upgrade_journals(edition: Edition) -> list[str]:
    """Chain every journal written before the chain (each under its manuscript's lock); the ids upgraded."""
    upgraded = []
    for ms in edition.manuscript_ids():
        with edition.lock(ms):
            if edition.journal.upgrade(ms):
                upgraded.append(ms)
    return upgraded


# -- the checks ---------------------------------------------------------------------


def _facsimile_files(edition: Edition, manuscript_id: str) -> dict[str, Path]:
    folder = edition.facsimile_dir / manuscript_id
    if not folder.is_dir():
        return {}
    # Hidden files are the workbench's own temporary files (files.py, an import's staging).
    return {
        path.name: path
        for path in sorted(folder.iterdir())
        if path.is_file() and path.name != CHECKSUMS and not path.name.startswith(".")
    }


def _check_facsimiles(edition: Edition, ms: str, report: Report, progress: Progress | None) -> None:
    listed = _read_checksums(edition.facsimile_dir / ms)
    present = _facsimile_files(edition, ms)
    for name in sorted(set(listed) - set(present)):
        report.problems.append(Finding("missing", ms, {"file": name}))
    for name, path in present.items():
        try:
            size = path.stat().st_size
            with open(path, "rb") as file:
                digest = hashlib.file_digest(file, "sha256").hexdigest()
        except OSError as error:
            report.problems.append(Finding("unreadable", ms, {"file": name, "error": error.strerror or str(error)}))
            continue
        report.files += 1
        report.megabytes += size / 1e6
        if progress:
            progress(size)
        if name not in listed:
            report.problems.append(Finding("unlisted", ms, {"file": name}))
        elif listed[name] != digest:
            report.problems.append(Finding("changed", ms, {"file": name}))


def _check_journal(edition: Edition, ms: str, report: Report, recorded: list | None) -> None:
    chain = edition.journal.check(ms)
    report.entries += chain.entries
    for number in chain.torn:
        report.notes.append(Finding("torn", ms, {"position": number}))
    if chain.old_format:
        report.problems.append(Finding("old-journal", ms, {"entries": chain.entries}))
    for number in chain.unchained:
        report.problems.append(Finding("unchained", ms, {"position": number}))
    for found in chain.breaks:
        values = {
            "position": found.position,
            "line": str(found.entry.get("line", "?")),
            "time": str(found.entry.get("time", "?")),
        }
        if found.written_after is not None:
            report.problems.append(Finding("chain-moved", ms, {**values, "written_after": found.written_after}))
        elif found.after is None:
            report.problems.append(Finding("chain-first", ms, values))
        else:
            report.problems.append(Finding("chain-changed", ms, {**values, "after": found.after}))
    if recorded:
        entries, head = recorded
        if chain.entries < entries:
            report.problems.append(Finding("cut-short", ms, {"entries": chain.entries, "recorded": entries}))
        elif entries and chain.hashes[entries - 1] != head:
            report.problems.append(Finding("head-changed", ms, {"recorded": entries}))
    if chain.entries and not chain.old_format:
        # Not before the upgrade: it gives every entry a new hash.
        report.journal_heads[ms] = [chain.entries, chain.head]


def _check_index(edition: Edition, ids: list[str], valid: set[str], report: Report, every_manuscript: bool) -> None:
    from workbench.search.indexing import page_digest

    try:
        state = json.loads((edition.index_dir / "pages.json").read_text())
    except (OSError, ValueError):
        state = {}
    for ms in ids:
        if ms not in valid:
            continue  # reported invalid already; the index keeps its last good version of it
        indexed = state.get(ms, {}).get("pages", {})
        try:
            manuscript = edition.read(ms)
        except WorkbenchError:
            continue
        if not manuscript.published:
            if indexed:
                report.problems.append(Finding("index-unpublished", ms, {"pages": len(indexed)}))
            continue
        if ms not in state:
            report.problems.append(Finding("not-indexed", ms))
            continue
        report.indexed_pages += len(manuscript.pages)
        behind = [page.n for page in manuscript.pages if indexed.get(page.n) != page_digest(manuscript, page)]
        numbers = {page.n for page in manuscript.pages}
        extra = [n for n in indexed if n not in numbers]
        if behind:
            report.problems.append(Finding("index-behind", ms, {"pages": ", ".join(behind)}))
        if extra:
            report.problems.append(Finding("index-extra", ms, {"pages": ", ".join(extra)}))
    if every_manuscript:
        on_disk = set(edition.manuscript_ids())
        for ms in sorted(set(state) - on_disk):
            report.problems.append(Finding("index-gone", ms))


# -- in the background, for the web interface ---------------------------------------

_runs: dict[Path, threading.Thread] = {}
_runs_lock = threading.Lock()


def running(edition: Edition) -> threading.Thread | None:
    """The run in progress in this process, if there is one."""
    with _runs_lock:
        thread = _runs.get(edition.root)
        return thread if thread is not None and thread.is_alive() else None


def start(edition: Edition, who: str) -> threading.Thread | None:
    """Start a run in a thread (project schema only: tei_all needs 15 s and 1 GB to load);
    None if one is running already. Its result lands in ``verify.json``."""
    with _runs_lock:
        current = _runs.get(edition.root)
        if current is not None and current.is_alive():
            return None
        thread = threading.Thread(target=_run, args=(edition, who), name="verify", daemon=True)
        _runs[edition.root] = thread
        thread.start()
        return thread


def _run(edition: Edition, who: str) -> None:
    try:
        verify(edition, who=who)
    except Exception as error:  # the admin page must say it failed, not keep waiting
        previous = last_result(edition)
        report = Report(started=_now(), finished=_now(), who=who)
        report.journal_heads = previous.journal_heads if previous else {}
        report.problems.append(Finding("failed", "", {"error": str(error)}))
        write_atomically(result_path(edition), json.dumps(report.to_json(), ensure_ascii=False).encode())
