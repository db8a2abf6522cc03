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
                    return Tile(box, expected)
        raise TileError(f"{region}/{size} is not a tile of this image")


def _size_matches(size: str, expected: tuple[int, int], full: tuple[int, int]) -> bool:
    if size == "max":
        return expected == full
    match = _SIZE.fullmatch(size)
    if not match:
        return False
    width, height = int(match.group(1)), match.group(2)
    return width == expected[0] and (height is None or int(height) == expected[1])


def tile_path(source: Path, frame: int | None, tile: Tile, cache_dir: Path) -> Path:
    """The JPEG of ``tile`` cut from the page image ``source``, made once into ``cache_dir``."""
    path = cache_dir / tile.name
    if path.exists():
        return path
    image = _open_for(source, frame, tile)
    scale = image.width / _source_width(source, frame) if image.width else 1
    left, top, right, bottom = tile.box
    region = image.crop((round(left * scale), round(top * scale), round(right * scale), round(bottom * scale)))
    if region.mode not in ("RGB", "L"):
        region = region.convert("RGB")
    region = region.resize(tile.size, Image.Resampling.LANCZOS) if region.size != tile.size else region
    encoded = io.BytesIO()
    region.save(encoded, format="JPEG", quality=JPEG_QUALITY)
    write_atomically(path, encoded.getvalue(), durable=False, mode=0o644)  # a cache: no fsync
    return path


def _open_for(source: Path, frame: int | None, tile: Tile) -> Image.Image:
    """The page image, decoded at no more than the resolution the tile needs: a JPEG is
    decoded at 1/2, 1/4 or 1/8 scale when that is enough, a small part of the time and memory."""
    if not frame:
        with Image.open(source) as probe:
            is_jpeg = probe.format == "JPEG"
        if is_jpeg:
            image = Image.open(source)
            left, top, right, bottom = tile.box
            factor = (right - left) / tile.size[0]
            image.draft("RGB", (math.ceil(image.width / factor), math.ceil(image.height / factor)))
            image.load()
            return image
    return open_page(source, frame)


def _source_width(source: Path, frame: int | None) -> int:
    with Image.open(source) as image:
        if frame:
            image.seek(frame)
        return image.width
