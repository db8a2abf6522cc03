"""Holes found by probing the web surface as an attacker would (issue #13), each closed:
unbounded page lists, non-finite coordinates, and readers that caused writes."""

from __future__ import annotations

import pytest

from tests.web.client import LINE, MS, line_base
from workbench.layout import corrections
from workbench.model import WorkbenchError


def files_under(root) -> set:
    return {path.relative_to(root) for path in root.rglob("*")}


def test_a_page_list_too_long_for_the_manuscript_is_refused_before_a_job_exists(editor, sample_edition):
    response = editor.post(
        f"/m/{MS}/jobs",
        data={"kind": "segment", "pages": "1-999999999"},
        headers={"X-CSRFToken": editor.token, "HX-Request": "true"},
    )
    assert response.status_code == 422
    assert f"Ръкописът {MS} няма страница 3." in response.get_data(as_text=True)
    assert not (sample_edition.jobs_dir).exists() or list(sample_edition.jobs_dir.iterdir()) == []


def test_the_cli_refuses_an_unbounded_page_list_at_once(sample_edition):
    from click.testing import CliRunner

    from workbench.cli import cli

    result = CliRunner().invoke(cli, ["--edition", str(sample_edition.root), "segment", MS, "--pages", "2-999999999"])
    assert isinstance(result.exception, WorkbenchError)  # main() prints it as the error message
    assert str(result.exception) == f"manuscript {MS} has no page 3"


@pytest.mark.parametrize("point", ["nan,10", "10,inf", "-inf,3", "1e999,5", "NaN,NaN"])
def test_coordinates_that_are_not_finite_numbers_are_refused_with_400(editor, sample_edition, point):
    before = sample_edition.tei_path(MS).read_bytes()
    headers = {"X-CSRFToken": editor.token, "HX-Request": "true"}
    added = editor.post(f"/m/{MS}/p/1/lines/add", data={"points": f"100,100 {point}"}, headers=headers)
    assert added.status_code == 400
    split = editor.post(
        f"/m/{MS}/p/1/lines/split",
        data={"line": LINE, "cursor": "3", "at": point, f"base-{LINE}": line_base(editor)},
        headers=headers,
    )
    assert split.status_code == 400
    assert sample_edition.tei_path(MS).read_bytes() == before


def test_the_core_refuses_non_finite_points_too(sample_edition):
    with pytest.raises(WorkbenchError, match="numbers on the page"):
        corrections.add_line(sample_edition, MS, "1", [(10.0, 10.0), (float("nan"), 20.0)], "tester")


@pytest.mark.parametrize("published", [True, False])
def test_readers_never_cause_a_write(client, sample_edition, published):
    sample_edition.set_published(MS, published, "tester")
    before = files_under(sample_edition.root)
    missing = ["/read/no-such-manuscript/1/", "/read/no-such-manuscript/", "/read/Другой/1/image", f"/read/{MS}/99/"]
    for path in missing:
        assert client.get(path).status_code == 404, path
    for path in [f"/read/{MS}/", f"/read/{MS}/1/", "/read/", "/read/search?q=ръкави"]:
        assert client.get(path).status_code == (
            200 if published or path.startswith("/read/s") or path == "/read/" else 404
        ), path
    assert files_under(sample_edition.root) == before
