"""The IIIF Image API 3 at level 1 over HTTP, checked against the specification's rules
(https://iiif.io/api/image/3.0/): info.json, a table of valid and invalid requests with the
status each must get, pixels against the master cut with Pillow, limits, CORS, caching,
and who may see an unpublished page."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from tests.web.client import MS, log_in
from workbench.images import tiles as image_api
from workbench.users import ROLES

BASE = f"/iiif/{MS}/1"  # page 1: a 1240 × 1754 JPEG
LEVEL_1 = "http://iiif.io/api/image/3/context.json"


@pytest.fixture(params=image_api.ENGINES)
def engine(request, monkeypatch) -> str:
    """Each request once with each image library installed (libvips and Pillow, or Pillow alone)."""
    monkeypatch.setattr(image_api, "ENGINES", (request.param,))
    return request.param


@pytest.fixture
def published(app, sample_edition):
    sample_edition.set_published(MS, True, "tester")
    return app.test_client()


def image_of(response) -> Image.Image:
    assert response.status_code == 200, (response.status_code, response.get_data(as_text=True)[:200])
    assert response.mimetype == "image/jpeg"
    image = Image.open(io.BytesIO(response.data))
    assert image.format == "JPEG"
    return image


def master(sample_edition) -> Image.Image:
    page = sample_edition.load(MS).pages[0]
    with Image.open(sample_edition.image_path(MS, page)) as image:
        return image.convert("RGB")


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size
    a_bytes, b_bytes = a.convert("RGB").tobytes(), b.convert("RGB").tobytes()
    return sum(abs(x - y) for x, y in zip(a_bytes, b_bytes, strict=True)) / len(a_bytes)


def without_token(response) -> str:
    return re.sub(r'"X-CSRFToken": "[^"]*"', "", response.get_data(as_text=True))


def test_info_json_is_level_1_with_sizes_tiles_and_limits(published):
    response = published.get(f"{BASE}/info.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"  # JSON-LD only when asked for (jsonldMediaType)
    info = response.get_json()
    assert info["@context"] == LEVEL_1
    assert info["id"] == f"http://localhost{BASE}" and info["type"] == "ImageService3"
    assert info["protocol"] == "http://iiif.io/api/image" and info["profile"] == "level1"
    assert (info["width"], info["height"]) == (1240, 1754)
    assert (info["maxWidth"], info["maxHeight"], info["maxArea"]) == (4096, 4096, 4096 * 4096)
    assert info["sizes"] == [
        {"width": 310, "height": 439},
        {"width": 620, "height": 877},
        {"width": 1240, "height": 1754},
    ]
    assert info["tiles"] == [{"width": 512, "scaleFactors": [1, 2, 4]}]
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "public" in response.headers["Cache-Control"]
    asked = published.get(f"{BASE}/info.json", headers={"Accept": "application/ld+json"})
    assert asked.headers["Content-Type"] == f'application/ld+json;profile="{LEVEL_1}"'
    again = published.get(f"{BASE}/info.json", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_the_base_uri_redirects_to_info_json(published):
    response = published.get(BASE)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"{BASE}/info.json")


# (region/size/rotation/quality.format, status, size of the image made)
REQUESTS = [
    # regionByPx, sizeByW, sizeByH, sizeByWh, max, full, square
    ("full/max/0/default.jpg", 200, (1240, 1754)),
    ("full/620,/0/default.jpg", 200, (620, 877)),
    ("full/,877/0/default.jpg", 200, (620, 877)),
    ("full/310,439/0/default.jpg", 200, (310, 439)),
    ("full/1240,1754/0/default.jpg", 200, (1240, 1754)),
    ("square/max/0/default.jpg", 200, (1240, 1240)),
    ("square/100,/0/default.jpg", 200, (100, 100)),
    ("1,0,512,512/512,512/0/default.jpg", 200, (512, 512)),  # off the tile grid
    ("0,0,512,512/256,256/0/default.jpg", 200, (256, 256)),
    ("0,0,512,512/100,50/0/default.jpg", 200, (100, 50)),  # w,h may distort
    ("100,200,300,400/150,/0/default.jpg", 200, (150, 200)),
    ("100,200,300,400/,100/0/default.jpg", 200, (75, 100)),
    ("1000,1500,5000,5000/max/0/default.jpg", 200, (240, 254)),  # cut to the image's edge
    ("0,0,5120,5120/512,512/0/default.jpg", 200, (512, 512)),
    # not allowed by the API: 400
    ("0,0,512,512/1024,1024/0/default.jpg", 400, None),  # larger than the region, without ^
    ("0,0,512,512/513,/0/default.jpg", 400, None),
    ("full/1241,/0/default.jpg", 400, None),
    ("1240,0,10,10/max/0/default.jpg", 400, None),  # outside the image
    ("0,1754,10,10/max/0/default.jpg", 400, None),
    ("0,0,0,10/max/0/default.jpg", 400, None),  # empty region
    ("0,0,10,10/0,/0/default.jpg", 400, None),  # empty size
    ("0,0,10,10/,/0/default.jpg", 400, None),
    ("-1,0,10,10/max/0/default.jpg", 400, None),
    ("0,0,512/max/0/default.jpg", 400, None),
    ("0,0,99999999,512/512,512/0/default.jpg", 400, None),
    ("everything/max/0/default.jpg", 400, None),
    ("full/big/0/default.jpg", 400, None),
    ("full/max/left/default.jpg", 400, None),
    ("full/max/0/default", 400, None),
    ("full/max/0/sepia.jpg", 400, None),
    ("full/max/0/default.bmp", 400, None),
    ("full/max/0/default.jpg.jpg", 400, None),
    # defined by the API beyond level 1: 501
    ("full/max/90/default.jpg", 501, None),
    ("full/max/22.5/default.jpg", 501, None),
    ("full/max/!0/default.jpg", 501, None),
    ("full/max/0/gray.jpg", 501, None),
    ("full/max/0/color.jpg", 501, None),
    ("full/max/0/bitonal.jpg", 501, None),
    ("full/max/0/default.png", 501, None),
    ("full/max/0/default.webp", 501, None),
    ("pct:0,0,50,50/max/0/default.jpg", 501, None),
    ("full/pct:50/0/default.jpg", 501, None),
    ("full/!512,512/0/default.jpg", 501, None),
    ("full/^max/0/default.jpg", 501, None),
    ("full/^2000,/0/default.jpg", 501, None),
]


@pytest.mark.parametrize(("path", "status", "size"), REQUESTS, ids=[row[0] for row in REQUESTS])
def test_requests_get_the_status_the_api_gives_them(published, engine, path, status, size):
    response = published.get(f"{BASE}/{path}")
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    if status == 200:
        assert image_of(response).size == size
    else:
        assert response.mimetype == "text/plain" and response.get_data(as_text=True).strip()


@pytest.mark.parametrize(
    ("path", "box"),
    [
        ("100,200,300,400/max/0/default.jpg", (100, 200, 400, 600)),
        ("100,200,300,400/150,200/0/default.jpg", (100, 200, 400, 600)),
        ("500,150,413,600/200,/0/default.jpg", (500, 150, 913, 750)),
        ("square/620,/0/default.jpg", (0, 257, 1240, 1497)),  # the middle square
        ("full/620,877/0/default.jpg", (0, 0, 1240, 1754)),
        ("0,1200,5000,5000/max/0/default.jpg", (0, 1200, 1240, 1754)),  # cut to the image's edge
    ],
)
def test_a_region_shows_the_master_cut_with_pillow(published, sample_edition, engine, path, box):
    served = image_of(published.get(f"{BASE}/{path}"))
    expected = master(sample_edition).crop(box)
    if expected.size != served.size:
        expected = expected.resize(served.size, Image.Resampling.LANCZOS)
    difference = mean_difference(served, expected)
    assert difference < 5, difference  # JPEG's loss and the resampling's only
    # The region 20 px further up and left is another image: the comparison can fail.
    left, top, right, bottom = box
    elsewhere = master(sample_edition).crop((left - 20, top - 20, right - 20, bottom - 20)).resize(served.size)
    assert mean_difference(served, elsewhere) > difference + 3


def test_uncached_images_are_not_kept_and_are_revalidated(published, sample_edition):
    cache = sample_edition.cache_dir / "tiles" / MS
    response = published.get(f"{BASE}/1,0,512,512/256,/0/default.jpg")
    assert response.status_code == 200
    assert not list(cache.rglob("*.jpg"))  # an arbitrary region is made for its request only
    assert "public" in response.headers["Cache-Control"] and "max-age=86400" in response.headers["Cache-Control"]
    etag = response.headers["ETag"]
    again = published.get(f"{BASE}/1,0,512,512/256,/0/default.jpg", headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.data
    other = published.get(f"{BASE}/2,0,512,512/256,/0/default.jpg", headers={"If-None-Match": etag})
    assert other.status_code == 200 and other.headers["ETag"] != etag
    # The whole page at a declared size is kept, as grid tiles are.
    assert published.get(f"{BASE}/full/620,/0/default.jpg").status_code == 200
    assert [path.name for path in cache.rglob("*.jpg")] == ["0,0,1240,1754_620,877.jpg"]


def test_output_is_bounded_by_the_declared_limits(published, monkeypatch):
    monkeypatch.setattr(image_api, "MAX_WIDTH", 1000)
    monkeypatch.setattr(image_api, "MAX_HEIGHT", 1500)
    monkeypatch.setattr(image_api, "MAX_AREA", 600_000)
    info = published.get(f"{BASE}/info.json").get_json()
    assert (info["maxWidth"], info["maxHeight"], info["maxArea"]) == (1000, 1500, 600_000)
    assert info["sizes"] == [{"width": 310, "height": 439}, {"width": 620, "height": 877}]  # not 1240 × 1754
    served = image_of(published.get(f"{BASE}/full/max/0/default.jpg")).size
    assert served[0] <= 1000 and served[1] <= 1500 and served[0] * served[1] <= 600_000
    assert abs(served[0] / served[1] - 1240 / 1754) < 0.01  # max keeps the proportions
    for path in ("full/1000,/0/default.jpg", "full/,1600/0/default.jpg", "0,0,1100,10/1100,10/0/default.jpg"):
        assert published.get(f"{BASE}/{path}").status_code == 400, path


@pytest.mark.parametrize(
    "path", ["", "/info.json", "/0,0,512,512/512,512/0/default.jpg", "/1,1,50,50/max/0/default.jpg"]
)
def test_an_unpublished_page_is_for_staff_of_any_role_only(app, accounts, sample_edition, path):
    sample_edition.set_published(MS, False, "tester")
    anonymous = app.test_client().get(f"{BASE}{path}")
    assert anonymous.status_code == 404
    # The same answer as for a page that does not exist at all.
    nothing = app.test_client().get(f"/iiif/{MS}/99{path}")
    assert nothing.status_code == 404 and without_token(nothing) == without_token(anonymous)
    for role in ROLES:
        accounts.add(f"a-{role}", role, "correct horse battery staple")
        client = app.test_client()
        assert log_in(client, f"a-{role}", "correct horse battery staple").status_code == 302
        response = client.get(f"{BASE}{path}")
        assert response.status_code == (303 if not path else 200), (role, response.status_code)
        if path:
            cache_control = response.headers["Cache-Control"]
            assert "private" in cache_control and "no-cache" in cache_control and "public" not in cache_control
