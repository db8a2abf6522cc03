"""Page images at intake: what is accepted, and a clear reason for what is not."""

from __future__ import annotations

import struct
import zlib

import pytest
from PIL import Image

from workbench.images import facsimile


def png_header_only(path, width: int, height: int) -> None:
    """A PNG that claims to be width×height but holds (almost) no data: a decompression bomb's shape."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)))


def test_a_good_jpeg_is_described(tmp_path):
    path = tmp_path / "page.jpg"
    Image.new("L", (600, 800), 200).save(path)
    info = facsimile.inspect_image(path)
    assert (info.format, info.mime_type, info.width, info.height, info.frames) == ("JPEG", "image/jpeg", 600, 800, 1)


def test_a_multi_page_tiff_has_a_frame_per_page(tmp_path):
    path = tmp_path / "scan.tif"
    frames = [Image.new("L", (400, 500), shade) for shade in (50, 100, 150)]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    assert facsimile.inspect_image(path).frames == 3
    assert facsimile.open_page(path, 2).getpixel((10, 10)) == 150


def test_corrupt_image(tmp_path):
    good = tmp_path / "good.jpg"
    Image.effect_noise((800, 800), 60).save(good)
    path = tmp_path / "corrupt.jpg"
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    with pytest.raises(facsimile.BadImage, match="corrupt.jpg: the image is corrupt or truncated"):
        facsimile.inspect_image(path)


def test_non_image_with_an_image_extension(tmp_path):
    path = tmp_path / "letter.png"
    path.write_text("Dear sir, this is not a picture.")
    with pytest.raises(facsimile.BadImage, match="letter.png: not an image"):
        facsimile.inspect_image(path)


def test_decompression_bomb(tmp_path):
    path = tmp_path / "bomb.png"
    png_header_only(path, 30_000, 30_000)
    with pytest.raises(facsimile.BadImage, match="bomb.png: .*megapixels"):
        facsimile.inspect_image(path)


def test_large_but_under_pillows_own_guard(tmp_path):
    path = tmp_path / "big.png"
    png_header_only(path, 13_000, 13_000)  # 169 megapixels: over our limit, under Pillow's error
    with pytest.raises(facsimile.BadImage, match="big.png: .*megapixels"):
        facsimile.inspect_image(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.tif"
    path.touch()
    with pytest.raises(facsimile.BadImage, match="empty.tif: the file is empty"):
        facsimile.inspect_image(path)


def test_one_pixel_image(tmp_path):
    path = tmp_path / "dot.png"
    Image.new("L", (1, 1)).save(path)
    with pytest.raises(facsimile.BadImage, match=r"dot.png: 1×1 pixels is too small"):
        facsimile.inspect_image(path)


def test_formats_other_than_jpeg_png_tiff_are_refused(tmp_path):
    path = tmp_path / "page.gif"
    Image.new("L", (300, 300)).save(path)
    with pytest.raises(facsimile.BadImage, match="GIF images are not accepted"):
        facsimile.inspect_image(path)
