"""Images of a page for deep zoom and for IIIF clients: the IIIF Image API 3 at level 1.

The tile grid: scale factors 1, 2, 4 … down to the one at which the whole page fits in one
tile; at scale factor ``s`` a tile covers ``512·s`` pixels of the page and is at most 512
pixels wide and high. Grid tiles, and the whole page at the sizes info.json declares, are cut
on demand and cached (a bounded set of files). Any other region and size level 1 allows
(``x,y,w,h`` or ``square``; ``w,``, ``,h``, ``w,h`` or ``max``) is cut from the page image for
that request and not cached, so no sequence of requests can fill the disk; its output is
bounded by ``MAX_WIDTH``, ``MAX_HEIGHT`` and ``MAX_AREA``.

libvips (pyvips) cuts the images when it is installed (bench/tiles.py: several times faster
than Pillow on a large TIFF, and in a fraction of the memory); Pillow otherwise.
"""

from __future__ import annotations

import io
import math
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from workbench.files import write_atomically
from workbench.images.facsimile import open_page
from workbench.model import WorkbenchError

TILE_SIZE = 512
JPEG_QUALITY = 85
# The largest image one request may make (info.json declares them): a whole 4096 px page
# decoded and encoded takes about a second and 50 MB; nothing larger is ever asked of a request.
MAX_WIDTH = 4096
MAX_HEIGHT = 4096
MAX_AREA = 4096 * 4096
_REGION = re.compile(r"(\d{1,6}),(\d{1,6}),(\d{1,6}),(\d{1,6})")
_SIZE = re.compile(r"(\d{1,6}),(\d{1,6})?")
_SIZE_W_H = re.compile(r"(\d{1,6})?,(\d{1,6})?")
# Syntax the Image API defines that level 1 need not implement: 501, not 400.
_PERCENT_REGION = re.compile(r"pct:[\d.]+,[\d.]+,[\d.]+,[\d.]+")
_OTHER_SIZES = re.compile(r"\^?(?:pct:[\d.]+|!\d+,\d+|\d+,\d*|,\d+|max)")
_ROTATION = re.compile(r"!?\d+(?:\.\d+)?")
QUALITIES = ("default", "color", "gray", "bitonal")
FORMATS = ("jpg", "tif", "png", "gif", "jp2", "pdf", "webp")

try:
    import pyvips
except (ImportError, OSError):  # not installed, or installed without its libvips
    pyvips = None
ENGINES = ("vips", "pillow") if pyvips is not None else ("pillow",)


class TileError(WorkbenchError):
    """A region or size the Image API does not allow, or that is off the page (an HTTP 400)."""


class NotImplementedFeature(TileError):
    """A request the Image API defines beyond level 1: rotation, other qualities and formats,
    percentages, upscaling (an HTTP 501)."""


@dataclass(frozen=True)
class Tile:
    """A region of the page (left, top, right, bottom, in page pixels) and the size it is served at."""

    box: tuple[int, int, int, int]
    size: tuple[int, int]
    factor: int  # the scale factor of its level: page pixels per tile pixel

    @property
    def name(self) -> str:
        left, top, right, bottom = self.box
        return f"{left},{top},{right - left},{bottom - top}_{self.size[0]},{self.size[1]}.jpg"


