"""The worker API: what remote workers (remote.py) fetch and send, at /api/worker/.

Every request needs a worker token (``Authorization: Bearer …``), compared in constant
time with the digests the edition keeps; a browser session counts for nothing here,
and a token for nothing elsewhere. Being token-authenticated, these routes are exempt
from CSRF checks (there is no cookie a forged request could ride on). Answers are JSON.
Serve it over TLS (the reverse proxy in front, README): the token travels with every call.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, jsonify, request, send_file

from workbench import queue, remote
from workbench.model import NotFound, WorkbenchError
from workbench.web.state import csrf, edition, jobs

bp = Blueprint("worker_api", __name__, url_prefix="/api/worker")
# What the permission tests read (tests/web/test_roles.py): neither public nor any role.
bp.required_role = "worker"
csrf.exempt(bp)


def _answer(body: dict, status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.before_request
def require_token() -> Response | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not remote.token_valid(edition().root, token.strip()):
        response = _answer({"error": "a worker token is needed (Authorization: Bearer …)"}, 401)
        response.headers["WWW-Authenticate"] = 'Bearer realm="workbench workers"'
        return response
    return None


@bp.errorhandler(WorkbenchError)
def refused(error: WorkbenchError) -> Response:
    return _answer({"error": str(error)}, 404 if isinstance(error, NotFound) else 422)


@bp.errorhandler(remote.Refused)
def result_refused(error: remote.Refused) -> Response:
    return _answer({"reason": error.reason, "message": str(error)}, error.status)


def _body() -> dict:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


@bp.get("/queue")
def queue_settings():
    settings = queue.QueueSettings.of(edition().root)
    return _answer(
        {"redis": settings.redis, "heartbeat": queue.HEARTBEAT_INTERVAL, "stale_after": settings.stale_after}
    )


@bp.post("/jobs/<job_id>/start")
def start(job_id: str):
    return _answer(remote.start_run(edition(), jobs(), job_id, str(_body().get("worker", ""))[:200]))


@bp.post("/jobs/<job_id>/beat")
def beat(job_id: str):
    body = _body()
    return _answer({"state": remote.beat(jobs(), job_id, str(body.get("worker", "")), str(body.get("output", "")))})


@bp.get("/jobs/<job_id>/pages/<n>/image")
def page_image(job_id: str, n: str):
    job = jobs()._read(job_id)
    # Only the pages of a job that is running: a token is not a key to the whole edition.
    if job.state != "running" or job.kind == "train":
        return _answer({"error": f"job {job_id} is {job.state}"}, 409)
    from workbench.htr import pipeline

    if n not in pipeline.select_pages(edition().page_numbers(job.manuscript_id), job.pages, job.manuscript_id):
        return _answer({"error": f"page {n} is not one of job {job_id}'s"}, 404)
    page = edition().read(job.manuscript_id, n).pages[0]
    return send_file(edition().image_path(job.manuscript_id, page), max_age=0)


@bp.get("/jobs/<job_id>/model")
def model(job_id: str):
    """The running job's model: recognition's, or the base a training fine-tunes."""
    job = jobs()._read(job_id)
    if job.state != "running" or job.kind == "segment" or not job.model:
        return _answer({"error": f"job {job_id} is {job.state} and has no model to fetch"}, 409)
    from workbench.htr import training

    path = training.ModelStore.of(edition()).resolve(job.model) if job.kind == "train" else Path(job.model)
    return send_file(path, max_age=0, download_name=path.name)


@bp.get("/jobs/<job_id>/training")
def training_material(job_id: str):
    """The running training job's lines on their pages, as a zip (remote.training_material)."""
    import tempfile

    job = jobs()._read(job_id)
    if job.state != "running" or job.kind != "train":
        return _answer({"error": f"job {job_id} is {job.state} and has no training material"}, 409)
    archive = tempfile.TemporaryFile()  # noqa: SIM115 (send_file closes it, and it is gone then)
    remote.training_material(jobs(), job_id, archive)
    archive.seek(0)
    return send_file(archive, mimetype="application/zip", download_name=f"{job_id}-training.zip", max_age=0)


@bp.post("/jobs/<job_id>/epoch")
def epoch(job_id: str):
    return _answer({"state": remote.training_progress(jobs(), job_id, _body())})


@bp.post("/jobs/<job_id>/trained")
def trained(job_id: str):
    """A remote training's model: the file ``model`` and the form field ``result`` (JSON)."""
    import json

    upload = request.files.get("model")
    try:
        result = json.loads(request.form.get("result", ""))
    except ValueError:
        result = None
    if upload is None or not isinstance(result, dict):
        return _answer({"reason": "bad-result", "message": "send the model as `model` and its result as `result`"}, 422)
    return _answer(remote.trained_model(edition(), jobs(), job_id, result, upload.stream))


@bp.post("/jobs/<job_id>/pages/<n>/result")
def page_result(job_id: str, n: str):
    return _answer(remote.page_result(edition(), jobs(), job_id, n, _body()))


@bp.post("/jobs/<job_id>/finish")
def finish(job_id: str):
    return _answer({"state": remote.finish_run(edition(), jobs(), job_id, _body())})


@bp.post("/jobs/<job_id>/lost")
def lost(job_id: str):
    body = _body()
    state = remote.lost_run(
        jobs(), job_id, str(body.get("worker", "")), str(body.get("why", ""))[:500], bool(body.get("again"))
    )
    return _answer({"state": state})
