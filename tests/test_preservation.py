"""`workbench verify` on real files: facsimiles against SHA256SUMS, TEI validity, the
journal's hash chain (edited, removed, moved entries; a torn line; old journals upgraded),
the search index against the published manuscripts, and the command's exit status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from workbench import preservation
from workbench.cli import cli
from workbench.edition import Edition
from workbench.files import AppendLog
from workbench.journal import GENESIS, Entry, Journal, line_hash
from workbench.search.indexing import Indexer

MS = "trifonov-sample"


def save_lines(edition: Edition, texts: list[str]) -> None:
    """One save per text, each on the next line of page 1: real saves, real journal entries."""
    for number, text in enumerate(texts):
        with edition.edit(MS, "tester", pages=["1"]) as manuscript:
            manuscript.page("1").lines[number].text = text


def verify(edition: Edition, *args: str):
    return CliRunner().invoke(cli, ["--edition", str(edition.root), "--user", "tester", "verify", *args])


def codes(report: preservation.Report) -> list[str]:
    return [finding.code for finding in report.problems]


def journal_lines(edition: Edition) -> list[bytes]:
    return edition.journal.path(MS).read_bytes().splitlines()


def write_journal_lines(edition: Edition, lines: list[bytes]) -> None:
    edition.journal.path(MS).write_bytes(b"".join(line + b"\n" for line in lines))


@pytest.fixture
def journalled(sample_edition: Edition) -> Edition:
    """The sample edition with four saves journalled; not published (the index test publishes it)."""
    sample_edition.set_published(MS, False, "tester")
    save_lines(sample_edition, ["първи ред", "втори ред", "трети ред", "четвърти ред"])
    return sample_edition


# -- an intact edition -----------------------------------------------------------------


def test_an_intact_edition_passes_and_the_summary_says_what_was_checked(journalled):
    result = verify(journalled)
    assert result.exit_code == 0, result.output
    assert "Checked 1 manuscript(s): 2 facsimile file(s)" in result.output
    assert "4 journal entries" in result.output
    assert "No problems: the edition is intact." in result.output
    kept = json.loads(preservation.result_path(journalled).read_text())
    assert kept["ok"] is True and kept["finished"] and kept["who"] == "tester"


# -- fixity ------------------------------------------------------------------------------


def test_a_changed_byte_in_an_image_is_named(journalled):
    image = journalled.facsimile_dir / MS / "002.png"
    data = bytearray(image.read_bytes())
    data[len(data) // 2] ^= 0x01
    image.write_bytes(bytes(data))
    result = verify(journalled)
    assert result.exit_code == 1
    assert "facsimile 002.png has changed since it was added" in result.output
    assert "001.jpg" not in result.output


def test_a_missing_and_an_unlisted_file_are_named(journalled):
    folder = journalled.facsimile_dir / MS
    (folder / "001.jpg").unlink()
    (folder / "003.png").write_bytes((folder / "002.png").read_bytes())
    report = preservation.verify(journalled)
    assert sorted((finding.code, finding.values["file"]) for finding in report.problems) == [
        ("missing", "001.jpg"),
        ("unlisted", "003.png"),
    ]
    result = verify(journalled)
    assert result.exit_code == 1
    assert "facsimile 001.jpg is listed in SHA256SUMS but is not there" in result.output
    assert "facsimile 003.png is there but not listed in SHA256SUMS" in result.output
    assert "2 problem(s) found." in result.output


# -- TEI -------------------------------------------------------------------------------------


def test_an_invalid_tei_document_is_reported(journalled):
    path = journalled.tei_path(MS)
    path.write_text(path.read_text(encoding="utf-8").replace("<lb", "<nonsense", 1), encoding="utf-8")
    result = verify(journalled)
    assert result.exit_code == 1
    assert f"{MS}: the TEI document is not valid:" in result.output
    # The other checks still ran.
    assert "Checked 1 manuscript(s): 2 facsimile file(s)" in result.output


# -- the journal's chain ---------------------------------------------------------------------


def test_every_saved_entry_chains_to_the_one_before(journalled):
    lines = journal_lines(journalled)
    assert len(lines) == 4
    previous = GENESIS
    for line in lines:
        assert json.loads(line)["prev"] == previous
        previous = line_hash(line)
    assert [entry.new for entry in journalled.journal.entries(MS)] == [
        "първи ред",
        "втори ред",
        "трети ред",
        "четвърти ред",
    ]


def test_an_edited_entry_is_named_by_the_entry_after_it(journalled):
    lines = journal_lines(journalled)
    lines[1] = lines[1].replace("втори ред".encode(), "подправен".encode())
    write_journal_lines(journalled, lines)
    report = preservation.verify(journalled)
    assert codes(report) == ["chain-changed"]
    assert report.problems[0].values["position"] == 3 and report.problems[0].values["after"] == 2
    result = verify(journalled)
    assert result.exit_code == 1
    assert f"{MS}: journal entry at line 3 (line {MS}_p1_l3" in result.output
    assert "(line 2): that entry was changed, or entries after it were removed" in result.output


def test_a_removed_entry_is_detected(journalled):
    lines = journal_lines(journalled)
    del lines[2]
    write_journal_lines(journalled, lines)
    report = preservation.verify(journalled)
    assert codes(report) == ["chain-changed"]
    assert report.problems[0].values["position"] == 3 and report.problems[0].values["line"] == f"{MS}_p1_l4"


def test_a_removed_first_entry_is_detected(journalled):
    write_journal_lines(journalled, journal_lines(journalled)[1:])
    report = preservation.verify(journalled)
    assert codes(report) == ["chain-first"]


def test_reordered_entries_are_detected(journalled):
    lines = journal_lines(journalled)
    lines[1], lines[2] = lines[2], lines[1]
    write_journal_lines(journalled, lines)
    report = preservation.verify(journalled)
    assert "chain-moved" in codes(report)
    moved = next(finding for finding in report.problems if finding.code == "chain-moved")
    assert moved.values["position"] == 2 and moved.values["written_after"] == 3


def test_the_end_cut_off_or_changed_is_caught_by_the_last_run(journalled):
    assert preservation.verify(journalled).ok  # records the journal's length and last entry
    lines = journal_lines(journalled)
    write_journal_lines(journalled, lines[:-1])
    assert codes(preservation.verify(journalled, save=False)) == ["cut-short"]
    write_journal_lines(journalled, lines[:-1] + [lines[-1].replace("четвърти".encode(), "пети".encode())])
    assert codes(preservation.verify(journalled, save=False)) == ["head-changed"]
    write_journal_lines(journalled, lines)
    assert preservation.verify(journalled).ok


def test_a_torn_last_line_is_a_note_not_tampering_and_the_next_save_goes_on(journalled):
    path = journalled.journal.path(MS)
    with open(path, "ab") as journal:
        # The crash: cut in the middle of a line, and of a letter (two bytes in UTF-8).
        journal.write('{"time": "2026-01-01T00:00:00Z", "new": "ж'.encode()[:-1])
    report = preservation.verify(journalled)
    assert report.ok and [finding.code for finding in report.notes] == ["torn"]
    assert report.notes[0].values["position"] == 5
    result = verify(journalled)
    assert result.exit_code == 0
    assert "journal line 5 is torn (a crash in the middle of a save)" in result.output
    # A save after the crash: the torn line stays alone on its line, the chain skips it.
    save_lines(Edition(journalled.root), ["пети ред"])
    assert [entry.new for entry in journalled.journal.entries(MS)][-1] == "пети ред"
    report = preservation.verify(journalled)
    assert report.ok and report.entries == 5 and [finding.code for finding in report.notes] == ["torn"]


def test_a_journal_changed_by_another_process_is_chained_onto_not_over(journalled):
    # Two Edition objects are two processes' views: each keeps the last hash in memory.
    other = Edition(journalled.root)
    save_lines(other, ["от друг процес"])
    save_lines(journalled, ["отново"])
    assert preservation.verify(journalled).ok


# -- upgrading old journals ------------------------------------------------------------------


def old_journal(edition: Edition) -> bytes:
    """A journal as the workbench wrote it before the chain (three entries), and its bytes."""
    AppendLog(edition.journal.path(MS)).append(
        {
            "time": f"2025-0{n}-01T10:00:00Z",
            "manuscript": MS,
            "line": f"{MS}_p1_l{n}",
            "old": "",
            "new": f"стар ред {n} — „цитат“",
            "who": "ivan",
            "source": "ivan",
            "status": "corrected",
            "event": "text",
        }
        for n in (1, 2, 3)
    )
    return edition.journal.path(MS).read_bytes()


def test_an_old_journal_is_reported_until_it_is_upgraded(sample_edition):
    sample_edition.set_published(MS, False, "tester")
    old_journal(sample_edition)
    result = verify(sample_edition)
    assert result.exit_code == 1
    assert "the journal (3 entries) is not chained yet" in result.output
    result = verify(sample_edition, "--upgrade")
    assert result.exit_code == 0, result.output
    assert f"{MS}: journal chained" in result.output


def test_an_upgrade_keeps_every_entry_byte_for_byte_and_adds_the_chain(sample_edition):
    sample_edition.set_published(MS, False, "tester")
    before = old_journal(sample_edition).splitlines()
    entries_before = list(sample_edition.journal.entries(MS))
    assert preservation.upgrade_journals(sample_edition) == [MS]
    after = journal_lines(sample_edition)
    assert len(after) == len(before)
    previous = GENESIS
    for old, new in zip(before, after, strict=True):
        assert new == old[:-1] + f', "prev": "{previous}"}}'.encode()
        previous = line_hash(new)
    assert list(sample_edition.journal.entries(MS)) == entries_before
    assert preservation.verify(sample_edition).ok
    # A second upgrade changes nothing.
    upgraded = sample_edition.journal.path(MS).read_bytes()
    assert preservation.upgrade_journals(sample_edition) == []
    assert sample_edition.journal.path(MS).read_bytes() == upgraded


def test_the_first_save_upgrades_an_old_journal_then_chains_onto_it(sample_edition):
    sample_edition.set_published(MS, False, "tester")
    before = old_journal(sample_edition).splitlines()
    save_lines(sample_edition, ["нов ред"])
    after = journal_lines(sample_edition)
    assert len(after) == 4
    assert [line[: len(old) - 1] for line, old in zip(after, before, strict=False)] == [old[:-1] for old in before]
    assert json.loads(after[3])["prev"] == line_hash(after[2])
    assert preservation.verify(sample_edition).ok


def test_a_partly_chained_journal_is_refused_by_the_upgrade_but_not_by_a_save(tmp_path):
    from workbench.model import WorkbenchError

    journal = Journal(tmp_path)
    journal.append("ms", [Entry("t", "ms", "l1", "", "a", "x", "x")])
    AppendLog(journal.path("ms")).append([{"time": "t", "manuscript": "ms", "line": "l2", "old": "", "new": "b"}])
    with pytest.raises(WorkbenchError, match="partly chained"):
        journal.upgrade("ms")
    Journal(tmp_path).append("ms", [Entry("t", "ms", "l3", "", "c", "x", "x")])
    chain = journal.check("ms")
    assert chain.unchained == [2] and chain.breaks == [] and chain.entries == 3


# -- the search index ------------------------------------------------------------------------


def test_the_search_index_is_checked_against_the_published_manuscripts(journalled):
    journalled.set_published(MS, True, "tester")
    assert codes(preservation.verify(journalled)) == ["not-indexed"]
    Indexer(journalled).rebuild()
    report = preservation.verify(journalled)
    assert report.ok and report.indexed_pages == 2
    save_lines(journalled, ["ново след индексирането"])
    report = preservation.verify(journalled)
    assert codes(report) == ["index-behind"] and report.problems[0].values["pages"] == "1"
    Indexer(journalled).catch_up()
    assert preservation.verify(journalled).ok
    journalled.set_published(MS, False, "tester")
    state = json.loads((journalled.index_dir / "pages.json").read_text())
    state["gone-ms"] = state[MS]
    (journalled.index_dir / "pages.json").write_text(json.dumps(state))
    assert codes(preservation.verify(journalled)) == ["index-unpublished", "index-gone"]


# -- the command ------------------------------------------------------------------------------


def test_exit_codes_of_the_command(journalled, tmp_path: Path):
    assert verify(journalled).exit_code == 0
    assert verify(journalled, MS).exit_code == 0
    assert verify(journalled, "no-such-ms").exit_code != 0
    (journalled.facsimile_dir / MS / "001.jpg").write_bytes(b"not the image")
    assert verify(journalled, MS).exit_code == 1
    assert verify(journalled).exit_code == 1


def test_the_command_in_a_real_process_exits_non_zero_on_a_problem(journalled):
    import subprocess
    import sys

    from tests.builders import REPO

    command = [sys.executable, "-m", "workbench", "--edition", str(journalled.root), "verify"]
    assert subprocess.run(command, cwd=REPO, capture_output=True).returncode == 0
    (journalled.facsimile_dir / MS / "002.png").unlink()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 1
    assert "facsimile 002.png is listed in SHA256SUMS but is not there" in done.stdout


def test_a_result_that_cannot_be_kept_is_a_note_and_the_check_still_answers(journalled):
    # verify.json cannot be written (here: a folder stands in its place, as unwritable
    # as read-only media, even for root).
    preservation.result_path(journalled).mkdir(parents=True)
    result = verify(journalled)
    assert result.exit_code == 0
    assert "the result could not be kept in .workbench/verify.json" in result.output


def test_tei_all_is_checked_when_asked(journalled):
    result = verify(journalled, "--tei-all")
    assert result.exit_code == 0, result.output
    assert "1 TEI document(s) (project schema and tei_all)" in result.output
