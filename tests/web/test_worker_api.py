"""The worker API (web/worker_api.py, remote.py) as a remote worker calls it: results are
applied once, through the same saves as a local job's, and never over an editor's work.

Here the test client plays the remote worker's part, call by call; real worker
processes against a real server are in tests/test_remote_worker.py."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tests.web.client import MS
from workbench import remote, transcription
from workbench.cli import cli
from workbench.jobs import JobStore
from workbench.layout.log import LayoutLog
from workbench.model import WorkbenchError

WORKER = "gpu-host/4242"


def kraken_like_layout(sample_edition, page_n: str = "1") -> dict:
    """A segmentation as a worker sends it: the page's own lines, under kraken's ids."""
    page = sample_edition.read(MS, page_n).pages[0]
    return {
        "width": page.width,
        "height": page.height,
        "regions": [],
        "lines": [
            {"id": f"k{k}", "boundary": line.boundary, "baseline": line.baseline, "region": None}
            for k, line in enumerate(page.lines)
        ],
    }


def resegmentations(edition, page_n: str) -> int:
    return len([r for r in LayoutLog(edition.layout_dir).records(MS, page_n) if r.action == "resegment"])


def test_a_result_delivered_twice_is_saved_once(sample_edition, worker):
    store = JobStore.of(sample_edition)
    job = store.submit(sample_edition, "segment", MS, "ivan", pages="1")
    spec = worker("POST", f"jobs/{job.id}/start", {"worker": WORKER}).get_json()
    assert spec["state"] == "running" and [page["n"] for page in spec["pages"]] == ["1"]
    image = worker("GET", f"jobs/{job.id}/pages/1/image")
    assert image.status_code == 200 and image.data == (sample_edition.facsimile_dir / MS / "001.jpg").read_bytes()
    result = {"worker": WORKER, "version": spec["pages"][0]["version"], "layout": kraken_like_layout(sample_edition)}
    first = worker("POST", f"jobs/{job.id}/pages/1/result", result)
    again = worker("POST", f"jobs/{job.id}/pages/1/result", result)
    assert (first.status_code, first.get_json()) == (200, {"applied": True})
    assert (again.status_code, again.get_json()) == (200, {"applied": False, "already": True})
    assert resegmentations(sample_edition, "1") == 1
    assert worker("POST", f"jobs/{job.id}/finish", {"worker": WORKER}).get_json() == {"state": "done"}
    job = store.get(job.id)
    assert (job.state, job.saved, job.done, job.tries, job.worker) == ("done", ["1"], 1, 1, WORKER)
    assert job.message.startswith("1 page(s) segmented")
    shown = CliRunner().invoke(cli, ["--edition", str(sample_edition.root), "jobs", job.id])
    assert f"on the remote worker {WORKER}" in shown.output
    # After the end, a late copy changes nothing either.
    assert worker("POST", f"jobs/{job.id}/pages/1/result", result).get_json()["already"] is True
    assert resegmentations(sample_edition, "1") == 1
    assert sample_edition.problems(MS) == []


def test_a_page_an_editor_changed_since_the_job_started_is_refused_and_skipped(sample_edition, worker, editor):
    store = JobStore.of(sample_edition)
    job = store.submit(sample_edition, "segment", MS, "ivan", pages="1-2")
    spec = worker("POST", f"jobs/{job.id}/start", {"worker": WORKER}).get_json()
    versions = {page["n"]: page["version"] for page in spec["pages"]}
    # Meanwhile an editor corrects a line of page 2.
    line = sample_edition.read(MS, "2").pages[0].lines[0]
    transcription.save_line(
        sample_edition, MS, line.id, "поправено от редактора", transcription.line_version(line), "maria"
    )
    for n in ("1", "2"):
        body = {"worker": WORKER, "version": versions[n], "layout": kraken_like_layout(sample_edition, n)}
        reply = worker("POST", f"jobs/{job.id}/pages/{n}/result", body)
        if n == "1":
            assert reply.status_code == 200
        else:
            assert reply.status_code == 409 and reply.get_json()["reason"] == "page-changed"
    assert resegmentations(sample_edition, "2") == 0
    assert sample_edition.read(MS, "2").pages[0].lines[0].text == "поправено от редактора"
    worker("POST", f"jobs/{job.id}/finish", {"worker": WORKER})
    job = store.get(job.id)
    assert (job.state, job.saved, job.done, job.outcome["skipped"]) == ("done", ["1"], 2, ["2"])
    assert job.message.endswith("page(s) 2 skipped: changed by an editor since the job started")
    assert (
        "page 2 skipped: page 2 of trifonov-sample changed since the job started" in store.log_path(job.id).read_text()
    )
    page = editor.get(f"/jobs/{job.id}", headers={"Accept-Language": "bg"}).get_data(as_text=True)
    assert "Страница 2 е оставена както беше: редактор я промени, докато задачата работеше." in page


def test_results_from_a_run_that_is_not_the_jobs_are_refused(sample_edition, worker):
    store = JobStore.of(sample_edition)
    job = store.submit(sample_edition, "segment", MS, "ivan", pages="1")
    spec = worker("POST", f"jobs/{job.id}/start", {"worker": WORKER}).get_json()
    # A second delivery of the task: the job is taken, the second worker stands down.
    assert worker("POST", f"jobs/{job.id}/start", {"worker": "other/1"}).get_json()["state"] == "taken"
    result = {"worker": "other/1", "version": spec["pages"][0]["version"], "layout": kraken_like_layout(sample_edition)}
    reply = worker("POST", f"jobs/{job.id}/pages/1/result", result)
    assert reply.status_code == 409 and reply.get_json()["reason"] == "not-running"
    store.cancel(job.id)
    result["worker"] = WORKER
    assert worker("POST", f"jobs/{job.id}/pages/1/result", result).status_code == 409  # cancelled
    assert worker("POST", f"jobs/{job.id}/beat", {"worker": WORKER, "output": ""}).get_json() == {"state": "cancelled"}
    assert worker("GET", f"jobs/{job.id}/pages/1/image").status_code == 409  # no images for an ended job
    assert resegmentations(sample_edition, "1") == 0


def test_a_bad_result_is_refused_and_saves_nothing(sample_edition, worker):
    store = JobStore.of(sample_edition)
    job = store.submit(sample_edition, "segment", MS, "ivan", pages="1")
    spec = worker("POST", f"jobs/{job.id}/start", {"worker": WORKER}).get_json()
    body = {"worker": WORKER, "version": spec["pages"][0]["version"], "layout": {"width": 10, "lines": "x"}}
    reply = worker("POST", f"jobs/{job.id}/pages/1/result", body)
    assert reply.status_code == 422 and "not a page layout" in reply.get_json()["message"]
    assert resegmentations(sample_edition, "1") == 0 and store.get(job.id).saved is None


def test_the_output_a_worker_relays_is_the_jobs_log_and_its_error_reaches_the_web_page(sample_edition, worker, editor):
    store = JobStore.of(sample_edition)
    job = store.submit(sample_edition, "segment", MS, "ivan", pages="1")
    worker("POST", f"jobs/{job.id}/start", {"worker": WORKER})
    worker("POST", f"jobs/{job.id}/beat", {"worker": WORKER, "output": "kraken: loading blla\n"})
    error = {"message": "RuntimeError: CUDA out of memory", "code": "error"}
    assert worker("POST", f"jobs/{job.id}/finish", {"worker": WORKER, "error": error}).get_json()["state"] == "failed"
    job = store.get(job.id)
    assert (job.state, job.message) == ("failed", "RuntimeError: CUDA out of memory")
    page = editor.get(f"/jobs/{job.id}", headers={"Accept-Language": "bg"}).get_data(as_text=True)
    assert "Дневникът на изпълнителя" in page
    assert "kraken: loading blla" in page and "RuntimeError: CUDA out of memory" in page


def test_worker_tokens_are_made_listed_and_revoked_and_only_their_digests_kept(sample_edition):
    def workbench(*args: str):
        return CliRunner().invoke(cli, ["--edition", str(sample_edition.root), *args])

    made = workbench("worker-token", "create", "gpu-1")
    token = made.stdout.strip()
    assert made.exit_code == 0 and token.startswith(remote.TOKEN_PREFIX)
    kept = (sample_edition.root / ".workbench" / "worker-tokens.json").read_text()
    assert (
        token not in kept
        and oct((sample_edition.root / ".workbench" / "worker-tokens.json").stat().st_mode)[-3:] == "600"
    )
    assert remote.token_valid(sample_edition.root, token) and not remote.token_valid(sample_edition.root, token[:-1])
    refused = workbench("worker-token", "create", "gpu-1")  # the command line's main() words a WorkbenchError
    assert "there is a worker token labelled 'gpu-1' already" in str(refused.exception)
    assert workbench("worker-token", "list").output.startswith("gpu-1\t")
    assert workbench("worker-token", "revoke", "gpu-1").exit_code == 0
    assert not remote.token_valid(sample_edition.root, token)
    # The setting is the other way to give one, long enough to be one.
    configured = "s" * 40
    (sample_edition.root / "workbench.toml").write_text(f'[queue]\nworker_token = "{configured}"\n')
    assert remote.token_valid(sample_edition.root, configured) and not remote.token_valid(sample_edition.root, "")
    (sample_edition.root / "workbench.toml").write_text('[queue]\nworker_token = "short"\n')
    with pytest.raises(WorkbenchError, match=r"\[queue\] worker_token: at least 32 characters"):
        remote.token_valid(sample_edition.root, "short")