@dataclass(frozen=True)
class Pyramid:
    width: int
    height: int
    tile_size: int = TILE_SIZE

    @property
    def scale_factors(self) -> list[int]:
        """1, 2, 4 … up to the first at which the whole page fits in one tile."""
        factors = [1]
        while math.ceil(max(self.width, self.height) / factors[-1]) > self.tile_size:
            factors.append(factors[-1] * 2)
        return factors

    @property
    def sizes(self) -> list[tuple[int, int]]:
        """The whole page at each scale factor that fits within the output limits, smallest first."""
        found = []
        for factor in reversed(self.scale_factors):
            width, height = math.ceil(self.width / factor), math.ceil(self.height / factor)
            if within_limits(width, height):
                found.append((width, height))
        return found

    def request(self, region: str, size: str) -> tuple[Tile, str | None]:
        """The image a level 1 ``region``/``size`` pair asks for, and how it is cached: "grid"
        (a tile of the grid), "size" (the whole page at a declared size) or None (not cached)."""
        try:
            return self.tile(region, size), "grid"
        except TileError:
            pass
        box = self._region(region)
        wanted = self._size(size, (box[2] - box[0], box[3] - box[1]))
        cached = "size" if box == (0, 0, self.width, self.height) and wanted in self.sizes else None
        factor = 1
        for candidate in self.scale_factors:
            if (box[2] - box[0]) / candidate >= wanted[0] and (box[3] - box[1]) / candidate >= wanted[1]:
                factor = candidate
        return Tile(box, wanted, factor), cached

    def _region(self, region: str) -> tuple[int, int, int, int]:
        if region == "full":
            return (0, 0, self.width, self.height)
        if region == "square":
            side = min(self.width, self.height)
            left, top = (self.width - side) // 2, (self.height - side) // 2
            return (left, top, left + side, top + side)
        if match := _REGION.fullmatch(region):
            x, y, w, h = map(int, match.groups())
            if w == 0 or h == 0:
                raise TileError(f"region {region!r} is empty")
            if x >= self.width or y >= self.height:
                raise TileError(f"region {region!r} is outside the image ({self.width} × {self.height})")
            return (x, y, min(x + w, self.width), min(y + h, self.height))  # cut to the image, as the API says
        if _PERCENT_REGION.fullmatch(region):
            raise NotImplementedFeature(f"region {region!r}: percentages are not supported (level 1)")
        raise TileError(f"region {region!r} is not full, square or x,y,w,h")

    def _size(self, size: str, region: tuple[int, int]) -> tuple[int, int]:
        if size == "max":
            scale = min(
                1.0, MAX_WIDTH / region[0], MAX_HEIGHT / region[1], math.sqrt(MAX_AREA / (region[0] * region[1]))
            )
            return (max(1, math.floor(region[0] * scale)), max(1, math.floor(region[1] * scale)))
        match = _SIZE_W_H.fullmatch(size)
        if not match or match.group(1) is None and match.group(2) is None:
            if _OTHER_SIZES.fullmatch(size):
                raise NotImplementedFeature(f"size {size!r}: upscaling, !w,h and percentages are not supported")
            raise TileError(f"size {size!r} is not max, w, ,h or w,h")
        width = int(match.group(1)) if match.group(1) is not None else None
        height = int(match.group(2)) if match.group(2) is not None else None
        if width is None:
            width = max(1, round(region[0] * height / region[1]))
        if height is None:
            height = max(1, round(region[1] * width / region[0]))
        if width == 0 or height == 0:
            raise TileError(f"size {size!r} is empty")
        if width > region[0] or height > region[1]:
            raise TileError(f"size {size!r} is larger than the region ({region[0]} × {region[1]}) without ^")
        if not within_limits(width, height):
            raise TileError(
                f"size {size!r} is larger than this server makes ({MAX_WIDTH} × {MAX_HEIGHT}, {MAX_AREA:,} pixels)"
            )
        return (width, height)

    def tile(self, region: str, size: str) -> Tile:
        """The tile a IIIF ``region``/``size`` pair names; TileError unless it is one of the grid's."""
        if region == "full":
            box = (0, 0, self.width, self.height)
        elif match := _REGION.fullmatch(region):
            x, y, w, h = map(int, match.groups())
            box = (x, y, x + w, y + h)
        else:
            raise TileError(f"region {region!r} is neither 'full' nor x,y,w,h")
        left, top, right, bottom = box
        for factor in self.scale_factors:
            span = self.tile_size * factor
            on_grid = (
                left % span == 0
                and top % span == 0
                and left < self.width
                and top < self.height
                and right == min(left + span, self.width)
                and bottom == min(top + span, self.height)
            )
            if on_grid:
                expected = (math.ceil((right - left) / factor), math.ceil((bottom - top) / factor))
                if _size_matches(size, expected, (self.width, self.height)):
                    return Tile(box, expected, factor)
        raise TileError(f"{region}/{size} is not a tile of this image")


