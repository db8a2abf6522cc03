"""Deposit packages: real BagIt bags on disk, their METS against the official schema, and restores."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import bagit
import pytest
from lxml import etree

from tests.builders import REPO
from workbench import deposit
from workbench.edition import Edition
from workbench.model import WorkbenchError
from workbench.review import Reviews
from workbench.tei import validation

MS = "trifonov-sample"
NS = {"mets": deposit.METS, "xlink": deposit.XLINK, "img": deposit.IMAGE_NAMESPACE}


@pytest.fixture
def source(tmp_path: Path) -> Edition:
    """The sample edition with a journal and a review log, as an edition in use has."""
    root = tmp_path / "source"
    root.mkdir()
    shutil.copytree(REPO / "tei", root / "tei")
    shutil.copytree(REPO / "facsimiles", root / "facsimiles")
    edition = Edition(root)
    line = edition.read(MS, "1").pages[0].lines[0]
    with edition.edit(MS, "tester", pages=["1"]) as manuscript:
        manuscript.pages[0].lines[0].text = line.text + " (поправено)"
    Reviews(edition.review_dir).comment(MS, line.id, "tester", "Проверете края на реда.")
    (root / "workbench.toml").write_text(
        '[deposit]\ncontact_name = "Мария Иванова"\ncontact_email = "archive@example.org"\n', encoding="utf-8"
    )
    return edition


@pytest.fixture(scope="module")
def bag_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One package of the sample (tei_all takes seconds to load): tests copy it before changing it."""
    root = tmp_path_factory.mktemp("template")
    edition = Edition(root / "edition")
    shutil.copytree(REPO / "tei", edition.tei_dir)
    shutil.copytree(REPO / "facsimiles", edition.facsimile_dir)
    line = edition.read(MS, "1").pages[0].lines[0]
    with edition.edit(MS, "tester", pages=["1"]) as manuscript:
        manuscript.pages[0].lines[0].text = line.text + " (поправено)"
    Reviews(edition.review_dir).comment(MS, line.id, "tester", "Проверете края на реда.")
    deposit.package(edition, MS, root / "bag")
    return root


