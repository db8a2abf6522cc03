"""How good a segmentation is: found baselines against ground-truth baselines.

The matching rule (README, "Segmentation quality"): a found baseline and a true one
match when at least ``COVERAGE`` of each one's length lies within ``t`` pixels of
the other, where ``t`` is a third of the page's median distance between
neighbouring true baselines (at least ``MIN_TOLERANCE`` px). Pairs are taken one
to one, the best-covered first. So a written line that comes back in two pieces
counts once as missed and twice as spurious, a speck taken for a line counts as
spurious, and a line found where the truth has none counts against precision.
"""

from __future__ import annotations

from dataclasses import dataclass

from shapely.geometry import LineString

from workbench.layout.geometry import baseline_spacing
from workbench.model import Point

COVERAGE = 0.75
MIN_TOLERANCE = 8.0


@dataclass
class PageScore:
    name: str
    truth: int  # true baselines
    found: int  # baselines the segmentation found
    matched: int  # pairs matched one to one
    seconds: float = 0.0  # time to segment the page

    @property
    def recall(self) -> float:
        return self.matched / self.truth if self.truth else 1.0

    @property
    def precision(self) -> float:
        return self.matched / self.found if self.found else 1.0

    @property
    def f1(self) -> float:
        total = self.recall + self.precision
        return 2 * self.recall * self.precision / total if total else 0.0


def overall(scores: list[PageScore]) -> PageScore:
    """All pages as one: matches, truths and finds summed (micro-average)."""
    return PageScore(
        "overall",
        sum(s.truth for s in scores),
        sum(s.found for s in scores),
        sum(s.matched for s in scores),
        sum(s.seconds for s in scores),
    )


def tolerance(truth: list[list[Point]]) -> float:
    """A third of the median vertical distance between neighbouring true baselines."""
    spacing = baseline_spacing(truth)
    return max(MIN_TOLERANCE, spacing / 3) if spacing else MIN_TOLERANCE


def score_page(name: str, truth: list[list[Point]], found: list[list[Point]], seconds: float = 0.0) -> PageScore:
    truth = [line for line in truth if len(set(line)) >= 2]
    found = [line for line in found if len(set(line)) >= 2]
    return PageScore(name, len(truth), len(found), match(truth, found, tolerance(truth)), seconds)


def match(truth: list[list[Point]], found: list[list[Point]], within: float) -> int:
    """How many true and found baselines pair up one to one under the matching rule."""
    true_lines = [LineString(line) for line in truth]
    found_lines = [LineString(line) for line in found]
    true_zones = [line.buffer(within) for line in true_lines]
    found_zones = [line.buffer(within) for line in found_lines]
    candidates = []
    for i, true_line in enumerate(true_lines):
        for j, found_line in enumerate(found_lines):
            if not true_zones[i].intersects(found_line):
                continue
            covered = min(
                true_line.intersection(found_zones[j]).length / true_line.length,
                found_line.intersection(true_zones[i]).length / found_line.length,
            )
            if covered >= COVERAGE:
                candidates.append((covered, i, j))
    taken_true, taken_found = set(), set()
    for _, i, j in sorted(candidates, reverse=True):
        if i not in taken_true and j not in taken_found:
            taken_true.add(i)
            taken_found.add(j)
    return len(taken_true)
