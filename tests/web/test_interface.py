"""The interface as philologists read it (issue #18): numbers that agree with their nouns,
a second step before segmenting every page, no empty model list, a split between words,
a prompt first TEI export, text-only exports, Bulgarian everywhere (no server paths), a
favicon, and every mistake in the metadata form at once."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask import render_template
from lxml import etree, html

from tests.builders import REPO
from tests.web.client import LINE, MS, PASSWORD, csrf_token, line_base, log_in, save
from workbench import metadata
from workbench.jobs import Job
from workbench.tei import validation

CATALOGUE = REPO / "workbench/web/translations/bg/LC_MESSAGES/messages.po"


def layout(client, action, **values):
    headers = {"X-CSRFToken": client.token, "HX-Request": "true"}
    return client.post(f"/m/{MS}/p/1/{action}", data=values, headers=headers)


def counts_of(page: str) -> list[str]:
    return [" ".join(text.split()) for text in re.findall(r'<span class="count [^"]+"[^>]*>(.*?)</span>', page, re.S)]


# -- 6. plurals and agreement ------------------------------------------------------------


def test_status_counts_are_numbers_with_agreeing_nouns_and_adjectives(editor, sample_edition):
    assert counts_of(editor.get("/").get_data(as_text=True)) == ["36 проверени реда"]
    # One line back to automatic, one corrected: singular and plural side by side.
    with sample_edition.edit(MS, "test", pages=["1"]) as changed:
        lines = changed.pages[0].lines
        lines[0].status = "corrected"
        lines[1].status = lines[2].status = "automatic"
    page = editor.get(f"/m/{MS}/").get_data(as_text=True)
    assert "1 поправен ред" in counts_of(page) and "2 автоматични реда" in counts_of(page)
    assert "автоматичен:" not in page and "поправен:" not in page
    page = editor.get(f"/m/{MS}/?lang=en").get_data(as_text=True)
    assert "1 corrected line" in counts_of(page) and "2 automatic lines" in counts_of(page)


def test_a_job_counts_pages_and_epochs_in_words(app):
    with app.test_request_context("/?lang=bg"):
        segment = render_template("_job.html", job=Job("a" * 12, "segment", MS, state="running", done=1, total=5))
        train = render_template("_job.html", job=Job("b" * 12, "train", MS, state="running", done=1, total=1))
    assert "1 от 5 страници" in segment and "1 от 1 епоха" in train
    with app.test_request_context("/?lang=bg"):
        cancelled = Job("c" * 12, "segment", MS, state="cancelled", done=2, total=5, message="cancelled by ivan")
        page = render_template("_job.html", job=cancelled)
    assert "Отменено след 2 от 5 страници; завършените страници остават записани." in page
    assert "cancelled by" not in page


# -- 7. segmenting every page, the model list, splitting between words ------------------------


def test_segmenting_the_whole_manuscript_asks_first_in_the_page(editor):
    page = editor.get(f"/m/{MS}/").get_data(as_text=True)
    tree = html.fromstring(page)
    forms = [form for form in tree.iter("form") if form.xpath(".//input[@name='kind' and @value='segment']")]
    assert len(forms) == 1
    step = forms[0].getparent()
    assert step.tag == "details" and "confirm" in step.get("class")
    assert " ".join(step.findtext("summary").split()) == "Сегментирай целия ръкопис"
    question = " ".join(forms[0].text_content().split())
    assert "Да се сегментират ли всички 2 страници?" in question
    assert [button.get("type") for button in forms[0].iter("button")] == ["submit", "button"]
    assert "hx-confirm" not in page and "confirm(" not in (REPO / "workbench/web/static/manuscript.js").read_text()


def test_without_a_recognition_model_the_page_says_how_to_get_one(editor):
    page = editor.get(f"/m/{MS}/").get_data(as_text=True)
    tree = html.fromstring(page)
    assert tree.xpath("//select[@name='model']") == []
    note = tree.xpath("//p[@class='no-model']")[0]
    assert "Още няма модел за разпознаване" in note.text_content()
    assert note.xpath(".//a/@href") == ["/models/"]


def test_with_a_configured_model_the_recognition_form_is_there(sample_edition, make_app):
    client = make_app(RECOGNITION_MODEL="catmus-print").test_client()
    assert log_in(client).status_code == 302
    tree = html.fromstring(client.get(f"/m/{MS}/").get_data(as_text=True))
    assert tree.xpath("//form[@class='recognize']//option/@value") == ["catmus-print"]
    assert tree.xpath("//p[@class='no-model']") == []


@pytest.mark.parametrize(
    ("typed", "cursor", "cut"),
    [
        ("въ майска нощь", 8, 9),  # "майск|а": to the nearer space, after the word
        ("въ майска нощь", 4, 2),  # "м|айска": before it
        ("въ майска нощь", 9, 9),  # between words already
        ("майска", 3, 3),  # one word: nowhere else to go
        ("{сщ҃а|свѧщеннаа} нощь", 3, 3),  # inside a mark: left for the refusal that names it
        ("въ [[ма йска]] нощь", 6, 6),
        ("нощь [[ма йска]]xyz", 17, 4),  # not to the space inside the deletion: that cuts a mark
        (" майска", 3, 3),  # a space with nothing before it is no place to cut
    ],
)
def test_a_proportional_split_inside_a_word_moves_to_a_word_boundary(typed, cursor, cut):
    from workbench.web.layout import word_boundary

    assert word_boundary(typed, cursor) == cut


def test_a_split_by_enter_cuts_between_words_and_a_clicked_split_where_the_caret_is(editor, sample_edition):
    assert save(editor, "въ майска нощь").status_code == 200
    cursor = len("въ майск")
    response = layout(editor, "lines/split", line=LINE, cursor=str(cursor), **{f"base-{LINE}": line_base(editor)})
    assert response.status_code == 200, response.get_data(as_text=True)
    lines = sample_edition.load(MS).pages[0].lines
    assert [lines[1].text, lines[2].text] == ["въ майска", "нощь"]
    # Undone, and cut with a point clicked on the facsimile: the caret is taken as it is.
    assert layout(editor, "undo").status_code == 200
    line = sample_edition.load(MS).pages[0].lines[1]
    (x0, y0), (x1, y1) = line.baseline[0], line.baseline[-1]
    at = f"{(x0 + x1) / 2},{(y0 + y1) / 2}"
    response = layout(
        editor, "lines/split", line=LINE, cursor=str(cursor), at=at, **{f"base-{LINE}": line_base(editor)}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    lines = sample_edition.load(MS).pages[0].lines
    assert [lines[1].text, lines[2].text] == ["въ майск", "а нощь"]
    assert sample_edition.problems(MS) == []


# -- 8. the first TEI export, text-only exports -------------------------------------------------


TINY_SCHEMA = """<grammar xmlns="http://relaxng.org/ns/structure/1.0"><start><element name="TEI"><empty/></element></start></grammar>"""


def test_tei_all_is_loaded_in_the_background_when_the_app_starts(make_app, tmp_path, monkeypatch):
    # A small stand-in for tei_all.rng in a folder of its own (tei_all itself is loaded
    # once per process and shared by the other tests).
    (tmp_path / "tei_all.rng").write_text(TINY_SCHEMA)
    monkeypatch.setattr(validation, "SCHEMA_DIR", tmp_path)
    assert "tei_all" not in make_app().extensions  # tests load it when they need it
    app = make_app(WARM_TEI_ALL=True)
    warming = app.extensions["tei_all"]
    warming.join(timeout=30)
    assert not warming.is_alive()
    loaded = validation._tei_all(tmp_path)
    assert loaded._count == 1 and len(loaded._free) == 1  # loaded once, ready for the first export
    assert validation.check_tei_all(etree.ElementTree(etree.Element("TEI")), tmp_path) == []
    assert loaded._count == 1


def test_the_plain_text_export_holds_the_text_files_only(editor):
    response = editor.get(f"/m/{MS}/export/text")
    assert response.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(response.data)).namelist()
    assert names and all(name.startswith(f"{MS}/text/") and name.endswith(".txt") for name in names)
    everything = zipfile.ZipFile(io.BytesIO(editor.get(f"/m/{MS}/export/all").data)).namelist()
    assert f"{MS}/facsimiles/{MS}/001.jpg" in everything


def test_an_export_answers_with_the_token_the_preparing_link_waits_for(editor):
    response = editor.get(f"/m/{MS}/export/tei?ready=k3x9q")
    assert response.status_code == 200
    assert "export-ready=k3x9q" in response.headers["Set-Cookie"]
    refused = editor.get(f"/m/{MS}/export/nothing?ready=k3x9q")
    assert refused.status_code == 404
    assert "Set-Cookie" not in editor.get(f"/m/{MS}/export/tei?ready=<script>").headers
    tree = html.fromstring(editor.get(f"/m/{MS}/").get_data(as_text=True))
    assert len(tree.xpath("//ul[@class='exports']//a[@class='export']")) == 7
    assert tree.xpath("//ul[@class='exports']/@data-preparing") == ["подготвя се…"]
    assert tree.xpath("//script[contains(@src, 'manuscript.js')]")


# -- 9. Bulgarian everywhere ----------------------------------------------------------------------

PLACEHOLDER = re.compile(r"%\(\w+\)[sdf]|%[sd]")
SHOWN_ATTRIBUTES = ("title", "placeholder", "aria-label", "alt", "label")


def english_fragments() -> list[str]:
    """The catalogue's English that has a different Bulgarian translation, cut at its
    placeholders: pieces that must not appear on a page rendered in Bulgarian."""
    with open(CATALOGUE, "rb") as file:
        catalogue = read_po(file)
    pieces = set()
    for message in catalogue:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for english in ids:
            if english in strings:
                continue  # the same in both languages (a format's name, say)
            for piece in PLACEHOLDER.split(english):
                piece = " ".join(piece.split()).strip(" :·,.()")
                if len(piece) >= 4 and re.search("[A-Za-z]{3}", piece):
                    pieces.add(piece)
    assert len(pieces) > 300
    return sorted(pieces)


def shown_texts(page: str) -> list[str]:
    """What a person sees of a page: its text and the attributes read out or shown."""
    tree = html.fromstring(page)
    for hidden in tree.xpath("//script | //style | //input[@type='hidden']"):
        hidden.drop_tree()
    texts = [" ".join(text.split()) for text in tree.xpath("//text()")]
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        for name, value in element.attrib.items():
            shown_value = name == "value" and element.get("type") in ("submit", "button")
            if name in SHOWN_ATTRIBUTES or shown_value or (name.startswith("data-") and " " in value):
                texts.append(" ".join(value.split()))
    return [text for text in texts if text]


def untranslated(page: str, pieces: list[str]) -> list[str]:
    found = []
    for text in shown_texts(page):
        for piece in pieces:
            if text == piece or (" " in piece and piece in text):
                found.append(f"{piece!r} in {text!r}")
    return found


def alto_zip(*extra: tuple[str, bytes]) -> bytes:
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        for path in sorted((REPO / "tests/data/ground-truth/alto4-escriptorium").iterdir()):
            archive.write(path, path.name)
        for entry, data in extra:
            archive.writestr(entry, data)
    return packed.getvalue()


def upload(client, data: bytes, name: str):
    token = csrf_token(client, "/import")
    return client.post(
        "/import", data={"file": (io.BytesIO(data), name), "csrf_token": token}, content_type="multipart/form-data"
    )


def test_every_page_in_bulgarian_shows_no_english_from_the_catalogue(make_app, accounts, sample_edition):
    pieces = english_fragments()
    accounts.add("olga", "admin", PASSWORD)
    accounts.add("petar", "transcriber", PASSWORD)
    sample_edition.set_published(MS, True, "ivan")
    app = make_app()
    pages: dict[str, str] = {}
    for name in ("olga", "ivan", "petar", None):
        client = app.test_client()
        if name:
            assert log_in(client, name).status_code == 302
        client.get("/?lang=bg")
        for url in (
            "/",
            f"/m/{MS}/",
            f"/m/{MS}/metadata",
            f"/m/{MS}/uncertain",
            f"/m/{MS}/p/1/",
            f"/m/{MS}/p/2/",
            f"/m/{MS}/lines/{LINE}/history",
            f"/m/{MS}/lines/{LINE}/diff",
            f"/m/{MS}/lines/{LINE}/comments",
            f"/m/{MS}/review",
            "/models/",
            "/import",
            "/admin/accounts",
            "/read/",
            f"/read/{MS}/",
            f"/read/{MS}/1/",
            f"/read/{MS}/1/2",
            "/read/search?q=сила",
            "/login",
            "/no/such/page",  # the error page
            f"/m/{MS}/p/99/",
        ):
            response = client.get(url, headers={"Accept": "text/html"})
            if response.mimetype == "text/html":
                pages[f"{name} {url} {response.status_code}"] = response.get_data(as_text=True)
        if name == "ivan":
            pages["import report"] = upload(client, alto_zip(("extra.xml", b"<alto/>")), "wills.zip").get_data(
                as_text=True
            )
            pages["import error"] = upload(client, b"not a zip", "broken.zip").get_data(as_text=True)
            pages["import empty"] = upload(client, _zip(("readme.txt", b"hello")), "empty.zip").get_data(as_text=True)
            token = csrf_token(client, f"/m/{MS}/metadata")
            pages["metadata errors"] = client.post(
                f"/m/{MS}/metadata", data={"csrf_token": token, "years": "когато", "title": ""}
            ).get_data(as_text=True)
    assert any(" 403" in key for key in pages) and any(" 404" in key for key in pages)
    with app.test_request_context("/?lang=bg"):
        for state in ("queued", "running", "done", "failed", "cancelled"):
            for kind in ("segment", "recognize", "train"):
                pages[f"job {kind} {state}"] = render_template(
                    "_job.html", job=Job("c" * 12, kind, MS, state=state, done=1, total=2)
                )
    problems = {where: found for where, page in pages.items() if (found := untranslated(page, pieces))}
    assert problems == {}
    assert len(pages) > 70


def test_the_check_finds_english_left_in_a_page():
    pieces = english_fragments()
    assert untranslated("<p><button>Yes, segment</button></p>", pieces) == ["'Yes, segment' in 'Yes, segment'"]
    assert untranslated('<p title="Least certain lines first">x</p>', pieces)
    assert untranslated("<p>Да, сегментирай</p>", pieces) == []


def _zip(*entries: tuple[str, bytes]) -> bytes:
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        for entry, data in entries:
            archive.writestr(entry, data)
    return packed.getvalue()


def test_import_errors_name_the_uploaded_file_never_a_server_path(editor, sample_edition):
    response = upload(editor, _zip(("notes/readme.txt", b"hello")), "letters.zip")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Нищо не беше внесено." in page and "letters.zip" in page
    for server_path in (str(sample_edition.root), ".workbench", "workbench-upload-", "workbench-import-", "/tmp"):
        assert server_path not in page, server_path


def test_an_import_report_is_in_bulgarian_and_names_files_inside_the_upload(editor, sample_edition):
    response = upload(
        editor, alto_zip(("extra.xml", b'<alto xmlns="http://www.loc.gov/standards/alto/ns-v3#"/>')), "wills.zip"
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    items = [
        " ".join(item.text_content().split()) for item in html.fromstring(page).xpath("//ul[@class='imported']/li")
    ]
    assert items and all(
        re.fullmatch(r"Страница \d+: \S+\.xml \(ALTO[^)]*\) \+ \S+, \d+ реда?", item) for item in items
    )
    # The reason, in Bulgarian (test_import_messages.py checks every kind).
    assert "extra.xml: пространството от имена http://www.loc.gov/standards/alto/ns-v3#" in page
    assert str(sample_edition.root) not in page and "workbench-upload-" not in page


# -- 10. a favicon, every metadata mistake at once --------------------------------------------------


def test_every_page_links_the_projects_own_favicon(client):
    page = client.get("/read/").get_data(as_text=True)
    href = html.fromstring(page).xpath("//link[@rel='icon']/@href")
    assert href == ["/assets/favicon.svg"]
    response = client.get(href[0])
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    svg = etree.fromstring(response.data)
    assert svg.tag == "{http://www.w3.org/2000/svg}svg" and len(svg) >= 3
    assert Path(REPO / "workbench/web/static/favicon.svg").read_bytes() == response.data


def test_metadata_update_names_every_mistake(sample_edition):
    manuscript = sample_edition.load(MS)
    with pytest.raises(metadata.MetadataError) as raised:
        metadata.update(manuscript, {"title": "", "years": "когато", "language": "1", "dimensions": "голям"})
    assert [(error.field, error.code) for error in raised.value.every] == [
        ("title", "required"),
        ("years", "years"),
        ("language", "language"),
        ("dimensions", "dimensions"),
    ]
    assert str(raised.value).count(": ") == 4
    assert manuscript.title == sample_edition.load(MS).title  # nothing was set


def test_the_metadata_form_shows_all_its_mistakes_at_once(editor, sample_edition):
    before = sample_edition.tei_path(MS).read_bytes()
    page = editor.get(f"/m/{MS}/metadata").get_data(as_text=True)
    fields = dict(re.findall(r'<input type="hidden" name="(was-\w+)" value="([^"]*)"', page))
    fields.update({name.removeprefix("was-"): value for name, value in fields.items()})
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    wrong = {"years": "когато", "language": "1", "dimensions": "голям", "licence": "мой"}
    response = editor.post(f"/m/{MS}/metadata", data={**fields, **wrong, "csrf_token": token})
    assert response.status_code == 422
    tree = html.fromstring(response.get_data(as_text=True))
    assert sorted(tree.xpath("//p[@class='error' and starts-with(@id, 'error-')]/@id")) == sorted(
        f"error-{name}" for name in wrong
    )
    assert "Поправете отбелязаните по-долу 4 полета" in tree.xpath("//p[@id='metadata-errors']")[0].text_content()
    for name, value in wrong.items():
        assert tree.xpath(f"//*[@id='field-{name}']/@value") == [value]  # nothing typed is lost
    assert sample_edition.tei_path(MS).read_bytes() == before
