"""Segmentation and recognition jobs started from the browser, and their progress bars. Editors only."""

from __future__ import annotations

from flask import abort, g, render_template, request
from flask_babel import gettext as _

from workbench.model import WorkbenchError
from workbench.web.auth import requires, staff_blueprint
from workbench.web.models import default_model
from workbench.web.state import edition, jobs, models

bp = staff_blueprint("jobs", __name__)


@bp.post("/m/<manuscript_id>/jobs")
@requires("editor")
def start_job(manuscript_id: str):
    kind = request.form.get("kind", "segment")
    if kind not in ("segment", "recognize"):
        abort(400)
    model = None
    if kind == "recognize":
        model = request.form.get("model") or default_model(manuscript_id)
        # From the browser, only a trained model or the edition's configured one: never a
        # path someone typed (a model file is code-like data the server would load).
        if model not in {record.name for record in models().list()} | {default_model(manuscript_id)}:
            return render_template("_job.html", error=_("Choose one of the trained models.")), 422
    try:
        job = jobs().submit(
            edition(),
            kind,
            manuscript_id,
            g.user.name,
            pages=request.form.get("pages") or None,
            model=model,
            mode=request.form.get("mode") if kind == "segment" else None,
        )
    except WorkbenchError as error:
        return render_template("_job.html", error=str(error)), 422
    return render_template("_job.html", job=job)


@bp.get("/jobs/<job_id>")
def job(job_id: str):
    job = jobs().get(job_id)
    if job is None:
        abort(404)
    return render_template("_job.html", job=job)


@bp.post("/jobs/<job_id>/cancel")
@requires("editor")
def cancel_job(job_id: str):
    return render_template("_job.html", job=jobs().cancel(job_id, g.user.name))
