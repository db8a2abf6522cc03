"""IIIF Presentation 3 manifests, the collection, line annotations and Content Search 2 (web/iiif.py,
exchange/presentation.py), and the public TEI/PAGE/ALTO downloads they link to (reader.export)."""

from __future__ import annotations

import io
import zipfile
from urllib.parse import urlsplit

import iiif_prezi3
import pydantic
import pytest
from lxml import etree

from tests.web.client import MS
from workbench.exchange import presentation
from workbench.search.indexing import Indexer
from workbench.web import iiif as web_iiif

TEI = "{http://www.tei-c.org/ns/1.0}"
BASE = "http://localhost"


@pytest.fixture
def published(app, sample_edition):
    """The sample edition, published under a licence and indexed (as the background indexer would)."""
    sample_edition.set_metadata(MS, {"licence": "CC-BY-4.0"}, "tester")
    sample_edition.set_published(MS, True, "tester")
    Indexer(sample_edition, app.extensions["search"]).catch_up()
    return app.test_client()


@pytest.fixture
def unpublished(app, sample_edition):
    sample_edition.set_published(MS, False, "tester")
    Indexer(sample_edition, app.extensions["search"]).catch_up()
    return app.test_client()


def ids(node, found=None) -> list[str]:
    """Every ``id`` anywhere in a JSON tree."""
    found = [] if found is None else found
    if isinstance(node, dict):
        if isinstance(node.get("id"), str):
            found.append(node["id"])
        for value in node.values():
            ids(value, found)
    elif isinstance(node, list):
        for value in node:
            ids(value, found)
    return found


def polygon_points(svg: str) -> list[tuple[float, float]]:
    polygon = etree.fromstring(svg.encode()).find("{http://www.w3.org/2000/svg}polygon")
    return [tuple(map(float, pair.split(","))) for pair in polygon.get("points").split()]


