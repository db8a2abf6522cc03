"""Image tiles of a page for deep zoom: a pyramid of 512 px tiles, cut on demand and cached.

The grid is the IIIF Image API's "level 0" shape: scale factors 1, 2, 4 … down to the one at
which the whole page fits in one tile; at scale factor ``s`` a tile covers ``512·s`` pixels of
the page and is at most 512 pixels wide and high. Only requests on that grid are answered, so
no request can make an image larger than a tile, nor a different one for every pixel offset
(which would fill the cache).
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
_REGION = re.compile(r"(\d{1,6}),(\d{1,6}),(\d{1,6}),(\d{1,6})")
_SIZE = re.compile(r"(\d{1,6}),(\d{1,6})?")


class TileError(WorkbenchError):
    """A region or size that is not on the page's tile grid (an HTTP 400)."""


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


def _cut_level(source: Path, frame: int | None, pyramid: Pyramid, factor: int, cache_dir: Path) -> None:
    """Every tile at scale factor ``factor`` from one decoding of the page: the first view of a
    scan at full resolution costs one decode, not one per tile."""
    size = (math.ceil(pyramid.width / factor), math.ceil(pyramid.height / factor))
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
