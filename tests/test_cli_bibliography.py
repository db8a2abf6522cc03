"""``workbench bibliography import`` (a preview, then the additions) and ``export``."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tests.exchange.test_bibliographic import BIBTEX, HAMLET_MARC, iso2709
from workbench.bibliography import Bibliography
from workbench.cli import cli
from workbench.edition import Edition


def test_import_previews_asks_and_adds_only_what_is_new(run, edition: Edition, tmp_path: Path):
    marc = tmp_path / "hamlet.mrc"
    marc.write_bytes(iso2709(HAMLET_MARC))
    runner = CliRunner()
    args = ["--edition", str(edition.root), "--user", "tester", "bibliography", "import", str(marc)]
    declined = runner.invoke(cli, args, input="n\n", catch_exceptions=False)
    assert "new: Шекспиръ, Уилямъ — Хамлетъ, принцъ датски : трагедия — 1900" in declined.output
    assert "Nothing was added." in declined.output and Bibliography(edition).entries() == []
    accepted = runner.invoke(cli, args, input="y\n", catch_exceptions=False)
    assert "Added 1 entry: b001" in accepted.output
    [entry] = Bibliography(edition).entries()
    assert entry.type == "translation"
    again = run("bibliography", "import", str(marc), "--yes")
    assert "already there as b001" in again.output and "Nothing to add." in again.output
    bib = tmp_path / "records.txt"
    bib.write_text(BIBTEX, encoding="utf-8")
    result = run("bibliography", "import", str(bib), "--format", "bibtex", "--type", "about", "--yes")
    assert "Added 2 entries: b002, b003" in result.output
    assert [entry.type for entry in Bibliography(edition).entries()] == ["translation", "about", "about"]


def test_a_bad_file_is_refused_with_the_record_named_and_nothing_added(edition: Edition, tmp_path: Path):
    bad = tmp_path / "cut.mrc"
    bad.write_bytes(iso2709(HAMLET_MARC)[:-40])
    result = CliRunner().invoke(cli, ["--edition", str(edition.root), "bibliography", "import", str(bad), "--yes"])
    assert result.exit_code != 0
    assert "record 1: not a MARC 21 record" in str(result.exception) and "nothing was imported" in str(result.exception)
    assert not (edition.tei_dir / "bibliography.xml").exists()


def test_export_writes_each_format(run, edition: Edition, tmp_path: Path):
    marc = tmp_path / "hamlet.mrc"
    marc.write_bytes(iso2709(HAMLET_MARC))
    run("bibliography", "import", str(marc), "--yes")
    [item] = json.loads(run("bibliography", "export", "--format", "csl-json").output)
    assert item["id"] == "b001" and item["translator"] == [{"family": "Трифоновъ", "given": "Трифонъ Ц."}]
    out = tmp_path / "out.xml"
    run("bibliography", "export", "--format", "marcxml", "-o", str(out))
    assert b'<subfield code="a">\xd0\xa5' in out.read_bytes()  # 245 $a begins with Х
    assert "TY  - BOOK" in run("bibliography", "export", "--format", "ris").output
    assert "@book{b001," in run("bibliography", "export", "--format", "bibtex").output


def test_validate_checks_the_bibliography_too(edition: Edition, tmp_path: Path):
    marc = tmp_path / "hamlet.mrc"
    marc.write_bytes(iso2709(HAMLET_MARC))
    runner = CliRunner()
    base = ["--edition", str(edition.root), "--user", "tester"]
    runner.invoke(cli, [*base, "bibliography", "import", str(marc), "--yes"], catch_exceptions=False)
    valid = runner.invoke(cli, [*base, "validate"], catch_exceptions=False)
    assert valid.exit_code == 0 and "tei/bibliography.xml: valid" in valid.output
    path = edition.tei_dir / "bibliography.xml"
    path.write_text(path.read_text(encoding="utf-8").replace('type="translation"', 'type="poem"'), encoding="utf-8")
    invalid = runner.invoke(cli, [*base, "validate"])
    assert invalid.exit_code == 1 and "tei/bibliography.xml: INVALID" in invalid.output
    assert "type must be one of work, translation, edition, about" in invalid.output
