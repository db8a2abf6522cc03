"""The README tells the truth about the command line: every command and option it shows
exists (as `workbench … --help` would say), and its two set-up commands are Makefile targets."""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from tests.builders import REPO
from workbench.cli import cli

README = (REPO / "README.md").read_text(encoding="utf-8")
# `workbench …` as the README quotes it in running text and in its command table.
QUOTED = sorted(set(re.findall(r"`(workbench [^`]+)`", README)))


def resolve(words: list[str]) -> tuple[click.Command, list[str]]:
    """The command the words name (a group's subcommand too) and the path to it."""
    command: click.Command = cli
    path: list[str] = []
    for word in words:
        if not isinstance(command, click.Group) or word not in command.commands:
            break
        command = command.commands[word]
        path.append(word)
    return command, path


def test_the_readme_quotes_the_command_line():
    assert len(QUOTED) > 20


@pytest.mark.parametrize("quoted", QUOTED)
def test_every_command_and_option_the_readme_shows_exists(quoted):
    words = quoted.replace("\\|", "|").split()[1:]
    # The workbench's own options may come first (`workbench --edition PATH user add …`):
    # those it has are passed over with their values (any other stops there, and fails below).
    own = {name: option for option in cli.params for name in option.opts}
    while words and words[0] in own:
        words = words[1 if own[words[0]].is_flag else 2 :]
    command, path = resolve(words)
    assert path, f"the README shows {quoted!r}, but workbench has no command {words[0]!r}"
    if isinstance(command, click.Group) and len(words) > len(path) and not words[len(path)].startswith("-"):
        pytest.fail(f"the README shows {quoted!r}, but {' '.join(path)} has no subcommand {words[len(path)]!r}")
    known = {option for parameter in command.params for option in parameter.opts + parameter.secondary_opts}
    for option in re.findall(r"(?<![\w-])--[a-z][a-z-]*", " ".join(words)):
        assert option in known | {"--help"}, f"the README shows {option} for workbench {' '.join(path)}"
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


def test_the_two_commands_at_the_top_are_makefile_targets():
    block = README[README.index("## Two commands") :]
    commands = re.findall(r"^make (\w+)", block[: block.index("```", block.index("```") + 3)], flags=re.M)
    assert commands == ["sample", "test"]
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    for target in commands:
        assert re.search(rf"^{target}:", makefile, flags=re.M), target
    # CI runs the README's test command.
    assert "make test" in (REPO / ".ci/run").read_text(encoding="utf-8")
