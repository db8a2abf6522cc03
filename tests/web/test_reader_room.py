"""The reading room over HTTP: deep zoom tiles (IIIF Image API 3; level 1 in test_iiif_image.py), the manuscript's
description and citation, search within a manuscript and from hit to hit."""

from __future__ import annotations

import io
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from tests.web.client import MS
from workbench.images.tiles import Pyramid, TileError, tile_path
from workbench.model import Editor
from workbench.search.indexing import Indexer

TILE = f"/iiif/{MS}/1"  # page 1: a 1240 × 1754 JPEG


@pytest.fixture
def published(app, sample_edition):
    sample_edition.set_published(MS, True, "tester")
    Indexer(sample_edition, app.extensions["search"]).catch_up()
    return app.test_client()


def jpeg_size(response) -> tuple[int, int]:
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "image/jpeg"
    with Image.open(io.BytesIO(response.data)) as image:
        assert image.format == "JPEG"
        return image.size


def test_info_json_describes_the_tile_grid(published):
    response = published.get(f"{TILE}/info.json", headers={"Accept": "application/ld+json"})
    assert response.status_code == 200
    assert response.mimetype == "application/ld+json"
    info = response.get_json(force=True)
    assert info["id"] == f"http://localhost{TILE}"
    assert info["type"] == "ImageService3" and info["profile"] == "level1"
    assert (info["width"], info["height"]) == (1240, 1754)
    # Scale factors until the whole page fits in one 512 px tile: 1754 / 4 = 439.
    assert info["tiles"] == [{"width": 512, "scaleFactors": [1, 2, 4]}]
    assert "public" in response.headers["Cache-Control"]


def test_tiles_are_cut_to_the_grid_and_cached(published, sample_edition):
    assert jpeg_size(published.get(f"{TILE}/0,0,512,512/512,512/0/default.jpg")) == (512, 512)
    # One decoding of the page cut the whole level: 3 × 4 tiles at full resolution.
    level = sample_edition.cache_dir / "tiles" / MS
    assert len(list(level.rglob("*_*.jpg"))) == 12
    # The last column and row are narrower; at scale factor 2 a tile covers 1024 page pixels.
    assert jpeg_size(published.get(f"{TILE}/1024,1536,216,218/216,218/0/default.jpg")) == (216, 218)
    assert jpeg_size(published.get(f"{TILE}/1024,0,216,1024/108,512/0/default.jpg")) == (108, 512)
    assert jpeg_size(published.get(f"{TILE}/0,0,1024,1024/512,/0/default.jpg")) == (512, 512)  # w, as IIIF allows
    assert jpeg_size(published.get(f"{TILE}/full/310,439/0/default.jpg")) == (310, 439)  # the whole page, 1/4
    cached = sorted(path.name for path in level.rglob("*.jpg"))
    assert len(cached) == 12 + 4 + 1  # the three levels, each cut once
    assert "0,0,512,512_512,512.jpg" in cached and "0,0,1240,1754_310,439.jpg" in cached
    # A second request is the cached file, and the browser may revalidate it.
    again = published.get(f"{TILE}/0,0,512,512/512,512/0/default.jpg")
    assert again.status_code == 200 and "max-age=86400" in again.headers["Cache-Control"]
    etag = again.headers["ETag"]
    assert (
        published.get(f"{TILE}/0,0,512,512/512,512/0/default.jpg", headers={"If-None-Match": etag}).status_code == 304
    )


def test_a_tile_shows_the_page_image_at_that_place(published, sample_edition):
    page = sample_edition.load(MS).pages[0]
    with Image.open(sample_edition.image_path(MS, page)) as original:
        expected = original.convert("RGB").crop((512, 512, 1024, 1024))
    tile = Image.open(io.BytesIO(published.get(f"{TILE}/512,512,512,512/512,512/0/default.jpg").data)).convert("RGB")
    difference = sum(abs(a - b) for a, b in zip(tile.tobytes(), expected.tobytes(), strict=True)) / len(tile.tobytes())
    assert difference < 6, difference  # JPEG's loss only


@pytest.mark.parametrize(
    "path",
    [
        "0,0,512,512/1024,1024/0/default.jpg",  # enlarged
        "5120,0,512,512/512,512/0/default.jpg",  # beyond the page
        "0,0,99999999,512/512,512/0/default.jpg",
    ],
)
def test_requests_the_api_does_not_allow_are_refused(published, path):
    assert published.get(f"{TILE}/{path}").status_code == 400  # the rest: test_iiif_image.py


@pytest.mark.parametrize(
    "path",
    [
        f"/iiif/{MS}/1/info.json",
        f"/iiif/{MS}/1/0,0,512,512/512,512/0/default.jpg",
        f"/iiif/{MS}/9/info.json",
        "/iiif/nothing/1/info.json",
        "/iiif/..%2F..%2Fetc/1/info.json",
        f"/iiif/{MS}/..%2F1/info.json",
        "/iiif/../../etc/passwd",
    ],
)
def test_unpublished_unknown_and_traversing_paths_are_not_found(app, sample_edition, path):
    sample_edition.set_published(MS, "/1/" not in path, "tester")  # the first two: unpublished
    response = app.test_client().get(path)
    assert response.status_code == 404
    assert "root:" not in response.get_data(as_text=True)