def within_limits(width: int, height: int) -> bool:
    return width <= MAX_WIDTH and height <= MAX_HEIGHT and width * height <= MAX_AREA


def check_rotation_and_name(rotation: str, image_name: str) -> None:
    """TileError unless ``rotation`` is 0 and ``image_name`` default.jpg (all level 1 asks);
    NotImplementedFeature for the other rotations, qualities and formats the API defines."""
    quality, _, extension = image_name.partition(".")
    if not _ROTATION.fullmatch(rotation) or quality not in QUALITIES or extension not in FORMATS:
        raise TileError(f"{rotation}/{image_name} is not a rotation and quality.format")
    if rotation != "0" or image_name != "default.jpg":
        raise NotImplementedFeature(f"{rotation}/{image_name}: only rotation 0 and default.jpg are served (level 1)")


def _size_matches(size: str, expected: tuple[int, int], full: tuple[int, int]) -> bool:
    if size == "max":
        return expected == full
    match = _SIZE.fullmatch(size)
    if not match:
        return False
    width, height = int(match.group(1)), match.group(2)
    return width == expected[0] and (height is None or int(height) == expected[1])


def tile_path(source: Path, frame: int | None, pyramid: Pyramid, tile: Tile, cache_dir: Path) -> Path:
    """The JPEG of ``tile`` cut from the page image ``source``, made once into ``cache_dir``
    (with every other tile of its level: see ``_cut_level``)."""
    path = cache_dir / tile.name
    if path.exists():
        return path
    # One decoding of a page at a time: a viewer asks for a dozen tiles at once, and a
    # 10,000-pixel scan takes a few hundred megabytes decoded.
    with _lock(cache_dir):
        if not path.exists():
            _cut_level(source, frame, pyramid, tile.factor, cache_dir)
    return path


def cached_render(source: Path, frame: int | None, pyramid: Pyramid, tile: Tile, cache_dir: Path) -> Path:
    """``render``'s JPEG, made once into ``cache_dir``: for the whole page at one of ``pyramid.sizes``."""
    path = cache_dir / tile.name
    if not path.exists():
        with _lock(cache_dir):
            if not path.exists():
                write_atomically(path, render(source, frame, pyramid, tile), durable=False, mode=0o644)
    return path


_rendering = threading.BoundedSemaphore(2)  # uncached images: at most two decodings at once


def render(source: Path, frame: int | None, pyramid: Pyramid, tile: Tile, engine: str | None = None) -> bytes:
    """The JPEG of any region and size ``Pyramid.request`` allows, cut from the page image now."""
    with _rendering:
        if (engine or ENGINES[0]) == "vips":
            image = _vips_open(source, frame)
            left, top, right, bottom = tile.box
            image = image.crop(left, top, right - left, bottom - top)
            image = image.resize(tile.size[0] / image.width, vscale=tile.size[1] / image.height)
            return _vips_jpeg(image, tile.size)
        image = _decode(
            source, frame, (math.ceil(pyramid.width / tile.factor), math.ceil(pyramid.height / tile.factor))
        )
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        # A JPEG decoded at 1/2, 1/4 … scale: the box in its pixels.
        scale_x, scale_y = image.width / pyramid.width, image.height / pyramid.height
        left, top, right, bottom = tile.box
        part = image.crop((left * scale_x, top * scale_y, right * scale_x, bottom * scale_y))
        if part.size != tile.size:
            part = part.resize(tile.size, Image.Resampling.LANCZOS)
        encoded = io.BytesIO()
        part.save(encoded, format="JPEG", quality=JPEG_QUALITY)
        return encoded.getvalue()


