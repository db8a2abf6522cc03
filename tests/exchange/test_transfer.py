"""Import and export: real eScriptorium exports, generated PAGE/ALTO, TEI as it is, bad input.

The real files are in tests/data/ground-truth (sources and licences there).
"""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from PIL import Image

from tests.builders import REPO
from workbench import transcription
from workbench.exchange import layout_files, transfer
from workbench.layout import geometry
from workbench.model import Layout, Line, Page, Region, WorkbenchError
from workbench.tei import validation
from workbench.tei.text import diplomatic_text, text_fragment
from workbench.tei.validation import InvalidDocument
from workbench.tei.xml import parse_xml

GROUND_TRUTH = REPO / "tests/data/ground-truth"
PAGE_SET = GROUND_TRUTH / "page2019-escriptorium"
ALTO_SET = GROUND_TRUTH / "alto4-escriptorium"


def layout_of(path: Path) -> Layout:
    return layout_files.read_layout(path.read_bytes(), path.name)


def summary(layout: Layout) -> dict:
    """What a round trip must keep: geometry to the pixel, reading order, text (spaces at its
    ends included), confidences, region and line types."""
    return _summary((layout.width, layout.height), layout.regions, layout.lines)


def _summary(size: tuple[int, int], regions: list[Region], lines: list[Line]) -> dict:
    """``regions`` in the order a file holds them, ``lines`` in reading order."""
    order = [region.id for region in regions]
    return {
        "size": size,
        "regions": [(region.boundary, region.kind) for region in regions],
        "lines": [
            (line.boundary, line.baseline, diplomatic_text(line.text), line.cert, order.index(line.region), line.kind)
            for line in lines
        ],
    }


def file_ids(layout: Layout) -> tuple[list[str], list[str]]:
    """The region and line ids a file gives (what eScriptorium matches its lines by on re-import)."""
    return [region.id for region in layout.regions], [line.id for line in layout.lines]


def export_layouts(edition, manuscript_id, kind, tmp_path) -> list[Path]:
    target = tmp_path / f"export-{manuscript_id}-{kind}"
    transfer.export(edition, manuscript_id, target, (kind,))
    return sorted((target / kind).glob("*.xml"), key=transfer.natural_order)


# -- real eScriptorium exports ------------------------------------------------------------


@pytest.mark.parametrize(("folder", "kind", "lines"), [(PAGE_SET, "page", 47), (ALTO_SET, "alto", 36)])
def test_a_real_export_comes_in_whole_and_goes_out_the_same(edition, tmp_path, folder, kind, lines):
    report = transfer.import_path(edition, folder, "tester")
    assert report.skipped == [] and report.notes == []
    manuscript = edition.load(report.manuscript_id)
    assert len(manuscript.lines()) == lines
    assert edition.problems(report.manuscript_id, tei_all=True) == []
    line = manuscript.lines()[0]
    assert line.status == "automatic" and line.text
    source = next(s for s in manuscript.sources if s.id == line.resp)
    assert source.kind == "import" and ("PAGE 2019" in source.name or "ALTO v4" in source.name)
    assert {entry.source for entry in edition.journal.entries(report.manuscript_id)} == {f"import:{kind}"}

    originals = sorted(folder.glob("*.xml"), key=transfer.natural_order)
    exported = export_layouts(edition, report.manuscript_id, kind, tmp_path)
    assert [summary(layout_of(p)) for p in exported] == [summary(layout_of(p)) for p in originals]
    assert [file_ids(layout_of(p)) for p in exported] == [file_ids(layout_of(p)) for p in originals]
    # And across formats: what came in as PAGE goes out as ALTO with the same geometry, text, types and ids.
    for other in {"page", "page2013", "alto"} - {kind}:
        crossed = export_layouts(edition, report.manuscript_id, other, tmp_path)
        assert [summary(layout_of(p)) for p in crossed] == [summary(layout_of(p)) for p in originals], other
        assert [file_ids(layout_of(p)) for p in crossed] == [file_ids(layout_of(p)) for p in originals], other


def test_the_ground_truth_files_are_valid_against_their_official_schemas():
    for path in [*PAGE_SET.glob("*.xml"), *ALTO_SET.glob("*.xml")]:
        assert validation.check_layout_xml(parse_xml(path.read_bytes())) == [], path


def test_corrected_text_goes_out_as_tei_valid_against_tei_all_and_as_page_and_alto(edition, tmp_path):
    """The issue's 'done when': in from eScriptorium, corrected, out as TEI, PAGE and ALTO."""

    report = transfer.import_path(edition, PAGE_SET, "tester", manuscript_id="forais")
    manuscript = edition.load("forais")
    line = manuscript.pages[0].lines[2]
    text = "ffoy <choice><abbr>q</abbr><expan>que</expan></choice> mando"
    transcription.save_line(edition, "forais", line.id, text, transcription.line_version(line), "maria", "verified")
    archive = transfer.export_zip(edition, "forais", tmp_path / "forais.zip")
    with zipfile.ZipFile(archive) as packed:
        names = packed.namelist()
        document = packed.read("forais/tei/forais.xml")
        page_xml = packed.read(f"forais/page/0001_{Path(manuscript.pages[0].image).stem}.xml")
        alto_xml = packed.read(f"forais/alto/0001_{Path(manuscript.pages[0].image).stem}.xml")
        text = packed.read("forais/text/forais-reading.txt").decode()
    assert f"forais/facsimiles/forais/{manuscript.pages[0].image}" in names
    tree = parse_xml(document)
    assert validation.check_project(tree) == [] and validation.check_tei_all(tree) == []
    assert b'type="verified"' in document
    for data in (page_xml, alto_xml):
        layout = layout_files.read_layout(data, "export")
        assert layout.lines[2].text == "ffoy q mando"  # as written: the abbreviation
        assert validation.check_layout_xml(parse_xml(data)) == []
    assert "ffoy que mando" in text  # normalised: the expansion
    assert len(report.pages) == 2


