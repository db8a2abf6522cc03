"""A manuscript from a IIIF Presentation manifest (version 2 or 3): its canvases' images,
its label and metadata.

For each canvas the largest image the server allows is fetched: through the canvas's image
service (its info.json's ``maxWidth``/``maxHeight``/``maxArea``, else its largest ``sizes``
entry, else the full size), else the image the canvas paints, as it is. Everything fetched is
bounded (``MAX_*`` below): a manifest or info.json that declares a billion pixels gets at
most ``MAX_SIDE`` a side asked for, and what comes back must be an image the edition accepts.

Polite to the server: one request at a time, a User-Agent that names the workbench, and
429 or 5xx answers retried after a growing pause (or the server's Retry-After, within
reason). Resumable: the images go into ``<import tmp>/iiif-<hash of the manifest's
address>/`` as they arrive, each renamed into place only once whole, so a second run after
an interruption fetches only what is missing; the folder is removed once the manuscript has
been imported (through Edition.import_manuscript: all pages or nothing).
"""

from __future__ import annotations

import hashlib
import html
import ipaddress
import json
import math
import os
import re
import shutil
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata as package_metadata
from pathlib import Path

from lxml import etree

from workbench.edition import Edition
from workbench.exchange import transfer
from workbench.images import facsimile
from workbench.model import Manuscript, Page, WorkbenchError, check_manuscript_id
from workbench.tei import codec

MAX_JSON_BYTES = 16 * 1024**2  # a manifest of 10,000 canvases is a few megabytes
MAX_IMAGE_BYTES = 300 * 1024**2  # an uncompressed 10,000 × 10,000 px RGB TIFF
MAX_SIDE = 12_000  # pixels asked for on the longer side, whatever the server declares
MAX_CANVASES = transfer.MAX_PAGES
ATTEMPTS = 6
BACKOFF_SECONDS = 2.0  # doubled after each failed attempt
MAX_RETRY_AFTER_SECONDS = 120
TIMEOUT_SECONDS = 60
IMAGE_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/tiff": ".tif"}

# Metadata labels (English or Bulgarian, lower case) that name a field of the TEI header.
FIELD_LABELS = {
    "title": ("title", "заглавие", "наслов"),
    "author": ("author", "creator", "автор", "създател"),
    "date": ("date", "date of creation", "created", "дата", "датировка"),
    "shelfmark": ("shelfmark", "call number", "signature", "shelf mark", "сигнатура", "шифър", "инвентарен номер"),
    "repository": ("repository", "holding institution", "хранилище", "институция"),
}


def user_agent() -> str:
    try:
        version = package_metadata.version("manuscript-workbench")
    except package_metadata.PackageNotFoundError:
        version = "dev"
    return f"manuscript-workbench/{version} (IIIF import; one request at a time)"


@dataclass
class Canvas:
    label: str
    width: int | None
    height: int | None
    image: str | None  # the painted image's own URL
    service: str | None  # its image service's base URL
    service_version: int  # 2 or 3


@dataclass
class IiifManifest:
    version: int
    label: str
    canvases: list[Canvas]
    metadata: list[tuple[str, str]] = field(default_factory=list)
    attribution: list[str] = field(default_factory=list)
    licence: str | None = None
    latin_label: str = ""  # the label in English or without a language, for the manuscript's id


