"""The one rule for naming new lines and regions: an id a page has never had.

A line's id is the key of its history (the edit journal, the layout log, undo), so an
id must never be given twice on a page: a line deleted by hand and a line a later
re-segmentation finds in its place are different lines. Every producer of lines (the
hand corrections, re-segmentation, import) takes its ids from a ``LineIds``, which
knows the page's ids and the ids of its history (``LayoutLog.ids_for``).
"""

from __future__ import annotations

from collections.abc import Iterable

from workbench.model import Page


class LineIds:
    """New ids for one page's lines (``<page id>_l<n>``) and regions (``<page id>_r<n>``)."""

    def __init__(self, page: Page, used: Iterable[str] = ()):
        self.page_id = page.id
        taken = [*(line.id for line in page.lines), *(region.id for region in page.regions), *used]
        self._next_line = 1 + max((_number(xml_id, "_l") for xml_id in taken), default=0)
        self._next_region = 1 + max((_number(xml_id, "_r") for xml_id in taken), default=0)

    def line(self) -> str:
        line_id = f"{self.page_id}_l{self._next_line}"
        self._next_line += 1
        return line_id

    def region(self) -> str:
        region_id = f"{self.page_id}_r{self._next_region}"
        self._next_region += 1
        return region_id


def _number(xml_id: str, marker: str) -> int:
    head, found, tail = xml_id.rpartition(marker)
    return int(tail) if found and tail.isdigit() else 0
