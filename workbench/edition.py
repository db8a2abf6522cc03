"""An edition: a folder of facsimiles and TEI files, and every way of changing them.

Layout (design.md §1)::

    facsimiles/<manuscript>/   page images as received, and SHA256SUMS
    tei/<manuscript>.xml       the source of truth
    schemas/                   what every saved document must pass
    .workbench/                journal, locks (and later: index, jobs, users, caches)

Every write goes through ``Edition.edit``: it takes the manuscript's lock, reads the
document from disk, lets the caller change a copy of it, validates the result, journals
the changed lines and replaces the file atomically. Anything that fails on the way
leaves the file as it was.

Reads never wait for a save's validation or disk writes: a save changes copies of the
pages it saves, and the manuscript that reads see is swapped for the new one only once
the new file is in place (copy on write). A read holds the manuscript's model lock for
as long as it copies what it needs; a save holds it only to take its copy and to swap.
"""

from __future__ import annotations

import fcntl
import gc
import itertools
import json
import logging
import os
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree

from workbench import metadata
from workbench.files import AppendLog, copy_atomically, write_atomically
from workbench.images import facsimile
from workbench.journal import Entry, Journal
from workbench.model import Change, Line, Manuscript, NotFound, Page, WorkbenchError, check_manuscript_id
from workbench.tei import codec, validation
from workbench.tei.xml import parse_xml

log = logging.getLogger(__name__)

# Files in tei/ that are the edition's, not a manuscript's (bibliography.py, registers.py).
NOT_MANUSCRIPTS = frozenset({"bibliography", "register"})


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class _Pending:
    page_n: str
    change: Callable[[Manuscript], Line]
    who: str
    result: Line | None = None
    error: Exception | None = None


@dataclass
class _Batch:
    """Saves waiting for one manuscript; whoever holds ``leader`` saves them all."""

    leader: threading.Lock = field(default_factory=threading.Lock)
    mutex: threading.Lock = field(default_factory=threading.Lock)
    waiting: list[_Pending] = field(default_factory=list)


@dataclass
class PageSummary:
    n: str
    image: str
    counts: Counter  # line status ("untranscribed" for lines without text) → number of lines


@dataclass
class ManuscriptSummary:
    id: str
    title: str
    published: bool
    pages: list[PageSummary]

    @property
    def counts(self) -> Counter:
        """Lines per status over all pages ("untranscribed" for lines without text)."""
        return sum((page.counts for page in self.pages), Counter())

    @property
    def lines(self) -> int:
        return sum(self.counts.values())

    @property
    def checked_lines(self) -> int:
        """Lines a person corrected or verified: what a recognition model can learn from."""
        return self.counts["corrected"] + self.counts["verified"]


@dataclass
class AddedPages:
    pages: list[Page]
    skipped: list[str]  # files already in the manuscript, with the same content