def test_kraken_reads_the_exported_page_and_alto_back(edition, tmp_path):
    """kraken's own parser (which eScriptorium's import builds on) reads what the workbench writes."""
    from kraken.lib.xml import XMLPage

    report = transfer.import_path(edition, ALTO_SET, "tester")
    manuscript = edition.load(report.manuscript_id)
    for kind in ("page", "page2013", "alto"):
        for path, page in zip(
            export_layouts(edition, report.manuscript_id, kind, tmp_path), manuscript.pages, strict=True
        ):
            read = XMLPage(path).to_container()
            assert [[tuple(p) for p in line.baseline] for line in read.lines] == [line.baseline for line in page.lines]
            assert [line.text for line in read.lines] == [diplomatic_text(line.text) for line in page.lines]
            assert Path(read.imagename).name == page.image


# -- generated documents ------------------------------------------------------------------

WIDTH, HEIGHT = 1200, 1600
coordinate = st.tuples(st.integers(0, WIDTH), st.integers(0, HEIGHT))
plain_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cc", "Cs", "Zl", "Zp"]), max_size=40).map(
    lambda s: " ".join(s.split())
)
# A line's text as eScriptorium writes it: often a space at its end, sometimes at its start.
line_text = st.tuples(st.sampled_from(["", " "]), plain_text, st.sampled_from(["", " "])).map(
    lambda parts: "".join(parts) if parts[1] else ""
)


@st.composite
def pages(draw) -> Page:
    page = Page("g_p1", "1", "scan.png", WIDTH, HEIGHT, "image/png")
    for r in range(1, draw(st.integers(1, 3)) + 1):
        kind = draw(st.sampled_from(["text", "paragraph", "marginalia", "MainZone", "heading"]))
        page.regions.append(Region(f"g_p1_r{r}", draw(st.lists(coordinate, min_size=3, max_size=8)), kind))
        for _ in range(draw(st.integers(0, 4))):
            text = draw(line_text)
            page.lines.append(
                Line(
                    f"g_p1_l{len(page.lines) + 1}",
                    draw(st.lists(coordinate, min_size=3, max_size=12)),
                    draw(st.lists(coordinate, min_size=2, max_size=5)),
                    region=f"g_p1_r{r}",
                    text=text_fragment(text),
                    cert=draw(st.none() | st.integers(0, 1000).map(lambda c: c / 1000)) if text else None,
                    kind=draw(st.sampled_from([None, "default", "heading", "HeadingLine:title"])),
                )
            )
    return page


def as_summary(page: Page) -> dict:
    """``summary`` of what PAGE/ALTO should hold for ``page``: regions in the order of their
    first line (the reading order), regions without lines after them."""
    order = list(dict.fromkeys([line.region for line in page.lines] + [region.id for region in page.regions]))
    regions = sorted(page.regions, key=lambda region: order.index(region.id))
    return _summary((page.width, page.height), regions, page.lines)


WRITERS = {
    "page": layout_files.page_xml,
    "page2013": lambda page, text_of: layout_files.page_xml(page, text_of, version=layout_files.PAGE_2013),
    "alto": layout_files.alto_xml,
}


@settings(max_examples=60, deadline=None)
@given(pages(), st.sampled_from(sorted(WRITERS)))
def test_generated_pages_survive_page_and_alto_to_the_pixel(page, kind):
    data = WRITERS[kind](page, lambda line: diplomatic_text(line.text))
    assert validation.check_layout_xml(parse_xml(data)) == []
    assert summary(layout_files.read_layout(data, "generated")) == as_summary(page)


def scan(folder: Path, name: str = "scan.png", size=(WIDTH, HEIGHT)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("L", size, 255).save(folder / name)
    return folder / name


def page_2013(page: Page, shuffle_regions: bool = True) -> bytes:
    """A PAGE 2013 file as Transkribus writes one: regions in the file out of reading order,
    the order in ReadingOrder and in custom="readingOrder {index:…}"."""
    data = layout_files.page_xml(page, lambda line: diplomatic_text(line.text), version=layout_files.PAGE_2013)
    data = data.decode().replace(
        "<Creator>manuscript workbench", "<Creator>prov=University of Innsbruck:name=Transkribus"
    )
    if shuffle_regions:
        blocks = re.findall(r"    <TextRegion .*?</TextRegion>\n", data, re.S)
        data = data.replace("".join(blocks), "".join(reversed(blocks)))
    return data.encode()


@settings(max_examples=15, deadline=None)
@given(pages().filter(lambda page: len(page.regions) >= 2 and page.lines))
def test_page_2013_from_transkribus_keeps_its_reading_order(page):
    import tempfile

    from workbench.edition import Edition

    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary) / "transkribus"
        scan(folder)
        (folder / "page").mkdir()
        (folder / "page" / "scan.xml").write_bytes(page_2013(page))
        edition = Edition(Path(temporary) / "edition")
        report = transfer.import_path(edition, folder, "tester", manuscript_id="tk")
        assert report.skipped == []
        manuscript = edition.load("tk")
        imported = manuscript.pages[0]
        assert summary_of_page(imported) == as_summary(page)
        assert "PAGE 2013 (prov=University of Innsbruck:name=Transkribus)" in [s.name for s in manuscript.sources]


