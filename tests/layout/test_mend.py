"""Mending kraken's lines: each step on small constructed pages."""

from __future__ import annotations

import pytest
from shapely.geometry import Polygon

from workbench.layout import mend
from workbench.model import Line


def line(line_id: str, x0: int, x1: int, y: int, region: str | None = "r1") -> Line:
    """A straight line from x0 to x1 with its baseline at y and a 30 px band above it."""
    return Line(line_id, [(x0, y - 30), (x1, y - 30), (x1, y + 6), (x0, y + 6)], [(x0, y), (x1, y)], region=region)


PAGE = [line(f"l{k}", 100, 900, 100 + 60 * k) for k in range(6)]  # six whole lines, 60 px apart


def test_the_line_spacing_is_the_median_distance_between_baselines():
    assert mend.baseline_spacing([line.baseline for line in PAGE]) == 60
    assert mend.baseline_spacing([PAGE[0].baseline]) is None


def test_whole_lines_are_left_as_they_are():
    mended = mend.mend(PAGE)
    assert mended.lines == PAGE and mended.joined == 0 and mended.dropped == []


def test_pieces_of_one_written_line_are_joined_in_order():
    pieces = [line("a", 100, 400, 220), line("b", 440, 650, 222), line("c", 700, 900, 219)]
    page = PAGE[:2] + pieces + PAGE[3:]
    mended = mend.mend(page)
    assert mended.joined == 2 and [found.id for found in mended.lines] == ["l0", "l1", "a", "l3", "l4", "l5"]
    joined = mended.lines[2]
    assert joined.baseline == [(100, 220), (400, 220), (440, 222), (650, 222), (700, 219), (900, 219)]
    shape = Polygon(joined.boundary)
    assert shape.is_valid and shape.bounds == (100, 189, 900, 228)
    assert all(shape.buffer(1).contains(Polygon(piece.boundary)) for piece in pieces)


@pytest.mark.parametrize(
    "right",
    [
        line("b", 440, 650, 250),  # half a line lower: the next line's start, not this one's rest
        line("b", 1200, 1400, 220),  # too far away: another column
        line("b", 440, 650, 220, region="r2"),  # another region
        line("b", 440, 650, 220, region=None),  # in no region, the other piece in one
    ],
)
def test_pieces_that_are_not_one_line_stay_apart(right):
    page = PAGE[:2] + [line("a", 100, 400, 220), right] + PAGE[3:]
    assert mend.mend(page, ("join",)).joined == 0


@pytest.mark.parametrize(
    "page",
    [
        # An initial split off the line's start, listed by kraken after the lines below.
        PAGE[:2] + [line("b", 150, 900, 220)] + PAGE[3:] + [line("a", 100, 130, 220)],
        # A last word split off the line's end, listed before the first line.
        [line("b", 860, 900, 220)] + PAGE[:2] + [line("a", 100, 830, 220)] + PAGE[3:],
    ],
)
def test_a_joined_line_stands_where_its_longer_piece_stood(page):
    mended = mend.mend(page, ("join",))
    assert mended.joined == 1
    assert [found.id for found in mended.lines] == ["l0", "l1", "a", "l3", "l4", "l5"]
    assert mended.lines[2].baseline[0][0] == 100 and mended.lines[2].baseline[-1][0] == 900


def test_a_joined_line_keeps_its_shorter_pieces_place_where_that_one_fits_the_page():
    # Kraken took the page for two columns down the middle and listed the left halves
    # of two lines before their right halves. The first line's longer piece is its
    # right half, listed after the second line: its left half's place is the right one.
    first = [line("a2", 100, 400, 220), line("b2", 440, 900, 220)]
    second = [line("a3", 100, 650, 280), line("b3", 680, 900, 280)]
    page = PAGE[:2] + [first[0], second[0], first[1], second[1]] + PAGE[4:]
    mended = mend.mend(page, ("join",))
    assert mended.joined == 2 and [found.id for found in mended.lines] == ["l0", "l1", "a2", "a3", "l4", "l5"]


def double_page(region: str | None) -> list[Line]:
    """Two columns of 8 lines, 60 px apart, with ragged ends either side of a gutter
    1.7 to 2 line spacings wide; kraken's reading order: the left column, then the right."""
    left = [line(f"left{k}", 100, 700 - 10 * (k % 3), 100 + 60 * k, region) for k in range(8)]
    right = [line(f"right{k}", 800 + 10 * (k % 2), 1400, 102 + 60 * k, region) for k in range(8)]
    return left + right


@pytest.mark.parametrize("region", ["r1", None])  # one region spanning both columns, or none at all
def test_lines_are_not_joined_across_the_gutter_of_a_double_page(region):
    # A blot in the gutter, which kraken took for a line, does not bridge it.
    page = [*double_page(region), line("blot", 745, 760, 280, region)]
    mended = mend.mend(page, ("join",))
    assert mended.joined == 0 and mended.lines == page
    # A line split inside a column is still joined, even with a wide gap (1.5 line spacings).
    split = page[:3] + [line("a", 100, 300, 280, region), line("b", 390, 690, 281, region)] + page[4:]
    mended = mend.mend(split, ("join",))
    assert mended.joined == 1 and [found.id for found in mended.lines][3] == "a"
    assert mended.lines[3].baseline[0][0] == 100 and mended.lines[3].baseline[-1][0] == 690


def test_a_date_and_the_signature_beside_it_are_not_joined():
    # The end of a letter: the place and date at the left, the signature 2.5 line
    # spacings to its right at about the same height, under whole lines of text.
    date, signature = line("date", 160, 460, 480), line("signature", 610, 850, 476)
    page = [*PAGE, date, signature]
    mended = mend.mend(page)
    assert mended.joined == 0 and mended.lines == page


def test_specks_shorter_than_the_line_spacing_are_dropped():
    speck, short_word = line("dot", 400, 420, 130), line("amen", 100, 170, 460)
    mended = mend.mend([*PAGE, speck, short_word])
    assert mended.dropped == ["dot"] and short_word in mended.lines


def test_a_page_number_above_the_text_is_kept_but_decoration_up_there_is_not():
    folio = line("folio", 820, 850, 40)  # half a line spacing long, above the first line (y 100)
    flourish = line("flourish", 500, 512, 50)  # a fifth of a line spacing: border decoration
    mended = mend.mend([folio, flourish, *PAGE])
    assert mended.lines[0] is folio and mended.dropped == ["flourish"]


def test_a_short_line_below_the_first_whole_line_is_a_speck_even_near_the_top():
    number = line("number", 820, 850, 120)  # as long as a folio number, but among the lines
    assert mend.mend([*PAGE, number], ("specks",)).dropped == ["number"]
    # With no whole line on the page there is no text to be above: everything short goes.
    assert mend.mend([line("a", 100, 130, 40), line("b", 100, 130, 100)], ("specks",)).lines == []


def test_steps_can_be_switched_off_and_unknown_ones_are_refused():
    pieces = [*PAGE[:2], line("a", 100, 400, 220), line("b", 440, 650, 222), line("dot", 400, 420, 130)]
    assert mend.mend(pieces, ()).lines == pieces
    assert mend.mend(pieces, ("specks",)).joined == 0
    assert mend.mend(pieces, ("join",)).dropped == []
    with pytest.raises(ValueError, match="unknown post-processing step"):
        mend.mend(pieces, ("smooth",))
