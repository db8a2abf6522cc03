"""Bringing manuscripts in from other tools and taking them out: import and export.

Import reads a folder, a zip or a single file: PAGE XML or ALTO files with their
images (as eScriptorium and Transkribus export them) become a new manuscript; a
project TEI document (with its images) comes in as it is. Export writes TEI
(checked against the project schema and tei_all first), PAGE XML 2019, ALTO v4 and
plain text, or a zip of all of them with the images. The formats themselves are
codec.py's and formats.py's business; this module finds the files and checks them.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import stat
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from workbench.edition import Edition
from workbench.exchange import layout_files
from workbench.exchange.layout_files import ImportProblem, Note, problem_note
from workbench.files import write_atomically
from workbench.images import facsimile
from workbench.layout.ids import LineIds
from workbench.model import Layout, Line, Manuscript, Page, Region, WorkbenchError, check_manuscript_id
from workbench.review import Reviews
from workbench.tei import codec, validation
from workbench.tei.text import diplomatic_text, reading_text
from workbench.tei.xml import XML_ID, parse_xml

# A zip's declared sizes are checked before anything is unpacked (zip bombs), against
# these limits and against the free space where it is unpacked, less a margin left for
# the edition's own writes (the images are copied into facsimiles/ after unpacking).
MAX_UNPACKED_BYTES = 8 * 1024**3
MAX_FILES = 20_000
FREE_SPACE_MARGIN = 512 * 1024**2
MAX_PAGES = 10_000  # PAGE or ALTO files in one import (a page's own limits are layout_files')
# Where zips are unpacked and uploads kept while they are imported, when not the edition's .workbench/tmp.
TEMPORARY_FOLDER_VARIABLE = "WORKBENCH_IMPORT_TMP"
STALE_AFTER_SECONDS = 24 * 3600  # an import's temporary folder older than this was left by a killed process


def temporary_folder(edition: Edition) -> Path:
    """The folder imports unpack zips into and the browser's uploads are kept in while they
    are imported: ``$WORKBENCH_IMPORT_TMP`` if set, else the edition's ``.workbench/tmp``
    (on the edition's disk, not a small system /tmp). Folders a killed process left there
    more than a day ago are removed on the way."""
    configured = os.environ.get(TEMPORARY_FOLDER_VARIABLE)
    folder = Path(configured) if configured else edition.state_dir / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    for leftover in folder.glob("workbench-*"):
        try:
            if time.time() - leftover.stat().st_mtime > STALE_AFTER_SECONDS:
                shutil.rmtree(leftover, ignore_errors=True)
        except FileNotFoundError:
            pass  # another import's clean-up got there first
    return folder


class UnsafeArchive(WorkbenchError):
    """A zip refused before anything of it is unpacked, because of one of its entries.

    ``reason`` is one of ``UNSAFE_ENTRIES``' keys, for the web view to say in the reader's language.
    """

    def __init__(self, archive: str, entry: str, reason: str):
        self.archive, self.entry, self.reason = archive, entry, reason
        super().__init__(f"{archive}: the entry {entry!r} {UNSAFE_ENTRIES[reason]} (nothing was imported)")


UNSAFE_ENTRIES = {
    "outside": "points outside the archive",
    "link": "is a symbolic link; only plain files and folders are imported",
    "special": "is a device file, pipe or socket; only plain files and folders are imported",
    "twice": "appears twice in the archive",
    "file-and-folder": "is both a file and a folder in the archive",
    "longer": "unpacks to more bytes than the archive declares for it",
}


class NoSpace(WorkbenchError):
    """Not enough free space to unpack a zip (its declared sizes and ``FREE_SPACE_MARGIN``)."""

    def __init__(self, archive: str, needed: int, free: int):
        self.archive, self.needed, self.free = archive, needed, free
        super().__init__(
            f"{archive} unpacks to {needed / 1024**2:,.0f} MB, and {free / 1024**2:,.0f} MB are free where it would "
            f"be unpacked (at least {FREE_SPACE_MARGIN >> 20} MB must stay free); nothing was imported"
        )


@dataclass
class ImportReport:
    manuscript_id: str
    pages: list[str] = field(default_factory=list)  # what each page was made from
    # The same, for an interface to word in its own language: (page number, file, format or
    # "", image, lines).
    sources: list[tuple[str, str, str, str, int]] = field(default_factory=list)
    # Files left out and why, and what was changed on the way in: layout_files.Note, which
    # is its English text and, for an interface, a code with what it names.
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class NothingImported(ImportProblem):
    """No file of an import could be read; ``skipped`` says why, file by file."""

    def __init__(self, source: Path, skipped: list[str]):
        super().__init__(
            "nothing-read", f"nothing imported from {source}: no file could be read\n  " + "\n  ".join(skipped)
        )
        self.skipped = skipped


def import_path(
    edition: Edition,
    source: Path,
    who: str,
    manuscript_id: str | None = None,
    title: str | None = None,
    temporary: Path | None = None,
) -> ImportReport:
    """Import ``source`` (a folder, a zip, or one XML file) as a new manuscript.

    A zip is unpacked into ``temporary`` (by default ``temporary_folder(edition)``).

    A TEI document among the files is imported as it is (its own id, unless
    ``manuscript_id`` agrees); otherwise every PAGE and ALTO file becomes a page, in
    the order a METS file among them gives (eScriptorium exports one), else in the
    order of the files' names.
    """
    source = Path(source)
    if not source.exists():
        raise WorkbenchError(f"{source}: no such file or folder")
    with _unpacked(source, temporary or temporary_folder(edition)) as folder:
        files = sorted((p for p in folder.rglob("*") if p.is_file() and not _hidden(p, folder)), key=natural_order)
        xml = [p for p in files if p.suffix.lower() == ".xml"]
        if source.is_file() and source.suffix.lower() == ".xml":
            xml = [folder / source.name]
        # An export carries the edition's register and bibliography beside the manuscript:
        # they are not a manuscript, and the importing edition keeps its own.
        xml = [p for p in xml if not (p.name in EDITION_FILES and p.parent.name == "tei" and _is_tei(p))]
        teis = [p for p in xml if _is_tei(p)]
        if teis:
            if len(teis) > 1:
                names = ", ".join(str(p.relative_to(folder)) for p in teis)
                raise WorkbenchError(f"{source} holds more than one TEI document ({names}); import them one at a time")
            return _import_tei(edition, teis[0], folder, files, who, manuscript_id)
        if not xml:
            raise ImportProblem("no-xml", f"{source}: no PAGE, ALTO or TEI files (*.xml) to import", file=source.name)
        return _import_layouts(edition, source, folder, xml, files, who, manuscript_id, title)


def _import_layouts(
    edition: Edition,
    source: Path,
    folder: Path,
    xml: list[Path],
    files: list[Path],
    who: str,
    manuscript_id: str | None,
    title: str | None,
) -> ImportReport:
    manuscript_id = check_manuscript_id(manuscript_id or _id_from(source.stem))
    report = ImportReport(manuscript_id)
    manuscript = Manuscript(id=manuscript_id, title=title or source.stem)
    mets = [path for path in xml if _is_mets(path)]
    xml = [path for path in xml if path not in mets]
    if not xml:
        raise ImportProblem(
            "only-mets", f"{source}: a METS file but no PAGE or ALTO files (*.xml) to import", file=source.name
        )
    if len(xml) > MAX_PAGES:
        raise ImportProblem(
            "too-many-pages",
            f"{source.name} holds {len(xml):,} PAGE or ALTO files; one import takes at most {MAX_PAGES:,} pages "
            "(nothing was imported): import the manuscript in parts",
            file=source.name,
            count=len(xml),
            limit=MAX_PAGES,
        )
    if len(mets) == 1:
        xml = _in_mets_order(mets[0], xml, folder, report)
    elif mets:
        names = ", ".join(str(p.relative_to(folder)) for p in mets)
        report.notes.append(
            Note(
                "many-mets",
                f"{len(mets)} METS files ({names}): the pages are in the order of the file names",
                count=len(mets),
                files=names,
            )
        )
    image_files: dict[str, Path] = {}
    formats = set()
    origins: dict[str, str] = {}  # the workbench's ids of pages, regions and lines → where each came from
    # The files of each image, in the order of the files' names (an image's first file places its page).
    by_image: dict[Path, list[tuple[str, Layout, facsimile.ImageInfo]]] = {}
    for path in xml:
        name = str(path.relative_to(folder))
        try:
            layout_files.check_size(path.stat().st_size, name)
            layout = layout_files.read_layout(path.read_bytes(), name)
            image, info = _page_image(
                layout.image,
                (layout.width, layout.height),
                path,
                files,
                name,
                above=source.is_dir() or path.parent != folder,
            )
        except WorkbenchError as error:
            report.skipped.append(problem_note(error))
            continue
        by_image.setdefault(image, []).append((name, layout, info))
    for image, claims in by_image.items():
        # eScriptorium exports a page as PAGE and as ALTO side by side: the PAGE file is
        # taken, the ALTO file left aside; two files of one format for one image are a conflict.
        name, layout, info = next((claim for claim in claims if _is_page(claim[1])), claims[0])
        for other, other_layout, _ in claims:
            if other == name:
                continue
            if _is_page(other_layout) != _is_page(layout):
                report.notes.append(
                    Note(
                        "twin",
                        f"{other} ({other_layout.format}) left aside: {name} ({layout.format}) was taken for the "
                        f"same image {image.name}",
                        file=other,
                        format=other_layout.format,
                        taken=name,
                        taken_format=layout.format,
                        image=image.name,
                    )
                )
            else:
                report.skipped.append(
                    Note(
                        "image-taken",
                        f"{other}: its image {other_layout.image} belongs to {name} already",
                        file=other,
                        image=other_layout.image,
                        taken=name,
                    )
                )
        file_name = image.name if image.name not in image_files else f"{len(manuscript.pages) + 1:03}-{image.name}"
        image_files[file_name] = image
        n = len(manuscript.pages) + 1
        page = Page(codec.page_id(manuscript_id, n), str(n), file_name, info.width, info.height, info.mime_type)
        _fill_page(manuscript, page, layout, name, origins)
        manuscript.pages.append(page)
        formats.add(layout.format)
        report.pages.append(f"page {n}: {name} ({layout.format}) + {image.name}, {len(page.lines)} line(s)")
        report.sources.append((str(n), name, layout.format, image.name, len(page.lines)))
        report.notes += [Note("in-file", f"{name}: {note}", file=name, note=note) for note in layout.notes]
    if not manuscript.pages:
        raise NothingImported(source, report.skipped)
    kind = "+".join(sorted("alto" if f.startswith("ALTO") else "page" for f in formats))
    try:
        edition.import_manuscript(manuscript, image_files, who, source=f"import:{kind}")
    except validation.InvalidDocument as error:
        problems = _in_source_terms(manuscript, error.problems, origins)
        raise validation.InvalidDocument(f"the TEI made from {source.name} (nothing was imported)", problems) from None
    return report


def _in_source_terms(
    manuscript: Manuscript, problems: list[validation.Problem], origins: dict[str, str]
) -> list[validation.Problem]:
    """Problems of the TEI made from PAGE/ALTO, said of the file, element and line each came from.

    The TEI's own line numbers mean nothing to whoever imports: it was never written.
    """
    tree = parse_xml(codec.document_bytes(manuscript), manuscript.id)  # the bytes the refused save validated
    id_at_line: dict[int, str] = {}
    for element in tree.iter():
        holder = element
        while holder is not None and holder.get(XML_ID) is None:
            holder = holder.getparent()
        if holder is not None and isinstance(element.tag, str):
            id_at_line.setdefault(element.sourceline, holder.get(XML_ID))
    said = []
    for problem in problems:
        element_id = id_at_line.get(problem.line or 0, "")
        # A line's lb is its zone's id + "_t".
        origin = origins.get(element_id) or origins.get(element_id.removesuffix("_t"))
        if origin is None:
            said.append(problem)
        else:
            said.append(validation.Problem(None, f"{origin}: {problem.message}", problem.check))
    return said


def _is_page(layout: Layout) -> bool:
    return layout.format.startswith("PAGE")


def _fill_page(manuscript: Manuscript, page: Page, layout: Layout, name: str, origins: dict[str, str]) -> None:
    """The layout's regions and lines on ``page``, with the workbench's ids, as imported text;
    ``origins`` gets where each came from (file ``name``, element, line)."""
    source = manuscript.source("import", layout.format + (f" ({layout.producer})" if layout.producer else ""))
    origins[page.id] = name
    ids = LineIds(page)
    region_ids = {}
    for region in layout.regions:
        region_ids[region.id] = ids.region()
        origins[region_ids[region.id]] = f"{name}: {layout.origins.get(region.id, f'region {region.id}')}"
        page.regions.append(Region(region_ids[region.id], region.boundary, region.kind, region.source_id))
    for line in layout.lines:
        line_id = ids.line()
        origins[line_id] = f"{name}: {layout.origins.get(line.id, f'line {line.id}')}"
        page.lines.append(
            Line(
                line_id,
                line.boundary,
                line.baseline,
                region=region_ids.get(line.region),
                text=line.text,
                status="automatic" if line.text else None,
                resp=source.id if line.text else None,
                cert=line.cert if line.text else None,
                kind=line.kind,
                source_id=line.source_id,
            )
        )


def _import_tei(
    edition: Edition, path: Path, folder: Path, files: list[Path], who: str, manuscript_id: str | None
) -> ImportReport:
    """A project TEI document comes in unchanged: validated, its images found and checked."""
    name = str(path.relative_to(folder))
    data = path.read_bytes()
    problems = validation.check_project(parse_xml(data, name), edition.schema_dir)
    if problems:
        raise validation.InvalidDocument(
            f"{name} is not valid project TEI, so it cannot be imported as it is", problems
        )
    manuscript = codec.parse_manuscript(data, name)
    if manuscript_id and manuscript_id != manuscript.id:
        raise WorkbenchError(
            f"{name} is manuscript {manuscript.id!r} (its xml:id, on which every line's id is built); "
            "import it under that id"
        )
    report = ImportReport(manuscript.id)
    image_files: dict[str, Path] = {}
    missing = []
    for page in manuscript.pages:
        if page.image in image_files:
            continue
        relative = f"../facsimiles/{manuscript.id}/{page.image}"
        try:
            image_files[page.image] = _page_image(page.image, (page.width, page.height), path, files, name, relative)[0]
        except WorkbenchError as error:
            missing.append(str(error))
    if missing:
        raise WorkbenchError(f"{name} was not imported:\n  " + "\n  ".join(missing))
    edition.import_manuscript(manuscript, image_files, who, source="import:tei")
    report.pages = [f"page {page.n}: {page.image}, {len(page.lines)} line(s)" for page in manuscript.pages]
    report.sources = [(page.n, name, "", page.image, len(page.lines)) for page in manuscript.pages]
    return report


def _page_image(
    reference: str,
    size: tuple[int, int],
    xml: Path,
    files: list[Path],
    name: str,
    relative: str | None = None,
    above: bool | None = None,
) -> tuple[Path, facsimile.ImageInfo]:
    """The image a file names, found (``_find_image``), whole, and of the size the file's coordinates are for."""
    image = _find_image(reference, xml, files, name, relative, above)
    info = facsimile.inspect_image(image)
    if (info.width, info.height) != size:
        raise ImportProblem(
            "image-size",
            f"{name}: its image {image.name} is {info.width}×{info.height} pixels, but the file's "
            f"coordinates are for {size[0]}×{size[1]}",
            file=name,
            image=image.name,
            size=f"{info.width}×{info.height}",
            expected=f"{size[0]}×{size[1]}",
        )
    return image, info


def _find_image(
    reference: str, xml: Path, files: list[Path], name: str, relative: str | None = None, above: bool | None = None
) -> Path:
    """The image a file names: next to it (or at ``relative`` to it), else one folder up, else the one
    file of that name among ``files``.

    One folder up (``above``) is where eScriptorium's export puts the images of
    ``page/*.xml``; the caller allows it where that folder is inside the import, or
    where a folder on this machine was chosen to import (an upload's folder's parent
    is nobody's business).
    """
    candidates = [xml.parent / reference]
    if above:
        candidates.append(xml.parent.parent / reference)
    if relative:
        candidates.insert(0, xml.parent / relative)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    same_name = [p for p in files if p.name == reference]
    if len(same_name) == 1:
        return same_name[0]
    if not reference:
        raise ImportProblem("no-image-name", f"{name}: names no image file", file=name)
    if same_name:
        raise ImportProblem(
            "image-ambiguous",
            f"{name}: its image {reference} is ambiguous: {len(same_name)} files have that name",
            file=name,
            image=reference,
            count=len(same_name),
        )
    raise ImportProblem(
        "image-missing",
        f"{name}: claims the image {reference}, which is not among the files imported",
        file=name,
        image=reference,
    )


@contextmanager
def _unpacked(source: Path, temporary: Path) -> Iterator[Path]:
    """A folder with the files of ``source``: the folder itself, a one-file folder, or a zip
    unpacked safely into a new folder in ``temporary`` (removed afterwards).

    Every entry of a zip is checked before anything is written (``_checked_entries``),
    and its declared sizes against the free space; an entry is never written past the
    size it declares.
    """
    if source.is_dir():
        yield source
        return
    if source.suffix.lower() != ".zip":
        yield source.parent  # one XML file: its images are beside it
        return
    with tempfile.TemporaryDirectory(dir=temporary, prefix="workbench-import-") as unpacked:
        folder = Path(unpacked)
        try:
            archive = zipfile.ZipFile(source)
        except (zipfile.BadZipFile, OSError) as error:
            raise ImportProblem(
                "not-zip", f"{source.name} cannot be read as a zip file: {error}", file=source.name
            ) from None
        with archive:
            entries = _checked_entries(archive, source.name)
            needed = sum(member.file_size for member, _ in entries)
            free = shutil.disk_usage(folder).free
            if needed + FREE_SPACE_MARGIN > free:
                raise NoSpace(source.name, needed, free)
            for member, parts in entries:
                target = folder.joinpath(*parts)
                if member.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                _unpack(archive, member, target, source.name)
        yield folder


def _checked_entries(archive: zipfile.ZipFile, name: str) -> list[tuple[zipfile.ZipInfo, tuple[str, ...]]]:
    """The zip's entries with their paths inside the folder it is unpacked into; the whole zip
    is refused (``UnsafeArchive``) for an entry outside it (absolute, ``..``, a drive), a
    symbolic link, a device file, pipe or socket, a name given twice, or a name that is a
    file and a folder at once (each would fail halfway, or write where it should not)."""
    members = archive.infolist()
    files = [member for member in members if not member.is_dir()]
    if len(files) > MAX_FILES or sum(member.file_size for member in files) > MAX_UNPACKED_BYTES:
        raise ImportProblem(
            "zip-too-large",
            f"{name} holds too much: at most {MAX_FILES} files and {MAX_UNPACKED_BYTES >> 30} GB unpacked",
            file=name,
            files=MAX_FILES,
            gigabytes=MAX_UNPACKED_BYTES >> 30,
        )
    entries = []
    file_paths: dict[tuple[str, ...], str] = {}
    folder_paths: dict[tuple[str, ...], str] = {}
    for member in members:
        path = member.filename.replace("\\", "/")
        parts = PurePosixPath(path).parts
        if path.startswith("/") or re.match(r"[A-Za-z]:", path) or ".." in parts or not parts:
            raise UnsafeArchive(name, member.filename, "outside")
        # Unix zips keep the file's type beside its permissions (zip -y stores links as links).
        kind = stat.S_IFMT(member.external_attr >> 16) if member.create_system == 3 else 0
        if stat.S_ISLNK(kind):
            raise UnsafeArchive(name, member.filename, "link")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise UnsafeArchive(name, member.filename, "special")
        if member.is_dir():
            folder_paths.setdefault(parts, member.filename)
        elif parts in file_paths:
            raise UnsafeArchive(name, member.filename, "twice")
        else:
            file_paths[parts] = member.filename
        for k in range(1, len(parts)):
            folder_paths.setdefault(parts[:k], member.filename)
        entries.append((member, parts))
    for parts, filename in file_paths.items():
        if parts in folder_paths:
            raise UnsafeArchive(name, filename, "file-and-folder")
    return entries


def _unpack(archive: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, name: str) -> None:
    """One entry into ``target``, never more bytes than it declares.

    zipfile itself stops at the declared size and then finds the checksum wrong; letting it
    read past that, by more than one chunk, tells an entry that lies about its size (more
    data than it declares: a zip bomb's trick) from a damaged one.
    """
    chunk_size = 1024 * 1024
    allowed = copy.copy(member)
    allowed.file_size = member.file_size + 2 * chunk_size
    written = 0
    try:
        with archive.open(allowed) as packed, open(target, "wb") as unpacked:
            while chunk := packed.read(chunk_size):
                written += len(chunk)
                if written > member.file_size:
                    raise UnsafeArchive(name, member.filename, "longer")
                unpacked.write(chunk)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise WorkbenchError(f"{name}: {member.filename} is damaged ({error})") from None


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in path.relative_to(root).parts)


