"""The command line: messages, exit codes, and the documented commands."""

from __future__ import annotations

import re
import subprocess
import sys

from workbench.cli import cli


def test_new_manuscript_status_and_validate(run, edition):
    result = run("new-manuscript", "ms1", "--title", "Писма", "--author", "Трифон Трифонов", "--shelfmark", "II-7")
    assert result.exit_code == 0 and "Created" in result.output
    status = run("status", "ms1")
    assert "pages: 0, lines: 0" in status.output
    result = run("validate", "ms1", "--no-tei-all")
    assert result.exit_code == 0 and "valid (workbench schema)" in result.output


def test_status_counts_lines_per_status(sample_edition):
    result = _invoke(sample_edition, "status", "trifonov-sample")
    assert "pages: 2, lines: 36" in result.output
    assert "verified: 36" in result.output and "automatic: 0" in result.output


def test_validate_reports_each_problem_with_its_line_and_fails(sample_edition):
    path = sample_edition.tei_path("trifonov-sample")
    path.write_bytes(path.read_bytes().replace(b'type="verified"', b'type="checked"', 1))
    result = _invoke(sample_edition, "validate", "trifonov-sample", "--no-tei-all")
    assert result.exit_code == 1
    assert "INVALID" in result.output
    assert re.search(
        r'tei/trifonov-sample.xml:\d+: <lb type="checked">: type must be one of automatic, corrected, verified',
        result.output,
    )


def test_validate_with_tei_all(sample_edition):
    result = _invoke(sample_edition, "validate")
    assert result.exit_code == 0
    assert "valid (workbench schema and tei_all)" in result.output


def test_errors_are_plain_messages_with_a_failing_exit_status(tmp_path):
    def workbench(*args):
        command = [sys.executable, "-m", "workbench", *args]
        return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=60)

    result = workbench("status", "nothing")
    assert result.returncode == 1
    assert result.stderr.strip() == f"Error: no manuscript 'nothing' in {tmp_path} (manuscripts: none yet)"
    assert "Traceback" not in result.stderr
    result = workbench("segment", "../x")
    assert result.returncode == 1 and "not a valid manuscript id" in result.stderr
    result = workbench("validate", "../../etc/passwd")
    assert result.returncode == 1 and "not a valid manuscript id" in result.stderr


def _invoke(edition, *args):
    from click.testing import CliRunner

    return CliRunner().invoke(cli, ["--edition", str(edition.root), *args], catch_exceptions=False)


def test_user_accounts(run, edition):
    result = run("user", "add", "ivan", "--role", "editor", "--password", "correct horse battery")
    assert result.exit_code == 0 and "editor ivan added" in result.output
    assert "ivan\teditor\tactive" in run("user", "list").output
    assert run("user", "disable", "ivan").exit_code == 0
    assert "ivan\teditor\tdisabled" in run("user", "list").output
    from workbench.users import Users

    users = Users(edition.state_dir / "users.json")
    assert users.authenticate("ivan", "correct horse battery") is None  # disabled
    run("user", "enable", "ivan")
    assert users.authenticate("ivan", "correct horse battery").role == "editor"
    assert "correct horse" not in (edition.state_dir / "users.json").read_text()
    assert oct((edition.state_dir / "users.json").stat().st_mode & 0o777) == "0o600"


def test_publish_reindex_and_search(sample_edition):
    from click.testing import CliRunner

    def run(*args: str):
        return CliRunner().invoke(cli, ["--edition", str(sample_edition.root), "--user", "tester", *args])

    assert run("publish", "trifonov-sample", "--withdraw").exit_code == 0
    assert not sample_edition.load("trifonov-sample").published
    result = run("reindex")
    assert result.exit_code == 0, result.output
    assert "Indexed 0 page(s)" in result.output
    assert run("search", "ръкави").output.startswith("0 line(s)")

    assert run("publish", "trifonov-sample").exit_code == 0
    result = run("reindex")
    assert "Indexed 2 page(s)" in result.output
    result = run("search", "бели", "ръкави")
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "1 line(s)",
        "trifonov-sample p.2 l.2: гологлавъ, по [бѣли] [рѫкави] и по халатъ,",
    ]
    assert run("search", "--exact", "ръкави").output.startswith("0 line(s)")
    refused = run("search", "*ъка")  # main() prints a WorkbenchError as "Error: …"
    assert refused.exit_code == 1 and "cannot come first" in str(refused.exception)
