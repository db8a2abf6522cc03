"""Fixtures that build the world: editions in temporary folders, page images, a CLI runner."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from workbench.cli import cli
from workbench.edition import Edition
from workbench.images.render import HADZHI_DIMITAR, render_page
from workbench.model import Line, Manuscript, Page, Region

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def edition(tmp_path: Path) -> Edition:
    """An empty edition folder."""
    return Edition(tmp_path / "edition")


@pytest.fixture
def sample_edition(tmp_path: Path) -> Edition:
    """A copy of the bundled sample edition (tei/ and facsimiles/)."""
    root = tmp_path / "sample"
    root.mkdir()
    shutil.copytree(REPO / "tei", root / "tei")
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


def make_manuscript(manuscript_id: str = "ms1", pages: int = 1, lines: int = 3) -> Manuscript:
    """A manuscript with simple rectangular geometry, the first line transcribed."""
    manuscript = Manuscript(id=manuscript_id, title="Test manuscript", author="Трифон Трифонов", shelfmark="T-1")
    person = manuscript.source("transcription", "tester")
    for n in range(1, pages + 1):
        page = Page(
            id=f"{manuscript_id}_p{n}", n=str(n), image=f"{n:03}.png", width=1000, height=1400, mime_type="image/png"
        )
        page.regions.append(Region(f"{page.id}_r1", [(50, 50), (950, 50), (950, 1300), (50, 1300)]))
        for k in range(1, lines + 1):
            top = 60 + 50 * k
            page.lines.append(
                Line(
                    f"{page.id}_l{k}",
                    [(60, top), (900, top), (900, top + 40), (60, top + 40)],
                    [(60, top + 32), (900, top + 32)],
                    region=f"{page.id}_r1",
                )
            )
        page.lines[0].text, page.lines[0].status, page.lines[0].resp = "Живъ е той", "corrected", person.id
        manuscript.pages.append(page)
    return manuscript
