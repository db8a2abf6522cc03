"""Recognition models in the browser: the list, and training a new one as a job. Editors only."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, g, render_template, request
from flask_babel import gettext as _

from workbench.htr.training import ModelStore
from workbench.jobs import JobStore
from workbench.model import WorkbenchError
from workbench.web import edition
from workbench.web.auth import login_required
from workbench.web.editor import manuscript_summaries

bp = Blueprint("models", __name__, url_prefix="/models")


@bp.before_request
@login_required
def require_editor() -> None:
    """Models are for logged-in editors."""


@bp.get("/")
def index():
    manuscripts = [
        summary | {"lines": summary["counts"]["corrected"] + summary["counts"]["verified"]}
        for summary in manuscript_summaries()
    ]
    training = [job for job in JobStore.of(edition()).list() if job.kind == "train" and job.active]
    return render_template(
        "models.html",
        models=ModelStore.of(edition()).list(),
        manuscripts=manuscripts,
        jobs=training,
        suggested_name=f"model-{datetime.now(UTC):%Y%m%d-%H%M}",
    )


@bp.post("/train")
def train():
    chosen = request.form.getlist("manuscripts")
    if not chosen:
        return render_template("_job.html", error=_("Choose at least one manuscript to learn from.")), 422
    base = request.form.get("base") or None
    if base is not None and base not in {record.name for record in ModelStore.of(edition()).list()}:
        return render_template("_job.html", error=_("Choose one of the trained models.")), 422
    try:
        epochs = int(request.form.get("epochs") or 30)
        job = JobStore.of(edition()).submit(
            edition(),
            "train",
            chosen[0],
            g.user.name,
            model=base,
            name=(request.form.get("name") or "").strip(),
            manuscripts=chosen,
            epochs=epochs,
        )
    except ValueError:
        return render_template("_job.html", error=_("The number of epochs must be a whole number.")), 422
    except WorkbenchError as error:
        return render_template("_job.html", error=str(error)), 422
    return render_template("_job.html", job=job)
