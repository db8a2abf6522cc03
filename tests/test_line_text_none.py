"""A line's text saved through the project's API must be text: None is refused, not written as "None"."""

from __future__ import annotations

import pytest

from workbench import transcription
from workbench.model import WorkbenchError

MS = "trifonov-sample"
LINE = f"{MS}_p1_l1"


def test_saving_none_as_a_lines_text_is_refused_and_changes_nothing(sample_edition):
    before_tei = sample_edition.tei_path(MS).read_bytes()
    line = transcription.find_line(sample_edition, MS, LINE)[1]
    version = transcription.line_version(line)
    journal = list(sample_edition.journal.entries(MS, LINE))

    with pytest.raises(WorkbenchError, match=f"{LINE}: no text to save"):
        transcription.save_line(sample_edition, MS, LINE, None, version, "ivan")  # type: ignore[arg-type]

    assert sample_edition.tei_path(MS).read_bytes() == before_tei
    assert b">None<" not in before_tei and transcription.find_line(sample_edition, MS, LINE)[1].text == line.text
    assert list(sample_edition.journal.entries(MS, LINE)) == journal
    # The same line still takes real text, and an empty string (a line without text).
    saved = transcription.save_line(sample_edition, MS, LINE, "", version, "ivan")
    assert saved.text == "" and "None" not in sample_edition.tei_path(MS).read_text(encoding="utf-8")
