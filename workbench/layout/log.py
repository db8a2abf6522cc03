"""The layout log: every change to a page's segmentation, so that each person can undo
their own (layout/corrections.py) and no line id is ever given twice (layout/ids.py).

One JSON Lines file per page, ``.workbench/layout/<manuscript>/<page>.jsonl``, appended,
never rewritten. Per page, so that showing or changing a page reads only its own
history, however large the manuscript. The lines' texts are also in the edit journal;
this log adds their geometry and places in the reading order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from workbench.files import AppendLog
from workbench.layout.ids import LineIds
from workbench.model import Line, Page, Region


@dataclass
class Placed:
    """A line and its place in the page's reading order (0-based)."""

    index: int
    line: Line


@dataclass
class Record:
    """One change to a page's segmentation."""

    id: str
    time: str
    who: str
    page: str
    action: str  # delete, add, merge, split, move, reorder, resegment, undo
    before: list[Placed]  # the lines the change touched, as they were
    after: list[Line]  # the same lines (and new ones) as they became
    regions_before: list[Region] | None = None  # the page's regions, when the change replaced them
    regions_after: list[Region] | None = None
    undoes: str | None = None  # for an undo: the record it undid
    unmapped: list[str] = field(default_factory=list)  # resegment: transcribed lines no new line matched


class LayoutLog:
    def __init__(self, folder: Path):
        self.folder = folder

    def path(self, manuscript_id: str, page_n: str) -> Path:
        return self.folder / manuscript_id / f"{page_n}.jsonl"

    def append(self, manuscript_id: str, record: Record) -> None:
        AppendLog(self.path(manuscript_id, record.page)).append([asdict(record)])

    def records(self, manuscript_id: str, page_n: str) -> Iterator[Record]:
        for data in AppendLog(self.path(manuscript_id, page_n)).records():
            try:
                yield _record(data)
            except (ValueError, TypeError, KeyError):
                continue  # not a whole record

    def ids_for(self, manuscript_id: str, page: Page) -> LineIds:
        """New ids for ``page``: none that it has, or that any line or region of its history had."""
        used: set[str] = set()
        for record in self.records(manuscript_id, page.n):
            used.update(line.id for line in record.after)
            used.update(placed.line.id for placed in record.before)
            for regions in (record.regions_before, record.regions_after):
                used.update(region.id for region in regions or ())
        return LineIds(page, used)


def _record(data: dict) -> Record:
    def line(value: dict) -> Line:
        value = dict(value)
        value["boundary"] = [tuple(p) for p in value["boundary"]]
        value["baseline"] = [tuple(p) for p in value["baseline"]]
        return Line(**value)

    def regions(values: list[dict] | None) -> list[Region] | None:
        if values is None:
            return None
        return [
            Region(v["id"], [tuple(p) for p in v["boundary"]], v.get("kind", "text"), v.get("source_id"))
            for v in values
        ]

    return Record(
        data["id"],
        data["time"],
        data["who"],
        data["page"],
        data["action"],
        [Placed(p["index"], line(p["line"])) for p in data["before"]],
        [line(value) for value in data["after"]],
        regions(data.get("regions_before")),
        regions(data.get("regions_after")),
        data.get("undoes"),
        data.get("unmapped", []),
    )
