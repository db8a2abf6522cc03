"""Line images for the correction editor: each line cut from its page, deskewed, cached as PNG.

The editor shows every line of a page as its own image above the field holding its
text, so a page view asks for dozens of crops at once. Decoding the page scan is
by far the dearest step (tens of milliseconds for a large JPEG, more for a TIFF),
so crops are made a page at a time from one decoded image and kept on disk under
a key that changes with the line's geometry and with the image file.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import math
import os
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from workbench.files import write_atomically
from workbench.images.facsimile import open_page
from workbench.model import Line, Page, Point, check_manuscript_id

# Bump when the output of line_image changes, so crops made by older code are not served.
CROP_VERSION = 1
# Margin around the line, in pixels of the output; painted in the background colour.
PADDING = 4
# The background is the paper: a high percentile of the line's luminance, because ink
# covers well under half of a line polygon even in dense writing, and the very
# brightest pixels are noise and specks rather than paper.
BACKGROUND_PERCENTILE = 80
# Fast zlib level: crops are made in bulk, and the default level 6 makes them only
# about 10 % smaller for up to twice the encoding time.
PNG_COMPRESS_LEVEL = 1
# Leftovers of writers that died between creating and renaming a temporary file.
STALE_TEMP_SECONDS = 3600

_HASH_LENGTH = 20
_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,127}")


# -- one line --------------------------------------------------------------


def line_image(image: Image.Image, line: Line) -> Image.Image:
    """The line cut out of ``image``: outside its polygon painted as paper, its baseline horizontal.

    The result is greyscale ('L') for greyscale pages and RGB otherwise. Degenerate
    geometry never raises: a polygon with fewer than three points or no area falls
    back to the padded bounding box of whatever points the line has; a missing or
    zero-length baseline means no rotation; points off the page are clipped to it.
    """
    width, height = image.size
    if width == 0 or height == 0:
        return _blank(_output_mode(image.mode))
    polygon = _clip(line.boundary, width, height)
    if len(set(polygon)) < 3 or abs(_area(polygon)) < 1:
        polygon = _fallback_rectangle(polygon + _clip(line.baseline, width, height), width, height)
        if polygon is None:
            return _blank(_output_mode(image.mode))

    xs, ys = [x for x, _ in polygon], [y for _, y in polygon]
    left, top = min(xs), min(ys)
    crop = _normalise(image.crop((left, top, max(xs) + 1, max(ys) + 1)))
    local = [(x - left, y - top) for x, y in polygon]

    mask = Image.new("L", crop.size, 0)
    ImageDraw.Draw(mask).polygon(local, fill=255)
    background = _background(crop, mask)
    paper = Image.new(crop.mode, crop.size, background)
    # Neighbouring lines' ascenders and descenders reach into the bounding box;
    # only the line itself should be there to read.
    masked = Image.composite(crop, paper, mask)

    angle = _baseline_angle(line.baseline)
    cos, sin = math.cos(angle), math.sin(angle)
    # A turn that moves no pixel by as much as half a pixel would only blur.
    if abs(sin) * max(crop.size) < 0.5:
        out = Image.new(crop.mode, (crop.width + 2 * PADDING, crop.height + 2 * PADDING), background)
        out.paste(masked, (PADDING, PADDING))
        return out

    # Rotate by -angle: q = R(-angle) p. Only the polygon's own rotated bounding box is
    # computed, so rotating and trimming are one resampling pass over the output.
    turned = [(cos * x + sin * y, -sin * x + cos * y) for x, y in local]
    qx0 = min(x for x, _ in turned) - PADDING
    qy0 = min(y for _, y in turned) - PADDING
    size = (
        math.ceil(max(x for x, _ in turned) - qx0) + 1 + PADDING,
        math.ceil(max(y for _, y in turned) - qy0) + 1 + PADDING,
    )
    # Pillow's affine data maps each output pixel back to the input: p = R(angle) q.
    inverse = (cos, -sin, cos * qx0 - sin * qy0, sin, cos, sin * qx0 + cos * qy0)
    return masked.transform(size, Image.Transform.AFFINE, inverse, Image.Resampling.BICUBIC, fillcolor=background)


def _blank(mode: str) -> Image.Image:
    # Nothing of the line is on the page: one pixel of white keeps the editor's layout.
    return Image.new(mode, (1, 1), 255 if mode == "L" else (255, 255, 255))


def _clip(points: Sequence[Point], width: int, height: int) -> list[tuple[int, int]]:
    # kraken's polygons often reach a pixel or two past the page edge; clamping each
    # point keeps the shape for those and collapses a line wholly off the page,
    # which then falls back like any other degenerate polygon.
    return [(min(max(int(x), 0), width - 1), min(max(int(y), 0), height - 1)) for x, y in points]


def _area(polygon: Sequence[tuple[int, int]]) -> float:
    return 0.5 * sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(polygon, polygon[1:] + polygon[:1], strict=True))


def _fallback_rectangle(points: list[tuple[int, int]], width: int, height: int) -> list[tuple[int, int]] | None:
    if not points:
        return None
    # With no usable outline the best guess is the area around the points there are;
    # the padding gives a baseline-only line some height.
    pad = 4 * PADDING
    left = max(min(x for x, _ in points) - pad, 0)
    top = max(min(y for _, y in points) - pad, 0)
    right = min(max(x for x, _ in points) + pad, width - 1)
    bottom = min(max(y for _, y in points) + pad, height - 1)
    if right <= left or bottom <= top:
        return None
    return [(left, top), (right, top), (right, bottom), (left, bottom)]


def _baseline_angle(baseline: Sequence[Point]) -> float:
    """The baseline's direction in radians (image y points down), within [-π/2, π/2]; 0 if it has none."""
    if len(baseline) < 2:
        return 0.0
    (x0, y0), (x1, y1) = baseline[0], baseline[-1]
    dx, dy = x1 - x0, y1 - y0
    if math.hypot(dx, dy) < 2:
        return 0.0
    angle = math.atan2(dy, dx)
    # A baseline listed right to left is likelier than writing upside down: never
    # turn a line over. A vertical baseline (a note written up the margin) is kept
    # vertical in its own direction, which turns it to read left to right.
    if angle > math.pi / 2:
        angle -= math.pi
    elif angle < -math.pi / 2:
        angle += math.pi
    return angle


