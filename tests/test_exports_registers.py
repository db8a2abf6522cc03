"""The registers and the bibliography go with the manuscript: beside its TEI in a TEI export
(so ``@ref="register.xml#key"`` resolves), and in the deposit package; the tagging is kept."""

from __future__ import annotations

import shutil
from pathlib import Path

import bagit
import pytest
from lxml import etree

from tests.builders import REPO
from workbench import deposit
from workbench.bibliography import Bibliography, Entry
from workbench.edition import Edition
from workbench.exchange import transfer
from workbench.register import Register
from workbench.tei import validation
from workbench.tei.shorthand import to_tei
from workbench.transcription import line_version, save_line

MS = "trifonov-sample"
NS = {"mets": deposit.METS, "xlink": deposit.XLINK}


@pytest.fixture
def tagged(tmp_path: Path) -> Edition:
    """The sample edition (with its register), a bibliography entry, and a line naming both."""
    root = tmp_path / "edition"
    root.mkdir()
    shutil.copytree(REPO / "tei", root / "tei")
    shutil.copytree(REPO / "facsimiles", root / "facsimiles")
    edition = Edition(root)
    assert Register(edition).get("trifonov").name == "Трифон Цанев Трифонов"
    Bibliography(edition).add([Entry(title="Примерно заглавие (за теста)")], "tester")
    line = edition.read(MS, "1").pages[0].lines[1]
    save_line(edition, MS, line.id, to_tei("{@Трифонъ|trifonov} и {~заглавието|b001}"), line_version(line), "tester")
    return edition


def test_a_tei_export_keeps_the_tagging_and_carries_the_register_and_bibliography(tagged: Edition, tmp_path: Path):
    written = transfer.export(tagged, MS, tmp_path / "out", ("tei",))
    names = sorted(path.relative_to(tmp_path / "out").as_posix() for path in written)
    assert names == ["tei/bibliography.xml", "tei/register.xml", f"tei/{MS}.xml"]
    assert (tmp_path / "out/tei/register.xml").read_bytes() == Register(tagged).path.read_bytes()
    tei = etree.parse(str(tmp_path / "out" / "tei" / f"{MS}.xml"))
    ns = {"tei": "http://www.tei-c.org/ns/1.0"}
    assert tei.xpath("//tei:body//tei:persName/@ref", namespaces=ns) == ["register.xml#trifonov"]
    assert tei.xpath("//tei:body//tei:title/@ref", namespaces=ns) == ["bibliography.xml#b001"]
    # Each ref resolves to an xml:id of the file beside it.
    register = etree.parse(str(tmp_path / "out/tei/register.xml"))
    assert register.xpath("//*[@xml:id='trifonov']")
    # An export zip imports back as one manuscript: the register and bibliography are not one.
    archive = transfer.export_zip(tagged, MS, tmp_path / "ms.zip", ("tei",), images=True)
    other = Edition(tmp_path / "other")
    report = transfer.import_path(other, archive, "tester")
    assert report.manuscript_id == MS and other.manuscript_ids() == [MS]
    assert not (other.tei_dir / "register.xml").exists()


def test_an_invalid_register_stops_the_export(tagged: Edition, tmp_path: Path):
    path = Register(tagged).path
    path.write_bytes(path.read_bytes().replace(b"<listPlace>", b"<listPlace><bogus/>"))
    with pytest.raises(validation.InvalidDocument, match="tei/register.xml"):
        transfer.export(tagged, MS, tmp_path / "out", ("tei",))


def test_the_deposit_package_carries_them_and_a_restore_leaves_the_edition_s_own(tagged: Edition, tmp_path: Path):
    report = deposit.package(tagged, MS, tmp_path / "bag")
    bag = bagit.Bag(str(report.bag))
    assert bag.validate(processes=1)
    data = report.bag / "data"
    for name in ("register.xml", "bibliography.xml"):
        assert (data / "tei" / name).read_bytes() == (tagged.tei_dir / name).read_bytes()
    mets = etree.parse(str(data / "mets.xml"))
    assert validation.check_mets(mets) == []
    uses = {
        file.find("mets:FLocat", NS).get(f"{{{deposit.XLINK}}}href"): file.getparent().get("USE")
        for file in mets.iterfind(".//mets:file", NS)
    }
    assert uses["tei/register.xml"] == uses["tei/bibliography.xml"] == "REGISTERS"
    assert uses[f"tei/{MS}.xml"] == "TRANSCRIPTION"
    empty = Edition(tmp_path / "empty")
    restored = deposit.restore(empty, report.bag, "tester")
    assert restored.manuscript_id == MS and empty.manuscript_ids() == [MS]
    assert not (empty.tei_dir / "register.xml").exists()
    line = empty.read(MS, "1").pages[0].lines[1]
    assert 'ref="register.xml#trifonov"' in line.text
