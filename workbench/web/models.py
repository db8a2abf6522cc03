"""Recognition models in the browser: the list, and training a new one as a job. Editors only."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app, g, render_template, request
from flask_babel import gettext as _

from workbench.model import NotFound, WorkbenchError
from workbench.web.auth import staff_blueprint
from workbench.web.state import edition, jobs, models

bp = staff_blueprint("models", __name__, role="editor", url_prefix="/models")


@bp.get("/")
def index():
    manuscripts = [edition().summary(manuscript_id) for manuscript_id in edition().manuscript_ids()]
    training = [job for job in jobs().list() if job.kind == "train" and job.active]
    return render_template(
        "models.html",
        models=models().list(),
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
    if base is not None and base not in {record.name for record in models().list()}:
        return render_template("_job.html", error=_("Choose one of the trained models.")), 422
    try:
        epochs = int(request.form.get("epochs") or 30)
        job = jobs().submit(
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
    except NotFound:
        raise  # the site's one "not found" page (the core's message names server paths)
    except WorkbenchError as error:
        from workbench.web.jobs import job_refusal  # here: web.jobs imports this module

        return render_template("_job.html", error=job_refusal(error)), 422
    return render_template("_job.html", job=job)


def default_model(manuscript_id: str) -> str | None:
    """The manuscript's default model, else the edition's (workbench.toml [recognition] model)."""
    return models().default(manuscript_id) or current_app.config.get("RECOGNITION_MODEL")
