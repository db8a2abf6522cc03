"""The models page closes the loop: lines new since each model, a Retrain button that
queues its fine-tuning, the automatic retraining after ``[recognition] retrain_after``
line saves, and each lineage's CER drawn as an SVG with its figures in a table."""

from __future__ import annotations

import html
import re

import pytest

from tests.builders import keep_model
from tests.web.client import MS, log_in, save
from workbench.edition import Edition
from workbench.htr import training
from workbench.jobs import JobStore
from workbench.model import WorkbenchError
from workbench.web import create_app

# Lines of page 2 that are machine text until someone verifies them (tests below).
MACHINE = [f"{MS}_p2_l{k}" for k in range(4, 17)]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    from tests.builders import untrained_model

    return untrained_model(tmp_path_factory.mktemp("weights"))


@pytest.fixture
def sample(sample_edition: Edition) -> Edition:
    """The sample edition with page 2's lines 4–16 back to machine text."""
    with sample_edition.edit(MS, who="kraken") as current:
        machine = current.source("recognition", "old-model")
        for line in current.pages[1].lines:
            if line.id in MACHINE:
                line.status, line.resp = "automatic", machine.id
    return sample_edition


def learnable(edition: Edition) -> int:
    return training.TrainableLines(edition).count(MS)


def logged_in(app):
    client = app.test_client()
    assert log_in(client).status_code == 302
    page = client.get(f"/m/{MS}/p/2/").get_data(as_text=True)
    client.token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    return client


def hx(client) -> dict:
    return {"X-CSRFToken": client.token, "HX-Request": "true"}


def verify_on_the_web(client, line_ids: list[str]) -> None:
    for line_id in line_ids:
        page = client.get(f"/m/{MS}/p/2/").get_data(as_text=True)
        row = page[page.index(f'id="line-{line_id}"') :]
        text = html.unescape(re.search(r'<input class="text" name="text" value="([^"]*)"', row).group(1))
        base = re.search(r'name="base" value="([^"]+)"', row).group(1)
        response = save(client, text, base=base, status="verified", line_id=line_id)
        assert response.status_code == 200, response.get_data(as_text=True)


def test_each_model_shows_its_new_lines_and_retrain_queues_its_fine_tuning(sample, make_app, weights):
    keep_model(sample, weights, "sample-1", learnable(sample), manuscripts=(MS,))
    client = logged_in(make_app())
    page = client.get("/models/").get_data(as_text=True)
    row = page[page.index('id="model-sample-1"') :]
    row = row[: row.index("</tr>")]
    assert "0 нови реда оттогава" in row and "disabled" in row
    refused = client.post("/models/sample-1/retrain", headers=hx(client))
    assert refused.status_code == 422
    assert "Няма ред, поправен или потвърден, откакто е обучен sample-1" in refused.get_data(as_text=True)

    verify_on_the_web(client, MACHINE[:6])
    record = training.ModelStore.of(sample).get("sample-1")
    new = learnable(sample) - (record.training_lines + record.validation_lines)
    assert new >= 4  # six lines verified, some perhaps held out
    page = client.get("/models/").get_data(as_text=True)
    row = page[page.index('id="model-sample-1"') :]
    row = row[: row.index("</tr>")]
    assert f"{new} нови реда оттогава" in row and "disabled" not in row
    assert 'hx-post="/models/sample-1/retrain"' in row and "Обучи наново" in row

    answer = client.post("/models/sample-1/retrain", headers=hx(client))
    assert answer.status_code == 200
    job = JobStore.of(sample).list()[0]
    assert (job.kind, job.model, job.name, job.who, job.manuscripts) == (
        "train",
        "sample-1",
        "sample-1-2",
        "ivan",
        [MS],
    )
    assert job.options == {"retrain": "asked", "since": "sample-1", "lines": learnable(sample)}
    assert f'id="job-{job.id}"' in answer.get_data(as_text=True)
    # While it waits, another is refused, in the reader's words.
    again = client.post("/models/sample-1/retrain", headers=hx(client))
    assert again.status_code == 422 and "обучават един по един" in again.get_data(as_text=True)
    missing = client.post("/models/nothing/retrain", headers=hx(client))
    assert missing.status_code == 422 and "Няма обучен модел nothing" in missing.get_data(as_text=True)