def summary_of_page(page: Page) -> dict:
    """``as_summary`` of an imported page, whose regions are already in reading order."""
    return _summary((page.width, page.height), page.regions, page.lines)


# -- eScriptorium's export layout: page/ and alto/ beside the images ------------------------------


def escriptorium_tree(root: Path) -> Path:
    """The real PAGE files in page/, ALTO files of the same pages in alto/, the images one folder up."""
    (root / "page").mkdir(parents=True)
    (root / "alto").mkdir()
    for name in ("2", "11"):
        shutil.copy(PAGE_SET / f"{name}.jpg", root / f"{name}.jpg")
        shutil.copy(PAGE_SET / f"{name}.xml", root / "page" / f"{name}.xml")
        layout = layout_of(PAGE_SET / f"{name}.xml")
        page = Page("e_p1", "1", f"{name}.jpg", layout.width, layout.height, "image/jpeg")
        page.regions, page.lines = layout.regions, layout.lines
        (root / "alto" / f"{name}.xml").write_bytes(layout_files.alto_xml(page, lambda line: line.text))
    return root


def test_an_escriptorium_export_with_page_and_alto_takes_the_page_files_and_says_so(edition, tmp_path):
    # Before, the ALTO files (first by name) took the images and every PAGE file was skipped.
    root = escriptorium_tree(tmp_path / "export")
    report = transfer.import_path(edition, root, "tester", manuscript_id="both")
    assert report.skipped == []
    assert report.pages == [
        "page 1: page/2.xml (PAGE 2019) + 2.jpg, 26 line(s)",
        "page 2: page/11.xml (PAGE 2019) + 11.jpg, 21 line(s)",
    ]
    assert report.notes == [
        "alto/2.xml (ALTO v4) left aside: page/2.xml (PAGE 2019) was taken for the same image 2.jpg",
        "alto/11.xml (ALTO v4) left aside: page/11.xml (PAGE 2019) was taken for the same image 11.jpg",
    ]
    assert {entry.source for entry in edition.journal.entries("both")} == {"import:page"}
    # Two files of one format for one image are still a conflict, said as such.
    shutil.copy(root / "page" / "2.xml", root / "page" / "2b.xml")
    report = transfer.import_path(edition, root, "tester", manuscript_id="twice")
    assert report.skipped == ["page/2b.xml: its image 2.jpg belongs to page/2.xml already"]
    assert len(report.pages) == 2


def test_the_page_folder_of_an_escriptorium_export_finds_its_images_one_folder_up(edition, tmp_path):
    root = escriptorium_tree(tmp_path / "export")
    report = transfer.import_path(edition, root / "page", "tester", manuscript_id="pages")
    assert report.skipped == [] and report.notes == []
    assert [page.image for page in edition.load("pages").pages] == ["2.jpg", "11.jpg"]
    assert (edition.facsimile_dir / "pages" / "2.jpg").read_bytes() == (PAGE_SET / "2.jpg").read_bytes()
    # The same tree zipped: one folder up is inside the archive.
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(root.rglob("*")):
            zipped.write(path, f"export/{path.relative_to(root)}")
    report = transfer.import_path(edition, archive, "tester", manuscript_id="zipped")
    assert report.skipped == [] and len(report.pages) == 2


def test_an_upload_does_not_look_for_images_outside_itself(edition, tmp_path):
    # A single XML uploaded through the browser sits in a temporary folder: the folder
    # above it is not part of the import, whatever lies there.
    (tmp_path / "upload").mkdir()
    shutil.copy(PAGE_SET / "2.jpg", tmp_path / "2.jpg")
    shutil.copy(PAGE_SET / "2.xml", tmp_path / "upload" / "2.xml")
    with pytest.raises(WorkbenchError, match="claims the image 2.jpg, which is not among the files imported"):
        transfer.import_path(edition, tmp_path / "upload" / "2.xml", "tester", manuscript_id="upload")


# -- lines whose baseline or polygon TEI cannot take -------------------------------------------------

PAGE_NS = {"p": layout_files.PAGE_2019}
ALTO_NS = {"a": layout_files.ALTO_4}


