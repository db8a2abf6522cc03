"""Correcting segmentation by hand (workbench/segmentation.py): every change saved valid,
no text lost, each undoable. The same changes from a real browser: test_browser.py."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString

from tests.builders import make_manuscript
from workbench import transcription
from workbench.edition import Edition
from workbench.layout import corrections, geometry
from workbench.layout.ids import LineIds
from workbench.model import Layout, Line, Region, WorkbenchError
from workbench.tei.text import diplomatic_text
from workbench.transcription import Conflict, line_version


@pytest.fixture
def marked_up(edition: Edition) -> Edition:
    manuscript = make_manuscript("ms1", pages=1, lines=4)
    page = manuscript.pages[0]
    page.lines[1].text, page.lines[1].status = (
        "пѫть <choice><abbr>г.</abbr><expan>господинъ</expan></choice>",
        "automatic",
    )
    page.lines[2].text, page.lines[2].status = "свѣтъ", "verified"
    page.lines[1].resp = page.lines[2].resp = page.lines[0].resp
    edition.create(manuscript, "tester")
    return edition


def lines(edition: Edition) -> list:
    return edition.read("ms1", "1").pages[0].lines


def version(edition: Edition, line_id: str) -> str:
    return line_version(next(line for line in lines(edition) if line.id == line_id))


def assert_valid(edition: Edition) -> None:
    assert edition.problems("ms1") == []


def snapshot(edition: Edition) -> list:
    return [corrections._state(line) + (line.id,) for line in lines(edition)]


def test_delete_keeps_the_text_in_the_journal_and_undo_brings_the_line_back(marked_up: Edition):
    before = snapshot(marked_up)
    corrections.delete_line(marked_up, "ms1", "ms1_p1_l3", "tester", version(marked_up, "ms1_p1_l3"))
    assert [line.id for line in lines(marked_up)] == ["ms1_p1_l1", "ms1_p1_l2", "ms1_p1_l4"]
    assert_valid(marked_up)
    removed = [e for e in marked_up.journal.entries("ms1", "ms1_p1_l3") if e.event == "removed"]
    assert removed and removed[-1].old == "свѣтъ"
    record = corrections.undo(marked_up, "ms1", "1", "tester")
    assert record.action == "delete"
    assert snapshot(marked_up) == before
    assert_valid(marked_up)


def test_delete_is_refused_when_the_text_changed_since_it_was_seen(marked_up: Edition):
    stale = version(marked_up, "ms1_p1_l3")
    transcription.save_line(marked_up, "ms1", "ms1_p1_l3", "свѣтътъ", stale, "colleague")
    with pytest.raises(Conflict):
        corrections.delete_line(marked_up, "ms1", "ms1_p1_l3", "tester", stale)
    assert [line.text for line in lines(marked_up)][2] == "свѣтътъ"


def test_add_a_line_from_baseline_points_gets_a_polygon_a_region_and_its_place(marked_up: Edition):
    # Between lines 2 (baseline y=192) and 3 (y=242) of make_manuscript's page.
    line = corrections.add_line(marked_up, "ms1", "1", [(100.4, 217), (500, 219), (880, 216)], "tester")
    assert line.id == "ms1_p1_l5"
    assert [found.id for found in lines(marked_up)] == ["ms1_p1_l1", "ms1_p1_l2", "ms1_p1_l5", "ms1_p1_l3", "ms1_p1_l4"]
    assert line.baseline == [(100, 217), (500, 219), (880, 216)]
    assert line.region == "ms1_p1_r1"
    ys = [y for _, y in line.boundary]
    # The other lines reach 32 px above their baseline and 8 below: so does this one.
    assert (min(ys), max(ys)) == (216 - 32, 219 + 8)
    assert_valid(marked_up)
    corrections.undo(marked_up, "ms1", "1", "tester")
    assert "ms1_p1_l5" not in [found.id for found in lines(marked_up)]
    # An undone line's id is never given again: its history stays its own.
    assert corrections.add_line(marked_up, "ms1", "1", [(100, 700), (800, 700)], "tester").id == "ms1_p1_l6"


def test_a_baseline_needs_two_points_on_the_page(marked_up: Edition):
    with pytest.raises(WorkbenchError, match="two different points"):
        corrections.add_line(marked_up, "ms1", "1", [(10, 10), (10, 10)], "tester")


def test_merge_joins_the_texts_in_reading_order_and_undo_splits_them_again(marked_up: Edition):
    before = snapshot(marked_up)
    ids = ("ms1_p1_l3", "ms1_p1_l2")  # in either order: reading order decides
    merged = corrections.merge_lines(marked_up, "ms1", ids, "tester", {i: version(marked_up, i) for i in ids})
    assert merged.id == "ms1_p1_l2"
    assert merged.text == "пѫть <choice><abbr>г.</abbr><expan>господинъ</expan></choice> свѣтъ"
    assert merged.status == "corrected"
    assert [line.id for line in lines(marked_up)] == ["ms1_p1_l1", "ms1_p1_l2", "ms1_p1_l4"]
    shape = geometry.polygon(merged.boundary)
    assert shape.is_valid and shape.contains(LineString(merged.baseline).centroid)
    assert_valid(marked_up)
    corrections.undo(marked_up, "ms1", "1", "tester")
    assert snapshot(marked_up) == before


def test_merging_with_an_empty_line_keeps_the_text_and_its_status(marked_up: Edition):
    ids = ("ms1_p1_l3", "ms1_p1_l4")
    merged = corrections.merge_lines(marked_up, "ms1", ids, "tester", {i: version(marked_up, i) for i in ids})
    assert (merged.text, merged.status) == ("свѣтъ", "verified")


def test_split_at_a_point_divides_text_and_geometry_and_undo_joins_them(marked_up: Edition):
    before = snapshot(marked_up)
    left, right = corrections.split_line(
        marked_up,
        "ms1",
        "ms1_p1_l2",
        ("пѫть", "<choice><abbr>г.</abbr><expan>господинъ</expan></choice>"),
        "tester",
        version(marked_up, "ms1_p1_l2"),
        at=(400, 190),
    )
    assert (left.id, right.id) == ("ms1_p1_l2", "ms1_p1_l5")
    assert left.baseline == [(60, 192), (400, 192)] and right.baseline == [(400, 192), (900, 192)]
    assert max(x for x, _ in left.boundary) == 400 and min(x for x, _ in right.boundary) == 400
    assert (left.status, right.status) == ("automatic", "automatic")
    assert [line.id for line in lines(marked_up)] == ["ms1_p1_l1", "ms1_p1_l2", "ms1_p1_l5", "ms1_p1_l3", "ms1_p1_l4"]
    assert_valid(marked_up)
    assert [e.new for e in marked_up.journal.entries("ms1", "ms1_p1_l5")] == [right.text]
    corrections.undo(marked_up, "ms1", "1", "tester")
    assert snapshot(marked_up) == before


def test_split_without_a_point_cuts_where_the_text_is_cut(marked_up: Edition):
    left, right = corrections.split_line(
        marked_up, "ms1", "ms1_p1_l1", ("Живъ", "е той"), "tester", version(marked_up, "ms1_p1_l1")
    )
    # "Живъ" is 4 of the line's 10 characters (spaces take room too): the cut lies 4/10
    # along the 840 px baseline.
    assert left.baseline[-1][0] == pytest.approx(60 + 840 * 4 / 10, abs=1)


@pytest.mark.parametrize(
    "halves",
    [("Живъ", "той"), ("Живъ е", "той и"), ("", "")],
    ids=["a word lost", "a word added", "everything lost"],
)
def test_a_split_that_loses_or_adds_text_is_refused(marked_up: Edition, halves):
    with pytest.raises(WorkbenchError, match="whole text"):
        corrections.split_line(marked_up, "ms1", "ms1_p1_l1", halves, "tester", version(marked_up, "ms1_p1_l1"))
    assert lines(marked_up)[0].text == "Живъ е той"


def test_a_split_point_at_the_end_of_the_line_is_refused(marked_up: Edition):
    with pytest.raises(WorkbenchError, match="within the line"):
        corrections.split_line(
            marked_up, "ms1", "ms1_p1_l1", ("Живъ е той", ""), "tester", version(marked_up, "ms1_p1_l1"), at=(899, 142)
        )


def test_move_to_another_region_and_reorder_and_undo_both(marked_up: Edition):
    with marked_up.edit("ms1", "tester", pages=["1"]) as current:
        current.page("1").regions.append(Region("ms1_p1_r2", [(950, 50), (999, 50), (999, 1300), (950, 1300)]))
    before = snapshot(marked_up)
    corrections.move_line(marked_up, "ms1", "ms1_p1_l1", "tester", region="ms1_p1_r2")
    # The region had no lines: the line keeps its place by height, the top of the page.
    assert [(line.id, line.region) for line in lines(marked_up)][0] == ("ms1_p1_l1", "ms1_p1_r2")
    assert_valid(marked_up)
    corrections.move_line(marked_up, "ms1", "ms1_p1_l2", "tester", region="ms1_p1_r2")
    assert [(line.id, line.region) for line in lines(marked_up)][:2] == [
        ("ms1_p1_l1", "ms1_p1_r2"),
        ("ms1_p1_l2", "ms1_p1_r2"),
    ]
    assert_valid(marked_up)
    corrections.move_line(marked_up, "ms1", "ms1_p1_l4", "tester", index=0)
    assert [line.id for line in lines(marked_up)] == ["ms1_p1_l4", "ms1_p1_l1", "ms1_p1_l2", "ms1_p1_l3"]
    assert_valid(marked_up)
    assert corrections.undo(marked_up, "ms1", "1", "tester").action == "reorder"
    assert corrections.undo(marked_up, "ms1", "1", "tester").action == "move"
    assert corrections.undo(marked_up, "ms1", "1", "tester").action == "move"
    assert snapshot(marked_up) == before


def test_undo_never_throws_away_later_work(marked_up: Edition):
    ids = ("ms1_p1_l1", "ms1_p1_l2")
    corrections.merge_lines(marked_up, "ms1", ids, "tester", {i: version(marked_up, i) for i in ids})
    transcription.save_line(marked_up, "ms1", "ms1_p1_l1", "Живъ е той пѫть", version(marked_up, "ms1_p1_l1"), "tester")
    with pytest.raises(WorkbenchError, match="changed since"):
        corrections.undo(marked_up, "ms1", "1", "tester")
    assert lines(marked_up)[0].text == "Живъ е той пѫть"


def test_each_person_undoes_their_own_changes(marked_up: Edition):
    corrections.move_line(marked_up, "ms1", "ms1_p1_l4", "colleague", index=0)
    with pytest.raises(WorkbenchError, match="nothing to undo"):
        corrections.undo(marked_up, "ms1", "1", "tester")
    assert corrections.undo(marked_up, "ms1", "1", "colleague").action == "reorder"
    with pytest.raises(WorkbenchError, match="nothing to undo"):
        corrections.undo(marked_up, "ms1", "1", "colleague")


def test_a_torn_log_line_is_skipped(marked_up: Edition):
    corrections.move_line(marked_up, "ms1", "ms1_p1_l4", "tester", index=0)
    log = marked_up.state_dir / "layout" / "ms1" / "1.jsonl"
    with open(log, "a", encoding="utf-8") as file:
        file.write('{"id": "torn", "ti')
    assert corrections.undo(marked_up, "ms1", "1", "tester").action == "reorder"


def all_text(edition: Edition) -> str:
    return "".join(sorted("".join(diplomatic_text(line.text).split()) for line in lines(edition)))


operations = st.lists(
    st.tuples(st.sampled_from(["merge", "split", "move", "delete", "add"]), st.integers(0, 10), st.integers(0, 10)),
    min_size=1,
    max_size=6,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations)
# Found by this test: undoing the merge of a hand-added line (in no region) put it in a region,
# so undoing the addition then found the line "changed since".
@example([("split", 0, 0), ("split", 0, 0), ("add", 10, 4), ("merge", 0, 7)])
def test_any_sequence_of_changes_stays_valid_and_undoing_all_restores_the_page(tmp_path_factory, changes):
    edition = Edition(tmp_path_factory.mktemp("edition"))
    manuscript = make_manuscript("ms1", pages=1, lines=5)
    for k, line in enumerate(manuscript.pages[0].lines):
        line.text, line.status, line.resp = f"ред{k} дума{k} край{k}", "corrected", manuscript.pages[0].lines[0].resp
    edition.create(manuscript, "tester")
    original, text = snapshot(edition), all_text(edition)
    done = 0
    for action, a, b in changes:
        current = lines(edition)
        first, second = current[a % len(current)], current[b % len(current)]
        try:
            if action == "merge":
                ids = (first.id, second.id)
                corrections.merge_lines(edition, "ms1", ids, "tester", {i: version(edition, i) for i in ids})
            elif action == "split":
                words = first.text.split(" ")
                cut = 1 + b % max(len(words) - 1, 1)
                halves = (" ".join(words[:cut]), " ".join(words[cut:]))
                corrections.split_line(edition, "ms1", first.id, halves, "tester", line_version(first))
            elif action == "move":
                corrections.move_line(edition, "ms1", first.id, "tester", index=b)
            elif action == "delete" and not first.text:
                corrections.delete_line(edition, "ms1", first.id, "tester", line_version(first))
            elif action == "add":
                corrections.add_line(edition, "ms1", "1", [(100, 400 + 90 * a), (700, 400 + 90 * a + b)], "tester")
            else:
                continue
        except WorkbenchError:
            continue  # a refused change (a split at an end, merging a line with itself) changes nothing
        done += 1
        assert_valid(edition)
        # Every character is still on the page, whatever the lines it is on.
        assert sorted(all_text(edition)) == sorted(text)
    for _ in range(done):
        corrections.undo(edition, "ms1", "1", "tester")
    assert snapshot(edition) == original
    assert_valid(edition)


@pytest.mark.parametrize("mode", ["replace", "add"])
def test_a_line_found_where_one_was_deleted_gets_a_new_id_and_the_delete_can_still_be_undone(marked_up: Edition, mode):
    """Line ids are never reused: the sequence reported in issue #14 (delete the page's
    highest-numbered line, re-segment, and the new line took the deleted one's id and history)."""
    transcription.save_line(marked_up, "ms1", "ms1_p1_l4", "краятъ", version(marked_up, "ms1_p1_l4"), "tester")
    deleted = next(line for line in lines(marked_up) if line.id == "ms1_p1_l4")
    corrections.delete_line(marked_up, "ms1", "ms1_p1_l4", "tester", version(marked_up, "ms1_p1_l4"))

    page = marked_up.read("ms1", "1").pages[0]
    found = [Line(f"k{k}", line.boundary, line.baseline) for k, line in enumerate([*page.lines, deleted])]
    corrections.resegment(marked_up, "ms1", "1", Layout(page.width, page.height, [], found), "colleague", mode)

    new = [line for line in lines(marked_up) if line.id not in {"ms1_p1_l1", "ms1_p1_l2", "ms1_p1_l3"}]
    assert [line.id for line in new] == ["ms1_p1_l5"]
    assert list(marked_up.journal.entries("ms1", "ms1_p1_l5")) == []
    assert_valid(marked_up)
    # The delete is the tester's latest change, and undoing it brings the old line back beside the new one.
    assert corrections.undo(marked_up, "ms1", "1", "tester").action == "delete"
    assert {line.id: line.text for line in lines(marked_up)}["ms1_p1_l4"] == "краятъ"
    assert_valid(marked_up)


