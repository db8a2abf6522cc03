"""The import report and the job bar say in Bulgarian what the core says in English.

Sets with every kind of problem are imported through the web form with the interface in
Bulgarian, and the same sets through the core: every English word of 4+ letters the
core's notes use (file names and element names aside) must be absent from what the page
shows, and every kind of note must have been met.
"""

from __future__ import annotations

import io
import re
import time
import zipfile
from pathlib import Path

from lxml import html
from PIL import Image

from tests.builders import consuming
from tests.web.client import MS, csrf_token, log_in
from tests.web.test_interface import english_fragments, untranslated
from workbench.exchange import layout_files, transfer
from workbench.jobs import JobStore

PAGE = layout_files.PAGE_2019
ALTO = layout_files.ALTO_4
WIDTH, HEIGHT = 400, 300


def png(size: tuple[int, int] = (WIDTH, HEIGHT)) -> bytes:
    data = io.BytesIO()
    Image.new("L", size, 255).save(data, "PNG")
    return data.getvalue()


def page_xml(image: str, lines: str, regions: str = "", size: tuple[int, int] = (WIDTH, HEIGHT)) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<PcGts xmlns="{PAGE}"><Metadata><Creator>test</Creator></Metadata>'
        f'<Page imageFilename="{image}" imageWidth="{size[0]}" imageHeight="{size[1]}">{regions}'
        f'<TextRegion id="r1"><Coords points="10,10 390,10 390,290 10,290"/>{lines}</TextRegion>'
        "</Page></PcGts>"
    ).encode()


def text_line(line_id: str, polygon: str | None, baseline: str | None, text: str = "") -> str:
    coords = f'<Coords points="{polygon}"/>' if polygon else ""
    base = f'<Baseline points="{baseline}"/>' if baseline else ""
    said = f"<TextEquiv><Unicode>{text}</Unicode></TextEquiv>" if text else ""
    return f'<TextLine id="{line_id}">{coords}{base}{said}</TextLine>'


GOOD_LINE = text_line("l1", "20,20 380,20 380,60 20,60", "20,50 380,50", "въ майска нощь")
FAULTS = page_xml(
    "faults.png",
    GOOD_LINE
    + text_line("l2", "500,500 600,500 600,550 500,550", "500,540 600,540", "далече")  # off the page
    + text_line("l3", "20,80 380,80 380,120 20,120", "20,110", "една точка")  # a one-point baseline
    + text_line("l4", None, "20,150 380,150")  # no polygon: a band
    + text_line("l5", "20,200 410,200 410,240 20,240", "20,230 410,230"),  # past the edge
    regions='<ImageRegion id="i1"><Coords points="0,0 5,0 5,5 0,5"/></ImageRegion>',
)
TWIN_ALTO = (
    f'<?xml version="1.0" encoding="UTF-8"?>\n<alto xmlns="{ALTO}"><Description><MeasurementUnit>pixel'
    "</MeasurementUnit><sourceImageInformation><fileName>faults.png</fileName></sourceImageInformation>"
    f'</Description><Layout><Page WIDTH="{WIDTH}" HEIGHT="{HEIGHT}" PHYSICAL_IMG_NR="1" ID="p1"><PrintSpace>'
    '<TextBlock ID="b1" HPOS="10" VPOS="10" WIDTH="380" HEIGHT="280"><TextLine ID="t1" BASELINE="20,50 380,50" '
    'HPOS="20" VPOS="20" WIDTH="360" HEIGHT="40"><String CONTENT="нощь" HPOS="20" VPOS="20" WIDTH="360" '
    'HEIGHT="40"/></TextLine></TextBlock></PrintSpace></Page></Layout></alto>'
).encode()
TOO_MANY = page_xml(
    "many.png",
    "".join(text_line(f"m{n}", "20,20 380,20 380,60 20,60", "20,50 380,50") for n in range(5_001)),
)
FILES = [
    ("faults.xml", FAULTS),
    ("faults.png", png()),
    ("faults-alto.xml", TWIN_ALTO),  # the same page as ALTO, as eScriptorium exports it
    ("broken.xml", b"<PcGts><Page></PcGts>"),
    ("doctype.xml", b'<!DOCTYPE x [<!ENTITY e "e">]><x>&e;</x>'),
    ("unknown.xml", b'<?xml version="1.0"?><book xmlns="urn:example:books"/>'),
    ("missing.xml", page_xml("nowhere.png", GOOD_LINE)),
    ("small.xml", page_xml("small.png", GOOD_LINE)),
    ("small.png", png((200, 150))),
    ("many.xml", TOO_MANY),
    ("many.png", png()),
]
KINDS = {
    "not-xml",
    "doctype",
    "unknown-format",
    "image-missing",
    "image-size",
    "too-many-lines",
    "twin",
    "not-text",
    "off-page",
    "baseline-drawn",
    "band",
    "moved",
}


