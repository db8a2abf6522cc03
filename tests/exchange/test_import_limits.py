"""What one import may hold and where it may write: hostile zips, the temporary space, and
pages too large to import (refused before the work that grows with them)."""

from __future__ import annotations

import os
import shutil
import stat
import struct
import time
import warnings
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from workbench.exchange import layout_files, transfer
from workbench.images import facsimile
from workbench.layout import geometry
from workbench.model import WorkbenchError

PAGE_2019 = layout_files.PAGE_2019
WIDTH, HEIGHT = 1200, 1600


def page_xml(image: str = "page.png", lines: int = 3, polygon_points: int = 4, baselines_only: bool = False) -> bytes:
    """A PAGE 2019 file of ``lines`` lines in one region (a line's polygon has ``polygon_points`` points)."""
    parts = [
        f'<PcGts xmlns="{PAGE_2019}"><Metadata><Creator>t</Creator><Created>2026-01-01T00:00:00</Created>'
        f"<LastChange>2026-01-01T00:00:00</LastChange></Metadata>"
        f'<Page imageFilename="{image}" imageWidth="{WIDTH}" imageHeight="{HEIGHT}">'
        f'<TextRegion id="r1"><Coords points="0,0 {WIDTH},0 {WIDTH},{HEIGHT} 0,{HEIGHT}"/>'
    ]
    for k in range(lines):
        y = 10 + (k % 150) * 10
        top = [(10 + (1000 * i) // max(polygon_points // 2 - 1, 1), y) for i in range(polygon_points // 2)]
        bottom = [(x, y + 8) for x, _ in reversed(top)]
        coords = " ".join(f"{x},{y}" for x, y in top + bottom)
        parts.append(
            f'<TextLine id="l{k}">'
            + ("" if baselines_only else f'<Coords points="{coords}"/>')
            + f'<Baseline points="10,{y + 7} 1010,{y + 7}"/>'
            f"<TextEquiv><Unicode>ред {k}</Unicode></TextEquiv></TextLine>"
        )
    parts.append("</TextRegion></Page></PcGts>")
    return "".join(parts).encode()


def scan(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (WIDTH, HEIGHT), 255).save(path)
    return path


def import_folder(tmp_path: Path, **files: bytes) -> Path:
    folder = tmp_path / "import"
    scan(folder / "page.png")
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def good_zip(path: Path, tmp_path: Path) -> zipfile.ZipFile:
    """A zip with one good page in it, open for more entries."""
    archive = zipfile.ZipFile(path, "w")
    archive.writestr("book/1.xml", page_xml())
    archive.write(scan(tmp_path / "scan" / "page.png"), "book/page.png")
    return archive


def unix_entry(name: str, mode: int) -> zipfile.ZipInfo:
    """An entry as Info-ZIP on Linux writes it: the file's type and permissions in external_attr."""
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = mode << 16
    return info


def temporary_files(edition) -> list[Path]:
    """Everything an import left in its temporary folder (its lock folder aside)."""
    folder = edition.state_dir / "tmp"
    return [p for p in folder.rglob("*") if "import-locks" not in p.parts] if folder.exists() else []


# -- hostile zips ----------------------------------------------------------------------


def hostile(tmp_path: Path, add) -> Path:
    path = tmp_path / "hostile.zip"
    with good_zip(path, tmp_path) as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of a duplicate name; writing one is the point
        add(archive)
    return path


HOSTILE = {
    "a symbolic link": (lambda a: a.writestr(unix_entry("book/scan.png", stat.S_IFLNK | 0o777), "/etc/passwd"), "link"),
    "a link with a file under it": (
        lambda a: (
            a.writestr(unix_entry("book/images", stat.S_IFLNK | 0o777), "/tmp"),
            a.writestr("book/images/x.png", b"x"),
        ),
        "link",
    ),
    "a file, then a folder of that name": (
        lambda a: (a.writestr("book/pages", b"x"), a.writestr("book/pages/2.xml", page_xml())),
        "file-and-folder",
    ),
    "a folder, then a file of that name": (
        lambda a: (a.writestr("book/more/2.xml", page_xml()), a.writestr("book/more", b"x")),
        "file-and-folder",
    ),
    "a folder entry and a file of that name": (
        lambda a: (a.writestr("book/extra/", b""), a.writestr("book/extra", b"x")),
        "file-and-folder",
    ),
    "a device file": (lambda a: a.writestr(unix_entry("book/tty", stat.S_IFCHR | 0o666), b""), "special"),
    "a pipe": (lambda a: a.writestr(unix_entry("book/fifo", stat.S_IFIFO | 0o666), b""), "special"),
    "a name given twice": (lambda a: a.writestr("book/1.xml", page_xml(lines=1)), "twice"),
    "a name given twice in two spellings": (lambda a: a.writestr("book/./1.xml", page_xml(lines=1)), "twice"),
    "an absolute path": (lambda a: a.writestr("/etc/cron.d/x.xml", page_xml()), "outside"),
    "a Windows drive": (lambda a: a.writestr("C:/Windows/x.xml", page_xml()), "outside"),
    "a Windows path up": (lambda a: a.writestr("book\\..\\..\\x.xml", page_xml()), "outside"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_a_hostile_entry_refuses_the_whole_zip_before_anything_is_written(edition, tmp_path, case):
    add, reason = HOSTILE[case]
    path = hostile(tmp_path, add)
    with pytest.raises(transfer.UnsafeArchive) as refused:
        transfer.import_path(edition, path, "tester", manuscript_id="hostile")
    assert refused.value.reason == reason
    assert f"hostile.zip: the entry {refused.value.entry!r} " in str(refused.value)
    assert "(nothing was imported)" in str(refused.value)
    assert edition.manuscript_ids() == [] and temporary_files(edition) == []
    assert not Path("/etc/cron.d/x.xml").exists() and not (tmp_path.parent / "x.xml").exists()


def test_the_same_zip_without_the_hostile_entry_comes_in(edition, tmp_path):
    path = hostile(tmp_path, lambda archive: None)
    assert len(transfer.import_path(edition, path, "tester", manuscript_id="fine").pages) == 1
    assert temporary_files(edition) == []


def lying_zip(path: Path, declared: int, actual: int) -> Path:
    """A zip whose one entry declares ``declared`` bytes and unpacks to ``actual``: the trick
    of zip bombs that pass a check of the declared sizes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb/page.png", b"\0" * actual)
    data = bytearray(path.read_bytes())
    local = data.index(b"PK\x03\x04")
    struct.pack_into("<I", data, local + 22, declared)  # the local header's uncompressed size
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, declared)  # the central directory's
    path.write_bytes(bytes(data))
    return path


def test_an_entry_that_unpacks_to_more_than_it_declares_is_stopped(edition, tmp_path):
    path = lying_zip(tmp_path / "bomb.zip", declared=1_000, actual=5 * 1024**2)
    assert zipfile.ZipFile(path).getinfo("bomb/page.png").file_size == 1_000
    with pytest.raises(transfer.UnsafeArchive, match="unpacks to more bytes than the archive declares") as refused:
        transfer.import_path(edition, path, "tester")
    assert refused.value.reason == "longer" and refused.value.entry == "bomb/page.png"
    assert edition.manuscript_ids() == [] and temporary_files(edition) == []


def test_a_damaged_entry_is_still_called_damaged(edition, tmp_path):
    path = tmp_path / "damaged.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("d/1.xml", page_xml())
    data = bytearray(path.read_bytes())
    at = data.index(b"<PcGts")
    data[at : at + 6] = b"<XXXXX"  # the checksum no longer matches
    path.write_bytes(bytes(data))
    with pytest.raises(WorkbenchError, match=r"d/1.xml is damaged \(Bad CRC-32"):
        transfer.import_path(edition, path, "tester")


# -- temporary space -----------------------------------------------------------------------


def test_a_zip_is_unpacked_in_the_editions_temporary_folder_and_nothing_stays(edition, tmp_path, monkeypatch):
    path = hostile(tmp_path, lambda archive: None)
    seen = []
    inspect = facsimile.inspect_image
    monkeypatch.setattr(facsimile, "inspect_image", lambda image: seen.append(image) or inspect(image))
    transfer.import_path(edition, path, "tester", manuscript_id="one")
    assert seen and seen[0].is_relative_to(edition.state_dir / "tmp")
    assert temporary_files(edition) == []

    elsewhere = tmp_path / "scratch"
    monkeypatch.setenv(transfer.TEMPORARY_FOLDER_VARIABLE, str(elsewhere))
    transfer.import_path(edition, path, "tester", manuscript_id="two")
    assert seen[-1].is_relative_to(elsewhere) and list(elsewhere.iterdir()) == []


def test_a_zip_that_would_not_fit_the_free_space_is_refused_before_unpacking(edition, tmp_path, monkeypatch):
    path = hostile(tmp_path, lambda archive: None)
    declared = sum(info.file_size for info in zipfile.ZipFile(path).infolist())
    free = declared + transfer.FREE_SPACE_MARGIN - 1  # one byte short of the zip and the margin
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: usage._replace(free=free))
    with pytest.raises(transfer.NoSpace, match=r"hostile.zip unpacks to 0 MB, and \d[\d,]* MB are free") as refused:
        transfer.import_path(edition, path, "tester")
    assert (refused.value.needed, refused.value.free) == (declared, free)
    assert edition.manuscript_ids() == [] and temporary_files(edition) == []
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: usage._replace(free=free + 1))
    assert len(transfer.import_path(edition, path, "tester").pages) == 1


def test_temporary_folders_a_killed_import_left_a_day_ago_are_removed(edition, tmp_path):
    folder = transfer.temporary_folder(edition)
    old, recent = folder / "workbench-import-old", folder / "workbench-upload-recent"
    for leftover in (old, recent):
        (leftover / "x").mkdir(parents=True)
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    transfer.temporary_folder(edition)
    assert not old.exists() and recent.exists()


# -- what one import may hold ----------------------------------------------------------------


def test_a_page_with_too_many_lines_is_refused_naming_the_file_and_the_limit(edition, tmp_path):
    lines = layout_files.MAX_LINES_PER_PAGE + 1
    folder = import_folder(tmp_path, **{"1.xml": page_xml(lines=lines), "2.xml": page_xml()})
    report = transfer.import_path(edition, folder, "tester", manuscript_id="big")
    assert report.skipped == [
        f"1.xml: {lines:,} lines on one page; the workbench imports at most "
        f"{layout_files.MAX_LINES_PER_PAGE:,} (nothing of this file was imported)"
    ]
    assert [len(page.lines) for page in edition.load("big").pages] == [3]


def test_a_polygon_with_too_many_points_is_refused(edition, tmp_path):
    points = layout_files.MAX_POINTS + 2
    folder = import_folder(tmp_path, **{"1.xml": page_xml(lines=2, polygon_points=points)})
    with pytest.raises(WorkbenchError) as refused:
        transfer.import_path(edition, folder, "tester", manuscript_id="spiky")
    assert (
        f"1.xml: TextLine l0 (line 1) has {points:,} points; the workbench imports polygons and baselines of "
        f"at most {layout_files.MAX_POINTS:,} points (nothing of this file was imported)"
    ) in str(refused.value)
    assert edition.manuscript_ids() == []


def test_an_alto_page_is_bounded_as_well():
    alto = layout_files.ALTO_4
    lines = "".join(
        f'<TextLine ID="l{k}" HPOS="10" VPOS="{k}" WIDTH="100" HEIGHT="1"/>'
        for k in range(layout_files.MAX_LINES_PER_PAGE + 1)
    )
    data = (
        f'<alto xmlns="{alto}"><Layout><Page WIDTH="{WIDTH}" HEIGHT="{HEIGHT}"><PrintSpace>'
        f'<TextBlock ID="b1">{lines}</TextBlock></PrintSpace></Page></Layout></alto>'
    ).encode()
    with pytest.raises(layout_files.TooLarge, match="alto.xml: 5,001 lines on one page; the workbench imports at most"):
        layout_files.read_layout(data, "alto.xml")


def test_an_xml_file_over_the_size_limit_is_refused_before_it_is_read(edition, tmp_path, monkeypatch):
    folder = import_folder(tmp_path, **{"2.xml": page_xml()})
    with open(folder / "1.xml", "wb") as huge:
        huge.write(page_xml()[:200])
        huge.truncate(layout_files.MAX_XML_BYTES + 1)  # sparse: the disk holds almost nothing of it
    read = []
    read_bytes = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda path: read.append(path.name) or read_bytes(path))
    report = transfer.import_path(edition, folder, "tester", manuscript_id="sized")
    assert report.skipped == [
        f"1.xml: 64 MB of XML; the workbench reads PAGE and ALTO files of at most "
        f"{layout_files.MAX_XML_BYTES >> 20} MB (nothing of this file was imported)"
    ]
    assert "1.xml" not in read and "2.xml" in read


def test_an_import_of_too_many_pages_is_refused_before_any_is_read(edition, tmp_path, monkeypatch):
    folder = tmp_path / "many"
    folder.mkdir()
    for n in range(transfer.MAX_PAGES + 1):
        (folder / f"{n}.xml").write_bytes(b"<PcGts/>")
    monkeypatch.setattr(layout_files, "read_layout", lambda data, name: pytest.fail("a page was read"))
    with pytest.raises(WorkbenchError, match="many holds 10,001 PAGE or ALTO files; one import takes at most 10,000"):
        transfer.import_path(edition, folder, "tester")


def test_bands_for_lines_without_a_polygon_measure_the_page_once(edition, tmp_path, monkeypatch):
    # Measuring the page's lines for each band made an import quadratic in its lines:
    # 4,000 such lines took 10 s, 200,000 would have taken hours.
    calls = []
    extents = geometry.line_extents
    monkeypatch.setattr(geometry, "line_extents", lambda *args: calls.append(1) or extents(*args))
    folder = import_folder(tmp_path, **{"1.xml": page_xml(lines=40, baselines_only=True)})
    transfer.import_path(edition, folder, "tester", manuscript_id="bands")
    page = edition.load("bands").pages[0]
    assert len(page.lines) == 40 and all(len(line.boundary) >= 4 for line in page.lines)
    assert len(calls) == 1