def _vips_open(source: Path, frame: int | None):
    image = (
        pyvips.Image.new_from_file(str(source), page=frame or 0) if frame else pyvips.Image.new_from_file(str(source))
    )
    if image.hasalpha():
        image = image.flatten(background=255)
    if image.interpretation not in ("b-w", "srgb") or image.format != "uchar":
        image = image.colourspace("srgb")
    return image


def _vips_jpeg(image, size: tuple[int, int]) -> bytes:
    # Rounding in resize can leave a pixel more or less than asked.
    if (image.width, image.height) != size:
        image = image.resize(size[0] / image.width, vscale=size[1] / image.height)
        image = image.crop(0, 0, min(size[0], image.width), min(size[1], image.height))
        if (image.width, image.height) != size:
            image = image.embed(0, 0, size[0], size[1], extend="copy")
    return image.jpegsave_buffer(Q=JPEG_QUALITY, strip=True)


def _cut_level(
    source: Path, frame: int | None, pyramid: Pyramid, factor: int, cache_dir: Path, engine: str | None = None
) -> None:
    """Every tile at scale factor ``factor`` from one decoding of the page: the first view of a
    scan at full resolution costs one decode, not one per tile."""
    size = (math.ceil(pyramid.width / factor), math.ceil(pyramid.height / factor))
    if (engine or ENGINES[0]) == "vips":
        _cut_level_vips(source, frame, pyramid, factor, size, cache_dir)
        return
    image = _decode(source, frame, size)
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    step = pyramid.tile_size
    for top in range(0, size[1], step):
        for left in range(0, size[0], step):
            part = image.crop((left, top, min(left + step, size[0]), min(top + step, size[1])))
            box = (
                left * factor,
                top * factor,
                min((left + step) * factor, pyramid.width),
                min((top + step) * factor, pyramid.height),
            )
            path = cache_dir / Tile(box, part.size, factor).name
            if path.exists():
                continue
            encoded = io.BytesIO()
            part.save(encoded, format="JPEG", quality=JPEG_QUALITY)
            write_atomically(path, encoded.getvalue(), durable=False, mode=0o644)  # a cache: no fsync


def _cut_level_vips(
    source: Path, frame: int | None, pyramid: Pyramid, factor: int, size: tuple[int, int], cache_dir: Path
) -> None:
    image = _vips_open(source, frame)
    if (image.width, image.height) != size:
        image = image.resize(size[0] / image.width, vscale=size[1] / image.height)
    image = image.copy_memory()  # one decoding and scaling for all the level's tiles
    step = pyramid.tile_size
    for top in range(0, size[1], step):
        for left in range(0, size[0], step):
            width, height = min(step, size[0] - left), min(step, size[1] - top)
            if left + width > image.width or top + height > image.height:
                width, height = min(width, image.width - left), min(height, image.height - top)
            box = (
                left * factor,
                top * factor,
                min((left + step) * factor, pyramid.width),
                min((top + step) * factor, pyramid.height),
            )
            tile_size = (min(step, size[0] - left), min(step, size[1] - top))
            path = cache_dir / Tile(box, tile_size, factor).name
            if path.exists():
                continue
            data = _vips_jpeg(image.crop(left, top, width, height), tile_size)
            write_atomically(path, data, durable=False, mode=0o644)  # a cache: no fsync


def _decode(source: Path, frame: int | None, size: tuple[int, int]) -> Image.Image:
    """The page image, decoded at no more than the resolution wanted: a JPEG is decoded at
    1/2, 1/4 or 1/8 scale when that is enough, a small part of the time and memory."""
    if not frame:
        with Image.open(source) as probe:
            is_jpeg = probe.format == "JPEG"
        if is_jpeg:
            image = Image.open(source)
            image.draft(image.mode, size)
            image.load()
            return image
    return open_page(source, frame)


_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock(key: Path) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())
