"""The pipeline steps over a whole manuscript: segment pages, recognise lines.

The CLI and (later) the web jobs both call these; progress goes to a callback so
either can show it. Each page is saved as soon as it is done, so an interrupted run
keeps the pages it finished.
"""

from __future__ import annotations

import os
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from workbench import transcription
from workbench.edition import Edition, now
from workbench.exchange import layout_files
from workbench.htr import kraken, segeval
from workbench.images import facsimile
from workbench.layout import corrections, mend
from workbench.layout.merge import MODES, MergeReport
from workbench.model import Change, Layout, Line, Page, WorkbenchError
from workbench.tei.text import text_fragment


@dataclass
class PageOutcome:
    page: str  # the page's n
    image: str
    report: MergeReport | None = None
    recognized: int = 0
    error: str | None = None
    working_on: list[str] = field(default_factory=list)  # pages still in progress, for the progress bar


@dataclass
class RunSummary:
    outcomes: list[PageOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[PageOutcome]:
        return [outcome for outcome in self.outcomes if outcome.error]

    @property
    def without_lines(self) -> list[PageOutcome]:
        return [o for o in self.outcomes if o.report is not None and o.report.lines == 0]


Progress = Callable[[PageOutcome], None]

# How a new segmentation goes onto a page that has lines: in their place, or beside them.


def select_pages(numbers: list[str], spec: str | None, manuscript_id: str = "") -> list[str]:
    """The page numbers (of ``numbers``, a manuscript's, in order) that ``spec`` names:
    "3", "1,4-6"; all of them when ``spec`` is empty.

    Every page a spec names must exist. A range is checked against the pages there are,
    never expanded, so "1-999999999" costs what the manuscript's page count does.
    """
    if not spec:
        return list(numbers)
    owner = f"manuscript {manuscript_id}" if manuscript_id else "the manuscript"
    numbered = sorted({int(n) for n in numbers if n.isdigit()})
    wanted: list[str] = []
    for part in spec.split(","):
        first, _, last = part.strip().partition("-")
        if not first.isdigit() or (last and not last.isdigit()):
            raise WorkbenchError(f"{spec!r} is not a page list; write e.g. 3 or 1,4-6", code="page-list", pages=spec)
        low, high = int(first), int(last or first)
        if low > high:
            raise WorkbenchError(
                f"{part.strip()!r} is not a page range: it ends before it starts", code="page-range", pages=part.strip()
            )
        inside = numbered[bisect_left(numbered, low) : bisect_right(numbered, high)]
        expected = low
        for number in inside:
            if number != expected:
                break
            expected += 1
        if expected <= high:
            raise WorkbenchError(
                f"{owner} has no page {expected}", code="no-page", manuscript=manuscript_id, page=expected
            )
        wanted += [str(number) for number in inside]
    return list(dict.fromkeys(wanted))


def _pages(edition: Edition, manuscript_id: str, spec: str | None) -> list[Page]:
    """The pages ``spec`` names, each read alone (no parse of the whole manuscript)."""
    numbers = select_pages(edition.page_numbers(manuscript_id), spec, manuscript_id)
    return [edition.read(manuscript_id, n).pages[0] for n in numbers]


def segment(
    edition: Edition,
    manuscript_id: str,
    who: str,
    pages: str | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    steps: tuple[str, ...] = mend.STEPS,
    mode: str = "replace",
) -> RunSummary:
    """Segment pages with kraken's bundled model, mend what it found (``steps``, see
    mend.py), and keep any text the pages already have.

    ``mode`` "replace" puts the new lines in place of the old ones, carrying text over
    by overlap (layout/merge.py, merge_layout); "add" keeps the page's lines and adds new ones
    only where there are none (add_layout). Either is logged as one change the
    person can undo (layout/corrections.py).
    """
    if mode not in MODES:
        raise WorkbenchError(f"unknown segmentation mode {mode!r}: use {' or '.join(MODES)}")
    selected = _pages(edition, manuscript_id, pages)
    jobs = [kraken.PageImage(edition.image_path(manuscript_id, page), page.frame) for page in selected]
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    summary = RunSummary()
    pending = [page.n for page in selected]
    for index, result in kraken.segment_pages(jobs, workers):
        page = selected[index]
        pending.remove(page.n)
        # Workers take pages in order, so the ones in progress are the first pending.
        outcome = PageOutcome(page.n, page.image, working_on=pending[:workers])
        if isinstance(result, Exception):
            outcome.error = _describe(result)
        else:
            outcome.report = apply_segmentation(edition, manuscript_id, page.n, result, who, mode, steps)
        summary.outcomes.append(outcome)
        if progress:
            progress(outcome)
    order = [page.n for page in selected]
    summary.outcomes.sort(key=lambda outcome: order.index(outcome.page))  # pages finish in any order
    _record_change(edition, manuscript_id, who, summary, f"segmented with kraken {kraken.SEGMENTATION_MODEL}")
    return summary


def recognize(
    edition: Edition,
    manuscript_id: str,
    model_path: Path,
    who: str,
    pages: str | None = None,
    progress: Progress | None = None,
    model_name: str | None = None,
    device: str | None = None,
) -> RunSummary:
    """Fill the lines without human text with what the recognition model reads.

    Empty lines are filled and machine text (status ``automatic``, from an earlier
    model) is replaced; a line a person corrected or verified is never touched.
    ``model_name`` (default: the file's name) names the model in the TEI and the journal;
    ``device`` ("cuda", "cpu"; None: kraken's choice) is where the model runs.
    """
    model_path = Path(model_path)
    name = model_name or model_path.name
    if not model_path.is_file():
        raise WorkbenchError(f"{model_path}: no such model file")
    summary = RunSummary()
    for page in _pages(edition, manuscript_id, pages):
        outcome = PageOutcome(page.n, page.image)
        empty = recognizable_lines(page)
        try:
            image = facsimile.open_page(edition.image_path(manuscript_id, page), page.frame)
            results = {r.line_id: r for r in kraken.recognize_lines(image, empty, model_path, device)}
        except WorkbenchError:
            raise  # the model itself is unusable: no point going on
        except Exception as error:
            outcome.error = _describe(error)
        else:
            outcome.recognized = apply_recognition(edition, manuscript_id, page.n, results, who, name)
        summary.outcomes.append(outcome)
        if progress:
            progress(outcome)
    _record_change(edition, manuscript_id, who, summary, f"recognised with {name}")
    return summary


# -- applying a page's result: the one save, whether kraken ran here or on a remote worker --


def apply_segmentation(
    edition: Edition,
    manuscript_id: str,
    page_n: str,
    layout: Layout,
    who: str,
    mode: str = "replace",
    steps: tuple[str, ...] = mend.STEPS,
    version: str | None = None,
) -> MergeReport:
    """Mend kraken's segmentation of a page and put it onto the page, as one logged change.

    ``version`` (``transcription.page_version``): the page as the job saw it; a page
    changed since is left alone (``transcription.PageChanged``)."""
    _mend(layout, steps)
    return corrections.resegment(
        edition, manuscript_id, page_n, layout, who, mode, source=f"kraken:{kraken.SEGMENTATION_MODEL}", version=version
    )


def recognizable_lines(page: Page) -> list[Line]:
    """The lines recognition fills: empty ones and machine text; never a person's."""
    return [line for line in page.lines if _machine_or_empty(line)]


def apply_recognition(
    edition: Edition,
    manuscript_id: str,
    page_n: str,
    results: dict[str, kraken.Recognized],
    who: str,
    model_name: str,
    version: str | None = None,
) -> int:
    """Fill a page's empty and machine-text lines with what the model read (``results`` by
    line id), in one journalled save; the number of lines filled. A line a person has
    corrected meanwhile is never touched; with ``version`` (``transcription.page_version``)
    a page changed at all since the job saw it is left alone (``transcription.PageChanged``)."""
    filled = 0
    with edition.edit(manuscript_id, who, f"kraken:{model_name}", pages=[page_n]) as current:
        page = current.page(page_n)
        if version is not None and transcription.page_version(page) != version:
            raise transcription.PageChanged(f"page {page_n} of {manuscript_id} changed since the job started")
        source = current.source("recognition", model_name)
        for line in page.lines:
            found = results.get(line.id)
            if not _machine_or_empty(line) or found is None or not found.text.strip():
                continue
            line.text = text_fragment(found.text)
            line.status, line.resp, line.cert = "automatic", source.id, found.confidence
            filled += 1
    return filled


def record_change(edition: Edition, manuscript_id: str, who: str, summary: RunSummary, what: str) -> None:
    """The manuscript's ``<change>`` for a run: the pages it did, and with what."""
    _record_change(edition, manuscript_id, who, summary, what)


def _mend(layout: Layout, steps: tuple[str, ...]) -> None:
    mended = mend.mend(layout.lines, steps)
    layout.lines, layout.joined, layout.dropped = mended.lines, mended.joined, len(mended.dropped)


def _machine_or_empty(line: Line) -> bool:
    return not line.text or line.status == "automatic"


def _record_change(edition: Edition, manuscript_id: str, who: str, summary: RunSummary, what: str) -> None:
    done = [o.page for o in summary.outcomes if not o.error]
    if not done:
        return
    with edition.edit(manuscript_id, who, pages=()) as manuscript:
        manuscript.changes.append(Change(now(), "", f"pages {', '.join(done)} {what} (by {who})"))


def _describe(error: Exception) -> str:
    if isinstance(error, WorkbenchError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def evaluate_segmentation(
    ground_truth: list[Path],
    workers: int = 1,
    progress: Callable[[segeval.PageScore], None] | None = None,
    steps: tuple[str, ...] = mend.STEPS,
) -> list[segeval.PageScore]:
    """Segment the image of each ground-truth PAGE or ALTO file as the workbench does
    (kraken, then the post-processing ``steps``; none: kraken alone) and score the
    lines found against the file's baselines (segeval.py has the rule).

    With one worker, each page's time is its own (the model is loaded first, untimed).
    """
    truths = []
    for path in ground_truth:
        layout = layout_files.read_layout(Path(path).read_bytes(), Path(path).name)
        image = Path(path).parent / layout.image
        if not image.is_file():
            raise WorkbenchError(f"{path}: its image {layout.image} is not beside it")
        truths.append((Path(path), image, layout))
    if workers == 1:
        kraken.load_segmenter()
    scores: list[segeval.PageScore | None] = [None] * len(truths)
    started = time.perf_counter()
    for index, result in kraken.segment_pages([kraken.PageImage(image) for _, image, _ in truths], workers):
        now_ = time.perf_counter()
        path, _, layout = truths[index]
        if isinstance(result, Exception):
            raise WorkbenchError(f"{path.name}: kraken could not segment its image: {_describe(result)}")
        _mend(result, steps)
        truth = [line.baseline for line in layout.lines]
        found = [line.baseline for line in result.lines]
        scores[index] = segeval.score_page(path.name, truth, found, now_ - started)
        started = now_
        if progress:
            progress(scores[index])
    return scores