def test_a_one_point_baseline_in_a_real_page_file_is_redrawn_and_the_rest_comes_in(edition, tmp_path):
    # One such line made a 16-page import fail whole, with an error about the generated TEI.
    folder = tmp_path / "page"
    folder.mkdir()
    shutil.copy(PAGE_SET / "2.jpg", folder / "2.jpg")
    tree = parse_xml((PAGE_SET / "2.xml").read_bytes())
    lines = tree.findall(".//p:TextLine", PAGE_NS)
    lines[3].find("p:Baseline", PAGE_NS).set("points", "160,500")  # one point
    lines[4].find("p:Baseline", PAGE_NS).set("points", "")  # empty
    lines[5].remove(lines[5].find("p:Baseline", PAGE_NS))  # missing
    lines[6].find("p:Coords", PAGE_NS).set("points", "150,620 900,630")  # two-point polygon, baseline kept
    lines[7].find("p:Coords", PAGE_NS).set("points", "150,700")  # a point, and no baseline: nothing to go by
    lines[7].remove(lines[7].find("p:Baseline", PAGE_NS))
    tree.write(str(folder / "2.xml"), xml_declaration=True, encoding="UTF-8")
    lines = parse_xml((folder / "2.xml").read_bytes()).findall(".//p:TextLine", PAGE_NS)  # as written
    ids = [line.get("id") for line in lines]
    polygons = {line.get("id"): geometry.parse_points(line.find("p:Coords", PAGE_NS).get("points")) for line in lines}

    report = transfer.import_path(edition, folder, "tester", manuscript_id="baselines")
    notes = "\n".join(report.notes)
    for k, had in [(3, "a baseline of one point"), (4, "no baseline"), (5, "no baseline")]:
        where = f"2.xml: TextLine {ids[k]} (line {lines[k].sourceline})"
        assert f"{where}: it had {had}; one was drawn along the middle of its polygon" in notes
    assert f"2.xml: TextLine {ids[6]} (line {lines[6].sourceline}): no polygon, a band around its baseline" in notes
    text = "".join(lines[7].find("p:TextEquiv/p:Unicode", PAGE_NS).itertext())
    assert (
        f"2.xml: TextLine {ids[7]} (line {lines[7].sourceline}) left out: it has no polygon or baseline "
        f"(its text was: {text!r})"
    ) in notes
    assert edition.problems("baselines") == []
    imported = edition.load("baselines").pages[0].lines
    assert len(imported) == len(lines) - 1
    for k in (3, 4, 5):
        baseline, polygon = imported[k].baseline, polygons[ids[k]]
        xs, ys = [x for x, _ in polygon], [y for _, y in polygon]
        # Along the line, left to right, from one end of the polygon to the other, through its middle.
        assert len(baseline) == 2 and abs(baseline[0][0] - min(xs)) <= 3 and abs(baseline[1][0] - max(xs)) <= 3
        assert all(min(ys) < y < max(ys) for _, y in baseline)
        assert abs((baseline[0][1] + baseline[1][1]) / 2 - sum(ys) / len(ys)) < 5


def test_a_one_point_baseline_in_a_real_alto_file_is_redrawn(edition, tmp_path):
    folder = tmp_path / "alto"
    folder.mkdir()
    stem = "TestamentsDePoilus_will_AN_0218-0"
    shutil.copy(ALTO_SET / f"{stem}.jpg", folder / f"{stem}.jpg")
    tree = parse_xml((ALTO_SET / f"{stem}.xml").read_bytes())
    lines = tree.findall(".//a:TextLine", ALTO_NS)
    lines[2].set("BASELINE", "556 193")
    tree.write(str(folder / f"{stem}.xml"), xml_declaration=True, encoding="UTF-8")
    lines = parse_xml((folder / f"{stem}.xml").read_bytes()).findall(".//a:TextLine", ALTO_NS)  # as written
    report = transfer.import_path(edition, folder, "tester", manuscript_id="alto-baseline")
    assert report.notes == [
        f"{stem}.xml: TextLine {lines[2].get('ID')} (line {lines[2].sourceline}): it had a baseline of one point; "
        "one was drawn along the middle of its polygon"
    ]
    assert len(edition.load("alto-baseline").pages[0].lines[2].baseline) == 2
    assert edition.problems("alto-baseline") == []


def test_a_slanted_line_gets_a_slanted_baseline():
    # A parallelogram rising 100 pixels over 1000.
    baseline = geometry.long_axis([(0, 100), (1000, 0), (1000, 40), (0, 140)])
    assert baseline == [(0, 120), (1000, 20)]
    assert geometry.long_axis([(5, 5), (5, 5), (5, 5)]) == []


# -- bad input: clear reports, nothing half-imported ----------------------------------------------


