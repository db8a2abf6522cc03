"""Formatted citations of bibliography entries with citeproc-py and CSL styles.

Two styles: ``bds``, the workbench's own style after Bulgarian library practice (BDS 17377,
the Bulgarian application of ISO 690; ``workbench/styles/bds-690.csl``), and ``harvard``,
Cite Them Right's Harvard, which citeproc-py ships (read from the installed package, never
copied here). Each in Bulgarian or English, with the CSL locales citeproc-py ships
(``bg-BG``, ``en-GB``).
"""

from __future__ import annotations

import threading
import warnings
from functools import cache
from pathlib import Path

from citeproc import Citation, CitationItem, CitationStylesBibliography, CitationStylesStyle, formatter
from citeproc.source.json import CiteProcJSON

from workbench.bibliography import Entry
from workbench.exchange.bibliographic import csl_item
from workbench.model import WorkbenchError

STYLES = {
    "bds": str(Path(__file__).resolve().parent / "styles" / "bds-690.csl"),
    "harvard": "harvard-cite-them-right",  # a style citeproc-py ships, by name
}
LOCALES = {"bg": "bg-BG", "en": "en-GB"}
# citeproc-py's style objects keep state while they render: one rendering at a time.
_rendering = threading.Lock()


@cache
def _style(style: str, language: str) -> CitationStylesStyle:
    if style not in STYLES:
        raise WorkbenchError(f"unknown citation style {style!r}: one of {', '.join(STYLES)}")
    if language not in LOCALES:
        raise WorkbenchError(f"no citations in {language!r}: one of {', '.join(LOCALES)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # citeproc-py warns of CSL features it skips; the output is checked in tests
        return CitationStylesStyle(STYLES[style], locale=LOCALES[language], validate=False)


def cite(entries: list[Entry], style: str = "bds", language: str = "bg") -> dict[str, str]:
    """Each entry's bibliography line in ``style`` and ``language`` (plain text), by entry id."""
    csl_style = _style(style, language)
    lines = {}
    with _rendering, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for entry in entries:
            item = csl_item(entry)
            bibliography = CitationStylesBibliography(csl_style, CiteProcJSON([item]), formatter.plain)
            bibliography.register(Citation([CitationItem(item["id"])]))
            lines[entry.id] = str(bibliography.bibliography()[0])
    return lines
