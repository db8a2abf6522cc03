"""Fixtures that build the world: editions in temporary folders, page images, a CLI runner."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.builders import REPO, RedisServer, free_port
from workbench.cli import cli
from workbench.edition import Edition
from workbench.sample import HADZHI_DIMITAR, render_page


@pytest.fixture
def edition(tmp_path: Path) -> Edition:
    """An empty edition folder."""
    return Edition(tmp_path / "edition")


@pytest.fixture
def sample_edition(tmp_path: Path) -> Edition:
    """A copy of the bundled sample edition (tei/ and facsimiles/), less its bibliography:
    the tests build their own entries (tests/test_sample_bibliography.py checks the sample's)."""
    root = tmp_path / "sample"
    root.mkdir()
    shutil.copytree(REPO / "tei", root / "tei", ignore=shutil.ignore_patterns("bibliography.xml"))
    shutil.copytree(REPO / "facsimiles", root / "facsimiles")
    return Edition(root)


@pytest.fixture
def run(edition: Edition):
    """Run the workbench CLI on ``edition``; returns click's Result."""
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli, ["--edition", str(edition.root), "--user", "tester", *args], catch_exceptions=False)

    return invoke


@pytest.fixture
def page_png(tmp_path: Path) -> Path:
    """A small rendered page with eight lines of pre-1945 text."""
    image, _ = render_page(HADZHI_DIMITAR.splitlines()[:8], width=800, height=1100, seed=3)
    path = tmp_path / "page.png"
    image.save(path)
    return path


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(free_port(), folder)
    server.start()
    yield server
    if server.process.poll() is None:
        server.process.terminate()
        server.process.wait(timeout=30)
