"""The command line: messages, exit codes, and the documented commands."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.builders import REPO
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

    users = Users(edition.users_file)
    assert users.authenticate("ivan", "correct horse battery") is None  # disabled
    run("user", "enable", "ivan")
    assert users.authenticate("ivan", "correct horse battery").role == "editor"
    assert "correct horse" not in (edition.users_file).read_text()
    assert oct((edition.users_file).stat().st_mode & 0o777) == "0o600"


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


# -- an import stopped by a signal ---------------------------------------------------------------

PAGE_SET = REPO / "tests/data/ground-truth/page2019-escriptorium"


def _many_pages(folder: Path, count: int) -> Path:
    """A real eScriptorium page and its image, ``count`` times: an import long enough to stop mid-way."""
    folder.mkdir()
    page = (PAGE_SET / "2.xml").read_bytes()
    for n in range(1, count + 1):
        shutil.copy(PAGE_SET / "2.jpg", folder / f"p{n}.jpg")
        (folder / f"p{n}.xml").write_bytes(page.replace(b'imageFilename="2.jpg"', f'imageFilename="p{n}.jpg"'.encode()))
    return folder


@pytest.mark.parametrize(
    ("signal_name", "started_ignoring_sigint"),
    [
        ("SIGTERM", False),
        ("SIGINT", False),
        # What a shell without job control does to a command run with `&`; Python then
        # left SIGINT ignored, and Ctrl-C or kill -INT waited for the import to finish.
        ("SIGINT", True),
    ],
)
def test_an_import_stopped_by_a_signal_leaves_nothing_and_can_be_run_again(
    tmp_path, signal_name, started_ignoring_sigint
):
    number = getattr(signal, signal_name)
    source = _many_pages(tmp_path / "many", 60)
    root = tmp_path / "edition"
    command = [sys.executable, "-m", "workbench", "--edition", str(root), "import", str(source), "--id", "many"]
    environment = {**os.environ, "PYTHONPATH": str(REPO)}

    def ignore_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    process = subprocess.Popen(
        command,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ignore_sigint if started_ignoring_sigint else None,
    )
    try:
        # Mid-import for certain: the images are being copied into the hidden staging folder.
        deadline = time.monotonic() + 120
        while not list((root / "facsimiles").glob(".many.import-*")):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the import never began staging its images"
            time.sleep(0.01)
        sent = time.monotonic()
        process.send_signal(number)
        out, err = process.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        process.kill()
    assert took < 5, f"the import took {took:.1f} s to stop"
    assert process.returncode == 128 + number, (out, err)
    assert f"Stopped by {signal_name}: the import was undone, nothing of it is left" in err
    assert "Traceback" not in err
    assert list((root / "facsimiles").iterdir()) == []  # no images, no staging folder
    assert list((root / "tei").iterdir()) == []

    again = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "Imported 60 page(s) as many" in again.stdout
    assert sorted(p.name for p in (root / "tei").iterdir()) == ["many.xml"]
    assert len(list((root / "facsimiles" / "many").glob("*.jpg"))) == 60


def test_accounts_take_the_four_roles_and_change_role(run, edition):
    from workbench.users import Users

    for role in ("transcriber", "reviewer", "editor", "admin"):
        assert run("user", "add", f"u-{role}", "--role", role, "--password", "correct horse battery").exit_code == 0
    assert run("user", "role", "u-transcriber", "reviewer").output == "u-transcriber is now reviewer\n"
    users = Users(edition.users_file)
    assert users.get("u-transcriber").role == "reviewer"
    assert users.get("u-reviewer").can("transcriber") and not users.get("u-reviewer").can("editor")
    assert users.get("u-admin").can("editor") and users.get("u-editor").can("reviewer")
    assert run("user", "role", "u-editor", "boss").exit_code != 0


def test_account_changes_on_the_command_line_are_journalled_without_secrets(run, edition):
    import json

    run("user", "add", "ivan", "--role", "editor", "--password", "correct horse battery")
    run("user", "add", "root", "--role", "admin", "--password", "correct horse battery")
    run("user", "disable", "ivan")
    run("user", "enable", "ivan")
    run("user", "role", "ivan", "reviewer")
    assert run("user", "unlock", "ivan").output == "ivan unlocked\n"
    assert run("user", "password", "ivan", "--password", "another horse battery").exit_code == 0
    log = edition.accounts_log.read_text(encoding="utf-8")
    records = [json.loads(line) for line in log.splitlines()]
    assert [(r["who"], r["action"], r["account"]) for r in records] == [
        ("tester", "add", "ivan"),
        ("tester", "add", "root"),
        ("tester", "disable", "ivan"),
        ("tester", "enable", "ivan"),
        ("tester", "role", "ivan"),
        ("tester", "unlock", "ivan"),
        ("tester", "password", "ivan"),
    ]
    assert records[0]["role"] == "editor" and records[4] | {"at": ""} == {
        "at": "",
        "who": "tester",
        "action": "role",
        "account": "ivan",
        "role": "reviewer",
        "was": "editor",
    }
    assert "horse" not in log and "scrypt" not in log
    from workbench.users import Users

    assert Users(edition.users_file).authenticate("ivan", "another horse battery").session_generation == 4


def test_the_command_line_keeps_one_active_admin(run, edition):
    from workbench.users import LastAdminError, Users

    run("user", "add", "root", "--role", "admin", "--password", "correct horse battery")
    with pytest.raises(LastAdminError, match="root is the last active admin"):
        run("user", "disable", "root")
    with pytest.raises(LastAdminError):
        run("user", "role", "root", "editor")
    assert Users(edition.users_file).get("root").active_admin
    run("user", "add", "anna", "--role", "admin", "--password", "correct horse battery")
    assert run("user", "role", "root", "editor").exit_code == 0


@pytest.mark.parametrize(
    ("options", "factory", "warned"),
    [
        ([], "workbench.web:create_app()", False),
        (["--insecure-http"], "workbench.web:create_app(insecure_http=True)", True),
        (["--behind-proxy"], "workbench.web:create_app(behind_proxy=True)", False),
    ],
)
def test_serve_passes_the_proxy_and_plain_http_choices_to_gunicorn(edition, monkeypatch, options, factory, warned):
    """serve replaces itself with gunicorn (os.execv): here execv only records what it was given (no
    worker: it would watch this process, not a gunicorn, and outlive the test)."""
    from click.testing import CliRunner

    started = []
    monkeypatch.setattr(os, "execv", lambda path, argv: started.append(argv))
    monkeypatch.delenv("WORKBENCH_EDITION", raising=False)
    result = CliRunner().invoke(
        cli, ["--edition", str(edition.root), "serve", "--no-worker", "--host", "0.0.0.0", *options]
    )
    assert result.exit_code == 0, result.output
    [argv] = started
    assert Path(argv[0]).name == "gunicorn" and argv[-1] == factory
    assert argv[argv.index("--bind") + 1] == "0.0.0.0:5000"
    assert ("WARNING: --insecure-http: passwords and session cookies travel unencrypted" in result.stderr) == warned
