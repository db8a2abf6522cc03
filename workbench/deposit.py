"""Deposit packages: a manuscript as a BagIt bag for the library's digital archive, and back.

``package`` writes a bag (RFC 8493, with the Library of Congress ``bagit`` package)
whose payload is the manuscript in the edition's own layout, so that the TEI's image
links work inside the bag::

    data/facsimiles/<id>/      the masters as they are, and their SHA256SUMS
    data/tei/<id>.xml          the TEI, byte for byte as in the edition
    data/tei/register.xml      the edition's registers and bibliography, which the TEI's names
    data/tei/bibliography.xml  point into (``@ref="register.xml#key"``), where the edition has them
    data/page/*.xml            PAGE XML 2019, one file per page (exports)
    data/alto/*.xml            ALTO v4, one file per page (exports)
    data/journal/<id>.jsonl    the edit journal
    data/review/<id>/*.jsonl   the review and comment logs, one per page (if any)
    data/mets.xml              METS 1.12.1 describing all of the above

``restore`` brings a bag back into an edition, all or nothing, after bagit has checked
every file against the bag's manifests.

The METS file: a ``dmdSec`` pointing at the TEI header (and a few Dublin Core fields);
one ``techMD`` per master image in the workbench's own small vocabulary (namespace
``IMAGE_NAMESPACE``, elements below); file groups by use (``FILE_GROUPS``), each file
with its size and SHA-256; and a physical ``structMap``, one ``div`` per page with
pointers to its master, its PAGE and ALTO files and its ``surface`` in the TEI.

Image technical metadata (``<img:image>``, one per master)::

    format         Pillow's name of the file format: JPEG, PNG, TIFF
    mimeType       image/jpeg, image/png, image/tiff
    width, height  pixels (of the first frame)
    frames         pages in the file (more than one for a multi-page TIFF)
    colourMode     Pillow's mode: 1 (bilevel), L (grey), P (palette), RGB, RGBA, CMYK, I;16 ...
    bitsPerSample  bits per sample of that mode
    resolution     @x, @y in pixels per inch, only if the file records a resolution
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import tempfile
import tomllib
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from pathlib import Path

import bagit
from lxml import etree
from PIL import Image

from workbench.edition import CHECKSUMS, Edition
from workbench.exchange import transfer
from workbench.images import facsimile
from workbench.model import Change, Manuscript, WorkbenchError, check_manuscript_id
from workbench.tei import codec, validation
from workbench.tei.xml import parse_xml

METS = "http://www.loc.gov/METS/"
XLINK = "http://www.w3.org/1999/xlink"
DC = "http://purl.org/dc/elements/1.1/"
IMAGE_NAMESPACE = "urn:workbench:image-metadata:1"
NSMAP = {"mets": METS, "xlink": XLINK, "dc": DC}
METS_FILE = "mets.xml"
BAG_CHECKSUMS = ["sha256", "sha512"]  # bagit's default pair: two algorithms, for the archive's own tools
# METS fileGrp/@USE for each folder of the payload.
FILE_GROUPS = {
    "facsimiles": "MASTER",
    "tei": "TRANSCRIPTION",
    "page": "DERIVATIVE-PAGE",
    "alto": "DERIVATIVE-ALTO",
    "journal": "PROVENANCE",
    "review": "PROVENANCE",
}
MIME_TYPES = {
    "tei": "application/tei+xml",
    "page": "application/vnd.prima.page+xml",
    "alto": "application/xml",
    "journal": "application/x-ndjson",
    "review": "application/x-ndjson",
}
BITS_PER_SAMPLE = {"1": 1, "L": 8, "P": 8, "LA": 8, "RGB": 8, "RGBA": 8, "CMYK": 8, "YCbCr": 8, "I;16": 16}


@dataclass
class DepositSettings:
    """What ``bag-info.txt`` says of the depositing library (workbench.toml, ``[deposit]``)."""

    organization: str = "Регионална библиотека „Любен Каравелов“ – Русе"
    address: str = "Русе, България"
    contact_name: str | None = None
    contact_email: str | None = None
    contact_phone: str | None = None

    @classmethod
    def of(cls, edition: Edition) -> DepositSettings:
        path = edition.root / "workbench.toml"
        if not path.exists():
            return cls()
        try:
            with open(path, "rb") as file:
                table = tomllib.load(file).get("deposit", {})
        except tomllib.TOMLDecodeError as error:
            raise WorkbenchError(f"{path} cannot be read: {error}") from None
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(table) - known)
        if unknown:
            raise WorkbenchError(
                f"{path} [deposit]: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        wrong = sorted(name for name, value in table.items() if not isinstance(value, str))
        if wrong:
            raise WorkbenchError(f"{path} [deposit]: {', '.join(wrong)} must be text in quotes")
        return cls(**table)


@dataclass
class PackageReport:
    bag: Path
    files: int  # payload files, the METS file included
    bytes: int
    pages: int


@dataclass
class RestoreReport:
    manuscript_id: str
    pages: int
    images: int
    journal_entries: int
    published: bool


def software_agent() -> str:
    try:
        version = importlib.metadata.version("workbench")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return f"workbench {version} (bagit.py {bagit.VERSION})"


# -- package ---------------------------------------------------------------------------


def package(
    edition: Edition, manuscript_id: str, target: Path, settings: DepositSettings | None = None
) -> PackageReport:
    """Write the manuscript as a BagIt bag in the new folder ``target``.

    The bag is built in a hidden folder beside ``target`` and renamed into place when
    complete: ``target`` is a whole bag or nothing. Refused (nothing written) when the
    TEI is not valid against the project schema and tei_all, or when a master no longer
    matches its checksum in SHA256SUMS (a damaged master must not be preserved as if whole).
    """
    settings = settings or DepositSettings.of(edition)
    target = Path(target).absolute()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise WorkbenchError(f"{target} already exists; give a new folder for the package")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.package-"))
    try:
        tei, manuscript = _gather(edition, manuscript_id, staging)
        tree = parse_xml(tei, f"tei/{manuscript_id}.xml")
        problems = validation.check_project(tree, edition.schema_dir) + validation.check_tei_all(
            tree, edition.schema_dir
        )
        if problems:
            raise validation.InvalidDocument(f"the TEI of {manuscript_id} (no package was written)", problems)
        mets = mets_document(manuscript, staging, settings)
        problems = validation.check_mets(mets, edition.schema_dir)
        if problems:
            raise validation.InvalidDocument(f"the METS file of {manuscript_id} (no package was written)", problems)
        (staging / METS_FILE).write_bytes(etree.tostring(mets, xml_declaration=True, encoding="UTF-8"))
        info = _bag_info(manuscript, settings)
        # make_bag changes the process's working folder while it runs (bagit.py does so).
        bag = bagit.make_bag(str(staging), info, processes=1, checksums=BAG_CHECKSUMS)
        payload = [staging / name for name in bag.payload_files()]
        files, size = len(payload), sum(path.stat().st_size for path in payload)
        if target.exists():
            target.rmdir()
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return PackageReport(target, files, size, len(manuscript.pages))


def _gather(edition: Edition, manuscript_id: str, staging: Path) -> tuple[bytes, Manuscript]:
    """Copy the manuscript's files into ``staging`` in the edition's layout; its TEI and model.

    The TEI, journal, review logs and exports are taken under the manuscript's lock, so
    they agree with each other (a save between them would not).
    """
    manuscript_id = check_manuscript_id(manuscript_id)
    folder = edition.facsimile_dir / manuscript_id
    with edition.lock(manuscript_id):
        tei_path = edition.require(manuscript_id)
        tei = tei_path.read_bytes()
        manuscript = codec.parse_manuscript(tei, f"tei/{manuscript_id}.xml")
        _write(staging / "tei" / f"{manuscript_id}.xml", tei)
        for name, data in transfer.edition_files(edition):
            _write(staging / name, data)
        transfer.export(edition, manuscript_id, staging, ("page", "alto"))
        journal = edition.journal.path(manuscript_id)
        if journal.exists():
            _write(staging / "journal" / journal.name, journal.read_bytes())
        for log in sorted((edition.review_dir / manuscript_id).glob("*.jsonl")):
            _write(staging / "review" / manuscript_id / log.name, log.read_bytes())
        sums = folder / CHECKSUMS
        if not sums.exists():
            raise WorkbenchError(f"{sums} is missing: the masters cannot be checked, so they are not packaged")
        sums_data = sums.read_bytes()
    checksums = _parse_checksums(sums_data)
    unlisted = sorted({page.image for page in manuscript.pages} - set(checksums))
    if unlisted:
        raise WorkbenchError(f"{sums} lists no checksum for {', '.join(unlisted)}; no package was written")
    masters = staging / "facsimiles" / manuscript_id
    masters.mkdir(parents=True)
    # Masters are only ever added, never changed: copying them outside the lock is safe,
    # and checking each copy against SHA256SUMS catches one that was damaged.
    for name, digest in checksums.items():
        source = folder / name
        if not source.is_file():
            raise WorkbenchError(f"{source} is listed in {CHECKSUMS} but missing; no package was written")
        shutil.copyfile(source, masters / name)
        if facsimile.sha256(masters / name) != digest:
            raise WorkbenchError(
                f"{source} does not match its checksum in {CHECKSUMS}: the master was changed or damaged "
                "(restore it from a backup); no package was written"
            )
    (masters / CHECKSUMS).write_bytes(sums_data)
    return tei, manuscript


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _parse_checksums(data: bytes) -> dict[str, str]:
    checksums = {}
    for row in data.decode("utf-8").splitlines():
        digest, _, name = row.partition("  ")
        if name:
            checksums[name] = digest
    return checksums


def _bag_info(manuscript: Manuscript, settings: DepositSettings) -> dict[str, str]:
    info = {
        "Source-Organization": settings.organization,
        "Organization-Address": settings.address,
        "Contact-Name": settings.contact_name,
        "Contact-Phone": settings.contact_phone,
        "Contact-Email": settings.contact_email,
        "External-Identifier": manuscript.id,
        "External-Description": manuscript.title,
        "Internal-Sender-Identifier": manuscript.shelfmark,
        "Bagging-Date": date.today().isoformat(),
        "Bag-Software-Agent": software_agent(),
    }
    return {name: value for name, value in info.items() if value}


# -- METS ------------------------------------------------------------------------------


def mets_document(manuscript: Manuscript, payload: Path, settings: DepositSettings) -> etree._ElementTree:
    """The METS file for the files under ``payload`` (the bag's data/ folder, before bagging)."""
    m = _maker(METS)
    root = etree.Element(m("mets"), nsmap=NSMAP, OBJID=manuscript.id, LABEL=manuscript.title, TYPE="Manuscript")
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    header = etree.SubElement(root, m("metsHdr"), CREATEDATE=now)
    agent = etree.SubElement(header, m("agent"), ROLE="CREATOR", TYPE="ORGANIZATION")
    etree.SubElement(agent, m("name")).text = settings.organization
    agent = etree.SubElement(header, m("agent"), ROLE="CREATOR", TYPE="OTHER", OTHERTYPE="SOFTWARE")
    etree.SubElement(agent, m("name")).text = software_agent()
    if manuscript.shelfmark:
        etree.SubElement(header, m("altRecordID"), TYPE="shelfmark").text = manuscript.shelfmark

    tei_href = f"tei/{manuscript.id}.xml"
    dmd = etree.SubElement(root, m("dmdSec"), ID="DMD-TEI")
    etree.SubElement(
        dmd,
        m("mdRef"),
        {f"{{{XLINK}}}href": tei_href},
        LOCTYPE="URL",
        MDTYPE="TEIHDR",
        MIMETYPE=MIME_TYPES["tei"],
        LABEL="teiHeader",
    )
    dmd = etree.SubElement(root, m("dmdSec"), ID="DMD-DC")
    xml_data = etree.SubElement(etree.SubElement(dmd, m("mdWrap"), MDTYPE="DC"), m("xmlData"))
    dc = _maker(DC)
    for name, value in (
        ("title", manuscript.title),
        ("creator", manuscript.author),
        ("date", manuscript.date),
        ("language", manuscript.language),
        ("identifier", manuscript.shelfmark),
        ("identifier", manuscript.id),
        ("publisher", manuscript.repository),
        ("rights", manuscript.licence),
    ):
        if value:
            etree.SubElement(xml_data, dc(name)).text = value

    # Every master in the folder (SHA256SUMS may list one no page uses yet: it is preserved too).
    images = sorted(path.name for path in (payload / "facsimiles" / manuscript.id).iterdir() if path.name != CHECKSUMS)
    amd = etree.SubElement(root, m("amdSec"), ID="AMD")
    file_ids: dict[str, str] = {}
    for number, image in enumerate(images, start=1):
        file_ids[f"facsimiles/{manuscript.id}/{image}"] = f"MASTER-{number:04}"
        tech = etree.SubElement(amd, m("techMD"), ID=f"TECH-{number:04}")
        wrap = etree.SubElement(tech, m("mdWrap"), MDTYPE="OTHER", OTHERMDTYPE="workbench-image", LABEL=image)
        etree.SubElement(wrap, m("xmlData")).append(image_metadata(payload / "facsimiles" / manuscript.id / image))

    files = sorted(path for path in payload.rglob("*") if path.is_file() and path.name != METS_FILE)
    file_sec = etree.SubElement(root, m("fileSec"))
    # In this order: what is preserved first, then what was made from it.
    uses = [
        "MASTER",
        "TRANSCRIPTION",
        "REGISTERS",
        "DERIVATIVE-PAGE",
        "DERIVATIVE-ALTO",
        "PROVENANCE",
        "FIXITY",
        "OTHER",
    ]
    groups = {use: etree.SubElement(file_sec, m("fileGrp"), USE=use) for use in uses}
    counters: dict[str, int] = {}
    for path in files:
        href = path.relative_to(payload).as_posix()
        folder = href.split("/", 1)[0]
        use = FILE_GROUPS.get(folder, "OTHER")
        if path.name == CHECKSUMS:
            use = "FIXITY"
        elif folder == "tei" and path.name in transfer.EDITION_FILES:
            use = "REGISTERS"
        counters[use] = counters.get(use, 0) + 1
        file_id = file_ids.setdefault(href, f"{use}-{counters[use]:04}")
        attributes = {
            "ID": file_id,
            "MIMETYPE": _mime_type(path, folder),
            "SIZE": str(path.stat().st_size),
            "CHECKSUM": facsimile.sha256(path),
            "CHECKSUMTYPE": "SHA-256",
        }
        if use == "MASTER" and path.name in images:
            attributes["ADMID"] = f"TECH-{images.index(path.name) + 1:04}"
        file = etree.SubElement(groups[use], m("file"), attributes)
        etree.SubElement(file, m("FLocat"), {f"{{{XLINK}}}href": href}, LOCTYPE="URL")

    for group in groups.values():
        if len(group) == 0:
            file_sec.remove(group)

    layout_names = {path.relative_to(payload).as_posix() for path in files}
    struct_map = etree.SubElement(root, m("structMap"), TYPE="PHYSICAL", LABEL="Pages")
    whole = etree.SubElement(
        struct_map, m("div"), TYPE="manuscript", LABEL=manuscript.title, DMDID="DMD-TEI DMD-DC", ID="DIV-0000"
    )
    etree.SubElement(whole, m("fptr"), FILEID=file_ids[tei_href])
    names = transfer._layout_names(manuscript.pages)  # the names export gave the PAGE and ALTO files
    for order, page in enumerate(manuscript.pages, start=1):
        label = f"page {page.n}" + ("" if page.frame is None else f" (frame {page.frame + 1} of {page.image})")
        div = etree.SubElement(
            whole, m("div"), TYPE="page", ID=f"DIV-{order:04}", ORDER=str(order), ORDERLABEL=page.n, LABEL=label
        )
        etree.SubElement(div, m("fptr"), FILEID=file_ids[f"facsimiles/{manuscript.id}/{page.image}"])
        for kind in ("page", "alto"):
            href = f"{kind}/{names[page.id]}.xml"
            if href in layout_names:
                etree.SubElement(div, m("fptr"), FILEID=file_ids[href])
        pointer = etree.SubElement(div, m("fptr"))
        etree.SubElement(pointer, m("area"), FILEID=file_ids[tei_href], BETYPE="IDREF", BEGIN=page.id)
    return etree.ElementTree(root)


def image_metadata(path: Path) -> etree._Element:
    """``<img:image>`` for one master (the vocabulary is in this module's docstring)."""
    img = _maker(IMAGE_NAMESPACE)
    with Image.open(path) as image:
        element = etree.Element(img("image"), nsmap={"img": IMAGE_NAMESPACE})
        values = (
            ("format", image.format),
            ("mimeType", Image.MIME.get(image.format, "application/octet-stream")),
            ("width", image.width),
            ("height", image.height),
            ("frames", getattr(image, "n_frames", 1)),
            ("colourMode", image.mode),
            ("bitsPerSample", BITS_PER_SAMPLE.get(image.mode)),
        )
        for name, value in values:
            if value is not None:
                etree.SubElement(element, img(name)).text = str(value)
        dpi = image.info.get("dpi")
        if dpi and all(float(value) > 0 for value in dpi):
            etree.SubElement(element, img("resolution"), unit="ppi", x=_number(dpi[0]), y=_number(dpi[1]))
    return element


def _number(value: float) -> str:
    return f"{float(value):.2f}".rstrip("0").rstrip(".")


def _mime_type(path: Path, folder: str) -> str:
    if folder == "facsimiles":
        if path.name == CHECKSUMS:
            return "text/plain"
        with Image.open(path) as image:
            return Image.MIME.get(image.format, "application/octet-stream")
    return MIME_TYPES.get(folder, "application/octet-stream")


def _maker(namespace: str):
    return lambda name: f"{{{namespace}}}{name}"


# -- restore ---------------------------------------------------------------------------


def check_bag(path: Path) -> bagit.Bag:
    """The bag at ``path``, every file checked against its manifests; else an error naming the bad files."""
    try:
        bag = bagit.Bag(str(path))
    except bagit.BagError as error:
        raise WorkbenchError(f"{path} is not a BagIt bag ({error}); nothing was restored") from None
    try:
        bag.validate(processes=1)
    except bagit.BagValidationError as error:
        details = list(error.details)
        if not details:
            # The quick count of files and bytes (Payload-Oxum) failed, and it names no file:
            # the full checks (bagit's own, which it skips after that failure) do.
            try:
                bag._validate_completeness()
                bag._validate_entries(1)
            except bagit.BagValidationError as full:
                details = list(full.details)
        said = [str(detail) for detail in details] or [error.message]
        raise WorkbenchError(f"{path} does not validate, nothing was restored:\n  " + "\n  ".join(said)) from None
    except bagit.BagError as error:
        raise WorkbenchError(f"{path} is not a valid bag ({error}); nothing was restored") from None
    return bag


def restore(edition: Edition, path: Path, who: str, manuscript_id: str | None = None) -> RestoreReport:
    """Bring the manuscript of the bag at ``path`` into the edition, under its own id or
    ``manuscript_id``: all of it (TEI, masters, journal, review logs) or nothing.

    Under its own id the TEI, masters, journal and logs come back byte for byte. Under
    another id every id built on the manuscript's (pages, regions, lines) is renamed, in
    the TEI, the journal and the review logs, and the TEI records the copy.
    """
    bag = check_bag(Path(path))
    data = Path(bag.path) / "data"
    # The edition's register and bibliography travel with the manuscript; the edition restored
    # into keeps its own (they are the whole edition's, not the manuscript's).
    teis = sorted(p for p in (data / "tei").glob("*.xml") if p.name not in transfer.EDITION_FILES)
    if len(teis) != 1:
        raise WorkbenchError(f"{path}: a deposit package holds one TEI file in data/tei/, this one {len(teis)}")
    tei = teis[0].read_bytes()
    name = f"data/tei/{teis[0].name}"
    problems = validation.check_project(parse_xml(tei, name), edition.schema_dir)
    if problems:
        raise validation.InvalidDocument(f"{name} in {path} (nothing was restored)", problems)
    manuscript = codec.parse_manuscript(tei, name)
    original = manuscript.id
    images = data / "facsimiles" / original
    listed = _parse_checksums((images / CHECKSUMS).read_bytes()) if (images / CHECKSUMS).exists() else {}
    missing = sorted({page.image for page in manuscript.pages} - set(listed))
    if missing:
        raise WorkbenchError(f"{path}: no master with a checksum for {', '.join(missing)}; nothing was restored")
    journal_path = data / "journal" / f"{original}.jsonl"
    journal = journal_path.read_bytes() if journal_path.exists() else None
    review = {log.name: log.read_bytes() for log in sorted((data / "review" / original).glob("*.jsonl"))}
    new_id = check_manuscript_id(manuscript_id or original)
    if new_id != original:
        _rename(manuscript, new_id)
        manuscript.changes.append(
            Change(_now(), "", f"restored from the deposit package of {original} as {new_id} by {who}")
        )
        tei = codec.document_bytes(manuscript)
        journal = _renamed_log(journal, original, new_id, ("manuscript", "line")) if journal is not None else None
        review = {name: _renamed_log(log, original, new_id, ("line",)) for name, log in review.items()}
    edition.restore_manuscript(new_id, tei, images, journal, review)
    entries = sum(1 for _ in edition.journal.entries(new_id))
    return RestoreReport(new_id, len(manuscript.pages), len(listed), entries, manuscript.published)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _renamed_id(value: str | None, old: str, new: str) -> str | None:
    if value == old:
        return new
    if value and value.startswith(f"{old}_"):
        return new + value[len(old) :]
    return value


def _rename(manuscript: Manuscript, new_id: str) -> None:
    """Give the manuscript ``new_id`` and every page, region and line id built on the old one."""
    old = manuscript.id
    manuscript.id = new_id
    for page in manuscript.pages:
        page.id = _renamed_id(page.id, old, new_id)
        for region in page.regions:
            region.id = _renamed_id(region.id, old, new_id)
        for line in page.lines:
            line.id = _renamed_id(line.id, old, new_id)
            line.region = _renamed_id(line.region, old, new_id)


def _renamed_log(data: bytes, old: str, new: str, keys: tuple[str, ...]) -> bytes:
    """A JSON Lines log with the ids under ``keys`` renamed; other fields and lines that are
    not JSON objects (torn by a crash) are kept as they are."""
    rows = []
    for raw in data.decode("utf-8").splitlines(keepends=True):
        try:
            record = json.loads(raw)
        except ValueError:
            rows.append(raw)
            continue
        if not isinstance(record, dict):
            rows.append(raw)
            continue
        for key in keys:
            if isinstance(record.get(key), str):
                record[key] = _renamed_id(record[key], old, new)
        rows.append(json.dumps(record, ensure_ascii=False) + "\n")
    return "".join(rows).encode("utf-8")
