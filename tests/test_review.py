"""Review of lines and comments on them (review.py): the log beside the TEI."""

from __future__ import annotations

import pytest

from tests.builders import make_manuscript
from workbench.edition import Edition
from workbench.model import WorkbenchError
from workbench.review import Reviews


@pytest.fixture
def reviews(edition: Edition) -> Reviews:
    for manuscript_id in ("ms1", "ms2"):
        edition.create(make_manuscript(manuscript_id, pages=2, lines=3), who="tester")
    return Reviews(edition.review_dir)


def test_a_line_goes_ready_returned_ready_and_verified(reviews: Reviews, edition: Edition):
    line = edition.read("ms1", "1").pages[0].lines[1]
    reviews.mark_ready("ms1", line.id, "tanya")
    assert reviews.states("ms1")[line.id].status == "ready"
    reviews.send_back("ms1", line, "rosen", "  ѣ, не е: \n чети пак  ")
    state = reviews.states("ms1")[line.id]
    assert (state.status, state.who, state.comment) == ("returned", "rosen", "ѣ, не е: чети пак")
    reviews.mark_ready("ms1", line.id, "tanya")
    assert reviews.states("ms1", "1")[line.id].status == "ready"
    reviews.mark_verified("ms1", line.id, "rosen")
    assert line.id not in reviews.states("ms1")
    # One log per page: page 2 knows nothing of it.
    assert reviews.states("ms1", "2") == {}
    assert (edition.review_dir / "ms1" / "1.jsonl").is_file()


def test_sending_back_needs_a_reason_and_an_unverified_line(reviews: Reviews, edition: Edition):
    line = edition.read("ms1", "1").pages[0].lines[0]
    with pytest.raises(WorkbenchError, match="needs some text"):
        reviews.send_back("ms1", line, "rosen", "   ")
    line.status = "verified"
    with pytest.raises(WorkbenchError, match="is verified"):
        reviews.send_back("ms1", line, "rosen", "защо")
    with pytest.raises(WorkbenchError, match="at most"):
        reviews.comment("ms1", line.id, "rosen", "я" * 2001)
    assert list(reviews.events("ms1")) == []


def test_the_queue_is_every_manuscripts_ready_lines_longest_waiting_first(reviews: Reviews):
    reviews.mark_ready("ms2", "ms2_p2_l1", "tanya")
    reviews.mark_ready("ms1", "ms1_p1_l3", "tanya")
    reviews.mark_ready("ms1", "ms1_p2_l2", "ivan")
    reviews.mark_verified("ms1", "ms1_p2_l2", "rosen")
    assert [(ms, line) for ms, line, _ in reviews.awaiting(["ms1", "ms2"])] == [
        ("ms2", "ms2_p2_l1"),
        ("ms1", "ms1_p1_l3"),
    ]


def test_comments_are_threads_with_answers_that_can_be_resolved(reviews: Reviews):
    first = reviews.comment("ms1", "ms1_p1_l2", "tanya", "тази буква ѫ ли е?")
    answer = reviews.comment("ms1", "ms1_p1_l2", "rosen", "да, ѫ", reply_to=first.id)
    reviews.comment("ms1", "ms1_p1_l2", "tanya", "благодаря", reply_to=answer.id)  # joins the same thread
    other = reviews.comment("ms1", "ms1_p1_l3", "ivan", "петно")
    assert reviews.open_comments("ms1") == {"ms1_p1_l2": 1, "ms1_p1_l3": 1}
    (thread,) = reviews.comments("ms1", "ms1_p1_l2")
    assert [c.text for c in [thread, *thread.replies]] == ["тази буква ѫ ли е?", "да, ѫ", "благодаря"]
    reviews.resolve("ms1", "ms1_p1_l2", first.id, "rosen")
    assert reviews.comments("ms1", "ms1_p1_l2")[0].resolved_by == "rosen"
    assert reviews.open_comments("ms1", "1") == {"ms1_p1_l3": 1}
    with pytest.raises(WorkbenchError, match="no comment"):
        reviews.resolve("ms1", "ms1_p1_l2", other.id, "rosen")  # a thread of another line
    with pytest.raises(WorkbenchError, match="to answer"):
        reviews.comment("ms1", "ms1_p1_l2", "ivan", "?", reply_to="nothing")


def test_a_torn_last_line_leaves_the_events_before_it(reviews: Reviews, edition: Edition):
    reviews.mark_ready("ms1", "ms1_p1_l1", "tanya")
    with open(edition.review_dir / "ms1" / "1.jsonl", "a", encoding="utf-8") as log:
        log.write('{"id": "x", "time": "2026-12-01T00:00:00Z", "line": "ms1_p1_l2", "wh')
    assert list(reviews.states("ms1")) == ["ms1_p1_l1"]