@pytest.fixture
def bag(bag_template: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "bag"
    shutil.copytree(bag_template / "bag", copy)
    return copy


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_package_is_a_valid_bag_with_everything_and_a_mets_naming_every_file(source: Edition, tmp_path: Path):
    report = deposit.package(source, MS, tmp_path / "deposit" / MS)
    bag = bagit.Bag(str(report.bag))
    assert bag.validate(processes=1)
    assert set(bag.algorithms) == {"sha256", "sha512"}
    data = report.bag / "data"
    # The edition's own layout: the TEI's image links resolve inside the bag.
    tei = (data / "tei" / f"{MS}.xml").read_bytes()
    assert tei == source.tei_path(MS).read_bytes()
    links = etree.fromstring(tei).xpath("//tei:graphic/@url", namespaces={"tei": "http://www.tei-c.org/ns/1.0"})
    assert links and all((data / "tei" / link).resolve().is_file() for link in links)
    assert tree_bytes(data / "facsimiles" / MS) == tree_bytes(source.facsimile_dir / MS)
    assert (data / "journal" / f"{MS}.jsonl").read_bytes() == source.journal.path(MS).read_bytes()
    assert (data / "review" / MS / "1.jsonl").read_bytes() == (source.review_dir / MS / "1.jsonl").read_bytes()
    for kind in ("page", "alto"):
        files = sorted((data / kind).glob("*.xml"))
        assert len(files) == 2
        for path in files:
            assert validation.check_layout_xml(etree.parse(str(path))) == []

    info = bag.info
    assert info["Source-Organization"] == "Регионална библиотека „Любен Каравелов“ – Русе"
    assert info["Organization-Address"] and info["Bagging-Date"]
    assert info["Contact-Name"] == "Мария Иванова" and info["Contact-Email"] == "archive@example.org"
    assert info["External-Identifier"] == MS
    assert info["Bag-Software-Agent"].startswith("workbench 0.1.0")

    mets = etree.parse(str(data / "mets.xml"))
    assert validation.check_mets(mets) == []
    listed = {}
    for file in mets.iterfind(".//mets:file", NS):
        href = file.find("mets:FLocat", NS).get(f"{{{deposit.XLINK}}}href")
        assert file.get("CHECKSUMTYPE") == "SHA-256"
        listed[href] = (file.get("CHECKSUM"), int(file.get("SIZE")), file.getparent().get("USE"), file)
    payload = {p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file()} - {"mets.xml"}
    assert set(listed) == payload
    for href, (checksum, size, _, _) in listed.items():
        assert (checksum, size) == (sha256(data / href), (data / href).stat().st_size), href
    assert listed[f"facsimiles/{MS}/001.jpg"][2] == "MASTER"
    assert listed[f"tei/{MS}.xml"][2] == "TRANSCRIPTION"
    assert listed["page/0001_001.xml"][2] == "DERIVATIVE-PAGE"
    assert listed["alto/0002_002.xml"][2] == "DERIVATIVE-ALTO"

    # Technical metadata of each master, as the image itself says.
    master = listed[f"facsimiles/{MS}/002.png"][3]
    image = mets.find(f".//mets:techMD[@ID='{master.get('ADMID')}']//img:image", NS)
    assert image.findtext("img:width", namespaces=NS) == "1654"
    assert image.findtext("img:height", namespaces=NS) == "2339"
    assert image.findtext("img:format", namespaces=NS) == "PNG"
    assert image.findtext("img:colourMode", namespaces=NS) == "L"

    # The structMap: each page points at its master, its PAGE and ALTO files and its TEI surface.
    ids = {file.get("ID"): href for href, (_, _, _, file) in listed.items()}
    pages = mets.findall(".//mets:structMap[@TYPE='PHYSICAL']//mets:div[@TYPE='page']", NS)
    assert [div.get("ORDERLABEL") for div in pages] == ["1", "2"]
    pointed = [ids[pointer.get("FILEID")] for pointer in pages[1].iterfind("mets:fptr", NS) if pointer.get("FILEID")]
    assert pointed == [f"facsimiles/{MS}/002.png", "page/0002_002.xml", "alto/0002_002.xml"]
    assert pages[1].find("mets:fptr/mets:area", NS).get("BEGIN") == f"{MS}_p2"


def test_image_metadata_reports_a_recorded_resolution(tmp_path: Path):
    from PIL import Image

    path = tmp_path / "scan.tif"
    Image.new("RGB", (300, 200), "white").save(path, dpi=(400, 400))
    element = deposit.image_metadata(path)
    resolution = element.find("img:resolution", NS)
    assert (resolution.get("x"), resolution.get("y"), resolution.get("unit")) == ("400", "400", "ppi")
    assert element.findtext("img:colourMode", namespaces=NS) == "RGB"
    assert element.findtext("img:bitsPerSample", namespaces=NS) == "8"


def test_a_corrupt_master_is_named_and_the_restore_writes_nothing(bag: Path, edition: Edition):
    master = bag / "data" / "facsimiles" / MS / "001.jpg"
    data = bytearray(master.read_bytes())
    data[len(data) // 2] ^= 0x01  # one byte: the size stays, only the checksum tells
    master.write_bytes(bytes(data))
    with pytest.raises(bagit.BagValidationError) as raised:
        bagit.Bag(str(bag)).validate(processes=1)
    assert f"data/facsimiles/{MS}/001.jpg" in str(raised.value)
    with pytest.raises(WorkbenchError, match=f"data/facsimiles/{MS}/001.jpg sha256 validation failed"):
        deposit.restore(edition, bag, "tester")
    assert not edition.root.exists() or list(edition.root.rglob("*")) == []


def test_a_missing_or_truncated_file_is_named_too(bag: Path, edition: Edition):
    page = bag / "data" / "page" / "0001_001.xml"
    page.write_bytes(page.read_bytes()[:-10])  # the byte count (Payload-Oxum) fails first; it names no file
    with pytest.raises(WorkbenchError, match="data/page/0001_001.xml sha256 validation failed"):
        deposit.restore(edition, bag, "tester")
    page.unlink()
    with pytest.raises(WorkbenchError, match="data/page/0001_001.xml exists in manifest but was not found"):
        deposit.restore(edition, bag, "tester")
    assert not edition.tei_dir.exists() or list(edition.tei_dir.iterdir()) == []


def test_restore_into_an_empty_edition_gives_back_the_same_files(bag: Path, bag_template: Path, edition: Edition):
    original = Edition(bag_template / "edition")
    report = deposit.restore(edition, bag, "tester")
    assert report.manuscript_id == MS and report.pages == 2 and report.images == 2
    assert edition.tei_path(MS).read_bytes() == original.tei_path(MS).read_bytes()
    assert tree_bytes(edition.facsimile_dir / MS) == tree_bytes(original.facsimile_dir / MS)
    assert edition.journal.path(MS).read_bytes() == original.journal.path(MS).read_bytes()
    assert report.journal_entries == len(list(original.journal.entries(MS))) > 0
    assert tree_bytes(edition.review_dir / MS) == tree_bytes(original.review_dir / MS)
    assert edition.problems(MS) == []
    assert [p.name for p in edition.facsimile_dir.iterdir()] == [MS]  # no staging folder left
    # The restored manuscript is an ordinary one: it can be edited.
    with edition.edit(MS, "tester", pages=["2"]) as manuscript:
        manuscript.pages[1].lines[0].text = "нов ред"
    assert edition.problems(MS) == []


def test_a_restore_over_an_existing_manuscript_is_refused_and_changes_nothing(bag: Path, bag_template: Path):
    edition = Edition(bag_template / "edition")
    before = tree_bytes(edition.root)
    with pytest.raises(WorkbenchError, match=f"manuscript '{MS}' already exists"):
        deposit.restore(edition, bag, "tester")
    after = tree_bytes(edition.root)
    after.pop(f".workbench/locks/{MS}.lock", None)
    before.pop(f".workbench/locks/{MS}.lock", None)
    assert after == before


def test_a_left_over_journal_is_not_appended_to(bag: Path, edition: Edition):
    edition.journal.path(MS).parent.mkdir(parents=True)
    edition.journal.path(MS).write_text("{}\n")
    with pytest.raises(WorkbenchError, match="is already there"):
        deposit.restore(edition, bag, "tester")
    assert not edition.tei_path(MS).exists()
    assert not (edition.facsimile_dir / MS).exists()
    assert edition.journal.path(MS).read_text() == "{}\n"


def test_a_failure_before_the_tei_is_written_leaves_nothing(bag: Path, edition: Edition, monkeypatch):
    from workbench import edition as edition_module

    written = edition_module.write_atomically

    # The TEI is the last file written: failing there must take back the images, journal and logs.
    def failing_for_tei(path: Path, data: bytes, **options) -> None:
        if path.suffix == ".xml":
            raise OSError("disk full")
        written(path, data, **options)

    monkeypatch.setattr(edition_module, "write_atomically", failing_for_tei)
    with pytest.raises(OSError, match="disk full"):
        deposit.restore(edition, bag, "tester")
    leftovers = [p for p in edition.root.rglob("*") if p.is_file() and "locks" not in p.parts]
    assert leftovers == []
    assert list(edition.facsimile_dir.iterdir()) == []


def test_restore_under_a_new_id_renames_every_id(bag: Path, edition: Edition):
    report = deposit.restore(edition, bag, "tester", manuscript_id="copy-1")
    assert report.manuscript_id == "copy-1"
    assert edition.problems("copy-1") == []
    manuscript = edition.load("copy-1")
    assert [page.id for page in manuscript.pages] == ["copy-1_p1", "copy-1_p2"]
    assert all(line.id.startswith("copy-1_p") for page in manuscript.pages for line in page.lines)
    assert "restored from the deposit package of trifonov-sample as copy-1" in manuscript.changes[-1].text
    entries = list(edition.journal.entries("copy-1"))
    assert entries and all(e.manuscript == "copy-1" and e.line.startswith("copy-1_") for e in entries)
    comments = [json.loads(row) for row in (edition.review_dir / "copy-1" / "1.jsonl").read_text().splitlines()]
    assert comments and all(row["line"].startswith("copy-1_p1_") for row in comments)
    assert (edition.facsimile_dir / "copy-1" / "001.jpg").is_file()


def test_package_refuses_a_master_that_no_longer_matches_its_checksum(source: Edition, tmp_path: Path):
    master = source.facsimile_dir / MS / "002.png"
    master.write_bytes(master.read_bytes() + b"\0")
    with pytest.raises(WorkbenchError, match="002.png does not match its checksum in SHA256SUMS"):
        deposit.package(source, MS, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_package_refuses_a_folder_that_holds_files(source: Edition, tmp_path: Path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(WorkbenchError, match="already exists"):
        deposit.package(source, MS, tmp_path / "out")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["keep.txt"]


def test_unknown_deposit_settings_are_named(source: Edition):
    (source.root / "workbench.toml").write_text('[deposit]\norganisation = "x"\n')
    with pytest.raises(WorkbenchError, match="unknown setting.*organisation"):
        deposit.DepositSettings.of(source)


def test_the_commands_package_and_restore(bag_template: Path, tmp_path: Path):
    """The real command in a process of its own: main() prints errors and sets the exit code."""
    source = str(bag_template / "edition")
    target = tmp_path / "empty"

    def run(root: str, *args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "workbench", "--edition", root, "--user", "tester", *args]
        environment = {**os.environ, "PYTHONPATH": str(REPO)}
        return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=120)

    result = run(source, "package", MS, "--to", str(tmp_path / "bag"))
    assert result.returncode == 0, result.stderr
    assert f"Wrote {tmp_path / 'bag'}: 2 page(s), " in result.stdout
    result = run(str(target), "restore", str(tmp_path / "bag"))
    assert result.returncode == 0, result.stderr
    assert f"Restored {MS}: 2 page(s), 2 image(s), " in result.stdout
    assert "It is published" in result.stdout
    result = run(str(target), "restore", str(tmp_path / "bag"))
    assert result.returncode == 1
    assert f"Error: manuscript '{MS}' already exists" in result.stderr
    result = run(source, "package", MS, "--to", str(tmp_path / "bag"))
    assert result.returncode == 1 and "already exists; give a new folder" in result.stderr
    (tmp_path / "bag" / "data" / "tei" / f"{MS}.xml").write_text("changed")
    result = run(str(tmp_path / "other"), "restore", str(tmp_path / "bag"))
    assert result.returncode == 1
    assert f"data/tei/{MS}.xml" in result.stderr and "nothing was restored" in result.stderr
    assert not (tmp_path / "other" / "tei").exists() or not any((tmp_path / "other" / "tei").iterdir())
    result = run(source, "restore", str(tmp_path / "nowhere"))
    assert result.returncode == 2 and "does not exist" in result.stderr