class Edition:
    def __init__(self, root: Path | str, schema_dir: Path | None = None):
        self.root = Path(root).resolve()
        self.tei_dir = self.root / "tei"
        self.facsimile_dir = self.root / "facsimiles"
        self.schema_dir = schema_dir or validation.SCHEMA_DIR
        # Operational state (design.md §1): every path under .workbench/ is named here.
        self.state_dir = self.root / ".workbench"
        self.journal = Journal(self.state_dir / "journal")  # back it up with tei/
        self.users_file = self.state_dir / "users.json"  # back it up with tei/
        self.accounts_log = self.state_dir / "accounts.jsonl"  # who changed which account, when
        self.layout_dir = self.state_dir / "layout"  # the layout log (layout/log.py): what undo reads
        self.review_dir = self.state_dir / "review"  # review and comments on lines; back it up with tei/
        self.locks_dir = self.state_dir / "locks"
        self.jobs_dir = self.state_dir / "jobs"
        self.models_dir = self.state_dir / "models"
        self.index_dir = self.state_dir / "index"
        self.cache_dir = self.state_dir / "cache"  # page and line images, rebuilt on demand
        self.secret_key_file = self.state_dir / "secret_key"
        # Documents as last validated or written, by manuscript id; an entry is used
        # only while the file's (inode, size, mtime) is unchanged.
        self._documents: dict[str, _Document] = {}
        self._batches: dict[str, _Batch] = {}
        self._batches_mutex = threading.Lock()
        self._thread_locks: dict[str, threading.RLock] = {}  # saves of a manuscript, one at a time
        self._model_locks: dict[str, threading.RLock] = {}  # its cached document, read or swapped
        # Whole manuscript files this object parsed and validated (a 15,000-line one takes
        # 4-5 s): what the changes log (``_catch_up``) saves other processes from.
        self.full_reads = 0

    # -- reading ------------------------------------------------------------

    def manuscript_ids(self) -> list[str]:
        if not self.tei_dir.is_dir():
            return []
        return sorted(path.stem for path in self.tei_dir.glob("*.xml") if path.stem not in NOT_MANUSCRIPTS)

    def tei_path(self, manuscript_id: str) -> Path:
        if manuscript_id in NOT_MANUSCRIPTS:
            raise WorkbenchError(f"{manuscript_id!r} names the edition's {manuscript_id} file, not a manuscript")
        return self.tei_dir / f"{check_manuscript_id(manuscript_id)}.xml"

    def image_path(self, manuscript_id: str, page: Page) -> Path:
        return self.facsimile_dir / check_manuscript_id(manuscript_id) / page.image

    def require(self, manuscript_id: str) -> Path:
        """The manuscript's TEI path; an error naming the known manuscripts if there is none."""
        path = self.tei_path(manuscript_id)
        if not path.exists():
            known = ", ".join(self.manuscript_ids()) or "none yet"
            raise NotFound(f"no manuscript {manuscript_id!r} in {self.root} (manuscripts: {known})")
        return path

    def load(self, manuscript_id: str) -> Manuscript:
        path = self.require(manuscript_id)
        return codec.parse_manuscript(path.read_bytes(), name=str(path.relative_to(self.root)))

    def problems(self, manuscript_id: str, tei_all: bool = False) -> list[validation.Problem]:
        """Validation problems of the document on disk (project schema; tei_all as well if asked)."""
        path = self.require(manuscript_id)
        try:
            tree = parse_xml(path.read_bytes(), str(path.relative_to(self.root)))
        except WorkbenchError as error:
            return [validation.Problem(None, str(error), "well-formedness")]
        problems = validation.check_project(tree, self.schema_dir)
        if tei_all:
            problems += validation.check_tei_all(tree, self.schema_dir)
        return problems

    # -- writing ------------------------------------------------------------

    # -- the edition's own documents beside the manuscripts (bibliography, register) --

    def read_document(self, path: Path) -> etree._ElementTree | None:
        """One of the edition's own TEI documents in ``tei/`` (the bibliography, the register),
        checked against the project schema; None while it does not exist. One made invalid by
        hand is refused, so that no save overwrites it."""
        if not path.exists():
            return None
        name = str(path.relative_to(self.root))
        tree = parse_xml(path.read_bytes(), name)
        problems = validation.check_project(tree, self.schema_dir)
        if problems:
            raise validation.InvalidDocument(
                f"{name} was changed outside the workbench and is no longer valid; "
                "fix it (workbench validate shows the problems) or restore it from a backup",
                problems,
            )
        return tree

    def save_document(self, document_id: str, path: Path, tree: etree._ElementTree, entries: list[Entry]) -> None:
        """Save one of the edition's own documents as manuscripts are saved: validated, the
        change journalled first, the file replaced atomically. The caller holds
        ``lock(document_id)`` from its read to here."""
        problems = validation.check_project(tree, self.schema_dir)
        if problems:
            raise validation.InvalidDocument(f"the change to {path.name} (nothing was saved)", problems)
        self.journal.append(document_id, entries)
        etree.indent(tree, space="  ")
        write_atomically(path, etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True))

    def create(self, manuscript: Manuscript, who: str) -> None:
        check_manuscript_id(manuscript.id)
        self.tei_dir.mkdir(parents=True, exist_ok=True)
        with self.lock(manuscript.id):
            if self.tei_path(manuscript.id).exists():
                raise WorkbenchError(f"manuscript {manuscript.id!r} already exists")
            manuscript.changes.append(Change(now(), "", f"manuscript created by {who}"))
            self._save(_Document.of(manuscript), manuscript, [], pages=None)

    def import_manuscript(self, manuscript: Manuscript, image_files: dict[str, Path], who: str, source: str) -> None:
        """Add a whole manuscript at once (pages, lines, text, and the images named in
        ``image_files``, by page file name): all of it, or on any failure nothing.

        The images are copied into a hidden folder, which is renamed into place only
        once the document has been validated, just before the TEI file is written; on
        any failure or interruption before that write, the hidden folder or the placed
        one is removed.
        """
        check_manuscript_id(manuscript.id)
        folder = self.facsimile_dir / manuscript.id
        self.tei_dir.mkdir(parents=True, exist_ok=True)
        self.facsimile_dir.mkdir(parents=True, exist_ok=True)
        with self.lock(manuscript.id):
            if self.tei_path(manuscript.id).exists():
                raise WorkbenchError(f"manuscript {manuscript.id!r} already exists; import under another id")
            if folder.exists() and any(folder.iterdir()):
                raise WorkbenchError(f"{folder} already holds files; move them away or import under another id")
            staging = Path(tempfile.mkdtemp(dir=self.facsimile_dir, prefix=f".{manuscript.id}.import-"))
            placed = False

            def place() -> None:
                nonlocal placed
                if folder.exists():
                    folder.rmdir()
                os.replace(staging, folder)
                placed = True

            try:
                checksums = {}
                for name, path in image_files.items():
                    copy_atomically(path, staging / _safe_file_name(name))
                    checksums[name] = facsimile.sha256(staging / name)
                _write_checksums(staging, checksums)
                entries = _journal_entries(manuscript.id, {}, manuscript.pages, who, source, {})
                self._save(_Document.of(manuscript), manuscript, entries, pages=None, before_write=place)
            except BaseException:
                # Once the TEI is there the import has happened: its images stay with it.
                if not self.tei_path(manuscript.id).exists():
                    shutil.rmtree(folder if placed else staging, ignore_errors=True)
                raise

    def restore_manuscript(
        self, manuscript_id: str, tei: bytes, images: Path, journal: bytes | None, review: Mapping[str, bytes]
    ) -> None:
        """Bring back a manuscript as a deposit package holds it (deposit.py): the TEI as
        these bytes, the folder ``images`` (every file its SHA256SUMS lists, and that file),
        the journal and the review logs (page file name → bytes) as they were; all of it,
        or on any failure nothing.

        As in ``import_manuscript``, the images go into a hidden folder renamed into place
        after the TEI has been validated, and the TEI is written last: until it is, any
        failure removes what was placed. A manuscript, a non-empty image folder, a journal
        or review logs already there under this id are never overwritten.
        """
        check_manuscript_id(manuscript_id)
        folder = self.facsimile_dir / manuscript_id
        journal_path = self.journal.path(manuscript_id)
        review_folder = self.review_dir / manuscript_id
        self.tei_dir.mkdir(parents=True, exist_ok=True)
        self.facsimile_dir.mkdir(parents=True, exist_ok=True)
        with self.lock(manuscript_id):
            if self.tei_path(manuscript_id).exists():
                raise WorkbenchError(f"manuscript {manuscript_id!r} already exists; restore under another id (--id)")
            if folder.exists() and any(folder.iterdir()):
                raise WorkbenchError(f"{folder} already holds files; move them away or restore under another id")
            # A journal without its TEI is a removed manuscript's history: not ours to append to.
            for leftover in (journal_path, review_folder):
                if leftover.exists():
                    raise WorkbenchError(f"{leftover} is already there; move it away or restore under another id")
            name = f"tei/{manuscript_id}.xml"
            problems = validation.check_project(parse_xml(tei, name), self.schema_dir)
            if problems:
                raise validation.InvalidDocument(f"{name} (nothing was restored)", problems)
            checksums = _read_checksums(images)
            staging = Path(tempfile.mkdtemp(dir=self.facsimile_dir, prefix=f".{manuscript_id}.restore-"))
            placed = False
            try:
                for file_name, digest in checksums.items():
                    copy_atomically(images / file_name, staging / _safe_file_name(file_name))
                    if facsimile.sha256(staging / file_name) != digest:
                        raise WorkbenchError(f"{images / file_name} does not match its checksum in {CHECKSUMS}")
                copy_atomically(images / CHECKSUMS, staging / CHECKSUMS)
                for page_file, data in review.items():
                    write_atomically(review_folder / _safe_file_name(page_file), data)
                if journal is not None:
                    write_atomically(journal_path, journal)
                if folder.exists():
                    folder.rmdir()
                os.replace(staging, folder)
                placed = True
                write_atomically(self.tei_path(manuscript_id), tei)
                with self._model_lock(manuscript_id):
                    self._documents.pop(manuscript_id, None)
            except BaseException:
                if not self.tei_path(manuscript_id).exists():
                    shutil.rmtree(folder if placed else staging, ignore_errors=True)
                    shutil.rmtree(review_folder, ignore_errors=True)
                    journal_path.unlink(missing_ok=True)
                raise

    @contextmanager
    def edit(
        self,
        manuscript_id: str,
        who: str,
        source: str | None = None,
        pages: Collection[str] | None = None,
        who_by_line: dict[str, str] | None = None,
    ) -> Iterator[Manuscript]:
        """Change a manuscript under its lock; the change is saved when the block ends.

        ``who`` is the person or program responsible, ``source`` where the text came
        from (``kraken:<model>``, ``import:page``; a person's name by default).

        ``pages`` (page numbers) promises that only those pages, and the header, change:
        then only they are rebuilt and validated, which keeps a save of one line in a
        500-page manuscript fast. Without it, the whole document is.

        ``who_by_line`` (filled in during the block, if need be) names a different
        person for some lines in the journal: a group of saves by several editors.

        The block changes a copy (of the header and of the pages in scope; the others are
        shared, and must not be changed): until the new file is in place, reads see the
        manuscript as it was, and a change that fails leaves nothing to undo.
        """
        with self.lock(manuscript_id):
            with self._model_lock(manuscript_id):
                document = self._current(manuscript_id)
                manuscript = _working_copy(document.manuscript, pages)
            scope = _pages_in_scope(manuscript, pages)
            before = _line_states(scope)
            yield manuscript
            scope = _pages_in_scope(manuscript, pages)
            entries = _journal_entries(manuscript.id, before, scope, who, source, who_by_line or {})
            self._save(document, manuscript, entries, pages)

    def apply(self, manuscript_id: str, page_n: str, change: Callable[[Manuscript], Line], who: str) -> Line:
        """Apply ``change`` to one line of page ``page_n``, on behalf of ``who``, and save it.

        ``change`` returns the line it changed (the journal names ``who`` for it).

        Concurrent calls for one manuscript are saved together (a group commit): one
        validated, journalled, atomic write for all the saves waiting on the lock,
        instead of one write each. A change that raises (a conflict, say) must do so
        before it changes anything; it fails alone, the others are saved.
        """
        pending = _Pending(page_n, change, who)
        with self._batches_mutex:
            batch = self._batches.setdefault(manuscript_id, _Batch())
        with batch.mutex:
            batch.waiting.append(pending)
        with batch.leader:
            with batch.mutex:
                group, batch.waiting = batch.waiting, []
            if group:
                self._save_group(manuscript_id, group)
        if pending.error is not None:
            raise pending.error
        return pending.result

    def _save_group(self, manuscript_id: str, group: list[_Pending]) -> None:
        who_by_line: dict[str, str] = {}
        try:
            pages = {pending.page_n for pending in group}
            with self.edit(manuscript_id, group[0].who, pages=pages, who_by_line=who_by_line) as manuscript:
                for pending in group:
                    try:
                        pending.result = pending.change(manuscript)
                    except WorkbenchError as error:
                        pending.error = error
                        continue
                    who_by_line[pending.result.id] = pending.who
        except Exception as error:
            if len(group) == 1:
                group[0].error = error
                return
            # One change made the group invalid: save each on its own, so only it fails.
            for pending in group:
                pending.result, pending.error = None, None
                self._save_group(manuscript_id, [pending])

    def set_published(self, manuscript_id: str, published: bool, who: str) -> None:
        """Let readers see the manuscript (reading view, search), or withdraw it."""
        with self.edit(manuscript_id, who, pages=[]) as manuscript:
            if manuscript.published != published:
                manuscript.published = published
                what = "published for readers" if published else "withdrawn from readers"
                manuscript.changes.append(Change(now(), "", f"{what} by {who}"))

    def set_metadata(self, manuscript_id: str, values: Mapping[str, str], who: str) -> list[str]:
        """Change header fields from text as editors type it (see metadata.py); the fields changed."""
        with self.edit(manuscript_id, who, pages=[]) as manuscript:
            changed = metadata.update(manuscript, values)
            if changed:
                manuscript.changes.append(Change(now(), "", f"metadata changed ({', '.join(changed)}) by {who}"))
        return changed

    def header(self, manuscript_id: str) -> Manuscript:
        """A copy of the manuscript's metadata (title, sources, published …) without its pages."""
        with self._reading(manuscript_id):
            return self._current(manuscript_id).manuscript.copy(pages=[])

    def page_numbers(self, manuscript_id: str) -> list[str]:
        """The pages' numbers in order (``overview`` without counting every line's status)."""
        with self._reading(manuscript_id):
            return [page.n for page in self._current(manuscript_id).manuscript.pages]

    def summary(self, manuscript_id: str) -> ManuscriptSummary:
        """The manuscript's title, published state, and each page's number, image and line
        counts per status: the one place lines are counted, without copying the pages."""
        with self._reading(manuscript_id):
            manuscript = self._current(manuscript_id).manuscript
            pages = [
                PageSummary(page.n, page.image, Counter(line.status or "untranscribed" for line in page.lines))
                for page in manuscript.pages
            ]
            return ManuscriptSummary(manuscript.id, manuscript.title or manuscript.id, manuscript.published, pages)

    def count_lines(
        self, manuscript_id: str, which: Callable[[Line], bool], pages: Collection[str] | None = None
    ) -> dict[str, int]:
        """Page number → how many of its lines ``which`` accepts (of ``pages`` only, if given),
        without copying the pages: the retraining check counts a 15,000-line manuscript
        this way (htr/training.py, ``TrainableLines``)."""
        with self._reading(manuscript_id):
            manuscript = self._current(manuscript_id).manuscript
            return {page.n: sum(1 for line in page.lines if which(line)) for page in _pages_in_scope(manuscript, pages)}

    def page_revisions(self, manuscript_id: str) -> PageRevisions:
        """Which pages this process saved since it read the file: what lets a reader of a
        15,000-line manuscript (the search indexer) copy only the pages a save changed."""
        with self._reading(manuscript_id):
            document = self._current(manuscript_id)
            return PageRevisions(document.generation, dict(document.revisions))

    def read(self, manuscript_id: str, page_n: str | None = None) -> Manuscript:
        """A copy of the manuscript as last saved (only page ``page_n``, if given), for display.

        Cheap when the workbench wrote the file last: the web editor renders a page of
        a 500-page manuscript from this without parsing the file.
        """
        with self._reading(manuscript_id):
            manuscript = self._current(manuscript_id).manuscript
            pages = [manuscript.page(page_n)] if page_n is not None else manuscript.pages
            return manuscript.copy(pages=pages)

    def add_pages(self, manuscript_id: str, paths: list[Path], who: str) -> AddedPages:
        """Copy page images into the edition, unchanged, and add a page for each.

        Every file is checked first; if any is bad, nothing is added.
        """
        infos = {}
        problems = []
        for path in paths:
            try:
                infos[Path(path)] = facsimile.inspect_image(Path(path))
            except facsimile.BadImage as error:
                problems.append(str(error))
        if problems:
            raise WorkbenchError("no pages were added:\n  " + "\n  ".join(problems))
        folder = self.facsimile_dir / check_manuscript_id(manuscript_id)
        added: list[Page] = []
        skipped: list[str] = []
        copied: list[Path] = []
        try:
            with self.edit(manuscript_id, who) as manuscript:
                folder.mkdir(parents=True, exist_ok=True)
                checksums = _read_checksums(folder)
                numbers = [int(page.n) for page in manuscript.pages if page.n.isdigit()]
                for path in map(Path, paths):
                    digest = facsimile.sha256(path)
                    name = _safe_file_name(path.name)
                    if checksums.get(name) == digest:
                        skipped.append(name)
                        continue
                    if name in checksums or (folder / name).exists():
                        raise WorkbenchError(f"a different file named {name} is already in {manuscript_id}; rename it")
                    copy_atomically(path, folder / name)
                    copied.append(folder / name)
                    checksums[name] = digest
                    info = infos[path]
                    for frame in range(info.frames):
                        n = max(numbers, default=0) + 1
                        numbers.append(n)
                        page = Page(
                            id=codec.page_id(manuscript_id, n),
                            n=str(n),
                            image=name,
                            width=info.width,
                            height=info.height,
                            mime_type=info.mime_type,
                            frame=frame if info.frames > 1 else None,
                        )
                        manuscript.pages.append(page)
                        added.append(page)
                if added:
                    manuscript.changes.append(Change(now(), "", f"{len(added)} page(s) added by {who}"))
        except BaseException:
            # The document was not changed: take back the images copied for it.
            for path in copied:
                path.unlink(missing_ok=True)
            raise
        _write_checksums(folder, checksums)
        return AddedPages(added, skipped)

    def _current(self, manuscript_id: str) -> _Document:
        """The manuscript as on disk, validated; refuses a file made invalid by hand.

        When another process saved the file since this one last saw it, the pages it saved
        are read from the changes log's byte ranges (``_catch_up``); anything else (a hand
        edit, a whole-document save, a missing or torn log) reads the whole file again.
        """
        path = self.require(manuscript_id)
        document = self._documents.get(manuscript_id)
        if document is not None and _stat_key(path) in (document.stat, document.in_flight):
            return document
        if document is not None and self._catch_up(document, path):
            return document
        # The key from the very file read: another process's save may replace the file
        # while this one is validated and parsed (4 s at 15,000 lines), and a key taken
        # after that would pass the old content off as the new file; the next save of
        # this process would then write other pages' old text back over the new.
        with open(path, "rb") as file:
            key = _stat_key_of(os.fstat(file.fileno()))
            data = file.read()
        name = str(path.relative_to(self.root))
        self.full_reads += 1
        problems = validation.check_project(parse_xml(data, name), self.schema_dir)
        if problems:
            raise validation.InvalidDocument(
                f"{name} was changed outside the workbench and is no longer valid, "
                "so the workbench will not overwrite it; fix it (workbench validate shows the problems) "
                "or restore it from a backup",
                problems,
            )
        document = _Document.of(codec.parse_manuscript(data, name))
        document.stat = key
        self._documents[manuscript_id] = document
        if sum(len(page.lines) for page in document.manuscript.pages) >= LARGE_MANUSCRIPT:
            _out_of_garbage_collections()
        return document

    def changes_log(self, manuscript_id: str) -> Path:
        """Derived from the saves (never needed to read the TEI): for each save of some pages,
        the file's (inode, size, mtime) before and after, and the sizes of the header and of
        the saved pages' parts in the new file, so another process can read just those."""
        return self.cache_dir / f"{check_manuscript_id(manuscript_id)}.changes"

    def _log_change(
        self, document: _Document, header: bytes, saved: dict[str, codec.PageParts], temporary: Path
    ) -> None:
        """Append the save about to replace the file (``temporary``, complete) to the changes log.

        Called before the rename, so that a process that sees the new file finds its record.
        Derived data: not fsynced, and a failure costs the other processes a full read, not the save.
        """
        manuscript_id = document.manuscript.id
        path = self.changes_log(manuscript_id)
        try:
            record = {
                "before": document.stat,
                "after": _stat_key(temporary),
                "header": len(header),
                "pages": {page_id: [len(parts.surface), len(parts.text)] for page_id, parts in saved.items()},
            }
            if path.exists() and path.stat().st_size > CHANGES_LOG_LIMIT:
                # Keep the recent end: a process further behind than that reads the file.
                with open(path, "rb") as old:
                    old.seek(-CHANGES_LOG_LIMIT // 4, os.SEEK_END)
                    tail = old.read().split(b"\n", 1)[-1]
                write_atomically(path, tail, durable=False)
            AppendLog(path).append_lines([json.dumps(record)], durable=False)
        except OSError as error:
            log.warning("changes log of %s not written (other processes will read the file): %s", manuscript_id, error)

    def _catch_up(self, document: _Document, path: Path) -> bool:
        """Bring ``document`` up to the file on disk from the changes log, reading only the
        header and the pages saved since; whether it could. The pages read are checked as a
        save of them is (with the header, against the project schema; their xml:ids against
        the other pages'); the cached document is changed only once all of that passed."""
        manuscript = document.manuscript
        name = str(path.relative_to(self.root))
        try:
            with open(path, "rb") as file:
                key = _stat_key_of(os.fstat(file.fileno()))
                chain = _changes_between(self.changes_log(manuscript.id), document.stat, key)
                if not chain:
                    return False
                sizes = {page_id: (len(parts.surface), len(parts.text)) for page_id, parts in document.parts.items()}
                saved: set[str] = set()
                for record in chain:
                    for page_id, pair in record["pages"].items():
                        if page_id not in sizes:
                            return False
                        sizes[page_id] = (int(pair[0]), int(pair[1]))
                        saved.add(page_id)
                order = list(document.parts)
                offsets = codec.part_offsets(manuscript.id, int(chain[-1]["header"]), [sizes[i] for i in order])
                if offsets.size != key[1]:
                    return False
                descriptor = file.fileno()
                header = os.pread(descriptor, int(chain[-1]["header"]), offsets.header)
                parts = {
                    page_id: codec.PageParts(
                        os.pread(descriptor, sizes[page_id][0], offsets.pages[k][0]),
                        os.pread(descriptor, sizes[page_id][1], offsets.pages[k][1]),
                    )
                    for k, page_id in enumerate(order)
                    if page_id in saved
                }
            fresh = codec.parse_manuscript(codec.assemble(manuscript.id, header, list(parts.values())), name)
            # Checked as the save that wrote them was: the header and the pages' changed lines.
            to_check = _changed_parts(manuscript, fresh.pages, parts)
            if validation.check_project(
                parse_xml(codec.assemble(manuscript.id, header, to_check), name), self.schema_dir
            ):
                return False
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError, WorkbenchError):
            return False  # a log that does not fit the file: read the file
        pages = {page.id: page for page in fresh.pages}
        if set(pages) != saved or _ids_shared_with_other_pages(document, list(pages.values()), header=fresh):
            return False
        for field_ in fields(Manuscript):
            if field_.name != "pages":
                setattr(manuscript, field_.name, getattr(fresh, field_.name))
        manuscript.pages = [pages.get(page.id, page) for page in manuscript.pages]
        document.parts.update(parts)
        document.index(list(pages.values()))
        document.revisions.update((page.n, next(_revision_numbers)) for page in pages.values())
        document.stat = key
        return True

    def _save(
        self,
        document: _Document,
        manuscript: Manuscript,
        entries: list[Entry],
        pages: Collection[str] | None,
        before_write: Callable[[], None] | None = None,
    ) -> None:
        """Validate what changed in ``manuscript`` (the changed copy of ``document``'s),
        journal it, replace the file atomically, and only then make ``manuscript`` the one
        that reads see.

        ``before_write`` runs once the document is known to be valid, before anything is written.
        """
        header = codec.header_part(manuscript)
        same_pages = [page.id for page in manuscript.pages] == list(document.parts)
        whole = pages is None or not same_pages
        if whole:
            changed = manuscript.pages
            parts = {page.id: codec.page_parts(manuscript.id, page) for page in changed}
            data = codec.assemble(manuscript.id, header, list(parts.values()))
            problems = validation.check_project(parse_xml(data, manuscript.id), self.schema_dir)
        else:
            wanted = set(pages)
            changed = [page for page in manuscript.pages if page.n in wanted]
            parts = dict(document.parts)
            for page in changed:
                parts[page.id] = codec.page_parts(manuscript.id, page)
            # The header and what changed on the changed pages, checked together as one small document.
            to_check = _changed_parts(document.manuscript, changed, parts)
            problems = validation.check_project(codec.pages_document(manuscript, to_check))
            problems += _ids_shared_with_other_pages(document, changed, header=manuscript)
            data = codec.assemble(manuscript.id, header, [parts[page.id] for page in manuscript.pages])
        if problems:
            raise validation.InvalidDocument(f"the change to {manuscript.id}", problems)
        if before_write is not None:
            before_write()
        path = self.tei_path(manuscript.id)
        saved_parts = {page.id: parts[page.id] for page in changed}
        # Journal first: an acknowledged change is recorded even if the machine stops
        # between the two steps. The journal's append and fsync run beside the writing
        # and fsync of the new file (5-10 ms each); only the rename waits for the journal.
        journalling = _journal_writer.submit(self.journal.append, manuscript.id, entries)

        def about_to_replace(new: Path) -> None:
            journalling.result()  # raises what the journal's append raised: nothing is replaced
            if not whole:
                self._log_change(document, header, saved_parts, new)
            # Until the swap below, reads that find the new file keep the manuscript as it
            # was (the save is not done) instead of reading the file anew.
            with self._model_lock(manuscript.id):
                document.in_flight = _stat_key(new)
                self._documents.setdefault(manuscript.id, document)

        try:
            try:
                write_atomically(path, data, before_replace=about_to_replace, free_old_later=True)
            finally:
                futures.wait([journalling])  # a save that failed still ends with its journal's append
        except BaseException:
            with self._model_lock(manuscript.id):
                if document.in_flight is not None:  # the file may be the new one: read it again
                    document.in_flight = None
                    self._documents.pop(manuscript.id, None)
            raise
        with self._model_lock(manuscript.id):
            if whole:
                document.ids, document.owners = {}, {}  # pages may have gone: index afresh
                document.revisions = {}
            document.manuscript = manuscript
            document.index(changed)
            document.revisions.update((page.n, next(_revision_numbers)) for page in changed)
            document.parts = parts
            document.stat, document.in_flight = _stat_key(path), None
            self._documents[manuscript.id] = document

    @contextmanager
    def lock(self, manuscript_id: str) -> Iterator[None]:
        """The manuscript's lock: held by every save (and by whoever must not interrupt one),
        against this process's other threads and against other processes (a lock file)."""
        with self._thread_lock(manuscript_id):
            self.locks_dir.mkdir(parents=True, exist_ok=True)
            with open(self.locks_dir / f"{check_manuscript_id(manuscript_id)}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)

    @contextmanager
    def _reading(self, manuscript_id: str) -> Iterator[None]:
        """What a read holds: the model lock, so that it sees the cached document before or
        after a swap, never during one or during another process's save being caught up
        with. It takes no lock file, so that reading never writes (a reader of the published
        edition, an unknown id): another process's save replaces the file atomically, and
        ``_current`` notices the new file."""
        self.require(manuscript_id)
        with self._model_lock(manuscript_id):
            yield

    def _thread_lock(self, manuscript_id: str) -> threading.RLock:
        return self._lock_in(self._thread_locks, manuscript_id)

    def _model_lock(self, manuscript_id: str) -> threading.RLock:
        # Never held while waiting for the save lock (``lock``): saves take that one first.
        return self._lock_in(self._model_locks, manuscript_id)

    def _lock_in(self, locks: dict[str, threading.RLock], manuscript_id: str) -> threading.RLock:
        with self._batches_mutex:
            return locks.setdefault(manuscript_id, threading.RLock())


def _start_journal_writer() -> None:
    """The thread that appends each save's journal entries while the save writes its new
    file. One for the process: saves of a manuscript are serialised anyway, and a journal
    append of one manuscript waiting for another's is rarer than a thread started for
    each save is costly. A process forked from this one gets a thread of its own (its
    parent's is not there, though the pool would think it idle, and wait for it for good)."""
    global _journal_writer
    _journal_writer = futures.ThreadPoolExecutor(1, thread_name_prefix="journal")


_journal_writer: futures.ThreadPoolExecutor
_start_journal_writer()
os.register_at_fork(after_in_child=_start_journal_writer)

_revision_numbers = itertools.count(1)  # process-wide, so no two saves share a number


@dataclass(frozen=True)
class PageRevisions:
    """A manuscript's page revisions as this process knows them.

    ``generation`` changes whenever the document is read anew from disk (another
    process or a hand edit changed the file): revisions of different generations
    cannot be compared. Within one generation a page's revision changes on every
    save that touches it.
    """

    generation: int
    pages: dict[str, int]  # page number → revision


@dataclass
class _Document:
    """A manuscript with its serialised pages and the xml:ids on each, as last saved."""

    manuscript: Manuscript
    parts: dict[str, codec.PageParts] = field(default_factory=dict)
    ids: dict[str, set[str]] = field(default_factory=dict)  # page id → the xml:ids on it
    owners: dict[str, str] = field(default_factory=dict)  # xml:id → the page it is on
    stat: tuple[int, int, int] | None = None
    # The key of the file a save of this process is renaming into place, until the save
    # swaps its manuscript in (the file is new, the save not yet done).
    in_flight: tuple[int, int, int] | None = None
    generation: int = field(default_factory=lambda: next(_revision_numbers))
    revisions: dict[str, int] = field(default_factory=dict)  # page number → revision (PageRevisions)

    @classmethod
    def of(cls, manuscript: Manuscript) -> _Document:
        document = cls(manuscript, {page.id: codec.page_parts(manuscript.id, page) for page in manuscript.pages})
        document.index(manuscript.pages)
        document.revisions = dict.fromkeys((page.n for page in manuscript.pages), document.generation)
        return document

    def index(self, pages: list[Page]) -> None:
        """Record which xml:ids stand on ``pages`` (after they were saved)."""
        for page in pages:
            for xml_id in self.ids.pop(page.id, ()):
                self.owners.pop(xml_id, None)
            self.ids[page.id] = ids = _page_ids(page)
            self.owners.update(dict.fromkeys(ids, page.id))


def _page_ids(page: Page) -> set[str]:
    ids = {page.id, *(region.id for region in page.regions)}
    for line in page.lines:
        ids.update((line.id, f"{line.id}_t"))
    return ids


def _ids_shared_with_other_pages(
    document: _Document, changed: list[Page], header: Manuscript | None = None
) -> list[validation.Problem]:
    """xml:ids of the changed pages that another page, or the header (``header``'s, if
    given: a header read anew), uses already."""
    manuscript = header or document.manuscript
    header_ids = {manuscript.id, *(source.id for source in manuscript.sources)}
    return [
        validation.Problem(None, f"xml:id {xml_id!r} on page {page.n} is used elsewhere in the document", "ids")
        for page in changed
        for xml_id in sorted(_page_ids(page))
        if xml_id in header_ids or document.owners.get(xml_id, page.id) != page.id
    ]


def _changed_parts(before: Manuscript, pages: list[Page], parts: dict[str, codec.PageParts]) -> list[codec.PageParts]:
    """What a save (or a catch-up) of ``pages`` must validate, against the manuscript as it
    was before: each page's ``_changed_part``."""
    old = {page.id: page for page in before.pages}
    return [_changed_part(before.id, old.get(page.id), page, parts[page.id]) for page in pages]


def _changed_part(manuscript_id: str, before: Page | None, page: Page, part: codec.PageParts) -> codec.PageParts:
    """What a save of ``page`` must validate: where only some of its lines changed (a line
    save), the page with those lines alone, else ``part``, the whole page.

    Validation is the largest share of a line save's CPU (0.26 ms a line: 8 ms for a page
    of 30 lines against 0.3 ms for one). The lines left out were valid when saved, and
    nothing in the schema ties one line to another: each line's lb, zone and markup
    point only at each other, at the page's regions (all kept) or at the header (checked
    with it). What could tie them, a repeated xml:id, is checked here for the page's
    own ids, and line markup carries none (``text.parse_fragment``).
    """
    if before is None or replace(before, lines=[]) != replace(page, lines=[]):
        return part  # the page itself or its regions changed
    old = {line.id: line for line in before.lines}
    lines = [line for line in page.lines if old.get(line.id) != line]
    ids = [line.id for line in page.lines]
    if len(lines) == len(page.lines) or len(set(ids)) != len(ids):
        return part  # everything changed, or a line id repeats: the whole page tells
    return codec.page_parts(manuscript_id, replace(page, lines=lines))


# Lines from which a manuscript read whole is kept out of Python's full garbage
# collections (below, a collection walks it in a few milliseconds).
LARGE_MANUSCRIPT = 1000


def _out_of_garbage_collections() -> None:
    """Leave every object alive now, the manuscript just read among them, out of Python's
    full garbage collections. A 15,000-line manuscript is millions of objects (points,
    lines, serialised parts) that each full collection walked, holding every thread of
    the server for 110-175 ms, several times a minute under a team's load: that was the
    editors' slowest saves. What it holds is freed as ever when no longer referred to
    (the model has no reference cycles); the collection before keeps cycles that are
    garbage already from staying for good."""
    gc.collect()
    gc.freeze()


def _working_copy(manuscript: Manuscript, pages: Collection[str] | None) -> Manuscript:
    """What a save changes: a copy of the header and of the pages in scope (all of them
    without ``pages``), in a page list of its own; the other pages are shared with the
    manuscript that reads see, which stays as it was until the save is done."""
    working = manuscript.copy(pages=[])
    scope = {id(page) for page in _pages_in_scope(manuscript, pages)}
    working.pages = [page.copy() if id(page) in scope else page for page in manuscript.pages]
    return working


def _pages_in_scope(manuscript: Manuscript, pages: Collection[str] | None) -> list[Page]:
    if pages is None:
        return manuscript.pages
    wanted = set(pages)
    return [page for page in manuscript.pages if page.n in wanted]


def _line_states(pages: list[Page]) -> dict[str, tuple[str, str | None]]:
    return {line.id: (line.text, line.status) for page in pages for line in page.lines}


def _journal_entries(
    manuscript_id: str,
    before: dict[str, tuple[str, str | None]],
    pages: list[Page],
    who: str,
    source: str | None,
    who_by_line: dict[str, str],
) -> list[Entry]:
    """An entry for each line whose text or status changed, and each removed line that had text."""
    time = now()
    entries = []
    present = set()
    for line in (line for page in pages for line in page.lines):
        present.add(line.id)
        old_text, old_status = before.get(line.id, ("", None))
        if (line.text, line.status) != (old_text, old_status) and (line.text or old_text):
            person = who_by_line.get(line.id, who)
            entries.append(
                Entry(time, manuscript_id, line.id, old_text, line.text, person, source or person, line.status)
            )
    for line_id, (old_text, _) in before.items():
        if line_id not in present and old_text:
            person = who_by_line.get(line_id, who)
            entries.append(
                Entry(time, manuscript_id, line_id, old_text, "", person, source or person, None, event="removed")
            )
    return entries


def _stat_key(path: Path) -> tuple[int, int, int]:
    return _stat_key_of(path.stat())


def _stat_key_of(stat: os.stat_result) -> tuple[int, int, int]:
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


# The changes log is cut back to its last quarter beyond this size (a record is ~150 bytes:
# some 25,000 saves); a process further behind reads the whole file.
CHANGES_LOG_LIMIT = 4 * 1024 * 1024


def _changes_between(log_path: Path, before: tuple | None, after: tuple) -> list[dict] | None:
    """The changes log's records leading from the file known by ``before`` to the one known by
    ``after``, in order; None if the log does not connect them (a gap: a hand edit, a
    whole-document save, a crash between the write and the log, a cut log).

    Read from the end, where a process that keeps up finds what it needs."""
    if before is None:
        return None
    want = list(before)
    try:
        with open(log_path, "rb") as changes:
            end = changes.seek(0, os.SEEK_END)
            span = 64 * 1024
            while True:
                start = max(0, end - span)
                changes.seek(start)
                lines = changes.read(end - start).split(b"\n")
                if start:
                    lines = lines[1:]  # begun mid-line
                records = []
                for raw in reversed(lines):
                    try:
                        record = json.loads(raw)
                    except ValueError:
                        continue  # empty, or torn by a crash mid-append
                    if not isinstance(record, dict):
                        continue
                    records.append(record)
                    if record.get("before") == want:
                        return _chain(reversed(records), want, list(after))
                if not start:
                    return None
                span *= 8
    except OSError:
        return None


def _chain(records: Iterable[dict], before: list, after: list) -> list[dict] | None:
    chain = []
    for record in records:
        if record.get("before") != before:
            continue  # a save whose file never replaced this one (it failed, or the process died)
        chain.append(record)
        before = record.get("after")
        if before == after:
            return chain
    return None


def _safe_file_name(name: str) -> str:
    name = Path(name).name
    if not name or name.startswith(".") or "#" in name:
        raise WorkbenchError(f"{name!r} cannot be used as a page file name (no leading '.', no '#')")
    return name


CHECKSUMS = "SHA256SUMS"


def _read_checksums(folder: Path) -> dict[str, str]:
    path = folder / CHECKSUMS
    if not path.exists():
        return {}
    checksums = {}
    for row in path.read_text(encoding="utf-8").splitlines():
        digest, _, name = row.partition("  ")
        if name:
            checksums[name] = digest
    return checksums


def _write_checksums(folder: Path, checksums: dict[str, str]) -> None:
    # The format of sha256sum, so `sha256sum -c SHA256SUMS` checks the images.
    rows = "".join(f"{digest}  {name}\n" for name, digest in sorted(checksums.items()))
    write_atomically(folder / CHECKSUMS, rows.encode("utf-8"))


# The settings file `workbench init` writes: every setting the workbench reads from an
# edition's workbench.toml, commented out (the defaults apply until one is set).
SETTINGS_TEMPLATE = """\
# Settings of this edition, all optional: remove the "# " before a table's name and
# before a setting to set it. Changes apply when `workbench serve` starts again.

# [editor]
# # The editor's palette of letters and marks, in order.
# palette = ["ѣ", "ѫ", "ѭ", "ѧ", "і", "ы", "ѳ", "ѵ", "ъ", "ь", "\\u0301", "\\u0300", "\\u0483"]

# [recognition]
# # The model that recognises the lines of a manuscript that has no default model of its
# # own (`workbench models default`): a file path or a model name.
# model = "path/to/model.mlmodel"
# # Retrain a manuscript's model by itself once this many lines were corrected or
# # verified since it was trained (0: never; README, "Closing the loop").
# retrain_after = 200

# [server]
# # `workbench serve` runs behind a TLS reverse proxy on this machine (README, Deployment):
# # trust the proxy's X-Forwarded-For/-Proto/-Host headers.
# behind_proxy = true

# [deposit]
# # Who deposits the packages `workbench package` makes (their bag-info.txt).
# organization = "Регионална библиотека „Любен Каравелов“ – Русе"
# address = "Русе, България"
# contact_name = "Име Фамилия"
# contact_email = "name@example.org"
# contact_phone = "+359 00 000 000"
"""


def check_new_edition_folder(root: Path) -> None:
    """Refuse a folder that holds anything: a new edition never mixes with files already there."""
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise WorkbenchError(
            f"{root} is not empty: a new edition is made only in a new or empty folder "
            "(to work on an existing edition, give it with --edition)"
        )


def new_edition(root: Path | str) -> Edition:
    """An empty edition made in ``root``, a new or empty folder: its folders and a workbench.toml."""
    root = Path(root)
    check_new_edition_folder(root)
    edition = Edition(root)
    for folder in (edition.tei_dir, edition.facsimile_dir, edition.state_dir):
        folder.mkdir(parents=True, exist_ok=True)
    write_atomically(edition.root / "workbench.toml", SETTINGS_TEMPLATE.encode("utf-8"))
    return edition