def test_a_large_scan_is_served_in_bounded_tiles(tmp_path):
    """A 6,000 × 9,000 scan: every tile at most 512 px, the smallest level one tile."""
    source = tmp_path / "scan.jpg"
    Image.linear_gradient("L").resize((6000, 9000)).save(source, quality=80)
    pyramid = Pyramid(6000, 9000)
    assert pyramid.scale_factors == [1, 2, 4, 8, 16, 32]
    whole = pyramid.tile("full", "188,282")
    assert whole.size == (188, 282)
    path = tile_path(source, None, pyramid, whole, tmp_path / "cache")
    with Image.open(path) as image:
        assert image.size == (188, 282)
        # The gradient runs top to bottom: dark at the top, light at the bottom.
        assert image.getpixel((94, 5)) < 20 and image.getpixel((94, 276)) > 235
    corner = pyramid.tile("4096,8192,1904,808", "238,101")
    with Image.open(tile_path(source, None, pyramid, corner, tmp_path / "cache")) as image:
        assert image.size == (238, 101)
    assert len(list((tmp_path / "cache").glob("*.jpg"))) == 1 + 2 * 3  # scale factor 32: 1 tile; 8: 750 × 1125 px
    with pytest.raises(TileError):
        pyramid.tile("full", "6000,9000")


def test_tiles_asked_for_at_once_are_all_made_from_one_decoding(tmp_path):
    source = tmp_path / "scan.jpg"
    Image.radial_gradient("L").resize((2048, 3000)).save(source)
    pyramid = Pyramid(2048, 3000)
    wanted = [pyramid.tile(f"{x},{y},512,512", "512,512") for x in range(0, 2048, 512) for y in range(0, 2560, 512)]
    with ThreadPoolExecutor(8) as pool:
        paths = list(pool.map(lambda tile: tile_path(source, None, pyramid, tile, tmp_path / "cache"), wanted))
    assert len(set(paths)) == len(wanted) == 20
    for path in paths:
        with Image.open(path) as image:
            assert image.size == (512, 512)


def test_the_description_licence_badge_and_citations(published, sample_edition):
    with sample_edition.edit(MS, "tester", pages=[]) as manuscript:
        manuscript.date = "около 1895"
        manuscript.years = (1893, 1897)
        manuscript.licence = "https://creativecommons.org/licenses/by-sa/4.0/"
        manuscript.editors = [Editor("Мария Иванова", "транскрипция")]
    for path in (f"/read/{MS}/", f"/read/{MS}/1/"):
        page = published.get(path).get_data(as_text=True)
        assert "около 1895 (1893–1897)" in page
        assert "Регионална библиотека „Любен Каравелов“" in page and "sample-1" in page
        assert '<span class="cc-badge">CC BY-SA 4.0</span>' in page
        assert 'rel="license" href="https://creativecommons.org/licenses/by-sa/4.0/"' in page
        assert "Мария Иванова (транскрипция)" in page
    page = published.get(f"/read/{MS}/1/3").get_data(as_text=True)
    cite = re.search(r'<span class="cite-text" id="cite">([^<]+)</span>', page).group(1)
    assert cite.startswith("Трифон Цанев Трифонов (1866–1926), ")
    assert "около 1895" in cite and "страница 1." in cite and "Под редакцията на Мария Иванова." in cite
    assert cite.endswith(f"http://localhost/read/{MS}/1/")
    line_cite = re.search(r'<span class="cite-text" id="cite-line">([^<]+)</span>', page).group(1)
    assert "страница 1, ред 3." in line_cite and line_cite.endswith(f"http://localhost/read/{MS}/1/3")
    assert page.count('class="copy" data-copy=') == 2
    assert f'data-citation="{line_cite}"' in page  # every line carries its own, for reader.js


def test_a_licence_that_is_not_creative_commons_gets_a_link_and_no_badge(published, sample_edition):
    with sample_edition.edit(MS, "tester", pages=[]) as manuscript:
        manuscript.licence = "https://example.org/our-licence"
    page = published.get(f"/read/{MS}/").get_data(as_text=True)
    assert 'href="https://example.org/our-licence"' in page and "cc-badge" not in page


def test_every_reading_page_searches_within_its_manuscript(published):
    for path in (f"/read/{MS}/", f"/read/{MS}/1/", f"/read/{MS}/2/5"):
        page = published.get(path).get_data(as_text=True)
        form = re.search(r'<form class="search within".*?</form>', page, re.S).group(0)
        assert f'name="manuscript" value="{MS}"' in form and 'name="q"' in form
    results = published.get(f"/read/search?manuscript={MS}&q=ръкави").get_data(as_text=True)
    assert "<mark>рѫкави</mark>" in results
    assert f'type="hidden" name="manuscript" value="{MS}"' in results  # the filter stays on the results page
    elsewhere = published.get("/read/search?manuscript=another&q=ръкави").get_data(as_text=True)
    assert "<mark>" not in elsewhere


def test_from_a_hit_to_the_previous_and_next_hits(published):
    results = published.get(f"/read/search?manuscript={MS}&q=е&exact=1").get_data(as_text=True)
    links = [link.replace("&amp;", "&") for link in re.findall(r'class="where" href="([^"]+)"', results)]
    assert len(links) >= 3
    assert all("q=" in link and f"manuscript={MS}" in link for link in links)
    second = published.get(links[1]).get_data(as_text=True)
    previous = re.search(r'class="previous-hit" href="([^"]+)"', second).group(1).replace("&amp;", "&")
    following = re.search(r'class="next-hit" href="([^"]+)"', second).group(1).replace("&amp;", "&")
    assert (previous, following) == (links[0], links[2])  # the order of the results list
    assert re.search(r"намерено 2 от \d+", second)
    line = re.search(r"/read/[^/]+/\d+/(\d+)\?", links[1]).group(1)
    assert re.search(rf'class="text-line current" id="line-{MS}_p\d_l{line}"', second)
    first = published.get(links[0]).get_data(as_text=True)
    assert "previous-hit" not in first and "next-hit" in first