@dataclass
class IiifReport:
    """What an import made; the fields ``transfer.ImportReport`` has, for the import page to show."""

    manuscript_id: str
    pages: list[str] = field(default_factory=list)
    fetched: int = 0  # images fetched in this run (the others were there from an interrupted one)
    # (page number, canvas label, "IIIF", image file, lines) for each page
    sources: list[tuple[str, str, str, str, int]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects followed only to addresses the fetcher may fetch."""

    def __init__(self, fetcher: Fetcher):
        self.fetcher = fetcher

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        self.fetcher.check_address(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class Fetcher:
    """One connection at a time to whoever serves the manuscript, with retries and limits."""

    def __init__(self, sleep: Callable[[float], None] | None = None, private_addresses: bool = True):
        """``private_addresses=False`` (the web import's default) refuses loopback, private and
        link-local addresses, redirects included: an editor's manifest must not make the server
        fetch from its own network."""
        self.sleep = sleep or time.sleep
        self.private_addresses = private_addresses
        self.opener = urllib.request.build_opener(_CheckedRedirects(self))
        self.opener.addheaders = [("User-Agent", user_agent())]

    def check_address(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise WorkbenchError(f"{url}: only http and https addresses are fetched")
        if self.private_addresses:
            return
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 80)}
        except OSError as error:
            raise WorkbenchError(f"{url}: {parts.hostname} cannot be found ({error})") from None
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            if not ip.is_global:
                raise WorkbenchError(f"{url}: {parts.hostname} is a local or private address ({ip}); not fetched")

    def get(self, url: str, limit: int, accept: str) -> tuple[bytes, str]:
        """The body (at most ``limit`` bytes, else WorkbenchError) and its media type."""
        self.check_address(url)
        delay = BACKOFF_SECONDS
        for attempt in range(1, ATTEMPTS + 1):
            request = urllib.request.Request(url, headers={"Accept": accept})
            try:
                with self.opener.open(request, timeout=TIMEOUT_SECONDS) as response:
                    declared = response.headers.get("Content-Length")
                    if declared and declared.isdigit() and int(declared) > limit:
                        raise WorkbenchError(f"{url}: {int(declared):,} bytes, more than the {limit:,} bytes allowed")
                    body = response.read(limit + 1)
                    if len(body) > limit:
                        raise WorkbenchError(f"{url}: more than the {limit:,} bytes allowed")
                    return body, response.headers.get_content_type()
            except WorkbenchError:
                raise
            except urllib.error.HTTPError as error:
                if error.code != 429 and error.code < 500 or attempt == ATTEMPTS:
                    raise WorkbenchError(f"{url}: the server answered {error.code} {error.reason}") from None
                wait = _retry_after(error.headers.get("Retry-After"), delay)
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                if attempt == ATTEMPTS:
                    raise WorkbenchError(f"{url}: {getattr(error, 'reason', error)}") from None
                wait = delay
            self.sleep(wait)
            delay *= 2
        raise AssertionError("unreachable")

    def json(self, url: str) -> dict:
        body, _ = self.get(url, MAX_JSON_BYTES, "application/ld+json, application/json")
        return _parse_json(body, url)


def _retry_after(value: str | None, default: float) -> float:
    if value and value.strip().isdigit():
        return min(float(value.strip()), MAX_RETRY_AFTER_SECONDS)
    return default


def _parse_json(body: bytes, name: str) -> dict:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WorkbenchError(f"{name} is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise WorkbenchError(f"{name} is not a JSON object")
    return document


def read_manifest(source: str, fetcher: Fetcher) -> IiifManifest:
    """The manifest at ``source`` (an http(s) address or a file), or WorkbenchError saying why not."""
    if re.match(r"https?://", source):
        document = fetcher.json(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise WorkbenchError(f"{source}: no such file, and not an http(s) address")
        if path.stat().st_size > MAX_JSON_BYTES:
            raise WorkbenchError(
                f"{source}: {path.stat().st_size:,} bytes, more than the {MAX_JSON_BYTES:,} bytes allowed"
            )
        document = _parse_json(path.read_bytes(), source)
    return parse_manifest(document, source)


def parse_manifest(document: dict, name: str) -> IiifManifest:
    kind = document.get("type") or document.get("@type")
    if kind == "Manifest":
        manifest = _parse_v3(document)
    elif kind == "sc:Manifest":
        manifest = _parse_v2(document)
    else:
        raise WorkbenchError(
            f"{name} is not a IIIF Presentation manifest (version 2 or 3): its type is {kind!r}, "
            "not 'Manifest' or 'sc:Manifest'"
        )
    manifest.latin_label = _text(document.get("label"), languages=("en", "none"))
    if not manifest.canvases:
        raise WorkbenchError(f"{name}: the manifest has no canvases with images; nothing to import")
    if len(manifest.canvases) > MAX_CANVASES:
        raise WorkbenchError(
            f"{name}: {len(manifest.canvases):,} canvases; one import takes at most {MAX_CANVASES:,} pages"
        )
    return manifest


def _canvas(canvas: dict, number: int, image: dict, image_id: str | None) -> Canvas:
    """A canvas and its image as both manifest versions give them (the image's id key differs: id, @id)."""
    service, version = _service(image)
    return Canvas(
        _text(canvas.get("label")) or str(number),
        _dimension(canvas.get("width")),
        _dimension(canvas.get("height")),
        image_id,
        service,
        version,
    )


def _parse_v3(document: dict) -> IiifManifest:
    canvases = []
    for number, canvas in enumerate(_list(document.get("items")), start=1):
        if not isinstance(canvas, dict) or canvas.get("type") != "Canvas":
            continue
        body = None
        for page in _list(canvas.get("items")):
            for annotation in _list(page.get("items") if isinstance(page, dict) else None):
                if isinstance(annotation, dict) and annotation.get("motivation") == "painting":
                    candidate = annotation.get("body")
                    candidate = _list(candidate)[0] if isinstance(candidate, list) and candidate else candidate
                    if isinstance(candidate, dict) and candidate.get("type") == "Image":
                        body = body or candidate
        if body is None:
            continue
        canvases.append(_canvas(canvas, number, body, _string(body.get("id"))))
    return IiifManifest(
        3,
        _text(document.get("label")),
        canvases,
        _metadata(document.get("metadata")),
        [_text(statement.get("label")) + ": " + _text(statement.get("value"))]
        if isinstance(statement := document.get("requiredStatement"), dict)
        else [],
        _string(document.get("rights")),
    )


def _parse_v2(document: dict) -> IiifManifest:
    canvases = []
    sequences = _list(document.get("sequences"))
    sequence = sequences[0] if sequences and isinstance(sequences[0], dict) else {}
    for number, canvas in enumerate(_list(sequence.get("canvases")), start=1):
        if not isinstance(canvas, dict):
            continue
        images = [image for image in _list(canvas.get("images")) if isinstance(image, dict)]
        resource = images[0].get("resource") if images else None
        if not isinstance(resource, dict):
            continue
        canvases.append(_canvas(canvas, number, resource, _string(resource.get("@id"))))
    attribution = _text(document.get("attribution"))
    return IiifManifest(
        2,
        _text(document.get("label")),
        canvases,
        _metadata(document.get("metadata")),
        [attribution] if attribution else [],
        _string(document.get("license")),
    )


def _service(resource: dict) -> tuple[str | None, int]:
    for service in _list(resource.get("service")):
        if not isinstance(service, dict):
            continue
        url = _string(service.get("id") or service.get("@id"))
        kind = str(service.get("type") or service.get("@type") or "")
        profile = str(_list(service.get("profile"))[0] if _list(service.get("profile")) else "")
        context = str(service.get("@context") or "")
        if not url:
            continue
        if kind == "ImageService3" or "image/3" in context:
            return url.rstrip("/"), 3
        if kind.startswith("ImageService") or "image/2" in context or "image/2" in profile or "iiif.io" in profile:
            return url.rstrip("/"), 2
    return None, 0


def _list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _string(value) -> str | None:
    return value if isinstance(value, str) and value else None


def _dimension(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _text(value, languages: tuple[str, ...] = ("bg", "en", "none")) -> str:
    """A label or value as plain text: v3 language maps, v2 strings or @value objects, HTML stripped."""
    if isinstance(value, dict) and "@value" not in value:
        for language in (*languages, *value.keys()):
            if language in value:
                return " ".join(_plain(item) for item in _list(value[language]) if isinstance(item, str))
        return ""
    if isinstance(value, list):
        by_language = {item.get("@language", "none"): item for item in value if isinstance(item, dict)}
        for language in languages:
            if language in by_language:
                return _text(by_language[language])
        return "; ".join(filter(None, (_text(item) for item in value)))
    if isinstance(value, dict):
        return _plain(str(value.get("@value", "")))
    return _plain(value) if isinstance(value, str) else ""


def _plain(text: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]*>", " ", text)).split())[:2000]


def _metadata(entries) -> list[tuple[str, str]]:
    found = []
    for entry in _list(entries)[:500]:
        if isinstance(entry, dict):
            label, value = _text(entry.get("label")), _text(entry.get("value"))
            if label and value:
                found.append((label, value))
    return found


def image_url(canvas: Canvas, fetcher: Fetcher) -> str:
    """The address of the largest image of ``canvas`` the server allows, within ``MAX_SIDE``."""
    if canvas.service:
        info = fetcher.json(f"{canvas.service}/info.json")
        width = _dimension(info.get("width")) or canvas.width
        height = _dimension(info.get("height")) or canvas.height
        size = _largest_size(info, width, height)
        if size is not None:
            return f"{canvas.service}/full/{size[0]},{size[1] if canvas.service_version == 3 else ''}/0/default.jpg"
        return f"{canvas.service}/full/{'max' if canvas.service_version == 3 else 'full'}/0/default.jpg"
    if canvas.image:
        return canvas.image
    raise WorkbenchError(f"canvas {canvas.label!r}: no image to fetch")


def _largest_size(info: dict, width: int | None, height: int | None) -> tuple[int, int] | None:
    if width is None or height is None:
        listed = [
            (size["width"], size["height"])
            for size in _list(info.get("sizes"))
            if isinstance(size, dict) and _dimension(size.get("width")) and _dimension(size.get("height"))
        ]
        return _bounded(*max(listed, key=lambda s: s[0] * s[1])) if listed else None
    limits = [_dimension(info.get("maxWidth")), _dimension(info.get("maxHeight")), _dimension(info.get("maxArea"))]
    if not any(limits) and info.get("sizes") and "level0" in json.dumps(info.get("profile", "")):
        # A level 0 server serves only the sizes it lists.
        listed = [
            (size["width"], size["height"])
            for size in _list(info.get("sizes"))
            if isinstance(size, dict) and _dimension(size.get("width")) and _dimension(size.get("height"))
        ]
        if listed:
            return _bounded(*max(listed, key=lambda s: s[0] * s[1]))
    max_width, max_height, max_area = limits
    if max_width and not max_height:
        max_height = max_width  # the API's rule: maxHeight defaults to maxWidth
    scale = 1.0
    if max_width:
        scale = min(scale, max_width / width)
    if max_height:
        scale = min(scale, max_height / height)
    if max_area:
        scale = min(scale, math.sqrt(max_area / (width * height)))
    return _bounded(max(1, math.floor(width * scale)), max(1, math.floor(height * scale)))


def _bounded(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, MAX_SIDE / max(width, height), math.sqrt(facsimile.MAX_PIXELS / (width * height)))
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


def staging_folder(edition: Edition, source: str) -> Path:
    """Where the images of one manifest wait until it is imported; the same for the same manifest."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    folder = transfer.temporary_folder(edition) / f"iiif-{digest}"
    folder.mkdir(exist_ok=True)
    return folder


def import_manifest(
    edition: Edition,
    source: str,
    who: str,
    manuscript_id: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    fetcher: Fetcher | None = None,
) -> IiifReport:
    """Import the manifest at ``source`` (URL or file) as a new manuscript; ``progress(done, total)``
    after each canvas. On failure nothing is imported, and the images fetched so far stay for the next try."""
    fetcher = fetcher or Fetcher()
    manifest = read_manifest(source, fetcher)
    if not manuscript_id:
        # An id in Latin letters: from the label in English (or without a language), else the manifest's address.
        manuscript_id = transfer._id_from(manifest.latin_label)
        if manuscript_id == "imported":
            manuscript_id = f"iiif-{hashlib.sha256(source.encode()).hexdigest()[:8]}"
    check_manuscript_id(manuscript_id)
    if edition.tei_path(manuscript_id).exists():
        raise WorkbenchError(f"manuscript {manuscript_id!r} already exists; import under another id (--id)")
    folder = staging_folder(edition, source)
    report = IiifReport(manuscript_id)
    manuscript = _header(manifest, manuscript_id, source)
    image_files: dict[str, Path] = {}
    total = len(manifest.canvases)
    for n, canvas in enumerate(manifest.canvases, start=1):
        path = _fetched(folder, n)
        if path is None:
            url = image_url(canvas, fetcher)
            body, media_type = fetcher.get(url, MAX_IMAGE_BYTES, "image/jpeg, image/png, image/tiff")
            if media_type not in IMAGE_TYPES:
                raise WorkbenchError(f"canvas {n} ({canvas.label}): {url} answered {media_type}, not an image")
            path = folder / f"{n:05}{IMAGE_TYPES[media_type]}"
            partial = path.with_name(path.name + ".part")
            partial.write_bytes(body)
            try:
                facsimile.inspect_image(partial)
            except WorkbenchError as error:
                partial.unlink()
                raise WorkbenchError(f"canvas {n} ({canvas.label}): {url}: {error}") from None
            os.replace(partial, path)  # only a whole, readable image counts as fetched
            report.fetched += 1
        info = facsimile.inspect_image(path)
        page = Page(codec.page_id(manuscript_id, n), str(n), path.name, info.width, info.height, info.mime_type)
        manuscript.pages.append(page)
        image_files[path.name] = path
        report.pages.append(f"page {n}: {canvas.label}, {info.width}×{info.height}")
        report.sources.append((str(n), canvas.label, "IIIF", path.name, 0))
        if progress:
            progress(n, total)
    edition.import_manuscript(manuscript, image_files, who, source="import:iiif")
    shutil.rmtree(folder, ignore_errors=True)
    return report


def _fetched(folder: Path, n: int) -> Path | None:
    for suffix in IMAGE_TYPES.values():
        if (folder / f"{n:05}{suffix}").is_file():
            return folder / f"{n:05}{suffix}"
    return None


def _header(manifest: IiifManifest, manuscript_id: str, source: str) -> Manuscript:
    """The manuscript's header: fields from metadata whose labels name them, the rest as notes."""
    manuscript = Manuscript(id=manuscript_id, title=manifest.label or manuscript_id)
    notes = [f"IIIF manifest (Presentation {manifest.version}): {source}"]
    title_from_metadata = None
    for label, value in manifest.metadata:
        name = next((name for name, labels in FIELD_LABELS.items() if label.strip().lower() in labels), None)
        if name == "title" and not manifest.label and title_from_metadata is None:
            title_from_metadata = value
        elif name and name != "title" and getattr(manuscript, name) is None:
            setattr(manuscript, name, value)
        else:
            notes.append(f"{label}: {value}")
    manuscript.title = manifest.label or title_from_metadata or manuscript_id
    notes += manifest.attribution
    if manifest.licence:
        notes.append(f"Licence: {manifest.licence}")
    manuscript.header_xml = _header_with_notes(notes)
    return manuscript


def _header_with_notes(notes: list[str]) -> bytes:
    """A teiHeader skeleton with a notesStmt: the codec fills the modelled fields around it."""
    tei = f"{{{codec.TEI_NS}}}"
    header = etree.Element(f"{tei}teiHeader", nsmap={None: codec.TEI_NS})
    file_desc = etree.SubElement(header, f"{tei}fileDesc")
    etree.SubElement(etree.SubElement(file_desc, f"{tei}titleStmt"), f"{tei}title")
    etree.SubElement(etree.SubElement(file_desc, f"{tei}publicationStmt"), f"{tei}p").text = codec.UNPUBLISHED
    notes_stmt = etree.SubElement(file_desc, f"{tei}notesStmt")
    for text in notes:
        etree.SubElement(notes_stmt, f"{tei}note", type="iiif").text = text
    etree.SubElement(
        etree.SubElement(etree.SubElement(file_desc, f"{tei}sourceDesc"), f"{tei}msDesc"), f"{tei}msIdentifier"
    )
    return etree.tostring(header)