def _output_mode(mode: str) -> str:
    return "L" if mode in ("1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F") else "RGB"


def _normalise(crop: Image.Image) -> Image.Image:
    """The crop as 'L' or 'RGB', the modes every browser shows and PNG stores compactly."""
    mode = crop.mode
    if mode in ("L", "RGB"):
        return crop
    if mode.startswith("I") or mode == "F":
        # 16-bit scans (TIFF, PNG): scale to 8 bits rather than clip at 255, which
        # would turn the whole page white.
        values = np.asarray(crop, dtype=np.float32)
        return Image.fromarray(np.clip(values / 257.0, 0, 255).astype(np.uint8), "L")
    if mode == "P":
        mode = "RGBA" if "transparency" in crop.info else "RGB"
        crop = crop.convert(mode)
    if mode in ("LA", "La", "PA", "RGBA", "RGBa"):
        # Transparent parts of a scan are nothing; show them as white paper.
        target = "L" if mode in ("LA", "La") else "RGB"
        flat = Image.new(target, crop.size, 255 if target == "L" else (255, 255, 255))
        flat.paste(crop.convert(target), mask=crop.getchannel("A"))
        return flat
    return crop.convert(_output_mode(mode))


def _background(crop: Image.Image, mask: Image.Image) -> int | tuple[int, ...]:
    # The histogram is computed in C, under the mask, without copying pixels out.
    histogram = crop.histogram(mask=mask)
    bands = len(crop.getbands())
    levels = []
    for band in range(bands):
        counts = histogram[256 * band : 256 * (band + 1)]
        total = sum(counts)
        if total == 0:
            levels.append(255)
            continue
        wanted, seen = total * BACKGROUND_PERCENTILE / 100, 0
        for level, count in enumerate(counts):
            seen += count
            if seen >= wanted:
                levels.append(level)
                break
    return levels[0] if bands == 1 else tuple(levels)


# -- the cache --------------------------------------------------------------


