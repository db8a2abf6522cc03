"""What the web layer shows of the core's refusals and numbers, in Bulgarian.

The core (jobs, pipeline, training) keeps its English for the command line and gives each
refusal a ``code`` and ``params``; the web words them. Numbers with decimals take the
reader's locale: a decimal comma in Bulgarian.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from dataclasses import asdict

import pytest
from lxml import etree, html

from tests.builders import REPO
from tests.web.client import MS, csrf_token
from tests.web.test_interface import english_fragments, untranslated
from workbench.htr import pipeline
from workbench.htr.training import ModelRecord, ModelStore, Scores
from workbench.jobs import Job, JobStore
from workbench.model import WorkbenchError
from workbench.tei import validation
from workbench.tei.validation import InvalidDocument
from workbench.tei.xml import TEI_NS
from workbench.web.transfers import validation_problems


def shown(page: str, xpath: str) -> list[str]:
    return [" ".join(element.text_content().split()) for element in html.fromstring(page).xpath(xpath)]


@pytest.fixture
def bulgarian(editor):
    editor.get("/?lang=bg")
    editor.form_token = csrf_token(editor, f"/m/{MS}/")
    return editor


def start(client, **form):
    return client.post(f"/m/{MS}/jobs", data={"csrf_token": client.form_token, **form})


def refusal(response) -> str:
    assert response.status_code == 422, response.get_data(as_text=True)
    page = response.get_data(as_text=True)
    assert untranslated(page, english_fragments()) == []
    (said,) = shown(page, "//p[@role='alert']")
    return said


@pytest.mark.parametrize(
    ("form", "said"),
    [
        ({"kind": "segment", "pages": "9"}, f"Ръкописът {MS} няма страница 9."),
        ({"kind": "segment", "pages": "1-4"}, f"Ръкописът {MS} няма страница 3."),
        ({"kind": "segment", "pages": "едно"}, "„едно“ не е списък от страници: напишете напр. 3 или 1,4-6."),
        ({"kind": "segment", "pages": "2-1"}, "„2-1“ не е диапазон от страници: свършва, преди да е започнал."),
        ({"kind": "segment", "mode": "everything"}, "Изберете един от предложените начини на сегментиране."),
        (
            {"kind": "recognize"},
            "Разпознаването изисква модел: обучете модел или помолете администратора да настрои такъв.",
        ),
    ],
)
def test_a_refused_job_request_says_why_in_bulgarian(bulgarian, form, said):
    assert refusal(start(bulgarian, **form)) == said


def test_a_job_already_running_on_the_manuscript_is_named_in_bulgarian(bulgarian, sample_edition):
    store = JobStore.of(sample_edition)
    job_id = "abcdef012345"
    # A real process whose command line holds the job's id: what the store takes for its live worker.
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", job_id])
    try:
        with store._locked():
            store._write(Job(job_id, "recognize", MS, state="running", who="мария", pid=worker.pid, total=2))
        said = refusal(start(bulgarian, kind="segment"))
    finally:
        worker.kill()
        worker.wait()
    assert said == (
        f"Задача за разпознаване, започната от мария, вече работи върху {MS}: изчакайте я да свърши или я откажете."
    )


def train(client, **form):
    token = csrf_token(client, "/models/")
    return client.post("/models/train", data={"csrf_token": token, "manuscripts": MS, "name": "m1", **form})


@pytest.mark.parametrize(
    ("form", "said"),
    [
        (
            {"name": "две думи"},
            "„две думи“ не може да бъде име на модел: използвайте букви, цифри, „.“, „-“ и „_“ (най-много 64).",
        ),
        ({"name": ""}, "Дайте име на новия модел."),
        ({"epochs": "0"}, "Обучението изисква поне една епоха."),
    ],
)
def test_a_refused_training_request_says_why_in_bulgarian(bulgarian, form, said):
    assert refusal(train(bulgarian, **form)) == said


def test_training_on_too_few_checked_lines_is_refused_in_bulgarian(bulgarian, sample_edition):
    with sample_edition.edit(MS, "ivan") as manuscript:
        for page in manuscript.pages:
            for line in page.lines:
                line.status = "automatic"
    assert refusal(train(bulgarian)) == (
        "Твърде малко поправени или проверени редове за обучение: 0 за обучение и 0 за проверка "
        "(поне 20 и 1). Първо поправете или проверете още редове."
    )


def test_a_request_for_an_unknown_manuscript_gets_the_not_found_page_without_server_paths(bulgarian, sample_edition):
    response = bulgarian.post(
        "/m/nothing-here/jobs",
        data={"csrf_token": bulgarian.form_token, "kind": "segment"},
        headers={"HX-Request": "1"},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert str(sample_edition.root) not in page and "nothing-here" not in page
    assert "Тук няма нищо" in page


def test_the_core_keeps_its_english_and_gives_a_code(sample_edition):
    with pytest.raises(WorkbenchError) as raised:
        pipeline.select_pages(["1", "2"], "9", MS)
    assert str(raised.value) == f"manuscript {MS} has no page 9"
    assert raised.value.code == "no-page" and raised.value.params == {"manuscript": MS, "page": 9}
    with pytest.raises(WorkbenchError) as raised:
        JobStore.of(sample_edition).submit(sample_edition, "recognize", MS, "ivan")
    assert str(raised.value).startswith("a recognize job needs a recognition model")
    assert raised.value.code == "no-model"


# -- numbers ---------------------------------------------------------------------------


def test_percentages_take_a_decimal_comma_in_bulgarian(app):
    from flask import render_template

    with app.test_request_context("/?lang=bg"):
        epoch = render_template(
            "_job.html",
            job=Job(
                "f" * 12,
                "train",
                MS,
                state="running",
                current="(the English)",
                step={"step": "epoch", "epoch": 2, "epochs": 30, "accuracy": 0.915, "cer": 0.085, "best": True},
                total=30,
            ),
        )
        trained = render_template(
            "_job.html",
            job=Job(
                "d" * 12,
                "train",
                MS,
                state="done",
                done=2,
                total=2,
                outcome={"model": "m1", "lines": 40, "cer": 0.063, "wer": 0.25},
            ),
        )
    with app.test_request_context("/?lang=en"):
        english = render_template(
            "_job.html",
            job=Job(
                "f" * 12,
                "train",
                MS,
                state="running",
                current="(the English)",
                step={"step": "epoch", "epoch": 3, "epochs": 30, "accuracy": 0.9, "cer": 0.1, "best": False},
                total=30,
            ),
        )
    assert shown(epoch, "//span[@class='muted']") == ["епоха 2 от 30, CER при проверката 8,5% (най-добрата досега)"]
    assert "CER 6,3%, WER 25,0%" in shown(trained, "//*[@class='message']")[0]
    assert shown(english, "//span[@class='muted']") == ["epoch 3 of 30, validation CER 10.0%"]


def test_model_scores_and_line_certainty_take_a_decimal_comma_in_bulgarian(bulgarian, sample_edition):
    store = ModelStore.of(sample_edition)
    folder = store.folder / "m1"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"")
    record = ModelRecord("m1", "2025-01-01T00:00:00Z", None, [MS], 40, 4, [], 3, 0.9, Scores(0.063, 0.212, 4, 90))
    (folder / "model.json").write_text(json.dumps(asdict(record)))
    assert store.get("m1").scores.cer == 0.063
    models = bulgarian.get("/models/").get_data(as_text=True)
    assert shown(models, "//tr[@id='model-m1']/td[4] | //tr[@id='model-m1']/td[5]") == ["6,3%", "21,2%"]
    manuscript = bulgarian.get(f"/m/{MS}/").get_data(as_text=True)
    assert "m1 (CER 6,3%)" in shown(manuscript, "//select[@name='model']/option")
    with sample_edition.edit(MS, "ivan", pages=["1"]) as edited:
        edited.page("1").lines[0].cert = 0.876
    page = bulgarian.get(f"/m/{MS}/p/1/").get_data(as_text=True)
    assert any(status.endswith("· 88%") for status in shown(page, "//span[@class='status']"))


# -- the validator's problems ------------------------------------------------------------


def test_a_refused_tei_import_introduces_the_validators_problems_in_bulgarian(bulgarian):
    tei = (REPO / "tei" / f"{MS}.xml").read_text(encoding="utf-8")
    # Two invalid attributes the schema does not allow, on lines of their own.
    tei = tei.replace("<text", '<text\n  colour="red"', 1).replace("<body", '<body\n  size="big"', 1)
    token = csrf_token(bulgarian, "/import")
    response = bulgarian.post(
        "/import",
        data={"file": (io.BytesIO(tei.encode()), "broken-edition.xml"), "csrf_token": token, "id": "broken"},
        content_type="multipart/form-data",
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    reasons = shown(page, "//*[@id='import-error']//li")
    assert reasons[0] == "broken-edition.xml не е валиден TEI за това издание. Валидаторът откри:"
    problems = reasons[1:]
    assert problems and all(re.fullmatch(r"Ред \d+: .+ \[[\w.-]+\]", problem) for problem in problems)
    assert any("colour" in problem for problem in problems)  # the validator's own words about it
    assert "What the import found" not in page and "is not valid TEI" not in page
    # Everything but the validator's own words (kept as written, after "Ред N:") is Bulgarian.
    words = [
        found for found in untranslated(page, english_fragments()) if not found.split(" in ", 1)[1].startswith("'Ред ")
    ]
    assert words == []


def test_an_export_refusal_lists_the_validators_problems_after_a_bulgarian_sentence(app, sample_edition):
    from flask import render_template

    tree = etree.ElementTree(etree.fromstring((REPO / "tei" / f"{MS}.xml").read_bytes()))
    tree.getroot().find(f"{{{TEI_NS}}}text").set("colour", "red")
    problems = validation.check_project(tree, sample_edition.schema_dir)
    assert problems
    error = InvalidDocument(MS, problems * 25)  # past the 20 shown
    with app.test_request_context("/?lang=bg"):
        page = render_template("message.html", message="—", details=validation_problems(error))
    said = shown(page, "//ul[@class='details']/li")
    assert len(said) == 21 and said[-1] == f"… и още {len(problems) * 25 - 20} проблема."
    assert all(re.fullmatch(r"(Ред \d+: )?.+ \[[\w.-]+\]", problem) for problem in said[:20])


def test_every_refusal_of_the_accounts_store_is_worded_in_bulgarian(app, accounts):
    # The admin pages check their forms first; these reach the page when two admins race
    # (an account added or removed meanwhile) or through a form the pages do not check.
    from workbench.web.admin import _account_refusal

    refusals = [
        lambda: accounts.add("no spaces", "editor", "long enough"),
        lambda: accounts.add("ivan", "editor", "long enough"),
        lambda: accounts.add("olga", "boss", "long enough"),
        lambda: accounts.add("olga", "editor", "short"),
        lambda: accounts.set_password("nobody", "long enough"),
    ]
    said = []
    for refuse in refusals:
        with pytest.raises(WorkbenchError) as refused:
            refuse()
        with app.test_request_context("/?lang=bg"):
            said.append(_account_refusal(refused.value))
    assert said == [
        "Името има латински букви, цифри, „.“, „-“ и „_“ (до 64) и започва с буква или цифра.",
        "Вече има профил ivan.",
        "Изберете роля.",
        "Паролата трябва да има поне 8 знака.",
        "Няма профил nobody.",
    ]
