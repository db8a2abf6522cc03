"""IIIF import against a IIIF server on loopback (werkzeug, in a thread; no network): v2 and
v3 manifests, the largest allowed image, 429 then success, an interrupted import resumed
without fetching again, bad manifests refused, hostile sizes and bodies bounded."""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from lxml import etree
from PIL import Image
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from workbench.edition import Edition
from workbench.exchange import iiif
from workbench.model import WorkbenchError
from workbench.sample import HADZHI_DIMITAR, render_page

SIZE = (900, 1200)  # the "master" each image service serves


@dataclass
class IiifServer:
    """A IIIF server: image services /img/<name>, manifests posted into ``files``, and
    misbehaviour on demand. Records every request (path, User-Agent)."""

    base: str = ""
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    infos: dict[str, dict] = field(default_factory=dict)
    failures: dict[str, list[int]] = field(default_factory=dict)  # path → statuses to answer first
    requests: list[tuple[str, str]] = field(default_factory=list)
    active: int = 0
    most_at_once: int = 0
    masters: dict[str, Image.Image] = field(default_factory=dict)

    def master(self, name: str) -> Image.Image:
        if name not in self.masters:
            lines = HADZHI_DIMITAR.splitlines()[len(self.masters) : len(self.masters) + 6]
            image, _ = render_page(lines, width=SIZE[0], height=SIZE[1], seed=len(self.masters))
            self.masters[name] = image.convert("RGB")
        return self.masters[name]

    def __call__(self, environ, start_response):
        request = Request(environ)
        self.active += 1
        self.most_at_once = max(self.most_at_once, self.active)
        try:
            return self.answer(request)(environ, start_response)
        finally:
            self.active -= 1

    def answer(self, request: Request) -> Response:
        path = request.path
        self.requests.append((path, request.headers.get("User-Agent", "")))
        if self.failures.get(path):
            status = self.failures[path].pop(0)
            return Response("busy", status, headers={"Retry-After": "0"} if status == 429 else {})
        if path in self.files:
            body, media_type = self.files[path]
            return Response(body, mimetype=media_type)
        if match := re.fullmatch(r"/img/([a-z0-9]+)/info.json", path):
            return Response(json.dumps(self.infos[match.group(1)]), mimetype="application/json")
        if match := re.fullmatch(r"/img/([a-z0-9]+)/full/([^/]+)/0/default.jpg", path):
            master = self.master(match.group(1))
            size = match.group(2)
            if size in ("max", "full"):
                image = master
            else:
                width, _, height = size.partition(",")
                width = int(width)
                height = int(height) if height else round(master.height * width / master.width)
                if width > master.width or height > master.height:
                    return Response("larger than the image", 400)
                image = master.resize((width, height))
            encoded = io.BytesIO()
            image.save(encoded, format="JPEG", quality=90)
            return Response(encoded.getvalue(), mimetype="image/jpeg")
        return Response("not found", 404)


@pytest.fixture
def server() -> Iterator[IiifServer]:
    iiif_server = IiifServer()
    http = make_server("127.0.0.1", 0, iiif_server)  # one request at a time, as the client asks
    iiif_server.base = f"http://127.0.0.1:{http.server_port}"
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield iiif_server
    http.shutdown()


@pytest.fixture
def edition(tmp_path) -> Edition:
    return Edition(tmp_path / "edition")


@pytest.fixture
def no_waiting(monkeypatch) -> list[float]:
    waits: list[float] = []
    monkeypatch.setattr(iiif.time, "sleep", waits.append)
    return waits


def info_v3(server: IiifServer, name: str, **extra) -> str:
    server.infos[name] = {
        "@context": "http://iiif.io/api/image/3/context.json",
        "id": f"{server.base}/img/{name}",
        "type": "ImageService3",
        "protocol": "http://iiif.io/api/image",
        "profile": "level1",
        "width": SIZE[0],
        "height": SIZE[1],
        **extra,
    }
    return f"{server.base}/img/{name}"