def test_ids_skip_every_id_in_the_page_history():
    page = make_manuscript("ms1", pages=1, lines=2).pages[0]
    ids = LineIds(page, used=["ms1_p1_l9", "ms1_p1_r4", "other_p1_l"])
    assert (ids.line(), ids.line(), ids.region()) == ("ms1_p1_l10", "ms1_p1_l11", "ms1_p1_r5")


def test_undoing_a_resegmentation_brings_back_regions_with_the_ids_they_were_imported_with(edition: Edition):
    """The layout log keeps a region's foreign id: without it, undo found the regions "changed"."""
    manuscript = make_manuscript("ms1", pages=1, lines=2)
    manuscript.pages[0].regions[0].source_id = "eSc_textblock_1"
    edition.create(manuscript, "tester")
    before = edition.read("ms1", "1").pages[0]
    found = [Region("k-r", [(40, 40), (960, 40), (960, 1310), (40, 1310)])]
    corrections.resegment(edition, "ms1", "1", Layout(1000, 1400, found, []), "tester", source="kraken:test")
    assert edition.read("ms1", "1").pages[0].regions[0].source_id == "eSc_textblock_1"
    corrections.undo(edition, "ms1", "1", "tester")
    assert edition.read("ms1", "1").pages[0].regions == before.regions


def test_merging_lines_that_end_in_spaces_joins_them_with_one(marked_up: Edition):
    """Imported lines often end in a space: the merged text has one space where they meet, and the second's end."""
    for line_id, text in (("ms1_p1_l2", "пѫть "), ("ms1_p1_l3", "свѣтъ ")):
        transcription.save_line(marked_up, "ms1", line_id, text, version(marked_up, line_id), "tester")
    ids = ("ms1_p1_l2", "ms1_p1_l3")
    merged = corrections.merge_lines(marked_up, "ms1", ids, "tester", {i: version(marked_up, i) for i in ids})
    assert merged.text == "пѫть свѣтъ "
