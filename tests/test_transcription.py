"""Reverting a line to one of its versions: its text, and the status that goes with it."""

from __future__ import annotations

from workbench import transcription

MS = "trifonov-sample"
LINE = f"{MS}_p1_l1"


def current(edition):
    return transcription.find_line(edition, MS, LINE)[1]


def test_a_revert_to_an_empty_version_leaves_the_line_without_text_or_status(sample_edition):
    with sample_edition.edit(MS, who="import", pages=["1"]) as manuscript:
        line = manuscript.pages[0].lines[0]
        line.text, line.status, line.resp, line.cert = "", None, None, None
    version = transcription.line_version(current(sample_edition))
    transcription.save_line(sample_edition, MS, LINE, "първи прочит", version, "ivan")
    assert current(sample_edition).status == "corrected"
    empty = next(v for v in transcription.history(sample_edition, MS, LINE) if not v.text)

    line = transcription.revert(
        sample_edition, MS, LINE, empty.number, transcription.line_version(current(sample_edition)), "maria"
    )

    saved = current(sample_edition)
    assert (line.text, line.status) == (saved.text, saved.status) == ("", None)
    assert (saved.resp, saved.cert) == (None, None)
    last = list(sample_edition.journal.entries(MS, LINE))[-1]
    assert (last.new, last.who, last.status) == ("", "maria", None)  # the revert is a version too
    assert sample_edition.problems(MS) == []


def test_a_revert_to_a_version_with_text_gives_its_text_as_corrected(sample_edition):
    original = current(sample_edition)
    transcription.save_line(sample_edition, MS, LINE, "първи прочит", transcription.line_version(original), "ivan")

    transcription.revert(sample_edition, MS, LINE, 0, transcription.line_version(current(sample_edition)), "maria")

    saved = current(sample_edition)
    assert (saved.text, saved.status) == (original.text, "corrected")