def manifest_v3(server: IiifServer, names: list[str], metadata: list | None = None, **info) -> str:
    canvases = []
    for i, name in enumerate(names, start=1):
        service = info_v3(server, name, **info)
        canvases.append(
            {
                "id": f"{server.base}/canvas/{i}",
                "type": "Canvas",
                "label": {"none": [f"f. {i}r"]},
                "width": SIZE[0],
                "height": SIZE[1],
                "items": [
                    {
                        "id": f"{server.base}/page/{i}",
                        "type": "AnnotationPage",
                        "items": [
                            {
                                "id": f"{server.base}/annotation/{i}",
                                "type": "Annotation",
                                "motivation": "painting",
                                "target": f"{server.base}/canvas/{i}",
                                "body": {
                                    "id": f"{service}/full/max/0/default.jpg",
                                    "type": "Image",
                                    "format": "image/jpeg",
                                    "service": [{"id": service, "type": "ImageService3", "profile": "level1"}],
                                },
                            }
                        ],
                    }
                ],
            }
        )
    manifest = {
        "@context": "http://iiif.io/api/presentation/3/context.json",
        "id": f"{server.base}/v3/manifest.json",
        "type": "Manifest",
        "label": {"bg": ["Сборник от Трифон Трифонов"], "en": ["A miscellany"]},
        "metadata": metadata or [],
        "requiredStatement": {"label": {"en": ["Attribution"]}, "value": {"en": ["Regional Library, Ruse"]}},
        "rights": "http://creativecommons.org/licenses/by/4.0/",
        "items": canvases,
    }
    server.files["/v3/manifest.json"] = (json.dumps(manifest).encode(), "application/ld+json")
    return f"{server.base}/v3/manifest.json"


def header_notes(edition: Edition, manuscript_id: str) -> list[str]:
    tree = etree.parse(str(edition.tei_path(manuscript_id)))
    return [note.text for note in tree.iterfind(".//{*}notesStmt/{*}note")]


def image_requests(server: IiifServer) -> list[str]:
    return [path for path, _ in server.requests if path.endswith("default.jpg")]


def test_a_v3_manifest_becomes_a_manuscript_with_the_largest_allowed_images(server, edition):
    metadata = [
        {"label": {"en": ["Author"]}, "value": {"en": ["Трифон Цанев Трифонов (1866–1926)"]}},
        {"label": {"bg": ["Дата"]}, "value": {"none": ["около 1895"]}},
        {"label": {"en": ["Shelfmark"]}, "value": {"none": ["<b>Ms. 12</b>"]}},
        {"label": {"en": ["Provenance"]}, "value": {"en": ["Bought in 1931 &amp; rebound"]}},
    ]
    url = manifest_v3(server, ["a", "b"], metadata, maxWidth=600)
    done = []
    report = iiif.import_manifest(edition, url, "tester", progress=lambda n, total: done.append((n, total)))
    assert report.manuscript_id == "A-miscellany"  # from the label in Latin letters
    manuscript = edition.load(report.manuscript_id)
    assert manuscript.title == "Сборник от Трифон Трифонов"  # the label, in Bulgarian where it has one
    assert manuscript.author == "Трифон Цанев Трифонов (1866–1926)"
    assert manuscript.date == "около 1895" and manuscript.shelfmark == "Ms. 12"
    notes = header_notes(edition, report.manuscript_id)
    assert f"IIIF manifest (Presentation 3): {url}" in notes
    assert "Provenance: Bought in 1931 & rebound" in notes and "Attribution: Regional Library, Ruse" in notes
    # maxWidth 600 (and maxHeight, by the API's rule, the same): 450 × 600.
    assert image_requests(server) == [f"/img/{name}/full/450,600/0/default.jpg" for name in ("a", "b")]
    assert [(page.width, page.height) for page in manuscript.pages] == [(450, 600), (450, 600)]
    with Image.open(edition.image_path(report.manuscript_id, manuscript.pages[1])) as fetched:
        expected = server.masters["b"].resize((450, 600))
        difference = sum(abs(a - b) for a, b in zip(fetched.convert("RGB").tobytes(), expected.tobytes(), strict=True))
        assert difference / len(expected.tobytes()) < 4  # canvas 2's image, not canvas 1's
    assert done == [(1, 2), (2, 2)]
    assert {agent for _, agent in server.requests} == {iiif.user_agent()}
    assert iiif.user_agent().startswith("manuscript-workbench/")
    assert server.most_at_once == 1
    assert not any(edition.state_dir.joinpath("tmp").glob("iiif-*"))  # the staging folder went with the import


