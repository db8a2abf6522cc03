"""`workbench init PATH` makes an empty edition anywhere, with its first admin; `workbench
sample PATH` makes the bundled sample edition there. Neither touches a folder that holds anything."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.builders import REPO
from workbench.cli import cli
from workbench.deposit import DepositSettings
from workbench.edition import Edition
from workbench.users import Users
from workbench.web import create_app


def invoke(*args: str | Path, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["--user", "tester", *map(str, args)], input=input)


def test_init_makes_an_empty_edition_with_its_admin(tmp_path: Path):
    root = tmp_path / "new" / "edition"
    result = invoke("init", root, "--admin", "maria", "--password-stdin", input="correct horse battery\n")
    assert result.exit_code == 0, result.output
    edition = Edition(root)
    assert edition.tei_dir.is_dir() and edition.facsimile_dir.is_dir() and edition.state_dir.is_dir()
    assert edition.manuscript_ids() == []
    users = Users.of(edition)
    assert users.authenticate("maria", "correct horse battery").role == "admin"
    assert [entry["action"] for entry in users.history()] == ["add"]
    # The new edition is one the other commands work on.
    assert invoke("--edition", root, "new-manuscript", "ms1", "--title", "Писмо").exit_code == 0
    assert Edition(root).manuscript_ids() == ["ms1"]


def test_init_asks_for_the_admin_and_the_password_twice(tmp_path: Path):
    root = tmp_path / "empty"
    root.mkdir()  # an empty folder is fine
    result = invoke("init", root, input="ivan\nlong enough secret\nlong enough secret\n")
    assert result.exit_code == 0, result.output
    assert "Name of the first admin account" in result.output and "Repeat for confirmation" in result.output
    assert Users.of(Edition(root)).authenticate("ivan", "long enough secret").role == "admin"


def test_init_refuses_a_folder_that_holds_anything_and_leaves_it_alone(tmp_path: Path):
    root = tmp_path / "mine"
    root.mkdir()
    (root / "notes.txt").write_text("my notes")
    result = invoke("init", root, "--admin", "maria", "--password-stdin", input="correct horse battery\n")
    assert result.exit_code == 1
    assert f"{root} is not empty" in str(result.exception)
    assert sorted(path.name for path in root.iterdir()) == ["notes.txt"]
    assert (root / "notes.txt").read_text() == "my notes"
    sample = invoke("sample", root)
    assert sample.exit_code == 1 and "is not empty" in str(sample.exception)
    assert sorted(path.name for path in root.iterdir()) == ["notes.txt"]


def test_init_refuses_a_bad_password_or_name_before_making_anything(tmp_path: Path):
    short = invoke("init", tmp_path / "a", "--admin", "maria", "--password-stdin", input="short\n")
    assert short.exit_code == 1 and "at least 8 characters" in str(short.exception)
    bad_name = invoke("init", tmp_path / "b", "--admin", "мария", "--password-stdin", input="correct horse battery\n")
    assert bad_name.exit_code == 1 and "not a valid user name" in str(bad_name.exception)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_the_settings_file_names_every_setting_commented_out(tmp_path: Path):
    root = tmp_path / "edition"
    assert invoke("init", root, "--admin", "maria", "--password-stdin", input="correct horse battery\n").exit_code == 0
    settings = root / "workbench.toml"
    assert tomllib.loads(settings.read_text(encoding="utf-8")) == {}  # as if there were none
    app = create_app(root, {"TESTING": True})
    assert not app.config["BEHIND_PROXY"] and app.config["RECOGNITION_MODEL"] is None
    # Each commented setting, uncommented, is one the workbench reads.
    uncommented = re.sub(r"^# (?=\[|\w+ = )", "", settings.read_text(encoding="utf-8"), flags=re.M)
    settings.write_text(uncommented, encoding="utf-8")
    assert set(tomllib.loads(uncommented)) == {"editor", "recognition", "server", "deposit"}
    app = create_app(root, {"TESTING": True})
    assert app.config["BEHIND_PROXY"] is True
    assert app.config["RECOGNITION_MODEL"] == "path/to/model.mlmodel"
    assert app.config["PALETTE"][:2] == ["ѣ", "ѫ"] and app.config["PALETTE"][-1] == "\u0483"
    deposit = DepositSettings.of(Edition(root))
    assert deposit.contact_email == "name@example.org" and deposit.address == "Русе, България"


def test_sample_makes_the_bundled_sample_edition(tmp_path: Path):
    root = tmp_path / "sample"
    result = invoke("sample", root)
    assert result.exit_code == 0, result.output
    edition = Edition(root)
    assert edition.manuscript_ids() == ["trifonov-sample"]
    assert edition.tei_path("trifonov-sample").read_bytes() == (REPO / "tei/trifonov-sample.xml").read_bytes()
    images = sorted(path.name for path in (root / "facsimiles/trifonov-sample").iterdir())
    assert images == sorted(path.name for path in (REPO / "facsimiles/trifonov-sample").iterdir())
    assert (root / "workbench.toml").is_file() and edition.state_dir.is_dir()
    validated = invoke("--edition", root, "validate", "trifonov-sample", "--no-tei-all")
    assert validated.exit_code == 0 and "valid (workbench schema)" in validated.output
    status = invoke("--edition", root, "status")
    assert "trifonov-sample" in status.output and "pages: 2" in status.output


def _git_status() -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.slow  # segments the sample's two pages with kraken
def test_make_sample_leaves_the_checkout_as_it_was(tmp_path: Path):
    """The Makefile's `sample` recipe, its workbench commands run as written (on an edition in a
    temporary folder instead of build/), in the checkout: git sees no change."""
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^sample:.*\n((?:\t.*\n)+)", makefile, flags=re.M).group(1)
    commands = [line.strip() for line in recipe.splitlines() if line.strip().startswith("$(BIN)/workbench")]
    assert len(commands) == 4 and "segment" in commands[0]
    creating = re.search(r"^\$\(SAMPLE_EDITION\)/workbench.toml:.*\n\t(.*)\n", makefile, flags=re.M).group(1)
    edition = tmp_path / "sample-edition"
    before = _git_status()
    for command in [creating, *commands]:
        shell = command.replace("$(BIN)/workbench", f"{sys.executable} -m workbench")
        shell = shell.replace("$(SAMPLE_EDITION)", str(edition))
        done = subprocess.run(shell, shell=True, cwd=REPO, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{shell}\n{done.stdout}{done.stderr}"
    assert "1 line(s)" in done.stdout and "[рѫкави]" in done.stdout  # the search found the sample's line
    assert _git_status() == before
    segmented = (edition / "tei/trifonov-sample.xml").read_text(encoding="utf-8")
    committed = (REPO / "tei/trifonov-sample.xml").read_text(encoding="utf-8")
    assert segmented.count("<change ") == committed.count("<change ") + 1  # the copy was segmented, not the checkout
