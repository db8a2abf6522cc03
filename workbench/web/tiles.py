"""Deep zoom tiles of published pages, in the shape of the IIIF Image API 3 at level 0.

``/iiif/<manuscript>/<page>/info.json`` describes the page's tile grid (images/tiles.py);
``/iiif/<manuscript>/<page>/<region>/<size>/0/default.jpg`` is one tile of it. The reading
view's viewer (OpenSeadragon) asks for the tiles it shows, so a reader never loads a whole
10,000-pixel scan. Published manuscripts only; anything else is the reader's 404.
"""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, send_file, url_for
from werkzeug.exceptions import BadRequest, NotFound

from workbench.images.tiles import Pyramid, TileError, tile_path
from workbench.model import Page, WorkbenchError
from workbench.web import errors
from workbench.web.reader import _published_manuscript
from workbench.web.state import edition

bp = Blueprint("tiles", __name__, url_prefix="/iiif")


@bp.errorhandler(WorkbenchError)
def not_found(error: WorkbenchError):
    if isinstance(error, TileError):
        return errors.error_response(BadRequest())  # a region or size off the grid
    return errors.error_response(NotFound())  # as the reading room answers for an unpublished manuscript


@bp.get("/<manuscript_id>/<n>/info.json")
def info(manuscript_id: str, n: str):
    page = _published_manuscript(manuscript_id, n).pages[0]
    pyramid = Pyramid(page.width, page.height)
    response = jsonify(
        {
            "@context": "http://iiif.io/api/image/3/context.json",
            "id": url_for("tiles.info", manuscript_id=manuscript_id, n=n, _external=True).removesuffix("/info.json"),
            "type": "ImageService3",
            "protocol": "http://iiif.io/api/image",
            "profile": "level0",
            "width": page.width,
            "height": page.height,
            "tiles": [{"width": pyramid.tile_size, "scaleFactors": pyramid.scale_factors}],
        }
    )
    response.content_type = 'application/ld+json;profile="http://iiif.io/api/image/3/context.json"'
    response.cache_control.public = True
    response.cache_control.max_age = 3600  # the page's size changes only if its image is replaced
    return response


@bp.get("/<manuscript_id>/<n>/<region>/<size>/<rotation>/<image_name>")
def tile(manuscript_id: str, n: str, region: str, size: str, rotation: str, image_name: str):
    page = _published_manuscript(manuscript_id, n).pages[0]
    if rotation != "0" or image_name != "default.jpg":
        abort(400)  # level 0: no rotation, one quality, one format
    pyramid = Pyramid(page.width, page.height)
    wanted = pyramid.tile(region, size)
    source = edition().image_path(manuscript_id, page)
    path = tile_path(source, page.frame, pyramid, wanted, _cache_dir(manuscript_id, page))
    return send_file(path, mimetype="image/jpeg", max_age=86400, conditional=True)


def _cache_dir(manuscript_id: str, page: Page):
    """One folder per version of the page's image: a replaced scan gets new tiles."""
    stat = edition().image_path(manuscript_id, page).stat()
    return edition().cache_dir / "tiles" / manuscript_id / f"{page.id}-{stat.st_size}-{stat.st_mtime_ns}"