def test_manifest_follows_presentation_3_and_the_pages(published, sample_edition):
    response = published.get(f"/iiif/{MS}/manifest.json")
    assert response.status_code == 200
    assert response.mimetype == "application/ld+json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "public" in response.headers["Cache-Control"] and "max-age=300" in response.headers["Cache-Control"]
    data = response.get_json(force=True)
    # The library's own model takes it back (strict pydantic: wrong types or missing fields raise).
    assert isinstance(iiif_prezi3.Manifest(**{k: v for k, v in data.items() if k != "@context"}), iiif_prezi3.Manifest)

    assert data["@context"] == "http://iiif.io/api/presentation/3/context.json"
    assert data["type"] == "Manifest" and data["id"] == f"{BASE}/iiif/{MS}/manifest.json"
    for resource_id in ids(data):
        parts = urlsplit(resource_id)
        assert parts.scheme == "http" and parts.netloc == "localhost", resource_id
    assert data["label"] == {"bg": ["Пробно издание: страници в правописа отпреди 1945 г."]}
    fields = {entry["label"]["en"][0]: entry for entry in data["metadata"]}
    assert fields["Author"]["label"]["bg"] == ["Автор"]
    assert fields["Author"]["value"] == {"bg": ["Трифон Цанев Трифонов (1866–1926)"]}
    assert fields["Shelfmark"]["value"] == {"none": ["sample-1"]}
    assert data["rights"] == "https://creativecommons.org/licenses/by/4.0/"
    assert data["requiredStatement"]["label"] == {"bg": ["Притежател"], "en": ["Held by"]}
    assert "Регионална библиотека „Любен Каравелов“" in data["requiredStatement"]["value"]["bg"][0]
    assert data["service"] == [
        {"id": f"{BASE}/iiif/{MS}/search", "type": "SearchService2"},
        {"id": f"{BASE}/iiif/{MS}/search1", "type": "SearchService1", "profile": "http://iiif.io/api/search/1/search"},
    ]
    assert data["homepage"][0]["id"] == f"{BASE}/read/{MS}/"

    manuscript = sample_edition.read(MS)
    assert [canvas["type"] for canvas in data["items"]] == ["Canvas", "Canvas"]
    for canvas, page in zip(data["items"], manuscript.pages, strict=True):
        assert canvas["label"] == {"bg": [f"стр. {page.n}"], "en": [f"p. {page.n}"]}
        painting = canvas["items"][0]["items"][0]
        assert painting["motivation"] == "painting" and painting["target"] == canvas["id"]
        image = painting["body"]
        # Canvas, image and image service agree on the master's size.
        info_response = published.get(image["service"][0]["id"].removeprefix(BASE) + "/info.json")
        assert info_response.headers["Access-Control-Allow-Origin"] == "*"  # other sites' viewers read it too
        info = info_response.get_json(force=True)
        assert image["service"][0]["type"] == "ImageService3" and info["type"] == "ImageService3"
        assert (canvas["width"], canvas["height"]) == (image["width"], image["height"]) == (page.width, page.height)
        assert (info["width"], info["height"]) == (page.width, page.height)
        assert published.get(image["id"].removeprefix(BASE)).status_code == 200

        lines = canvas["annotations"][0]
        assert lines["type"] == "AnnotationPage"
        assert len(lines["items"]) == len([line for line in page.lines if line.text]) > 0
        for annotation, line in zip(lines["items"], page.lines, strict=True):
            assert annotation["type"] == "Annotation" and annotation["motivation"] == "supplementing"
            target = annotation["target"]
            assert target["source"] == canvas["id"] and target["selector"]["type"] == "SvgSelector"
            points = polygon_points(target["selector"]["value"])
            assert points == [tuple(map(float, point)) for point in line.boundary]
            assert all(0 <= x <= canvas["width"] and 0 <= y <= canvas["height"] for x, y in points)
            reading, diplomatic = annotation["body"]
            assert reading["type"] == diplomatic["type"] == "TextualBody"
            assert reading["language"] == diplomatic["language"] == "bg"
            assert reading["id"].endswith("/reading") and diplomatic["id"].endswith("/diplomatic")
        # The same page of annotations is served at its own id (viewers that fetch it find it).
        alone = published.get(lines["id"].removeprefix(BASE))
        assert alone.status_code == 200 and alone.headers["Access-Control-Allow-Origin"] == "*"
        assert alone.get_json(force=True)["items"] == lines["items"]

    second = data["items"][1]["annotations"][0]["items"][1]["body"]
    assert second[0]["value"] == second[1]["value"] == "гологлавъ, по бѣли рѫкави и по халатъ,"

    # A viewer asking again with the ETag gets 304.
    again = published.get(f"/iiif/{MS}/manifest.json", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_reading_and_diplomatic_bodies_differ_where_the_text_does(published, sample_edition):
    with sample_edition.edit(MS, "tester", pages=["1"]) as manuscript:
        manuscript.pages[0].lines[0].text = "<choice><abbr>Ж.</abbr><expan>Живъ</expan></choice> е <del>не</del> той"
    data = published.get(f"/iiif/{MS}/manifest.json").get_json(force=True)
    reading, diplomatic = data["items"][0]["annotations"][0]["items"][0]["body"]
    assert reading["value"] == "Живъ е  той"
    assert diplomatic["value"] == "Ж. е не той"


def test_collection_lists_published_manuscripts_only(app, sample_edition):
    client = app.test_client()
    sample_edition.set_published(MS, True, "tester")
    response = client.get("/iiif/collection.json")
    data = response.get_json(force=True)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert iiif_prezi3.Collection(**{k: v for k, v in data.items() if k != "@context"})
    assert data["type"] == "Collection" and data["id"] == f"{BASE}/iiif/collection.json"
    assert data["label"]["en"] == ["Manuscripts in the reading room"]
    assert data["items"] == [
        {
            "id": f"{BASE}/iiif/{MS}/manifest.json",
            "type": "Manifest",
            "label": {"bg": ["Пробно издание: страници в правописа отпреди 1945 г."]},
        }
    ]
    sample_edition.set_published(MS, False, "tester")
    assert client.get("/iiif/collection.json").get_json(force=True)["items"] == []


@pytest.mark.parametrize(
    "path",
    [
        f"/iiif/{MS}/manifest.json",
        f"/iiif/{MS}/1/lines.json",
        f"/iiif/{MS}/search?q=ръкави",
        f"/iiif/{MS}/search1?q=ръкави",
        f"/read/{MS}/export/tei",
        f"/read/{MS}/export/alto",
        f"/read/{MS}/viewer",
        "/iiif/nothing/manifest.json",
        f"/iiif/{MS}/9/lines.json",
    ],
)
def test_unpublished_or_unknown_is_not_found(unpublished, path):
    response = unpublished.get(path)
    assert response.status_code == 404
    assert "ръкави" not in response.get_data(as_text=True)


def test_content_search_finds_old_spelling_by_modern_words_on_its_line(published, sample_edition):
    manifest = published.get(f"/iiif/{MS}/manifest.json").get_json(force=True)
    response = published.get(manifest["service"][0]["id"].removeprefix(BASE) + "?q=бели ръкави")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    answer = response.get_json(force=True)
    assert answer["@context"] == "http://iiif.io/api/search/2/context.json"
    assert answer["type"] == "AnnotationPage"
    assert iiif_prezi3.AnnotationPage(**{k: v for k, v in answer.items() if k != "@context"})
    [hit] = answer["items"]
    line = sample_edition.read(MS, "2").pages[0].lines[1]
    assert line.id == f"{MS}_p2_l2"
    canvas = manifest["items"][1]
    left, top, width, height = presentation.line_box(line)
    assert hit["target"] == f"{canvas['id']}#xywh={left},{top},{width},{height}"
    xs, ys = [x for x, _ in line.boundary], [y for _, y in line.boundary]
    assert (left, top, left + width, top + height) == (min(xs), min(ys), max(xs), max(ys))
    assert left + width <= canvas["width"] and top + height <= canvas["height"]
    assert hit["motivation"] == "supplementing"
    assert hit["body"]["value"] == "гологлавъ, по бѣли рѫкави и по халатъ,"


def test_content_search_1_gives_the_same_hit_for_mirador(published, sample_edition):
    manifest = published.get(f"/iiif/{MS}/manifest.json").get_json(force=True)
    response = published.get(f"/iiif/{MS}/search1?q=бели ръкави")
    assert response.status_code == 200 and response.headers["Access-Control-Allow-Origin"] == "*"
    answer = response.get_json(force=True)
    assert answer["@context"] == "http://iiif.io/api/search/1/context.json"
    assert answer["@type"] == "sc:AnnotationList" and answer["@id"].startswith(f"{BASE}/iiif/{MS}/search1?q=")
    [hit] = answer["resources"]
    left, top, width, height = presentation.line_box(sample_edition.read(MS, "2").pages[0].lines[1])
    assert hit["on"] == f"{manifest['items'][1]['id']}#xywh={left},{top},{width},{height}"
    assert hit["@type"] == "oa:Annotation"
    assert hit["resource"] == {"@type": "cnt:ContentAsText", "chars": "гологлавъ, по бѣли рѫкави и по халатъ,"}
    assert published.get(f"/iiif/{MS}/search1?q=*ави").status_code == 400


def test_content_search_without_words_or_with_a_bad_query(published):
    empty = published.get(f"/iiif/{MS}/search").get_json(force=True)
    assert empty["type"] == "AnnotationPage" and empty["items"] == []
    bad = published.get(f"/iiif/{MS}/search?q=*ави")
    assert bad.status_code == 400 and "error" in bad.get_json()
    assert published.get(f"/iiif/{MS}/search?q=нищонещо").get_json(force=True)["items"] == []


def test_content_search_pages_its_answers(published, monkeypatch):
    monkeypatch.setattr(web_iiif, "SEARCH_HITS", 2)
    first = published.get(f"/iiif/{MS}/search?q=и").get_json(force=True)
    assert len(first["items"]) == 2
    following = published.get(first["next"]["id"].removeprefix(BASE)).get_json(force=True)
    assert following["items"] and following["items"][0]["target"] != first["items"][0]["target"]


def test_see_also_links_download_the_tei_page_and_alto_of_a_published_manuscript(published):
    manifest = published.get(f"/iiif/{MS}/manifest.json").get_json(force=True)
    links = {link["label"]["bg"][0]: link for link in manifest["seeAlso"]}
    assert set(links) == {"TEI P5", "PAGE XML", "ALTO 4"}
    tei = published.get(links["TEI P5"]["id"].removeprefix(BASE))
    assert tei.status_code == 200 and tei.headers["Access-Control-Allow-Origin"] == "*"
    assert tei.mimetype == links["TEI P5"]["format"] == "application/tei+xml"
    root = etree.fromstring(tei.data)
    assert root.tag == f"{TEI}TEI" and "бѣли рѫкави" in "".join(root.itertext())
    for name, namespace in (("PAGE XML", "primaresearch"), ("ALTO 4", "alto")):
        download = published.get(links[name]["id"].removeprefix(BASE))
        assert download.status_code == 200 and download.mimetype == "application/zip"
        with zipfile.ZipFile(io.BytesIO(download.data)) as archive:
            names = archive.namelist()
            assert len(names) == 2 and all(name.endswith(".xml") for name in names), names  # no images
            assert namespace in etree.fromstring(archive.read(names[0])).tag
    assert published.get(f"/read/{MS}/export/all").status_code == 404  # the editors' export is not public


def test_invalid_data_is_refused_while_the_manifest_is_built(sample_edition):
    manuscript = sample_edition.read(MS)

    def addresses(manifest_id: str) -> presentation.Addresses:
        return presentation.Addresses(
            manifest=lambda ms: manifest_id,
            canvas=lambda ms, n: f"{BASE}/c/{n}",
            lines=lambda ms, n: f"{BASE}/l/{n}",
            image_service=lambda ms, n: f"{BASE}/i/{n}",
            image=lambda ms, n: f"{BASE}/i/{n}/full",
            search=lambda ms: f"{BASE}/s",
            search1=lambda ms: f"{BASE}/s1",
            homepage=lambda ms: f"{BASE}/h",
            exports=lambda ms: [],
        )

    assert presentation.manifest(manuscript, addresses(f"{BASE}/m")).id == f"{BASE}/m"
    with pytest.raises(pydantic.ValidationError):
        presentation.manifest(manuscript, addresses("not an address"))
    manuscript.pages[0].width = 0  # no canvas of no size
    with pytest.raises(ValueError, match="page 1 of trifonov-sample has no size"):
        presentation.manifest(manuscript, addresses(f"{BASE}/m"))


def test_only_the_viewer_page_allows_inline_styles_and_scripts_stay_self(published):
    viewer = published.get(f"/read/{MS}/viewer")
    assert viewer.status_code == 200
    policy = dict(part.strip().split(" ", 1) for part in viewer.headers["Content-Security-Policy"].split(";"))
    assert policy["style-src"] == "'self' 'unsafe-inline'"
    assert policy["script-src"] == "'self'" and policy["default-src"] == "'self'"
    page = viewer.get_data(as_text=True)
    assert f'data-manifest="{BASE}/iiif/{MS}/manifest.json"' in page
    assert 'src="/assets/mirador.min.js"' in page and "<script>" not in page
    assert published.get("/assets/mirador.min.js").status_code == 200  # served from node_modules, not a CDN
    other = published.get(f"/read/{MS}/").headers["Content-Security-Policy"]
    assert "unsafe-inline" not in other
    assert f'href="/read/{MS}/viewer"' in published.get(f"/read/{MS}/").get_data(as_text=True)