def test_a_v2_manifest_level_0_sizes_and_a_plain_image(server, edition, run):
    server.infos["c"] = {
        "@context": "http://iiif.io/api/image/2/context.json",
        "@id": f"{server.base}/img/c",
        "protocol": "http://iiif.io/api/image",
        "profile": ["http://iiif.io/api/image/2/level0.json"],
        "width": SIZE[0],
        "height": SIZE[1],
        "sizes": [{"width": 225, "height": 300}, {"width": 675, "height": 900}],
    }
    plain = io.BytesIO()
    IiifServer().master("x").save(plain, format="PNG")
    server.files["/static/page2.png"] = (plain.getvalue(), "image/png")
    manifest = {
        "@context": "http://iiif.io/api/presentation/2/context.json",
        "@id": f"{server.base}/v2/manifest.json",
        "@type": "sc:Manifest",
        "label": "Тефтер",
        "metadata": [
            {"label": "Title", "value": "Another title"},
            {"label": [{"@value": "Сигнатура", "@language": "bg"}], "value": "II 45"},
        ],
        "sequences": [
            {
                "@type": "sc:Sequence",
                "canvases": [
                    {
                        "@id": f"{server.base}/canvas/1",
                        "@type": "sc:Canvas",
                        "label": "1",
                        "width": SIZE[0],
                        "height": SIZE[1],
                        "images": [
                            {
                                "@type": "oa:Annotation",
                                "motivation": "sc:painting",
                                "resource": {
                                    "@id": f"{server.base}/img/c/full/full/0/default.jpg",
                                    "@type": "dctypes:Image",
                                    "service": {
                                        "@context": "http://iiif.io/api/image/2/context.json",
                                        "@id": f"{server.base}/img/c",
                                        "profile": "http://iiif.io/api/image/2/level0.json",
                                    },
                                },
                            }
                        ],
                    },
                    {
                        "@id": f"{server.base}/canvas/2",
                        "@type": "sc:Canvas",
                        "label": "2",
                        "width": SIZE[0],
                        "height": SIZE[1],
                        "images": [{"resource": {"@id": f"{server.base}/static/page2.png", "@type": "dctypes:Image"}}],
                    },
                ],
            }
        ],
    }
    path = edition.root.parent / "manifest.json"
    path.write_text(json.dumps(manifest))
    result = run("import-iiif", str(path), "--id", "tefter")
    assert result.exit_code == 0, result.output
    assert "Imported 2 page(s) as tefter (2 image(s) fetched now)" in result.output
    manuscript = edition.load("tefter")
    assert manuscript.title == "Тефтер" and manuscript.shelfmark == "II 45"
    assert "Title: Another title" in header_notes(edition, "tefter")
    # Level 0 lists what it serves: the largest of its sizes, asked for as v2 does (w,).
    assert image_requests(server) == ["/img/c/full/675,/0/default.jpg"]
    assert [(page.width, page.height, page.mime_type) for page in manuscript.pages] == [
        (675, 900, "image/jpeg"),
        (900, 1200, "image/png"),
    ]


def test_429_and_5xx_are_retried_after_a_pause(server, edition, no_waiting):
    url = manifest_v3(server, ["a"])
    server.failures["/v3/manifest.json"] = [503]
    server.failures["/img/a/full/900,1200/0/default.jpg"] = [429, 429]
    report = iiif.import_manifest(edition, url, "tester")
    assert len(edition.load(report.manuscript_id).pages) == 1
    assert image_requests(server) == ["/img/a/full/900,1200/0/default.jpg"] * 3
    assert no_waiting == [iiif.BACKOFF_SECONDS, 0.0, 0.0]  # Retry-After: 0 is the server's wish


def test_an_interrupted_import_resumes_without_fetching_again(server, edition, no_waiting):
    url = manifest_v3(server, ["a", "b", "c"])
    server.failures["/img/c/full/900,1200/0/default.jpg"] = [500] * iiif.ATTEMPTS
    with pytest.raises(WorkbenchError, match="answered 500"):
        iiif.import_manifest(edition, url, "tester", manuscript_id="resumed")
    assert not edition.tei_path("resumed").exists()  # nothing imported
    assert len(no_waiting) == iiif.ATTEMPTS - 1 and no_waiting[1] == 2 * no_waiting[0]  # growing pauses
    staged = sorted(path.name for path in iiif.staging_folder(edition, url).iterdir())
    assert staged == ["00001.jpg", "00002.jpg"]
    server.requests.clear()
    report = iiif.import_manifest(edition, url, "tester", manuscript_id="resumed")
    assert image_requests(server) == ["/img/c/full/900,1200/0/default.jpg"]  # only what was missing
    assert report.fetched == 1 and len(edition.load("resumed").pages) == 3
    assert not iiif.staging_folder(edition, url).joinpath("00001.jpg").exists()