class LineImageCache:
    """Line images as PNG files under ``folder`` (an edition's ``.workbench/cache/lines/``).

    Layout: ``<folder>/<manuscript>/<page id>/<line id>.<key>.png``. The key hashes
    the line's boundary and baseline, the page image's name, size, mtime and frame,
    and the crop code's version, so a re-segmented line or a replaced scan gets a
    new file and a stale crop is never shown. Files are written under a temporary
    name and renamed, so a reader sees a whole PNG or none. When a line's crop is
    remade, its older versions (and crops of lines no longer on the page) are
    deleted, so the cache grows with the edition and not with its history.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, manuscript_id: str, page: Page, line: Line, image_path: Path) -> Path:
        """The PNG of ``line``, made if missing.

        A miss makes the crops of every line of the page that lacks one, from one
        decoding of the image: the editor asks for a page's lines together, and
        decoding the scan costs far more than cutting all its lines.
        """
        image_key = _image_key(image_path, page)
        folder = self._page_folder(manuscript_id, page)
        target = folder / _file_name(line, image_key)
        if _is_whole(target):
            return target
        lines = [other for other in page.lines if other.id != line.id] + [line]
        return self._make(folder, page, lines, image_path, image_key)[line.id]

    def page_paths(self, manuscript_id: str, page: Page, lines: Iterable[Line], image_path: Path) -> dict[str, Path]:
        """The PNG of each of ``lines`` (line id → path), all missing ones made from one decoding of the page."""
        image_key = _image_key(image_path, page)
        folder = self._page_folder(manuscript_id, page)
        lines = list(lines)
        paths = {line.id: folder / _file_name(line, image_key) for line in lines}
        if all(_is_whole(path) for path in paths.values()):
            return paths
        return self._make(folder, page, lines, image_path, image_key)

    # -- internals ----------------------------------------------------------

    def _page_folder(self, manuscript_id: str, page: Page) -> Path:
        return self.folder / check_manuscript_id(manuscript_id) / _safe(page.id)

    def _make(self, folder: Path, page: Page, lines: list[Line], image_path: Path, image_key: str) -> dict[str, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        paths = {line.id: folder / _file_name(line, image_key) for line in lines}
        # One maker per page at a time (threads and processes alike): the requests
        # for a page's other lines wait here and then find their files made, instead
        # of each decoding the page again.
        with _locked(folder / ".lock"):
            missing = [line for line in lines if not _is_whole(paths[line.id])]
            if missing:
                with open_page(image_path, page.frame) as image:
                    for line in missing:
                        _write_png(line_image(image, line), paths[line.id])
            keep = {path.name for path in paths.values()}
            current = {_safe(line.id) for line in page.lines} | {_safe(line.id) for line in lines}
            _remove_stale(folder, keep, current)
        return paths


def _image_key(image_path: Path, page: Page) -> str:
    stat = os.stat(image_path)
    return f"{image_path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\0{page.frame}\0{CROP_VERSION}"


def _file_name(line: Line, image_key: str) -> str:
    geometry = json.dumps([[list(p) for p in line.boundary], [list(p) for p in line.baseline]])
    digest = hashlib.blake2b(f"{image_key}\0{geometry}".encode(), digest_size=_HASH_LENGTH // 2).hexdigest()
    return f"{_safe(line.id)}.{digest}.png"


def _safe(name: str) -> str:
    # Ids come from xml:id and are file-name safe in practice; anything else (a dot,
    # a non-ASCII letter) is hashed rather than trusted in a path.
    if _SAFE_NAME.fullmatch(name):
        return name
    return "id-" + hashlib.blake2b(name.encode(), digest_size=8).hexdigest()


def _is_whole(path: Path) -> bool:
    # Renames make files whole for readers, but without fsync a crash can leave an
    # empty file under the final name; remake those rather than serve them.
    try:
        return path.stat().st_size > 0
    except FileNotFoundError:
        return False


def _write_png(image: Image.Image, target: Path) -> None:
    encoded = io.BytesIO()
    image.save(encoded, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    # A cache: no fsync. 0644: the web server may run as another user than the maker.
    write_atomically(target, encoded.getvalue(), durable=False, mode=0o644)


def _remove_stale(folder: Path, keep: set[str], current_lines: set[str]) -> None:
    now = time.time()
    made = {_line_part(name) for name in keep}
    for entry in _entries(folder):
        name = entry.name
        if name.endswith(".png") and name not in keep:
            line_id = _line_part(name)
            # Older crops of the lines just made, and crops of lines that are no
            # longer on the page; other lines' current crops stay.
            if line_id in made or line_id not in current_lines:
                Path(entry.path).unlink(missing_ok=True)
        elif name.endswith(".tmp"):
            try:
                if now - entry.stat().st_mtime > STALE_TEMP_SECONDS:
                    Path(entry.path).unlink(missing_ok=True)
            except FileNotFoundError:
                pass


def _line_part(file_name: str) -> str:
    # "<line id>.<key>.png"; the key is hex, so the last dot before it ends the id.
    return file_name[: -len(".png")].rpartition(".")[0]


def _entries(folder: Path) -> Iterator[os.DirEntry[str]]:
    with os.scandir(folder) as entries:
        yield from entries


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)
