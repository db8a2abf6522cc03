"""Line images for the editor: cut, masked, deskewed, and cached on disk."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
from PIL import Image, ImageDraw

from workbench.images.crops import LineImageCache, line_image
from workbench.model import Line, Page
from workbench.sample import HADZHI_DIMITAR, POD_IGOTO, render_line, render_page

PAPER = 236
TEXT = "Живъ е той, живъ е! Тамъ на Балкана"


def ink_rows(image: Image.Image, threshold: int = 128) -> int:
    """Height of the band of rows holding ink, first inked row to last."""
    rows = np.flatnonzero((np.asarray(image.convert("L")) < threshold).any(axis=1))
    return 0 if rows.size == 0 else int(rows[-1] - rows[0] + 1)


def tilted_line(page: Image.Image, at: tuple[int, int], angle: float) -> Line:
    """Paste a rendered line onto ``page`` turned by ``angle`` degrees (counter-clockwise, as seen).

    Returns the line with its true outline and baseline in page coordinates.
    """
    strip = render_line(TEXT, height=60)
    width, height = strip.size
    turned = strip.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=PAPER)
    page.paste(turned, at)
    theta = math.radians(angle)
    cx, cy = width / 2, height / 2
    ox, oy = at[0] + (turned.width - width) / 2, at[1] + (turned.height - height) / 2

    def place(x: float, y: float) -> tuple[int, int]:
        dx, dy = x - cx, y - cy
        return round(ox + cx + dx * math.cos(theta) + dy * math.sin(theta)), round(
            oy + cy - dx * math.sin(theta) + dy * math.cos(theta)
        )

    outline = [place(x, y) for x, y in [(0, 0), (width, 0), (width, height), (0, height)]]
    baseline = [place(20, 0.7 * height), place(width - 20, 0.7 * height)]
    return Line("ms_p1_l1", outline, baseline)


def band_polygon(baseline: list[tuple[int, int]], above: int, below: int) -> list[tuple[int, int]]:
    (x0, y0), (x1, y1) = baseline[0], baseline[-1]
    return [(x0, y0 - above), (x1, y1 - above), (x1, y1 + below), (x0, y0 + below)]


def page_lines(page_id: str, drawn, size: int) -> list[Line]:
    """Lines for what render_page drew: a band from above the capitals to below the descenders."""
    return [
        Line(f"{page_id}_l{k}", band_polygon(d.baseline, size, size // 2), list(d.baseline))
        for k, d in enumerate(drawn, start=1)
    ]


def make_page(image_name: str, width: int, height: int, lines: list[Line], frame: int | None = None) -> Page:
    return Page(
        id="ms_p1", n="1", image=image_name, width=width, height=height, mime_type="image/png", frame=frame, lines=lines
    )


# -- line_image ---------------------------------------------------------------


def test_a_tilted_line_comes_out_level():
    page = Image.new("L", (1400, 700), PAPER)
    line = tilted_line(page, (100, 200), 6)
    level = ink_rows(render_line(TEXT, height=60))

    deskewed = line_image(page, line)
    as_it_lies = line_image(page, Line(line.id, line.boundary, []))

    assert deskewed.mode == "L"
    assert ink_rows(as_it_lies) > 2 * ink_rows(deskewed)
    assert abs(ink_rows(deskewed) - level) <= 4
    # The crop is trimmed to the line: about as wide as the text, not the tilted box.
    assert deskewed.width < 720 and deskewed.height < 90


def test_a_baseline_listed_right_to_left_does_not_turn_the_line_over():
    page = Image.new("L", (1400, 700), PAPER)
    line = tilted_line(page, (100, 200), -4)
    forward = np.asarray(line_image(page, line), dtype=int)
    backward = np.asarray(line_image(page, Line(line.id, line.boundary, line.baseline[::-1])), dtype=int)
    assert forward.shape == backward.shape
    assert np.abs(forward - backward).max() <= 1


def test_a_line_written_up_the_margin_is_turned_to_read_across():
    page = Image.new("L", (400, 1200), PAPER)
    line = tilted_line(page, (100, 100), 90)
    image = line_image(page, line)
    assert image.width > 5 * image.height
    assert abs(ink_rows(image) - ink_rows(render_line(TEXT, height=60))) <= 4


def test_outside_the_polygon_is_paper():
    # A dark page with a light diamond holding one dark dot: whatever of the dark page
    # falls inside the crop's bounding box must be painted over.
    page = Image.new("L", (600, 400), 30)
    diamond = [(100, 200), (300, 120), (500, 200), (300, 280)]
    light = Image.new("L", page.size, 0)
    ImageDraw.Draw(light).polygon(diamond, fill=255)
    page.paste(Image.effect_noise(page.size, 8).point(lambda v: min(255, v + 110)), mask=light)
    ImageDraw.Draw(page).ellipse((290, 190, 310, 210), fill=10)

    image = line_image(page, Line("l", diamond, [(100, 200), (500, 200)]))
    pixels = np.asarray(image)
    dark = (pixels < 100).sum()
    dot = np.pi * 10 * 10
    assert 0.7 * dot < dark < 1.3 * dot
    # The corners of the bounding box are outside the diamond: paper, a single shade.
    corners = [pixels[0, 0], pixels[0, -1], pixels[-1, 0], pixels[-1, -1], pixels[5, 5]]
    assert len(set(corners)) == 1 and 220 < corners[0] < 255


def test_an_rgb_page_gives_rgb_lines_on_its_own_paper_colour():
    grey, drawn = render_page(HADZHI_DIMITAR.splitlines()[:3], width=800, height=1100, seed=4)
    sepia = (244, 232, 200)
    page = Image.merge("RGB", [grey.point(lambda v, c=c: v * c // PAPER) for c in sepia])
    line = page_lines("ms_p1", drawn, 1100 // 48)[1]
    image = line_image(page, line)
    assert image.mode == "RGB"
    corner = image.getpixel((0, 0))
    assert all(abs(a - b) <= 4 for a, b in zip(corner, sepia, strict=True))
    assert ink_rows(image) > 10


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("1", "L"), ("P", "RGB"), ("LA", "L"), ("RGBA", "RGB"), ("CMYK", "RGB"), ("I;16", "L"), ("I", "L"), ("F", "L")],
)
def test_any_page_mode_gives_l_or_rgb(mode, expected):
    grey, drawn = render_page(HADZHI_DIMITAR.splitlines()[:3], width=800, height=1100, seed=4)
    if mode in ("I;16", "I", "F"):
        page = Image.fromarray((np.asarray(grey, dtype=np.uint16) * 257).astype("<u2"))
        page = page if mode == "I;16" else page.convert(mode)
    else:
        page = grey.convert(mode)
    image = line_image(page, page_lines("ms_p1", drawn, 1100 // 48)[0])
    assert image.mode == expected
    assert ink_rows(image) > 10
    # 16-bit paper is scaled to 8 bits, not clipped to white.
    assert np.asarray(image.convert("L")).max() < 250 or mode == "1"


def test_lines_of_a_rendered_page():
    page, drawn = render_page(HADZHI_DIMITAR.splitlines(), width=1240, height=1754, seed=1)
    size = 1754 // 48
    for line in page_lines("ms_p1", drawn, size):
        image = line_image(page, line)
        assert image.mode == "L"
        # One line of text: capitals to descenders, never a neighbour's ink as well.
        assert size // 2 < ink_rows(image) < 2 * size


@pytest.mark.parametrize(
    ("boundary", "baseline"),
    [
        ([], []),
        ([(10, 10)], []),
        ([(10, 10), (200, 40)], [(10, 40), (200, 40)]),
        ([(10, 10), (100, 10), (200, 10)], [(10, 10), (200, 10)]),  # collinear: no area
        ([(10, 10), (10, 10), (10, 10), (10, 10)], [(10, 10), (10, 10)]),
        ([(-500, -500), (-100, -500), (-100, -100)], []),  # wholly off the page
        ([(5000, 5000), (6000, 5000), (6000, 6000), (5000, 6000)], [(5000, 5500), (6000, 5500)]),
        ([(-20, 100), (900, 100), (900, 160), (-20, 160)], [(-20, 150), (900, 150)]),  # partly off
        ([(100, 100), (300, 100), (300, 160), (100, 160)], [(200, 100), (200, 160)]),  # vertical baseline
        ([(100, 100), (300, 100), (300, 160), (100, 160)], [(200, 150), (201, 150)]),  # baseline too short
        ([(100, 100), (300, 100), (300, 160), (100, 160)], [(200, 150)]),
        ([(100, 100), (300, 160), (300, 100), (100, 160)], [(100, 150), (300, 150)]),  # self-crossing
        ([], [(100, 150), (300, 150)]),  # a baseline and no outline
    ],
)
def test_degenerate_geometry_does_not_crash(boundary, baseline):
    page, _ = render_page(HADZHI_DIMITAR.splitlines()[:4], width=800, height=600, seed=2)
    image = line_image(page, Line("l", boundary, baseline))
    assert image.mode == "L" and image.width >= 1 and image.height >= 1


# -- the cache ----------------------------------------------------------------


@pytest.fixture
def rendered(tmp_path):
    """A 1240×1754 page with 30 lines, saved as JPEG, and its Page."""
    texts = (HADZHI_DIMITAR + "\n" + POD_IGOTO).splitlines()
    image, drawn = render_page(texts, width=1240, height=1754, font_size=24, seed=7)
    path = tmp_path / "facsimiles" / "ms" / "001.jpg"
    path.parent.mkdir(parents=True)
    image.save(path, quality=88)
    lines = page_lines("ms_p1", drawn[:30], 24)
    assert len(lines) == 30
    return path, make_page(path.name, 1240, 1754, lines)


def test_the_cache_returns_the_same_file_without_remaking_it(tmp_path, rendered):
    image_path, page = rendered
    cache = LineImageCache(tmp_path / "cache")
    line = page.lines[3]
    first = cache.path("ms", page, line, image_path)
    made = first.stat().st_mtime_ns
    second = cache.path("ms", page, line, image_path)
    assert second == first and second.stat().st_mtime_ns == made
    assert first.parent.parent.parent == tmp_path / "cache"
    with Image.open(first) as png:
        assert png.format == "PNG" and png.mode == "L"
        assert ink_rows(png) > 10


def test_new_geometry_gets_a_new_crop_and_the_old_one_goes(tmp_path, rendered):
    image_path, page = rendered
    cache = LineImageCache(tmp_path / "cache")
    line = page.lines[0]
    old = cache.path("ms", page, line, image_path)
    with Image.open(old) as png:
        old_size = png.size

    line.boundary = [(x, y - 10 if k < 2 else y) for k, (x, y) in enumerate(line.boundary)]
    new = cache.path("ms", page, line, image_path)
    assert new != old and new.exists() and not old.exists()
    with Image.open(new) as png:
        assert png.height > old_size[1]

    line.baseline = [line.baseline[0], (line.baseline[-1][0], line.baseline[-1][1] + 30)]
    assert cache.path("ms", page, line, image_path) != new


def test_a_replaced_page_image_gets_new_crops(tmp_path, rendered):
    image_path, page = rendered
    cache = LineImageCache(tmp_path / "cache")
    line = page.lines[0]
    old = cache.path("ms", page, line, image_path)
    Image.new("L", (1240, 1754), 200).save(image_path, quality=88)
    new = cache.path("ms", page, line, image_path)
    assert new != old
    with Image.open(new) as png:
        assert ink_rows(png) == 0


def test_page_paths_makes_every_line_from_one_decoding(tmp_path, rendered):
    image_path, page = rendered
    cache = LineImageCache(tmp_path / "cache")
    paths = cache.page_paths("ms", page, page.lines, image_path)
    assert list(paths) == [line.id for line in page.lines]
    made = {}
    for line in page.lines:
        with Image.open(paths[line.id]) as png:
            png.load()
            assert 8 < ink_rows(png) < 48
        made[line.id] = paths[line.id].stat().st_mtime_ns
        assert cache.path("ms", page, line, image_path) == paths[line.id]
    again = cache.page_paths("ms", page, page.lines, image_path)
    assert again == paths
    assert {line_id: path.stat().st_mtime_ns for line_id, path in again.items()} == made
    assert not list(paths[page.lines[0].id].parent.glob("*.tmp"))


def test_crops_of_lines_no_longer_on_the_page_are_removed(tmp_path, rendered):
    image_path, page = rendered
    cache = LineImageCache(tmp_path / "cache")
    paths = cache.page_paths("ms", page, page.lines, image_path)
    gone = page.lines.pop()
    page.lines[0].baseline = [(x, y + 1) for x, y in page.lines[0].baseline]
    cache.page_paths("ms", page, page.lines, image_path)
    assert not paths[gone.id].exists()
    assert not paths[page.lines[0].id].exists()
    assert paths[page.lines[1].id].exists()


def test_a_miss_for_one_line_makes_the_whole_page(tmp_path, rendered):
    image_path, page = rendered
    cache = LineImageCache(tmp_path / "cache")
    cache.path("ms", page, page.lines[5], image_path)
    folder = cache.path("ms", page, page.lines[5], image_path).parent
    assert len(list(folder.glob("*.png"))) == len(page.lines)


def test_concurrent_requests_all_get_whole_pngs(tmp_path, rendered):
    image_path, page = rendered
    cache = LineImageCache(tmp_path / "cache")
    results: dict[str, object] = {}

    def fetch(line: Line) -> None:
        try:
            path = cache.path("ms", page, line, image_path)
            with Image.open(path) as png:
                png.load()
            results[line.id] = path
        except Exception as error:  # reported below, with the line
            results[line.id] = error

    threads = [threading.Thread(target=fetch, args=(line,)) for line in page.lines[:12]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(not isinstance(result, Exception) for result in results.values()), results
    assert len(set(results.values())) == 12


def test_a_multi_page_tiff_frame_is_cut_from_its_own_frame(tmp_path):
    path = tmp_path / "scan.tif"
    frames = []
    for shade in (200, 150, 100):
        frame, _ = render_page(HADZHI_DIMITAR.splitlines()[:4], width=800, height=600, seed=2)
        frames.append(frame.point(lambda v, s=shade: v * s // PAPER))
    frames[0].save(path, save_all=True, append_images=frames[1:])
    _, drawn = render_page(HADZHI_DIMITAR.splitlines()[:4], width=800, height=600, seed=2)
    lines = page_lines("ms_p2", drawn, 600 // 48)
    cache = LineImageCache(tmp_path / "cache")
    for frame, shade in [(None, 200), (0, 200), (1, 150), (2, 100)]:
        page = make_page(path.name, 800, 600, lines, frame=frame)
        with Image.open(cache.path("ms", page, lines[0], path)) as png:
            assert abs(png.getpixel((0, 0)) - shade) <= 2, frame


def test_odd_ids_are_kept_out_of_paths(tmp_path, rendered):
    image_path, page = rendered
    line = page.lines[0]
    line.id = "../../escape"
    page.id = "../page"
    path = LineImageCache(tmp_path / "cache").path("ms", page, line, image_path)
    assert path.is_relative_to(tmp_path / "cache" / "ms") and ".." not in path.parts
    assert path.exists()