def natural_order(path: Path) -> list:
    """Sort key that puts 2.xml before 11.xml."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", str(path))]


METS = "http://www.loc.gov/METS/"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"


def _is_mets(path: Path) -> bool:
    with open(path, "rb") as file:
        head = file.read(4096)
    return METS.encode() in head and re.search(rb"<(?:\w+:)?mets[\s>]", head) is not None


def _in_mets_order(mets: Path, xml: list[Path], folder: Path, report: ImportReport) -> list[Path]:
    """``xml`` in the page order a METS file gives (eScriptorium exports one with its pages).

    The order is the physical structMap's (else the first structMap's, else the file
    section's); a file the METS does not list comes after those it does, in file-name
    order, and is named in the notes.
    """
    name = str(mets.relative_to(folder))
    try:
        layout_files.check_size(mets.stat().st_size, name)
        root = parse_xml(mets.read_bytes(), name).getroot()
    except WorkbenchError as error:
        report.notes.append(
            Note("mets-unread", f"{error}; the pages are in the order of the file names", problem=problem_note(error))
        )
        return xml
    ns = {"m": METS}
    locations = {
        file.get("ID"): location.get(XLINK_HREF, "")
        for file in root.iterfind("m:fileSec//m:file", ns)
        for location in file.iterfind("m:FLocat", ns)
    }
    maps = root.findall("m:structMap", ns)
    physical = [m for m in maps if (m.get("TYPE") or "").lower() == "physical"] or maps
    if physical:
        pointers = physical[0].iter(f"{{{METS}}}fptr", f"{{{METS}}}area")
        listed = [locations.get(pointer.get("FILEID"), "") for pointer in pointers]
    else:
        listed = list(locations.values())
    by_path = {path.resolve(): path for path in xml}
    by_name: dict[str, list[Path]] = {}
    for path in xml:
        by_name.setdefault(path.name, []).append(path)
    ordered: list[Path] = []
    for href in listed:
        reference = unquote(href.split("#")[0].removeprefix("file://"))
        if not reference:
            continue
        path = by_path.get((mets.parent / reference).resolve())
        if path is None and len(by_name.get(PurePosixPath(reference).name, [])) == 1:
            path = by_name[PurePosixPath(reference).name][0]
        if path is not None and path not in ordered:
            ordered.append(path)
    if not ordered:
        report.notes.append(
            Note(
                "mets-lists-none",
                f"{name} lists none of the PAGE or ALTO files: the pages are in the order of the file names",
                file=name,
            )
        )
        return xml
    rest = [path for path in xml if path not in ordered]
    report.notes += [
        Note(
            "not-in-mets",
            f"{path.relative_to(folder)}: not in {name}, put after the pages it lists",
            file=str(path.relative_to(folder)),
            mets=name,
        )
        for path in rest
    ]
    return ordered + rest


def _is_tei(path: Path) -> bool:
    with open(path, "rb") as file:
        head = file.read(4096)
    return b"http://www.tei-c.org/ns/1.0" in head and re.search(rb"<(?:\w+:)?TEI[\s>]", head) is not None


def _id_from(stem: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-_")
    return slug if slug[:1].isalpha() else f"ms-{slug}" if slug else "imported"


# -- export ----------------------------------------------------------------------------

# page: PAGE XML 2019 (eScriptorium); page2013: PAGE XML 2013 (Transkribus reads this version).
FORMATS = ("tei", "page", "page2013", "alto", "text")


def export(
    edition: Edition, manuscript_id: str, target: Path, formats: tuple[str, ...] = FORMATS, notes: bool = False
) -> list[Path]:
    """Write the manuscript into the folder ``target`` in ``formats``; the files written.

    The layout is the edition's own (tei/, facsimiles/), so the TEI's image links
    work in the export; PAGE and ALTO go to page/ and alto/, one file per page.
    """
    manuscript = edition.load(manuscript_id)
    written = []
    for name, data in _exported_files(edition, manuscript, formats, notes):
        path = target / name
        write_atomically(path, data)
        written.append(path)
    return written


def export_zip(
    edition: Edition,
    manuscript_id: str,
    target: Path,
    formats: tuple[str, ...] = FORMATS,
    notes: bool = False,
    images: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """One zip of every format and (unless ``images`` is false: a text-only export) the
    page images, under a folder named after the manuscript. ``progress(done, total)``
    after each page's file and each image (an export job's progress bar)."""
    manuscript = edition.load(manuscript_id)
    pictures = sorted({page.image for page in manuscript.pages} if images else ())
    per_page = len(set(formats) & {"page", "page2013", "alto"}) * len(manuscript.pages)
    total, done = per_page + len(pictures) + 1, 0  # + 1: the TEI and text files, counted as one

    def tick(count: int = 1) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(min(done, total), total)

    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", delete=False) as temporary:
        try:
            with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
                for name, data in _exported_files(edition, manuscript, formats, notes):
                    archive.writestr(f"{manuscript.id}/{name}", data)
                    if name.startswith(("page/", "page2013/", "alto/")):
                        tick()
                tick()
                for image in pictures:
                    path = edition.facsimile_dir / manuscript.id / image
                    # Images are compressed already.
                    archive.write(path, f"{manuscript.id}/facsimiles/{manuscript.id}/{image}", zipfile.ZIP_STORED)
                    tick()
            Path(temporary.name).replace(target)
        except BaseException:
            Path(temporary.name).unlink(missing_ok=True)
            raise
    return target


def _exported_files(
    edition: Edition, manuscript: Manuscript, formats: tuple[str, ...], notes: bool = False
) -> Iterator[tuple[str, bytes]]:
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise WorkbenchError(f"unknown export format(s) {', '.join(sorted(unknown))}; choose from {', '.join(FORMATS)}")
    if "tei" in formats:
        yield f"tei/{manuscript.id}.xml", tei_export(edition, manuscript, notes)
        yield from edition_files(edition)
    names = _layout_names(manuscript.pages)
    writers = {
        "page": layout_files.page_xml,
        "page2013": lambda page, text_of: layout_files.page_xml(page, text_of, version=layout_files.PAGE_2013),
        "alto": layout_files.alto_xml,
    }
    for kind, write in writers.items():
        if kind in formats:
            for page in manuscript.pages:
                name = f"{kind}/{names[page.id]}.xml"
                yield name, _checked(write(page, _diplomatic), name)
    if "text" in formats:
        yield f"text/{manuscript.id}-diplomatic.txt", plain_text(manuscript, reading=False).encode()
        yield f"text/{manuscript.id}-reading.txt", plain_text(manuscript, reading=True).encode()


# The edition's own TEI files that a manuscript's names point into (``@ref="register.xml#…"``,
# ``bibliography.xml#…``): they go beside the manuscript's TEI in every export, so the refs resolve.
EDITION_FILES = ("register.xml", "bibliography.xml")


def edition_files(edition: Edition) -> Iterator[tuple[str, bytes]]:
    """``tei/register.xml`` and ``tei/bibliography.xml`` as they are, where the edition has them,
    refused unless valid against the project schema and tei_all (as the manuscript's TEI is)."""
    for name in EDITION_FILES:
        path = edition.tei_dir / name
        if not path.exists():
            continue
        data = path.read_bytes()
        tree = parse_xml(data, f"tei/{name}")
        problems = validation.check_project(tree, edition.schema_dir) + validation.check_tei_all(
            tree, edition.schema_dir
        )
        if problems:
            raise validation.InvalidDocument(f"tei/{name} (nothing was exported)", problems)
        yield f"tei/{name}", data


def tei_export(edition: Edition, manuscript: Manuscript, notes: bool = False) -> bytes:
    """The TEI document, refused unless it is valid against both the project schema and tei_all.

    ``notes``: with the comment threads on its lines (review.py), as ``<note type="editorial">``
    in the ``<back>``, each pointing at its line; only when an editor asks, since they are
    the team's working conversation, not the edition.
    """
    data = codec.document_bytes(manuscript)
    tree = parse_xml(data, manuscript.id)
    if notes:
        threads = Reviews(edition.review_dir).threads(manuscript.id)
        if threads:
            codec.add_editorial_notes(tree, threads)
            data = codec.serialize(tree)
    problems = validation.check_project(tree, edition.schema_dir) + validation.check_tei_all(tree, edition.schema_dir)
    if problems:
        raise validation.InvalidDocument(f"the export of {manuscript.id} (nothing was written)", problems)
    return data


def _checked(data: bytes, name: str) -> bytes:
    """PAGE or ALTO, refused unless valid against the format's official schema."""
    problems = validation.check_layout_xml(parse_xml(data, name))
    if problems:
        raise validation.InvalidDocument(f"the export {name} (nothing was written)", problems)
    return data


def plain_text(manuscript: Manuscript, reading: bool) -> str:
    """One line of text per written line; each page ends with a form feed, as pdftotext does.

    ``reading``: the normalised reading (expansions, no deletions); else as written.
    """
    convert = reading_text if reading else diplomatic_text
    pages = ["".join(f"{' '.join(convert(line.text).split())}\n" for line in page.lines) for page in manuscript.pages]
    return "".join(f"{page}\f" for page in pages)


def _diplomatic(line: Line) -> str:
    """The line as written, with the spaces at its ends it came with (PAGE/ALTO → TEI →
    PAGE/ALTO gives the text back byte for byte); none where markup left out at an end
    (a supplied word, an expansion) would leave one."""
    text = diplomatic_text(line.text).strip()
    if not text:
        return ""
    leading = line.text[: len(line.text) - len(line.text.lstrip())]
    trailing = line.text[len(line.text.rstrip()) :]
    return leading + text + trailing


def _layout_names(pages: list[Page]) -> dict[str, str]:
    """A file name per page for PAGE/ALTO: its position, then the image's stem (and frame,
    for multi-page TIFFs), ``0001_f12v``.

    The number keeps the page order for whoever reads the folder in file-name order (the
    workbench's own import, eScriptorium's): image names alone often sort otherwise
    (``f10r`` before ``f9v``, ``cover`` after ``f1r``).
    """
    width = max(4, len(str(len(pages))))
    names = {}
    for position, page in enumerate(pages, start=1):
        stem = PurePosixPath(page.image).stem
        names[page.id] = f"{position:0{width}}_{stem}" + ("" if page.frame is None else f"-{page.frame + 1}")
    return names
