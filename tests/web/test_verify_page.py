"""The admin's "Check the edition" page: the button runs `workbench verify` in the
background, and the page shows the last result, in the interface's language."""

from __future__ import annotations

import json

import pytest

from tests.web.client import MS, PASSWORD, csrf_token, log_in
from tests.web.test_interface import english_fragments, untranslated
from workbench import preservation


@pytest.fixture
def admin(app, accounts):
    accounts.add("olga", "admin", PASSWORD)
    client = app.test_client()
    assert log_in(client, "olga").status_code == 302
    return client


def check(client, edition) -> str:
    """Press the button, wait for the run to end, and the page it leaves."""
    response = client.post("/admin/verify", data={"csrf_token": csrf_token(client, "/admin/verify")})
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/verify")
    run = preservation.running(edition)
    if run is not None:
        run.join(timeout=60)
    return client.get("/admin/verify", headers={"Accept-Language": "bg"}).get_data(as_text=True)


def test_the_button_runs_the_check_and_the_page_shows_the_result(admin, sample_edition):
    sample_edition.set_published(MS, False, "olga")
    page = admin.get("/admin/verify").get_data(as_text=True)
    assert 'id="verify-never"' in page and 'id="start-verify"' in page
    page = check(admin, sample_edition)
    assert 'id="verify-ok"' in page and "Няма проблеми: изданието е непокътнато." in page
    kept = json.loads(preservation.result_path(sample_edition).read_text())
    assert kept["ok"] is True and kept["who"] == "olga" and kept["files"] == 2 and kept["finished"]
    assert kept["finished"] in page


def test_a_problem_found_in_the_background_is_shown_in_plain_words(admin, sample_edition):
    sample_edition.set_published(MS, False, "olga")
    image = sample_edition.facsimile_dir / MS / "001.jpg"
    image.write_bytes(image.read_bytes()[:-10])
    (sample_edition.facsimile_dir / MS / "002.png").unlink()
    page = check(admin, sample_edition)
    assert 'id="verify-problems"' in page
    assert "Факсимилето 001.jpg е променено, откакто е добавено" in page
    assert "Факсимилето 002.png е записано в SHA256SUMS, но го няма." in page
    assert json.loads(preservation.result_path(sample_edition).read_text())["ok"] is False


def test_the_page_in_bulgarian_shows_no_english(admin, sample_edition):
    # Every kind of finding, rendered: each code has a translated sentence.
    report = preservation.Report(started="2026-01-01T00:00:00Z", finished="2026-01-01T00:00:01Z", who="olga")
    values = {
        "file": "001.jpg",
        "error": "x",
        "problem": "x",
        "position": 3,
        "line": "l1",
        "time": "t",
        "after": 2,
        "written_after": 4,
        "entries": 3,
        "recorded": 4,
        "pages": "1",
    }
    report.problems = [preservation.Finding(code, MS, values) for code in preservation.MESSAGES if code != "torn"]
    report.notes = [preservation.Finding("torn", MS, values)]
    preservation.result_path(sample_edition).parent.mkdir(parents=True, exist_ok=True)
    preservation.result_path(sample_edition).write_text(json.dumps(report.to_json()))
    page = admin.get("/admin/verify", headers={"Accept-Language": "bg"}).get_data(as_text=True)
    assert page.count("<li>") == len(preservation.MESSAGES)
    assert untranslated(page, english_fragments()) == []
