"""Page images and line crops as HTTP responses, for the editor and the reader alike."""

from __future__ import annotations

import hashlib
import io

from flask import Response, abort, send_file

from workbench.edition import Edition
from workbench.files import write_atomically
from workbench.images.crops import LineImageCache
from workbench.images.facsimile import open_page
from workbench.model import Line, Page


def page_image(edition: Edition, manuscript_id: str, page: Page, public: bool) -> Response:
    """The page's image; ``public`` only for the reading room (a published manuscript):
    the editor's images are for those logged in, and no shared cache may keep them."""
    path = edition.image_path(manuscript_id, page)
    if page.mime_type in ("image/jpeg", "image/png") and page.frame is None:
        return _cached(send_file(path, mimetype=page.mime_type, max_age=86400, conditional=True), public)
    # Browsers do not show TIFF: serve a PNG made once and kept with the other caches.
    stat = path.stat()
    cached = edition.cache_dir / "pages" / manuscript_id / f"{page.id}-{stat.st_size}-{stat.st_mtime_ns}.png"
    if not cached.exists():
        encoded = io.BytesIO()
        open_page(path, page.frame).save(encoded, format="PNG")
        write_atomically(cached, encoded.getvalue(), durable=False, mode=0o644)  # a cache: no fsync
    return _cached(send_file(cached, mimetype="image/png", max_age=86400, conditional=True), public)


def line_image(edition: Edition, manuscript_id: str, page: Page, line_id: str, public: bool) -> Response:
    line = next((line for line in page.lines if line.id == line_id), None)
    if line is None:
        abort(404)
    cache = LineImageCache(edition.cache_dir / "lines")
    path = cache.path(manuscript_id, page, line, edition.image_path(manuscript_id, page))
    # The URL carries a digest of the geometry (``crop_version``), so the browser may keep it for good.
    return _cached(send_file(path, mimetype="image/png", max_age=31536000, conditional=True), public)


def _cached(response: Response, public: bool) -> Response:
    """send_file marks what it may cache ``public``; an editor's image is ``private``:
    the browser may keep it, a proxy or shared cache between it and the server may not."""
    if not public:
        response.cache_control.public = False
        response.cache_control.private = True
    return response


def crop_version(edition: Edition, manuscript_id: str, page: Page, line: Line) -> str:
    """Changes with the line's geometry and with the page image: the crop URL's cache buster."""
    image = edition.image_path(manuscript_id, page).stat()
    stamp = (line.boundary, line.baseline, image.st_size, image.st_mtime_ns)
    return hashlib.blake2s(repr(stamp).encode(), digest_size=6).hexdigest()