@pytest.mark.parametrize(
    ("body", "media_type", "message"),
    [
        (b"<html>not json</html>", "text/html", "is not JSON"),
        (b"[1, 2]", "application/json", "is not a JSON object"),
        (b'{"type": "Collection", "items": []}', "application/json", "not a IIIF Presentation manifest"),
        (b'{"@type": "sc:Manifest", "sequences": []}', "application/json", "no canvases with images"),
        (
            b'{"type": "Manifest", "items": [{"type": "Canvas", "items": "nonsense"}]}',
            "application/json",
            "no canvases",
        ),
    ],
)
def test_a_bad_manifest_is_refused_with_a_clear_message(server, edition, run, no_waiting, body, media_type, message):
    server.files["/bad.json"] = (body, media_type)
    with pytest.raises(WorkbenchError, match=re.escape(message)):
        run("import-iiif", f"{server.base}/bad.json")
    assert not edition.tei_dir.exists() or not list(edition.tei_dir.iterdir())


def test_a_manifest_that_is_not_there_is_refused(server, edition):
    with pytest.raises(WorkbenchError, match="answered 404"):
        iiif.import_manifest(edition, f"{server.base}/nothing.json", "tester")
    with pytest.raises(WorkbenchError, match="no such file, and not an http"):
        iiif.import_manifest(edition, "/nonexistent/manifest.json", "tester")


def test_huge_declared_sizes_are_bounded(server, edition):
    url = manifest_v3(server, ["a"])
    server.infos["a"].update(width=1_000_000_000, height=2_000_000_000)
    with pytest.raises(WorkbenchError, match="answered 400"):  # our server has no such image
        iiif.import_manifest(edition, url, "tester")
    width, height = map(int, re.search(r"/full/(\d+),(\d+)/", image_requests(server)[0]).groups())
    assert max(width, height) <= iiif.MAX_SIDE and width * height <= 150_000_000


def test_a_body_that_is_not_an_image_is_refused(server, edition):
    url = manifest_v3(server, ["a"])
    server.files["/img/a/full/900,1200/0/default.jpg"] = (b"<html>login first</html>", "text/html")
    with pytest.raises(WorkbenchError, match="answered text/html, not an image"):
        iiif.import_manifest(edition, url, "tester")
    server.files["/img/a/full/900,1200/0/default.jpg"] = (b"\xff\xd8 not really a jpeg", "image/jpeg")
    with pytest.raises(WorkbenchError, match="canvas 1"):
        iiif.import_manifest(edition, url, "tester")
    assert not list(iiif.staging_folder(edition, url).iterdir())  # nothing half-fetched is kept


def test_json_that_is_too_large_is_refused(server, edition, monkeypatch):
    monkeypatch.setattr(iiif, "MAX_JSON_BYTES", 10_000)
    url = manifest_v3(server, ["a"], metadata=[{"label": {"en": ["Note"]}, "value": {"en": ["x" * 20_000]}}])
    with pytest.raises(WorkbenchError, match="more than the 10,000 bytes allowed"):
        iiif.import_manifest(edition, url, "tester")
    path = edition.root.parent / "big.json"
    path.write_bytes(server.files["/v3/manifest.json"][0])
    with pytest.raises(WorkbenchError, match="more than the 10,000 bytes allowed"):
        iiif.import_manifest(edition, str(path), "tester")


def test_only_http_addresses_are_fetched(server, edition):
    url = manifest_v3(server, ["a"])
    document = json.loads(server.files["/v3/manifest.json"][0])
    body = document["items"][0]["items"][0]["items"][0]["body"]
    del body["service"]
    body["id"] = "file:///etc/passwd"
    server.files["/v3/manifest.json"] = (json.dumps(document).encode(), "application/json")
    with pytest.raises(WorkbenchError, match="only http and https addresses are fetched"):
        iiif.import_manifest(edition, url, "tester")
