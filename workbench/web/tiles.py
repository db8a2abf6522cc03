"""The IIIF Image API 3, level 1, for every page: deep zoom in the reading room, and any
IIIF client (Mirador, a viewer elsewhere) for published manuscripts.

``/iiif/<manuscript>/<page>`` redirects to its ``info.json``, which describes the image, its
tile grid, the whole-page sizes and the limits of what one request may make (images/tiles.py);
``/iiif/<manuscript>/<page>/<region>/<size>/0/default.jpg`` is an image of it. Published
pages are public (and cacheable by anyone, with CORS for clients on other sites); an
unpublished page is served to anyone logged in, whatever their role, and to nobody else: they
get the reading room's 404, as for a page that does not exist.

Errors are plain text for machines, as the API's clients read them: 400 for a request the API
does not allow, 501 for one it defines beyond level 1 (rotation, other qualities or formats).
"""

from __future__ import annotations

import hashlib

from flask import Blueprint, Response, g, jsonify, redirect, request, send_file, url_for
from werkzeug.exceptions import NotFound

from workbench.images import tiles as image_api
from workbench.images.tiles import (
    NotImplementedFeature,
    Pyramid,
    TileError,
    cached_render,
    check_rotation_and_name,
    render,
    tile_path,
)
from workbench.model import Manuscript, Page, WorkbenchError
from workbench.web import errors
from workbench.web.state import edition, limiter

bp = Blueprint("tiles", __name__, url_prefix="/iiif")
limiter.exempt(bp)  # no limits apply here; skipping the check is a quarter of a cached tile's time
CONTEXT = "http://iiif.io/api/image/3/context.json"
PUBLIC_MAX_AGE = 86400


@bp.errorhandler(WorkbenchError)
def not_found(error: WorkbenchError):
    if isinstance(error, TileError):
        status = 501 if isinstance(error, NotImplementedFeature) else 400
        return Response(f"{error}\n", status, mimetype="text/plain")
    return errors.error_response(NotFound())  # as the reading room answers for an unpublished manuscript


@bp.after_request
def allow_other_sites(response: Response) -> Response:
    # IIIF clients on other sites read info.json and the images; with "*" browsers send no
    # cookies along, so an unpublished page stays visible only on the workbench's own pages.
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/<manuscript_id>/<n>")
def base(manuscript_id: str, n: str):
    _readable_page(manuscript_id, n)
    return redirect(url_for("tiles.info", manuscript_id=manuscript_id, n=n), 303)


@bp.get("/<manuscript_id>/<n>/info.json")
def info(manuscript_id: str, n: str):
    manuscript = _readable_page(manuscript_id, n)
    page = manuscript.pages[0]
    pyramid = Pyramid(page.width, page.height)
    description = {
        "@context": CONTEXT,
        "id": url_for("tiles.base", manuscript_id=manuscript_id, n=n, _external=True),
        "type": "ImageService3",
        "protocol": "http://iiif.io/api/image",
        "profile": "level1",
        "width": page.width,
        "height": page.height,
        "maxWidth": image_api.MAX_WIDTH,
        "maxHeight": image_api.MAX_HEIGHT,
        "maxArea": image_api.MAX_AREA,
        "sizes": [{"width": width, "height": height} for width, height in pyramid.sizes],
        "tiles": [{"width": pyramid.tile_size, "scaleFactors": pyramid.scale_factors}],
    }
    if manuscript.licence:
        description["rights"] = manuscript.licence
    response = jsonify(description)
    # JSON-LD with the context as profile when the client asks for it, else JSON (the API's rule).
    if "application/ld+json" in request.headers.get("Accept", ""):
        response.content_type = f'application/ld+json;profile="{CONTEXT}"'
    else:
        response.content_type = "application/json"
    _cache(response, manuscript, max_age=3600)  # the page's size changes only if its image is replaced
    response.set_etag(hashlib.sha256(response.get_data()).hexdigest()[:32])
    return response.make_conditional(request)


@bp.get("/<manuscript_id>/<n>/<region>/<size>/<rotation>/<image_name>")
def tile(manuscript_id: str, n: str, region: str, size: str, rotation: str, image_name: str):
    manuscript = _readable_page(manuscript_id, n)
    page = manuscript.pages[0]
    check_rotation_and_name(rotation, image_name)
    pyramid = Pyramid(page.width, page.height)
    wanted, cached = pyramid.request(region, size)
    source = edition().image_path(manuscript_id, page)
    cache_dir = _cache_dir(manuscript_id, page)
    max_age = PUBLIC_MAX_AGE if manuscript.published else None
    if cached == "grid":
        path = tile_path(source, page.frame, pyramid, wanted, cache_dir)
        response = send_file(path, mimetype="image/jpeg", max_age=max_age)
    elif cached == "size":
        path = cached_render(source, page.frame, pyramid, wanted, cache_dir)
        response = send_file(path, mimetype="image/jpeg", max_age=max_age)
    else:
        # Made for this request, not kept: the same page version and request give the same
        # image, so the ETag says as much and a client's copy is revalidated without a decode.
        response = Response(mimetype="image/jpeg")
        response.set_etag(hashlib.sha256(f"{cache_dir.name}/{wanted.name}".encode()).hexdigest()[:32])
        if request.if_none_match.contains(response.get_etag()[0]):
            response.status_code = 304
            _cache(response, manuscript, max_age=PUBLIC_MAX_AGE)
            return response
        response.set_data(render(source, page.frame, pyramid, wanted))
    _cache(response, manuscript, max_age=PUBLIC_MAX_AGE)
    return response.make_conditional(request)


def _readable_page(manuscript_id: str, n: str) -> Manuscript:
    """Page ``n`` of the manuscript, if it is published or someone is logged in; else 404."""
    manuscript = edition().read(manuscript_id, n)
    if not manuscript.published and g.get("user") is None:
        raise NotFound()
    return manuscript


def _cache(response: Response, manuscript: Manuscript, max_age: int) -> None:
    if manuscript.published:
        response.cache_control.public = True
        response.cache_control.max_age = max_age
    else:
        # Staff only: no shared cache may keep it, and the browser asks again each time.
        response.cache_control.private = True
        response.cache_control.no_cache = True
        response.vary.add("Cookie")


def _cache_dir(manuscript_id: str, page: Page):
    """One folder per version of the page's image: a replaced scan gets new tiles."""
    stat = edition().image_path(manuscript_id, page).stat()
    return edition().cache_dir / "tiles" / manuscript_id / f"{page.id}-{stat.st_size}-{stat.st_mtime_ns}"