def make_import(folder: Path, **files: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def simple_page(image="scan.png", lines=2) -> Page:
    page = Page("s_p1", "1", image, WIDTH, HEIGHT, "image/png")
    page.regions.append(Region("s_p1_r1", [(10, 10), (1000, 10), (1000, 900), (10, 900)]))
    for k in range(1, lines + 1):
        top = 100 * k
        page.lines.append(
            Line(
                f"s_p1_l{k}",
                [(20, top), (900, top), (900, top + 50), (20, top + 50)],
                [(20, top + 40), (900, top + 40)],
                region="s_p1_r1",
                text=f"ред {k}",
            )
        )
    return page


def page_file(page: Page) -> bytes:
    return layout_files.page_xml(page, lambda line: line.text)


def test_files_that_cannot_be_imported_are_reported_and_the_rest_comes_in(edition, tmp_path):
    folder = tmp_path / "mixed"
    scan(folder, "good.png")
    scan(folder, "small.png", size=(600, 800))
    off_page = simple_page("good2.png", lines=3)
    off_page.lines[1].boundary = [(x + 5000, y) for x, y in off_page.lines[1].boundary]  # wholly off the page
    off_page.lines[2].boundary[0] = (-7, 300)  # just over the edge
    scan(folder, "good2.png")
    make_import(
        folder,
        **{
            "01.xml": page_file(simple_page("good.png")),
            "02.xml": page_file(simple_page("missing.png")),
            "03.xml": page_file(simple_page("small.png")),
            "04.xml": b'<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2009-03-16"><Page/></PcGts>',
            "05.xml": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><PcGts>&a;</PcGts>',
            "06.xml": b"<PcGts><Page",
            "07.xml": page_file(off_page),
        },
    )
    report = transfer.import_path(edition, folder, "tester", manuscript_id="mixed")
    assert len(report.pages) == 2
    skipped = "\n".join(report.skipped)
    assert "02.xml: claims the image missing.png, which is not among the files imported" in skipped
    assert "03.xml: its image small.png is 600×800 pixels, but the file's coordinates are for 1200×1600" in skipped
    assert "04.xml: unknown XML namespace http://schema.primaresearch.org/PAGE/gts/pagecontent/2009-03-16" in skipped
    # A PAGE file (05.xml) is not called a TEI document.
    assert "05.xml has a DOCTYPE declaration, which the workbench refuses in any XML it reads: entity" in skipped
    assert "TEI" not in skipped
    assert "06.xml cannot be read as XML" in skipped
    notes = "\n".join(report.notes)
    at = {e.get("id"): e.sourceline for e in parse_xml((folder / "07.xml").read_bytes()).iter("{*}TextLine")}
    assert (
        f"07.xml: TextLine s_p1_l2 (line {at['s_p1_l2']}) left out: it lies wholly outside the page "
        "(its text was: 'ред 2')"
    ) in notes
    assert (
        "07.xml: 1 polygon(s) or baseline(s) reached past the page's edge and were moved onto it: "
        f"TextLine s_p1_l3 (line {at['s_p1_l3']})"
    ) in notes
    manuscript = edition.load("mixed")
    assert [len(page.lines) for page in manuscript.pages] == [2, 2]
    assert manuscript.pages[1].lines[1].boundary[0] == (0, 300)
    assert sorted(p.name for p in (edition.facsimile_dir / "mixed").iterdir()) == [
        "SHA256SUMS",
        "good.png",
        "good2.png",
    ]


def nothing_left(edition, manuscript_id: str) -> bool:
    leftovers = list(edition.facsimile_dir.glob(f"*{manuscript_id}*")) + list(edition.facsimile_dir.glob(".*"))
    return not edition.tei_path(manuscript_id).exists() and not leftovers


def test_when_nothing_can_be_read_nothing_is_imported(edition, tmp_path):
    folder = make_import(tmp_path / "bad", **{"a.xml": page_file(simple_page("gone.png"))})
    with pytest.raises(WorkbenchError, match="(?s)nothing imported .*claims the image gone.png"):
        transfer.import_path(edition, folder, "tester", manuscript_id="bad")
    assert nothing_left(edition, "bad")


def test_a_failure_while_saving_leaves_no_half_import(edition, tmp_path, monkeypatch):
    folder = tmp_path / "crash"
    scan(folder)
    make_import(folder, **{"scan.xml": page_file(simple_page())})
    edition.facsimile_dir.mkdir(parents=True)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("workbench.edition.write_atomically", disk_full)
    with pytest.raises(OSError):
        transfer.import_path(edition, folder, "tester", manuscript_id="crash")
    assert nothing_left(edition, "crash")
    monkeypatch.undo()
    transfer.import_path(edition, folder, "tester", manuscript_id="crash")  # and it can be imported afterwards
    assert len(edition.load("crash").lines()) == 2


def test_the_images_stay_in_the_hidden_folder_until_the_document_is_valid(edition, tmp_path, monkeypatch):
    # Placed before validation, they were left behind (with no TEI) by a signal during it.
    folder = tmp_path / "staged"
    scan(folder)
    make_import(folder, **{"scan.xml": page_file(simple_page())})
    seen_while_validating = []
    check_project = validation.check_project

    def looking(tree, schema_dir=validation.SCHEMA_DIR):
        seen_while_validating.append(sorted(p.name for p in edition.facsimile_dir.iterdir()))
        return check_project(tree, schema_dir)

    monkeypatch.setattr(validation, "check_project", looking)
    transfer.import_path(edition, folder, "tester", manuscript_id="staged")
    assert len(seen_while_validating) == 1
    [names] = seen_while_validating
    assert len(names) == 1 and names[0].startswith(".staged.import-")
    assert sorted(p.name for p in edition.facsimile_dir.iterdir()) == ["staged"]


def test_a_refused_import_names_the_file_element_and_line_it_came_from(edition, tmp_path):
    # A region type with a zero-width space (a format character) is not a TEI subtype;
    # the error named a line of the generated TEI, which no one ever sees.
    folder = tmp_path / "refused"
    folder.mkdir()
    shutil.copy(PAGE_SET / "2.jpg", folder / "2.jpg")
    tree = parse_xml((PAGE_SET / "2.xml").read_bytes())
    region = tree.find(".//p:TextRegion", PAGE_NS)
    region.set("custom", "structure {type:main\u200bcolumn;}")
    tree.write(str(folder / "2.xml"), xml_declaration=True, encoding="UTF-8")
    at = parse_xml((folder / "2.xml").read_bytes()).find(".//p:TextRegion", PAGE_NS).sourceline
    with pytest.raises(InvalidDocument) as refused:
        transfer.import_path(edition, folder, "tester", manuscript_id="refused")
    assert str(refused.value).splitlines()[1:] == [
        f"  2.xml: TextRegion {region.get('id')} (line {at}): attribute subtype is not allowed on <zone> "
        "[workbench.rng]"
    ]
    assert "(nothing was imported)" in str(refused.value)
    assert nothing_left(edition, "refused")


def test_an_existing_manuscript_is_never_overwritten(sample_edition, tmp_path):
    folder = tmp_path / "again"
    scan(folder)
    make_import(folder, **{"scan.xml": page_file(simple_page())})
    before = sample_edition.tei_path("trifonov-sample").read_bytes()
    with pytest.raises(WorkbenchError, match="already exists"):
        transfer.import_path(sample_edition, folder, "tester", manuscript_id="trifonov-sample")
    assert sample_edition.tei_path("trifonov-sample").read_bytes() == before


def test_zips_are_imported_and_unsafe_or_damaged_zips_refused(edition, tmp_path):
    good = tmp_path / "export.zip"
    with zipfile.ZipFile(good, "w") as archive:
        for path in ALTO_SET.iterdir():
            archive.write(path, f"wills/{path.name}")
    assert len(transfer.import_path(edition, good, "tester").pages) == 2
    assert edition.manuscript_ids() == ["export"]

    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../../outside.xml", page_file(simple_page()))
    with pytest.raises(WorkbenchError, match="points outside the archive"):
        transfer.import_path(edition, evil, "tester")
    assert not (tmp_path.parent / "outside.xml").exists()

    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(WorkbenchError, match="cannot be read as a zip file"):
        transfer.import_path(edition, damaged, "tester")
    assert edition.manuscript_ids() == ["export"]


# -- TEI as it is ------------------------------------------------------------------------


def without_whitespace(data: bytes) -> bytes:
    return re.sub(rb">\s+<", b"><", data).strip()


def test_project_tei_comes_in_as_it_is_from_a_folder_and_from_an_export_zip(sample_edition, edition, tmp_path):
    from workbench import metadata

    sample_edition.set_metadata(
        "trifonov-sample",
        {"date": "1890", "hands": "Трифонов", "editors": "Мария Иванова: транскрипция", "licence": "CC-BY-4.0"},
        "tester",
    )
    original = sample_edition.tei_path("trifonov-sample").read_bytes()
    report = transfer.import_path(edition, sample_edition.tei_path("trifonov-sample"), "tester")
    assert report.manuscript_id == "trifonov-sample"
    assert without_whitespace(edition.tei_path("trifonov-sample").read_bytes()) == without_whitespace(original)
    assert metadata.as_text(edition.load("trifonov-sample")) == metadata.as_text(sample_edition.load("trifonov-sample"))
    assert {e.source for e in edition.journal.entries("trifonov-sample")} == {"import:tei"}
    exported = transfer.export(edition, "trifonov-sample", tmp_path / "out", ("tei",))[0]
    assert without_whitespace(exported.read_bytes()) == without_whitespace(original)

    archive = transfer.export_zip(sample_edition, "trifonov-sample", tmp_path / "sample.zip")
    elsewhere = type(edition)(tmp_path / "elsewhere")
    transfer.import_path(elsewhere, archive, "tester")
    assert without_whitespace(elsewhere.tei_path("trifonov-sample").read_bytes()) == without_whitespace(original)
    for image in ("001.jpg", "002.png"):
        assert (elsewhere.facsimile_dir / "trifonov-sample" / image).read_bytes() == (
            sample_edition.facsimile_dir / "trifonov-sample" / image
        ).read_bytes()


def test_tei_that_is_not_valid_or_lacks_its_images_is_refused_whole(sample_edition, edition, tmp_path):
    folder = tmp_path / "tei-only" / "tei"
    folder.mkdir(parents=True)
    shutil.copy(sample_edition.tei_path("trifonov-sample"), folder)
    with pytest.raises(WorkbenchError, match="claims the image 001.jpg"):
        transfer.import_path(edition, folder.parent, "tester")
    assert nothing_left(edition, "trifonov-sample")
    broken = sample_edition.tei_path("trifonov-sample").read_bytes().replace(b'type="line"', b'type="squiggle"', 1)
    (folder / "trifonov-sample.xml").write_bytes(broken)
    with pytest.raises(InvalidDocument, match="not valid project TEI"):
        transfer.import_path(edition, folder / "trifonov-sample.xml", "tester")
    assert nothing_left(edition, "trifonov-sample")


# -- export ------------------------------------------------------------------------------


def test_plain_text_as_written_and_normalised(edition):
    from tests.builders import make_manuscript

    manuscript = make_manuscript()
    manuscript.pages[0].lines[
        1
    ].text = '<choice><abbr>Бгъ</abbr><expan>Богъ</expan></choice> <del>зло</del><add place="above">добро</add>'
    manuscript.pages[0].lines[2].text = "   "
    assert transfer.plain_text(manuscript, reading=False) == "Живъ е той\nБгъ злодобро\n\n\f"
    assert transfer.plain_text(manuscript, reading=True) == "Живъ е той\nБогъ добро\n\n\f"


def test_an_invalid_tei_export_is_refused_and_nothing_is_written(sample_edition, tmp_path, monkeypatch):
    problem = validation.Problem(3, "element foo not allowed here", "tei_all")
    monkeypatch.setattr(validation, "check_tei_all", lambda tree, schema_dir=None: [problem])
    with pytest.raises(InvalidDocument, match="nothing was written"):
        transfer.export(sample_edition, "trifonov-sample", tmp_path / "out")
    with pytest.raises(InvalidDocument):
        transfer.export_zip(sample_edition, "trifonov-sample", tmp_path / "out.zip")
    assert not (tmp_path / "out").exists() and list(tmp_path.glob("*out.zip*")) == []


def test_cli_import_and_export(run, edition, tmp_path):
    result = run("import", str(PAGE_SET), "--id", "forais", "--title", "Forais")
    assert result.exit_code == 0, result.output
    assert "page 1: 2.xml (PAGE 2019) + 2.jpg, 26 line(s)" in result.output
    assert "Imported 2 page(s) as forais" in result.output
    result = run("export", "forais", "--format", "alto", "--format", "text", "--to", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.*")) == [
        "alto/0001_2.xml",
        "alto/0002_11.xml",
        "text/forais-diplomatic.txt",
        "text/forais-reading.txt",
    ]
    result = run("export", "forais", "--zip", str(tmp_path / "forais.zip"))
    assert result.exit_code == 0 and zipfile.is_zipfile(tmp_path / "forais.zip")
    result = run("export", "forais")
    assert result.exit_code == 2 and "either --to FOLDER or --zip FILE" in result.output


# -- fidelity: spaces, page order, line types and the source tool's ids ----------------------

LAT_SET = GROUND_TRUTH / "alto4-cremma-medieval-lat"
ALTO_NS = {"a": layout_files.ALTO_4}


def texts_in(data: bytes) -> list[str]:
    """The lines' texts exactly as a PAGE or ALTO file holds them (read with lxml, not our reader)."""
    root = parse_xml(data).getroot()
    if root.tag == f"{{{layout_files.ALTO_4}}}alto":
        return [string.get("CONTENT") for string in root.iterfind(".//a:TextLine/a:String", ALTO_NS)]
    page_ns = {"p": etree.QName(root).namespace}
    return [unicode.text for unicode in root.iterfind(".//p:TextLine/p:TextEquiv/p:Unicode", page_ns)]


@pytest.mark.parametrize("kind", ["page", "alto"])
def test_spaces_at_the_ends_of_lines_come_back_out_byte_for_byte(edition, tmp_path, kind):
    """387 of 499 lines of a real eScriptorium export end in a space: import → TEI → export keeps them."""
    page = simple_page(lines=4)
    texts = ["ред 1 ", " ред 2", "ред  3 ", "ред 4"]
    for line, text in zip(page.lines, texts, strict=True):
        line.text = text
    data = (
        layout_files.page_xml(page, lambda line: line.text)
        if kind == "page"
        else layout_files.alto_xml(page, lambda line: line.text)
    )
    assert texts_in(data) == texts
    folder = tmp_path / "spaces"
    scan(folder)
    make_import(folder, **{"scan.xml": data})
    transfer.import_path(edition, folder, "tester", manuscript_id="spaces")
    assert [line.text for line in type(edition)(edition.root).load("spaces").lines()] == texts  # as on disk
    for out in ("page", "page2013", "alto"):
        (exported,) = export_layouts(edition, "spaces", out, tmp_path)
        assert texts_in(exported.read_bytes()) == texts, out
    # Spaces that markup left out at an end would leave are not the line's own: they do not go out.
    editing_line = edition.load("spaces").pages[0].lines[3]

    transcription.save_line(
        edition,
        "spaces",
        editing_line.id,
        "ред 4 <supplied>5</supplied>",
        transcription.line_version(editing_line),
        "maria",
    )
    (exported,) = export_layouts(edition, "spaces", kind, tmp_path / "again")
    assert texts_in(exported.read_bytes())[3] == "ред 4"


def test_a_typed_line_keeps_its_spaces_and_search_ignores_them(edition):
    """An editor's save keeps what the person typed, spaces at the ends included; the line
    read back from disk is the one saved (same version: no false conflict after a reload)."""
    from tests.builders import make_manuscript
    from workbench.search import index as search_index
    from workbench.search.indexing import Indexer
    from workbench.tei import shorthand

    edition.create(make_manuscript("typed"), who="tester")
    line = edition.load("typed").pages[0].lines[1]
    typed = "пѫть {къ|къмъ} "
    saved = transcription.save_line(
        edition, "typed", line.id, shorthand.to_tei(typed), transcription.line_version(line), "ivan"
    )
    assert saved.text.endswith("</choice> ")
    reloaded = type(edition)(edition.root).load("typed").pages[0].lines[1]
    assert reloaded.text == saved.text and transcription.line_version(reloaded) == transcription.line_version(saved)
    assert shorthand.from_tei(reloaded.text) == typed
    edition.set_published("typed", True, "tester")
    indexer = Indexer(edition)
    indexer.catch_up()
    assert [hit.line_id for hit in indexer.index.search(search_index.Query("пѫть", exact=True)).hits] == [line.id]


def test_page_order_survives_export_and_import_when_image_names_sort_otherwise(edition, tmp_path):
    """A manuscript whose image names sort in another order than its pages (cover, f10r before f9v…)."""
    images = ["cover.png", "f9v.png", "f10r.png", "2.png", "11.png", "a.png"]
    folder = tmp_path / "unordered"
    for k, image in enumerate(images):
        scan(folder, image)
        page = simple_page(image, lines=1)
        page.lines[0].text = f"page {k + 1}"
        make_import(folder, **{f"{k:02}.xml": page_file(page)})
    transfer.import_path(edition, folder, "tester", manuscript_id="ordered")
    manuscript = edition.load("ordered")
    assert [page.image for page in manuscript.pages] == images
    assert sorted(images, key=lambda name: transfer.natural_order(Path(name))) != images  # the point of the test
    for kind in ("page", "alto"):
        archive = transfer.export_zip(edition, "ordered", tmp_path / f"{kind}.zip", (kind,))
        elsewhere = type(edition)(tmp_path / f"elsewhere-{kind}")
        transfer.import_path(elsewhere, archive, "tester", manuscript_id="again")
        again = elsewhere.load("again")
        assert [page.image for page in again.pages] == images, kind
        assert [diplomatic_text(line.text) for line in again.lines()] == [f"page {k}" for k in range(1, 7)]
        for page in again.pages:
            assert (elsewhere.facsimile_dir / "again" / page.image).is_file()


METS_FILE = """<mets xmlns="http://www.loc.gov/METS/" xmlns:xlink="http://www.w3.org/1999/xlink">
  <fileSec>
    <fileGrp USE="image">{images}</fileGrp>
    <fileGrp USE="export">{exports}</fileGrp>
  </fileSec>
  <structMap TYPE="physical"><div TYPE="document">{pages}</div></structMap>
</mets>"""


def mets(order: list[str]) -> bytes:
    """A METS file as eScriptorium exports one: images and PAGE files, a page div for each, in page order."""
    images = "".join(f'<file ID="i{k}"><FLocat xlink:href="{name}.png"/></file>' for k, name in enumerate(order))
    exports = "".join(f'<file ID="x{k}"><FLocat xlink:href="{name}.xml"/></file>' for k, name in enumerate(order))
    pages = "".join(f'<div TYPE="page"><fptr FILEID="i{k}"/><fptr FILEID="x{k}"/></div>' for k in range(len(order)))
    return METS_FILE.format(images=images, exports=exports, pages=pages).encode()


def test_the_page_order_of_a_mets_file_is_honoured(edition, tmp_path):
    folder = tmp_path / "escriptorium-export"
    names = ["verso", "recto", "flyleaf", "extra"]
    for name in names:
        scan(folder, f"{name}.png")
        page = simple_page(f"{name}.png", lines=1)
        page.lines[0].text = name
        make_import(folder, **{f"{name}.xml": page_file(page)})
    make_import(folder, **{"METS.xml": mets(["recto", "verso", "flyleaf"])})
    report = transfer.import_path(edition, folder, "tester", manuscript_id="mets")
    assert report.skipped == []  # the METS file is no page
    assert report.notes == ["extra.xml: not in METS.xml, put after the pages it lists"]
    assert [page.image for page in edition.load("mets").pages] == ["recto.png", "verso.png", "flyleaf.png", "extra.png"]
    # Without the METS file: the order of the file names.
    (folder / "METS.xml").unlink()
    transfer.import_path(edition, folder, "tester", manuscript_id="names")
    assert [page.image for page in edition.load("names").pages] == [f"{name}.png" for name in sorted(names)]


def test_line_types_and_ids_of_real_escriptorium_alto_go_back_out_unchanged(edition, tmp_path):
    """CREMMA's ALTO (eScriptorium exports): SegmOnto line types (HeadingLine, DefaultLine) as TAGREFS, and ids."""
    report = transfer.import_path(edition, LAT_SET, "tester", manuscript_id="lat")
    manuscript = edition.load("lat")
    originals = sorted(LAT_SET.glob("*.xml"), key=transfer.natural_order)
    kinds = [line.kind for layout in map(layout_of, originals) for line in layout.lines]
    assert {"HeadingLine", "DefaultLine"} <= set(kinds)
    assert [line.kind for line in manuscript.lines()] == kinds
    regions, lines = zip(*map(file_ids, map(layout_of, originals)), strict=True)
    assert [line.source_id for line in manuscript.lines()] == [i for ids in lines for i in ids]
    assert [r.source_id for page in manuscript.pages for r in page.regions] == [i for ids in regions for i in ids]
    assert [line.id for line in manuscript.lines()[:2]] == ["lat_p1_l1", "lat_p1_l2"]  # the workbench's own
    assert edition.problems("lat", tei_all=True) == []
    for kind in ("alto", "page"):
        exported = export_layouts(edition, "lat", kind, tmp_path)
        assert [file_ids(layout_of(p)) for p in exported] == [file_ids(layout_of(p)) for p in originals], kind
        assert [summary(layout_of(p)) for p in exported] == [summary(layout_of(p)) for p in originals], kind
    heading = next(line for line in manuscript.lines() if line.kind == "HeadingLine")
    data = next(p for p in export_layouts(edition, "lat", "page", tmp_path) if heading.source_id in p.read_text())
    assert f'<TextLine id="{heading.source_id}" custom="readingOrder {{index:' in data.read_text()
    assert "structure {type:HeadingLine;}" in data.read_text()
    assert len(report.pages) == 2


def test_lines_made_in_the_workbench_go_out_with_the_workbench_id(edition, tmp_path):
    from workbench.layout import corrections

    transfer.import_path(edition, PAGE_SET, "tester", manuscript_id="forais")
    line = edition.load("forais").pages[0].lines[0]
    assert (line.kind, line.source_id) == ("default", "eSc_line_4f950f30")
    words = line.text.split(" ")
    left, right = corrections.split_line(
        edition,
        "forais",
        line.id,
        (" ".join(words[:5]), " ".join(words[5:])),
        "maria",
        transcription.line_version(line),
    )
    assert (left.source_id, right.source_id, right.kind) == ("eSc_line_4f950f30", None, "default")
    for kind in ("page", "alto"):
        first = layout_of(export_layouts(edition, "forais", kind, tmp_path)[0])
        assert [first.lines[0].id, first.lines[1].id] == ["eSc_line_4f950f30", right.id], kind
        assert first.lines[1].kind == "default"


def test_unusable_or_repeated_source_ids_give_way_to_the_workbench_ids():
    page = simple_page(lines=3)
    page.regions[0].source_id = "region 1"  # not an XML id
    page.lines[0].source_id = page.lines[1].source_id = "eSc_line_a"  # a copy: the second gives way
    page.lines[2].source_id = page.lines[0].id  # another line's workbench id, taken first
    for data in WRITERS["page"](page, lambda line: line.text), WRITERS["alto"](page, lambda line: line.text):
        assert validation.check_layout_xml(parse_xml(data)) == []
        regions, lines = file_ids(layout_files.read_layout(data, "ids"))
        assert regions == [page.regions[0].id]
        assert lines == ["eSc_line_a", page.lines[1].id, page.lines[0].id]
