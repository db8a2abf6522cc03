"""Scoring a segmentation against ground-truth baselines: the matching rule, and the command on real pages."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tests.builders import REPO
from workbench.cli import cli
from workbench.htr import segeval

# Five written lines 60 px apart: the tolerance is a third of that, 20 px.
TRUTH = [[(100, 100 + 60 * k), (900, 100 + 60 * k)] for k in range(5)]


def test_the_tolerance_is_a_third_of_the_line_spacing():
    assert segeval.tolerance(TRUTH) == pytest.approx(20)
    assert segeval.tolerance(TRUTH[:1]) == segeval.MIN_TOLERANCE


def test_a_perfect_and_a_slightly_shifted_segmentation_match_every_line():
    assert segeval.score_page("p", TRUTH, TRUTH).f1 == 1.0
    shifted = [[(x + 15, y + 8) for x, y in line] for line in TRUTH]
    score = segeval.score_page("p", TRUTH, shifted)
    assert (score.matched, score.recall, score.precision) == (5, 1.0, 1.0)


def test_a_line_split_in_two_is_one_miss_and_two_spurious_lines():
    split = TRUTH[:4] + [[(100, 340), (480, 340)], [(520, 340), (900, 340)]]
    score = segeval.score_page("p", TRUTH, split)
    assert (score.truth, score.found, score.matched) == (5, 6, 4)
    assert score.recall == pytest.approx(0.8) and score.precision == pytest.approx(4 / 6)


def test_specks_lines_off_by_a_line_and_merged_lines_do_not_match():
    speck = [[(400, 130), (412, 130)]]
    score = segeval.score_page("p", TRUTH, TRUTH + speck)
    assert (score.matched, score.found) == (5, 6)
    between = [[(100, 130 + 60 * k), (900, 130 + 60 * k)] for k in range(4)]  # half-way between lines
    assert segeval.score_page("p", TRUTH, between).matched == 0
    # One found line cannot stand for two true ones (one to one).
    doubled = segeval.score_page("p", TRUTH + [[(100, 102), (900, 102)]], TRUTH)
    assert doubled.matched == 5 and doubled.truth == 6


def test_overall_sums_pages():
    pages = [segeval.PageScore("a", 10, 12, 9, 2.0), segeval.PageScore("b", 5, 5, 5, 1.0)]
    total = segeval.overall(pages)
    assert (total.truth, total.found, total.matched, total.seconds) == (15, 17, 14, 3.0)


@pytest.mark.slow
def test_eval_seg_on_a_real_handwritten_ground_truth_page():
    page = REPO / "tests/data/ground-truth/alto4-escriptorium/TestamentsDePoilus_will_AD78_0045-0.xml"
    result = CliRunner().invoke(cli, ["eval-seg", str(page)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("TestamentsDePoilus"))
    # 16 written lines on this will; kraken's bundled model finds each of them.
    assert "(truth 16, found 16, matched 16)" in line and "F1 1.000" in line
    assert "overall: recall 1.000, precision 1.000" in result.output


@pytest.mark.slow
def test_mending_keeps_the_folio_number_of_a_real_page():
    """f53 (an 18th-century letter): its folio number "30" is a ground-truth line, shorter than the line spacing."""
    page = REPO / "tests/data/ground-truth/alto4-cremma-mss18/f53.xml"
    result = CliRunner().invoke(cli, ["eval-seg", str(page)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "(truth 27, found 27, matched 27)" in result.output.split("overall:")[1], result.output


@pytest.mark.slow
def test_mending_beats_kraken_alone_on_a_real_page_where_kraken_splits_lines():
    """11.xml (a 13th-century charter): kraken returns several written lines in pieces."""
    page = str(REPO / "tests/data/ground-truth/page2019-escriptorium/11.xml")
    alone = CliRunner().invoke(cli, ["eval-seg", page, "--steps", "none"], catch_exceptions=False)
    mended = CliRunner().invoke(cli, ["eval-seg", page], catch_exceptions=False)
    f1 = [float(result.output.split("overall:")[1].split("F1 ")[1].split()[0]) for result in (alone, mended)]
    recall = [float(result.output.split("overall: recall ")[1].split(",")[0]) for result in (alone, mended)]
    precision = [float(result.output.split("precision ")[-1].split(",")[0]) for result in (alone, mended)]
    assert f1[1] > f1[0] + 0.1 and recall[1] > recall[0] and precision[1] > precision[0], (alone.output, mended.output)