def packed(entries: list[tuple[str, bytes]]) -> bytes:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        for name, content in entries:
            archive.writestr(name, content)
    return data.getvalue()


def upload(client, data: bytes, name: str) -> str:
    token = csrf_token(client, "/import")
    response = client.post(
        "/import", data={"file": (io.BytesIO(data), name), "csrf_token": token}, content_type="multipart/form-data"
    )
    return response.get_data(as_text=True)


def codes(notes: list[str]) -> set[str]:
    found = set()
    for note in notes:
        found.add(note.code)
        found |= codes([value for value in note.params.values() if isinstance(value, layout_files.Note)])
    return found


def english_words(notes: list[str]) -> set[str]:
    """The words of 4+ letters of the core's English notes, less those that are names (of
    files, elements, formats, places) the notes carry as parameters."""
    names = set()

    def collect(value: object) -> None:
        if isinstance(value, layout_files.Note):
            for inner in value.params.values():
                collect(inner)
        elif isinstance(value, list):
            for inner in value:
                collect(inner)
        elif isinstance(value, str):
            names.update(re.findall(r"[A-Za-z]{4,}", value))

    for note in notes:
        collect(note)
        for value in note.params.values():
            collect(value)
    words = set()
    for note in notes:
        words |= set(re.findall(r"[A-Za-z]{4,}", str(note)))
    # Names of formats and XML constructs, the same in Bulgarian.
    return words - names - {"PAGE", "ALTO", "DOCTYPE", "TextLine", "TextRegion", "ImageRegion"}


def shown(page: str, xpath: str) -> list[str]:
    tree = html.fromstring(page)
    return [" ".join(item.text_content().split()) for item in tree.xpath(xpath)]


def test_every_kind_of_import_note_and_refusal_is_shown_in_bulgarian(editor, sample_edition, tmp_path):
    source = tmp_path / "problems.zip"
    source.write_bytes(packed(FILES))
    report = transfer.import_path(sample_edition, source, "ivan", "problems-core")
    assert KINDS <= codes(report.skipped + report.notes)
    english = english_words(report.skipped + report.notes)
    assert {"left", "outside", "baseline", "polygon", "namespace", "pixels"} <= english

    editor.get("/?lang=bg")
    page = upload(editor, packed(FILES), "problems.zip")
    items = shown(page, "//ul[@class='skipped']/li") + shown(page, "//ul[@class='notes']/li")
    assert len(items) == len(report.skipped) + len(report.notes)
    left = [(word, item) for item in items for word in english if re.search(rf"\b{word}\b", item)]
    assert left == []
    assert untranslated(page, english_fragments()) == []
    said = " ".join(items)
    # The data is there: files, elements with their line in the file, sizes, counts.
    for name in (
        "broken.xml",
        "doctype.xml",
        "unknown.xml",
        "nowhere.png",
        "200×150",
        "400×300",
        "5001",
        "TextLine l2",
    ):
        assert name in said, name
    assert "ред" in said and "далече" in said  # a line's place in its file, and the text of a line left out


def test_refused_imports_give_their_reasons_in_bulgarian(editor):
    editor.get("/?lang=bg")
    pieces = english_fragments()
    # Nothing readable: every file's reason, in Bulgarian.
    page = upload(editor, packed(FILES[3:6]), "unreadable.zip")
    reasons = shown(page, "//*[@id='import-error']//li")
    assert len(reasons) == 3 and all(re.search("[а-я]{4}", reason) for reason in reasons)
    assert not [reason for reason in reasons if re.search(r"\b(cannot|declaration|namespace|reads)\b", reason)]
    assert untranslated(page, pieces) == []
    # A hostile entry.
    page = upload(editor, packed([("../evil.xml", FAULTS)]), "hostile.zip")
    assert "../evil.xml" in page and "points outside" not in page
    assert untranslated(page, pieces) == []
    # No layout files at all.
    page = upload(editor, packed([("readme.txt", b"hello")]), "empty.zip")
    assert shown(page, "//*[@id='import-error']//li") and "PAGE, ALTO or TEI files" not in page
    assert untranslated(page, pieces) == []


