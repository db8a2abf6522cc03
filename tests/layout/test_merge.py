"""Merging a new segmentation onto a page: ids kept, text never lost."""

from __future__ import annotations

from tests.builders import make_manuscript
from workbench.layout.ids import LineIds
from workbench.layout.merge import add_layout, merge_layout
from workbench.model import Layout, Line, Region


def rect(x0: int, y0: int, x1: int, y1: int) -> list[tuple[int, int]]:
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def layout(*lines: Line, regions: list[Region] | None = None) -> Layout:
    return Layout(1000, 1400, regions or [Region("k-r", rect(50, 50, 950, 1300))], list(lines))


def kraken_line(name: str, top: int, x0: int = 62, x1: int = 898) -> Line:
    return Line(name, rect(x0, top, x1, top + 40), [(x0, top + 32), (x1, top + 32)], region="k-r")


def test_matched_lines_keep_id_text_and_status_on_new_geometry():
    page = make_manuscript(lines=3).pages[0]
    report = merge_layout(
        page, layout(kraken_line("a", 112), kraken_line("b", 161), kraken_line("c", 209)), LineIds(page)
    )
    assert [line.id for line in page.lines] == ["ms1_p1_l1", "ms1_p1_l2", "ms1_p1_l3"]
    assert page.lines[0].text == "Живъ е той" and page.lines[0].status == "corrected"
    assert page.lines[0].boundary == rect(62, 112, 898, 152)
    assert (report.matched, report.added, report.kept, report.removed) == (3, 0, 0, 0)
    assert page.regions[0].id == "ms1_p1_r1"  # the region matched too


def test_a_transcribed_line_nothing_matches_is_kept_and_its_fragments_left_out():
    page = make_manuscript(lines=3).pages[0]
    # kraken splits the transcribed first line (y 110-150) into two halves.
    left, right = kraken_line("a1", 110, 60, 440), kraken_line("a2", 110, 520, 900)
    report = merge_layout(page, layout(left, right, kraken_line("b", 160), kraken_line("c", 210)), LineIds(page))
    assert page.lines[0].id == "ms1_p1_l1" and page.lines[0].text == "Живъ е той"
    assert len(page.lines) == 3
    assert (report.kept, report.duplicates, report.matched) == (1, 2, 2)
    assert report.unmapped == ["ms1_p1_l1"]  # reported, so the editor is shown it


def test_a_new_line_across_two_unmapped_transcribed_lines_is_not_added_over_them():
    page = make_manuscript(lines=3).pages[0]
    page.lines[1].text, page.lines[1].status, page.lines[1].resp = "втори", "corrected", page.lines[0].resp
    # One tall kraken line covering both transcribed lines (y 110-150 and 160-200).
    report = merge_layout(
        page, layout(Line("ab", rect(60, 110, 900, 200), [(60, 180), (900, 180)], region="k-r")), LineIds(page)
    )
    assert [line.text for line in page.lines] == ["Живъ е той", "втори"]
    assert (report.unmapped, report.duplicates, report.added) == (["ms1_p1_l1", "ms1_p1_l2"], 1, 0)


def test_new_lines_get_fresh_ids_and_empty_unmatched_lines_go():
    page = make_manuscript(lines=3).pages[0]
    report = merge_layout(
        page, layout(kraken_line("a", 110), kraken_line("x", 600), kraken_line("y", 700)), LineIds(page)
    )
    ids = [line.id for line in page.lines]
    assert ids == ["ms1_p1_l1", "ms1_p1_l4", "ms1_p1_l5"]
    assert (report.added, report.removed) == (2, 2)


def test_an_empty_layout_keeps_every_transcribed_line():
    page = make_manuscript(lines=3).pages[0]
    report = merge_layout(page, Layout(1000, 1400, [], []), LineIds(page))
    assert [line.text for line in page.lines] == ["Живъ е той"]
    assert page.lines[0].region is None  # its region is gone with the old layout
    assert (report.kept, report.removed, report.lines) == (1, 2, 1)


def test_kept_lines_take_their_place_in_reading_order():
    page = make_manuscript(lines=3).pages[0]
    page.lines[2].text = "third"
    merge_layout(page, layout(kraken_line("a", 111), kraken_line("n", 800)), LineIds(page))
    assert [line.text for line in page.lines] == ["Живъ е той", "third", ""]


def test_add_only_keeps_every_line_and_adds_new_ones_only_where_there_are_none():
    page = make_manuscript(lines=3).pages[0]
    before = [(line.id, line.boundary, line.text) for line in page.lines]
    margin = Region("k-m", rect(955, 50, 999, 1300))
    found = layout(
        kraken_line("a", 114),  # over line 1: left out
        kraken_line("n", 700),  # below the lines: added, in the page's region
        Line("m", rect(960, 100, 995, 400), [(975, 100), (975, 400)], region="k-m"),  # a marginal note
        regions=[Region("k-r", rect(52, 50, 950, 1300)), margin],
    )
    report = add_layout(page, found, LineIds(page))
    assert [(line.id, line.boundary, line.text) for line in page.lines[:3]] == before
    # The note is read where it stands, after the lines above it.
    assert [(line.id, line.region) for line in page.lines[3:]] == [
        ("ms1_p1_l5", "ms1_p1_r2"),
        ("ms1_p1_l4", "ms1_p1_r1"),
    ]
    assert [region.id for region in page.regions] == ["ms1_p1_r1", "ms1_p1_r2"]
    assert (report.existing, report.added, report.duplicates, report.lines) == (3, 2, 1, 5)


def test_a_matched_region_and_line_keep_their_type_and_the_id_they_were_imported_with():
    """eScriptorium updates its own lines when the export comes back: a re-segmented page keeps their ids."""
    page = make_manuscript(lines=3).pages[0]
    page.regions[0].source_id = "eSc_textblock_1"
    page.lines[0].kind, page.lines[0].source_id = "heading", "eSc_line_1"
    merge_layout(page, layout(kraken_line("a", 112), kraken_line("b", 161), kraken_line("c", 209)), LineIds(page))
    assert (page.regions[0].id, page.regions[0].source_id) == ("ms1_p1_r1", "eSc_textblock_1")
    assert (page.lines[0].kind, page.lines[0].source_id) == ("heading", "eSc_line_1")
    assert [line.source_id for line in page.lines[1:]] == [None, None]