def test_a_line_save_queues_the_automatic_retraining_once_the_count_is_reached(sample, make_app, weights):
    keep_model(sample, weights, "sample-1", learnable(sample), manuscripts=(MS,))
    app = make_app(RETRAIN_AFTER=4)
    client = logged_in(app)
    counted = learnable(sample)
    line_ids = iter(MACHINE)
    while learnable(sample) < counted + 3:
        verify_on_the_web(client, [next(line_ids)])
    assert JobStore.of(sample).list() == []
    while learnable(sample) < counted + 4:
        verify_on_the_web(client, [next(line_ids)])
    [job] = JobStore.of(sample).list()
    assert (job.model, job.name, job.options["retrain"], job.who) == ("sample-1", "sample-1-2", "auto", "ivan")
    # The saves after it queue nothing more while it waits.
    verify_on_the_web(client, list(line_ids)[:3])
    assert [j.id for j in JobStore.of(sample).list()] == [job.id]


def test_no_automatic_retraining_unless_it_is_set(sample, make_app, weights):
    keep_model(sample, weights, "sample-1", learnable(sample), manuscripts=(MS,))
    client = logged_in(make_app())
    verify_on_the_web(client, MACHINE[:8])
    assert JobStore.of(sample).list() == []


def test_retrain_after_comes_from_workbench_toml_and_a_wrong_value_is_refused(sample):
    settings = sample.root / "workbench.toml"
    settings.write_text("[recognition]\nretrain_after = 25\n")
    assert create_app(sample.root, {"TESTING": True}).extensions["retraining"].after == 25
    settings.write_text('[recognition]\nretrain_after = "many"\n')
    with pytest.raises(WorkbenchError, match="retrain_after must be a whole number of lines"):
        create_app(sample.root, {"TESTING": True})
    settings.write_text("")
    assert create_app(sample.root, {"TESTING": True}).extensions["retraining"].after == 0


def test_the_page_draws_each_lineages_cer_with_its_figures(sample, make_app, weights):
    keep_model(sample, weights, "sample-1", 40, cer=0.5, manuscripts=(MS,), created="2026-01-01T00:00:00Z")
    keep_model(
        sample, weights, "sample-1-2", 80, cer=0.25, base="sample-1", manuscripts=(MS,), created="2026-01-02T00:00:00Z"
    )
    keep_model(sample, weights, "alone", 20, manuscripts=(MS,), created="2026-01-03T00:00:00Z")  # never measured
    page = logged_in(make_app()).get("/models/").get_data(as_text=True)
    # One chart: the lineage ending in sample-1-2 (sample-1 is in it; alone has no CER to draw).
    assert page.count("<svg") == 1 and 'id="history-sample-1-2"' in page
    figure = page[page.index('id="history-sample-1-2"') : page.index("</figure>")]
    # The points: CER 50% at 36 training lines, 25% at 72 (the most: the right end); the
    # CER axis up to 50%, so the first point is at its top and the second halfway down.
    circles = [
        (float(x), float(y)) for x, y in re.findall(r'<circle class="point" cx="([\d.]+)" cy="([\d.]+)"', figure)
    ]
    assert circles == [(196.0, 12.0), (344.0, 78.0)]
    assert re.search(r'<polyline class="curve" points="196.0,12.0 344.0,78.0"', figure)
    # The same figures in text, for screen readers, and in each point's title.
    rows = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td><td>(\d+)</td><td>([^<]+)</td></tr>", figure)
    assert rows == [("sample-1", "2026-01-01", "36", "50,0%"), ("sample-1-2", "2026-01-02", "72", "25,0%")]
    assert "sample-1-2: 72 реда за обучение, CER 25,0%" in figure
    assert "<title" in figure and 'role="img"' in figure


def test_a_line_saved_by_a_segmentation_change_counts_for_the_automatic_retraining(sample, make_app, weights):
    # Text typed into a line is saved first by the split, delete or merge asked for it: a
    # person's line save like any other (here the line's last version before it goes).
    keep_model(sample, weights, "sample-1", learnable(sample), manuscripts=(MS,))
    client = logged_in(make_app(RETRAIN_AFTER=1))
    line_id = MACHINE[0]
    page = client.get(f"/m/{MS}/p/2/").get_data(as_text=True)
    row = page[page.index(f'id="line-{line_id}"') :]
    base = re.search(r'name="base" value="([^"]+)"', row).group(1)
    response = client.post(
        f"/m/{MS}/p/2/lines/delete",
        data={"line": line_id, f"text-{line_id}": "поправенъ редъ", f"base-{line_id}": base},
        headers=hx(client),
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    [job] = JobStore.of(sample).list()
    assert (job.model, job.options["retrain"]) == ("sample-1", "auto")
