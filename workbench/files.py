"""Writing files so that nobody ever reads half of one: whole-file replacement, copies,
and append-only logs."""

from __future__ import annotations

import glob
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path


def write_atomically(
    path: Path,
    data: bytes,
    *,
    durable: bool = True,
    mode: int | None = None,
    before_replace: Callable[[Path], None] | None = None,
    free_old_later: bool = False,
) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    Readers see the old file or the new one, never a part. ``durable`` also fsyncs
    the file and its folder, so that the new file survives a crash (the TEI, the
    accounts); a cache or a job's progress can do without. ``mode`` sets the
    permissions (a temporary file starts private, 0600). ``before_replace`` is called
    with the complete temporary file just before the rename (the rename keeps its inode,
    size and mtime: what the file will be known by). ``free_old_later``: the old file's
    blocks are freed by a thread afterwards, not by the rename (which then takes 2-8 ms
    for an 8.8 MB file on ext4, in the middle of a save).
    """
    with _replacing(path, durable, mode, before_replace, free_old_later) as temporary:
        temporary.write_bytes(data)


def copy_atomically(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` (durably: a page image is a master) so that
    ``target`` is never seen half-copied."""
    with _replacing(target, durable=True) as temporary:
        shutil.copyfile(source, temporary)


@contextmanager
def _replacing(
    path: Path,
    durable: bool,
    mode: int | None = None,
    before_replace: Callable[[Path], None] | None = None,
    free_old_later: bool = False,
) -> Iterator[Path]:
    """A temporary file beside ``path`` to fill; renamed over ``path`` when the block ends
    well, removed when it does not."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(descriptor)
    temporary = Path(name)
    old = temporary.with_suffix(".old.tmp") if free_old_later else None
    try:
        yield temporary
        if durable:
            _fsync(temporary)
        if mode is not None:
            os.chmod(temporary, mode)
        if before_replace is not None:
            before_replace(temporary)
        if old is not None:
            try:
                os.link(path, old)  # the rename then only drops a link
            except OSError:
                old = None  # no old file (or no hard links here): the rename frees it
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        if old is not None:
            old.unlink(missing_ok=True)
        raise
    if durable:
        _fsync(path.parent)
    if old is not None:
        threading.Thread(target=_free_old, args=(old, path.name), name="free-old-file", daemon=True).start()


def _free_old(old: Path, name: str) -> None:
    """Unlink ``old``, and any old copy of the same file a process left behind when it
    ended before its thread did (nothing ever reads these links)."""
    old.unlink(missing_ok=True)
    for leftover in old.parent.glob(f".{glob.escape(name)}.*.old.tmp"):
        leftover.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class AppendLog:
    """A JSON Lines file that is only ever appended to: the edit journal, the layout log.

    An append is flushed and fsynced before it returns, so an acknowledged change is
    on disk. A crash mid-append can leave a torn last line; reading skips it and keeps
    every line before it.
    """

    def __init__(self, path: Path):
        self.path = path

    def append(self, records: Iterable[Mapping]) -> None:
        self.append_lines([json.dumps(record, ensure_ascii=False) for record in records])

    def append_lines(self, lines: list[str], durable: bool = True) -> None:
        """Append lines already serialised (one JSON object each, no newline in them).

        ``durable``: fsync before returning (a derived log, rebuilt or done without after
        a crash, can skip it)."""
        data = "".join(line + "\n" for line in lines).encode("utf-8")
        if not data:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+b") as log:
            end = log.seek(0, os.SEEK_END)
            if end and os.pread(log.fileno(), 1, end - 1) != b"\n":
                # A line torn by a crash: end it, or the first new line would be glued to
                # it and lost with it.
                data = b"\n" + data
            log.write(data)
            log.flush()
            if durable:
                os.fsync(log.fileno())

    def records(self) -> Iterator[dict]:
        if not self.path.exists():
            return
        # A line torn inside a letter is not UTF-8: read it as something that will not
        # parse, rather than fail on it and lose every line after it.
        with open(self.path, encoding="utf-8", errors="replace") as log:
            for raw in log:
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw)
                except ValueError:
                    continue  # torn by a crash mid-append
                if isinstance(record, dict):
                    yield record
