"""The team's workflow beside the TEI: review of finished lines, and comments on lines.

A transcriber who finishes a line marks it *ready for review*; a reviewer verifies it
(its TEI status becomes ``verified``) or sends it back with a comment, which the
line shows until it is ready again. Anyone with an account can comment on a line,
answer a comment and mark a thread resolved.

Kept in append-only logs, one per page, ``.workbench/review/<manuscript>/<page>.jsonl``
(who, when, what, never rewritten: back it up with the journal): showing or saving a
line reads only its page's history, however large the manuscript. The TEI holds the
text and its status; this log holds the conversation about it, which an editor may
choose to export as ``<note type="editorial">`` (exchange/transfer.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from workbench.files import AppendLog
from workbench.model import Line, WorkbenchError
from workbench.transcription import page_number

Action = Literal["ready", "verified", "returned", "comment", "resolved"]
ReviewStatus = Literal["ready", "returned"]
MAX_COMMENT = 2000


@dataclass
class Event:
    id: str
    time: str
    line: str
    who: str
    action: Action
    text: str = ""
    reply_to: str | None = None  # a comment answering another; "resolved" names the thread's first comment


@dataclass
class Comment:
    id: str
    time: str
    who: str
    text: str
    replies: list[Comment] = field(default_factory=list)
    resolved_by: str | None = None

    @property
    def resolved(self) -> bool:
        return self.resolved_by is not None


@dataclass
class LineReview:
    """Where a line stands in review: waiting for a reviewer, or sent back (with why)."""

    status: ReviewStatus
    who: str
    time: str
    comment: str = ""


class Reviews:
    def __init__(self, folder: Path):
        self.folder = folder

    def _log(self, manuscript_id: str, page_n: str) -> AppendLog:
        return AppendLog(self.folder / manuscript_id / f"{page_n}.jsonl")

    def events(self, manuscript_id: str, page_n: str | None = None) -> Iterator[Event]:
        """The events of one page, or of every page (in page order)."""
        if page_n is None:
            pages = sorted((path.stem for path in (self.folder / manuscript_id).glob("*.jsonl")), key=_page_order)
        else:
            pages = [page_n]
        for page in pages:
            for record in self._log(manuscript_id, page).records():
                try:
                    yield Event(**record)
                except TypeError:
                    continue  # not an event (a line torn by a crash can still parse)

    def _append(
        self, manuscript_id: str, line_id: str, who: str, action: Action, text: str = "", reply_to=None
    ) -> Event:
        # Microseconds: the queue orders lines by when they became ready, often in one second.
        time = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        event = Event(uuid.uuid4().hex[:12], time, line_id, who, action, text, reply_to)
        self._log(manuscript_id, page_number(manuscript_id, line_id)).append([asdict(event)])
        return event

    # -- review ----------------------------------------------------------------

    def mark_ready(self, manuscript_id: str, line_id: str, who: str) -> None:
        self._append(manuscript_id, line_id, who, "ready")

    def mark_verified(self, manuscript_id: str, line_id: str, who: str) -> None:
        self._append(manuscript_id, line_id, who, "verified")

    def send_back(self, manuscript_id: str, line: Line, who: str, comment: str) -> None:
        """Return a line to its transcriber, saying why (the comment is required)."""
        comment = _checked(comment)
        if line.status == "verified":
            raise WorkbenchError(f"line {line.id} is verified; revert it first to send it back")
        self._append(manuscript_id, line.id, who, "returned", comment)

    def states(self, manuscript_id: str, page_n: str | None = None) -> dict[str, LineReview]:
        """Each line (of page ``page_n``, or of all) that awaits review or was sent back,
        by id; verified lines are done."""
        states: dict[str, LineReview] = {}
        for event in self.events(manuscript_id, page_n):
            if event.action == "ready":
                states[event.line] = LineReview("ready", event.who, event.time)
            elif event.action == "returned":
                states[event.line] = LineReview("returned", event.who, event.time, event.text)
            elif event.action == "verified":
                states.pop(event.line, None)
        return states

    def awaiting(self, manuscript_ids: list[str]) -> list[tuple[str, str, LineReview]]:
        """(manuscript, line, state) of every line ready for review, the longest waiting first."""
        waiting = [
            (manuscript_id, line_id, state)
            for manuscript_id in manuscript_ids
            for line_id, state in self.states(manuscript_id).items()
            if state.status == "ready"
        ]
        return sorted(waiting, key=lambda item: (item[2].time, item[0], item[1]))

    # -- comments --------------------------------------------------------------

    def comment(self, manuscript_id: str, line_id: str, who: str, text: str, reply_to: str | None = None) -> Event:
        """Start a thread on a line, or answer one (``reply_to``)."""
        said = [comment for thread in self.comments(manuscript_id, line_id) for comment in [thread, *thread.replies]]
        if reply_to is not None and reply_to not in {comment.id for comment in said}:
            raise WorkbenchError(f"no comment {reply_to!r} on line {line_id} to answer")
        return self._append(manuscript_id, line_id, who, "comment", _checked(text), reply_to)

    def resolve(self, manuscript_id: str, line_id: str, comment_id: str, who: str) -> None:
        if comment_id not in {c.id for c in self.comments(manuscript_id, line_id)}:
            raise WorkbenchError(f"no comment {comment_id!r} on line {line_id}")
        self._append(manuscript_id, line_id, who, "resolved", reply_to=comment_id)

    def comments(self, manuscript_id: str, line_id: str | None = None) -> list[Comment]:
        """The threads on a line (every line's, if none is named), oldest first, replies in order."""
        return [thread for _, thread in self.threads(manuscript_id, line_id)]

    def threads(self, manuscript_id: str, line_id: str | None = None) -> list[tuple[str, Comment]]:
        """(line, thread) pairs, oldest first."""
        page_n = page_number(manuscript_id, line_id) if line_id is not None else None
        events = self.events(manuscript_id, page_n)
        return self._threads(event for event in events if line_id is None or event.line == line_id)

    @staticmethod
    def _threads(events: Iterable[Event]) -> list[tuple[str, Comment]]:
        threads: dict[str, tuple[str, Comment]] = {}
        replies: dict[str, Comment] = {}
        for event in events:
            if event.action == "comment":
                comment = Comment(event.id, event.time, event.who, event.text)
                parent = replies.get(event.reply_to or "")
                if parent is None:
                    threads[event.id] = (event.line, comment)
                    replies[event.id] = comment
                else:
                    parent.replies.append(comment)
                    replies[event.id] = parent  # an answer to an answer joins the same thread
            elif event.action == "resolved" and event.reply_to in threads:
                threads[event.reply_to][1].resolved_by = event.who
        return list(threads.values())

    def open_comments(self, manuscript_id: str, page_n: str | None = None) -> dict[str, int]:
        """How many unresolved threads each line (of page ``page_n``, or of all) has."""
        counts: dict[str, int] = {}
        for line_id, thread in self._threads(self.events(manuscript_id, page_n)):
            if not thread.resolved:
                counts[line_id] = counts.get(line_id, 0) + 1
        return counts


def _checked(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        raise WorkbenchError("a comment needs some text")
    if len(text) > MAX_COMMENT:
        raise WorkbenchError(f"a comment has at most {MAX_COMMENT} characters")
    return text


def _page_order(page_n: str) -> tuple[int, str]:
    return (int(page_n), "") if page_n.isdigit() else (0, page_n)