def test_a_recognition_job_with_a_file_that_is_not_a_model_fails_in_bulgarian(make_app, sample_edition, tmp_path):
    fake = tmp_path / "model.mlmodel"
    fake.write_text("not a model")
    with sample_edition.edit(MS, "ivan", pages=["1"]) as manuscript:
        manuscript.page("1").lines[0].text = ""  # a line for the model to read, so that it is loaded
    client = make_app(RECOGNITION_MODEL=str(fake)).test_client()
    assert log_in(client).status_code == 302
    client.get("/?lang=bg")
    token = csrf_token(client, f"/m/{MS}/")
    started = client.post(f"/m/{MS}/jobs", data={"kind": "recognize", "pages": "1", "csrf_token": token})
    assert started.status_code == 200, started.get_data(as_text=True)
    job_id = re.search(r'id="job-([0-9a-f]{12})"', started.get_data(as_text=True)).group(1)
    deadline = time.monotonic() + 120
    with consuming(sample_edition.root):  # the queue's worker, as serve starts it
        while JobStore.of(sample_edition).get(job_id).active:
            assert time.monotonic() < deadline
            time.sleep(0.5)
    job = JobStore.of(sample_edition).get(job_id)
    assert job.state == "failed" and "is not a kraken recognition model" in job.message  # the CLI's English
    assert job.error == "not-a-model"
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    message = shown(page, "//div[contains(@class, 'job')]//*[@class='message']")
    assert message == ["model.mlmodel не е модел за разпознаване, който тази версия на kraken може да зареди."]
    # The worker's log, under its own heading for editors, is the worker's output as written
    # (like a validator's detail): everything else on the page is in Bulgarian.
    log = re.search(r'<details class="job-log">.*?</details>', page, re.S)
    assert log and "is not a kraken recognition model" in log.group(0)
    assert untranslated(page.replace(log.group(0), ""), english_fragments()) == []


def test_a_finished_job_is_worded_from_its_numbers(app):
    from flask import render_template

    from workbench.jobs import Job

    outcome = {"pages": 1, "of": 2, "lines": 0, "adding": False, "added": 0, "unmapped": [], "empty": []}
    outcome |= {"filled": 12, "failed": ["2"]}
    with app.test_request_context("/?lang=bg"):
        page = render_template(
            "_job.html", job=Job("c" * 12, "recognize", MS, state="failed", done=2, total=2, outcome=outcome)
        )
        trained = render_template(
            "_job.html",
            job=Job("d" * 12, "train", MS, state="done", done=2, total=2, outcome={"model": "m1", "lines": 40}),
        )
        stopped = render_template("_job.html", job=Job("e" * 12, "segment", MS, state="failed", error="stopped"))
        steps = {
            "изчаква се работният процес да започне": ("segment", {"step": "waiting"}),
            "зареждане на kraken, после страници 1, 2": ("segment", {"step": "loading", "pages": ["1", "2"]}),
            "страница 3": ("recognize", {"step": "pages", "pages": ["3"]}),
            "записване": ("segment", {"step": "saving"}),
            "епоха 2 от 30, CER при проверката 8,5% (най-добрата досега)": (
                "train",
                {"step": "epoch", "epoch": 2, "epochs": 30, "accuracy": 0.915, "cer": 0.085, "best": True},
            ),
            "епоха 3 от 30, CER при проверката 9,0%": (
                "train",
                {"step": "epoch", "epoch": 3, "epochs": 30, "accuracy": 0.91, "cer": 0.09, "best": False},
            ),
            # a job recorded before steps had the CER: its accuracy still gives it
            "епоха 4 от 30, CER при проверката 12,5%": (
                "train",
                {"step": "epoch", "epoch": 4, "epochs": 30, "accuracy": 0.875},
            ),
        }
        running = {
            said: render_template(
                "_job.html",
                job=Job("f" * 12, kind, MS, state="running", current="(the English)", step=step, total=2),
            )
            for said, (kind, step) in steps.items()
        }
    for said, rendered in running.items():
        assert shown(rendered, "//span[@class='muted']") == [said]
    assert shown(page, "//*[@class='message']") == [
        "1 от 2 страници не беше обработена: 2. 1 страница разпозната, 12 реда попълнени."
    ]
    assert (
        "m1" in shown(trained, "//*[@class='message']")[0] and "40 реда" in shown(trained, "//*[@class='message']")[0]
    )
    assert "неочаквано" in shown(stopped, "//*[@class='message']")[0]
    for rendered in (page, trained, stopped):
        assert untranslated(rendered, english_fragments()) == []


def test_the_command_line_keeps_the_english(tmp_path, sample_edition):
    source = tmp_path / "problems.zip"
    source.write_bytes(packed(FILES))
    report = transfer.import_path(sample_edition, source, "ivan", "problems-cli")
    notes = [str(note) for note in report.notes]
    assert any("left out: it lies wholly outside the page (its text was: 'далече')" in note for note in notes)
    assert any(note.startswith("faults-alto.xml (ALTO v4) left aside") for note in notes)
    assert any("cannot be read as XML" in str(item) for item in report.skipped)
    assert Path(source).exists()
