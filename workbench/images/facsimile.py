"""Page images: what is accepted into an edition, with a clear reason when not."""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from workbench.model import WorkbenchError

ACCEPTED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "TIFF": "image/tiff"}
# A 600 dpi scan of an A2 sheet is about 140 megapixels; anything far larger is
# more likely a decompression bomb than a manuscript page.
MAX_PIXELS = 150_000_000
MIN_SIDE = 100
# Pillow's own guard (a warning over this, an error over twice this) follows ours.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class BadImage(WorkbenchError):
    pass


@dataclass
class ImageInfo:
    format: str
    mime_type: str
    width: int
    height: int
    frames: int


def inspect_image(path: Path) -> ImageInfo:
    """Check that ``path`` is a whole, readable page image and describe it.

    Every frame is decoded, so a truncated or corrupt file is caught here, at intake,
    and not halfway through a segmentation job.
    """
    name = path.name
    if not path.is_file():
        raise BadImage(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise BadImage(f"{name}: the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                info = _describe(image, name)
                for frame in range(info.frames):
                    image.seek(frame)
                    image.load()
    except BadImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BadImage(
            f"{name}: the image is too large to open safely (over {MAX_PIXELS // 1_000_000} megapixels)"
        ) from None
    except UnidentifiedImageError:
        raise BadImage(f"{name}: not an image, or in a format the workbench does not read (JPEG, PNG, TIFF)") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise BadImage(f"{name}: the image is corrupt or truncated ({error})") from None
    return info


def _describe(image: Image.Image, name: str) -> ImageInfo:
    if image.format not in ACCEPTED_FORMATS:
        raise BadImage(f"{name}: {image.format} images are not accepted; use JPEG, PNG or TIFF")
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise BadImage(
            f"{name}: {width}×{height} pixels ({width * height / 1e6:.0f} megapixels) is over the limit of "
            f"{MAX_PIXELS // 1_000_000} megapixels: a decompression bomb or an unusually large scan; "
            "reduce the resolution and add it again"
        )
    if min(width, height) < MIN_SIDE:
        raise BadImage(
            f"{name}: {width}×{height} pixels is too small to be a page scan (at least {MIN_SIDE} px a side)"
        )
    return ImageInfo(image.format, ACCEPTED_FORMATS[image.format], width, height, getattr(image, "n_frames", 1))


def open_page(path: Path, frame: int | None = None) -> Image.Image:
    """The page image, loaded (one frame of a multi-page TIFF when ``frame`` is given)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = Image.open(path)
        if frame:
            image.seek(frame)
        image.load()
    return image


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
