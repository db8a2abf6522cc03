"""Recognition models in the browser: the list, and training a new one as a job. Editors only."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from flask import current_app, g, render_template, request
from flask_babel import gettext as _

from workbench.htr import training
from workbench.model import NotFound, WorkbenchError
from workbench.web.auth import staff_blueprint
from workbench.web.state import edition, jobs, models, retraining

bp = staff_blueprint("models", __name__, role="editor", url_prefix="/models")


@bp.get("/")
def index():
    manuscripts = [edition().summary(manuscript_id) for manuscript_id in edition().manuscript_ids()]
    training_jobs = [job for job in jobs().list() if job.kind == "train" and job.active]
    records = models().list()
    counts = retraining().counts
    new_lines = {record.name: training.new_lines_since(record, counts.of(record.manuscripts)) for record in records}
    histories = [(tip, models().history(tip)) for tip in training.lineages(records)]
    charts = [(tip, history, cer_chart(history)) for tip, history in histories]
    return render_template(
        "models.html",
        models=records,
        new_lines=new_lines,
        charts=[(tip, history, chart) for tip, history, chart in charts if chart],
        manuscripts=manuscripts,
        jobs=training_jobs,
        suggested_name=f"model-{datetime.now(UTC):%Y%m%d-%H%M}",
    )


@bp.post("/<name>/retrain")
def retrain(name: str):
    """Fine-tune the model on the lines verified since it was trained (training.submit_retraining)."""
    try:
        job = training.submit_retraining(edition(), name, g.user.name, counts=retraining().counts)
    except NotFound:
        raise  # the site's one "not found" page (a manuscript of the model's is gone)
    except WorkbenchError as error:
        from workbench.web.jobs import job_refusal  # here: web.jobs imports this module

        return render_template("_job.html", error=job_refusal(error)), 422
    return render_template("_job.html", job=job)


# The CER chart's drawing area, in SVG user units (the viewBox): the page's CSS scales it.
CHART_WIDTH, CHART_HEIGHT = 360, 180
CHART_LEFT, CHART_RIGHT, CHART_TOP, CHART_BOTTOM = 48, 16, 12, 36


def cer_chart(history: list[dict]) -> dict | None:
    """A lineage's CER against its training lines, as coordinates for models.html's inline
    SVG (drawn on the server: no script, no style attribute, nothing the CSP refuses);
    None when no model of it was measured."""
    measured = [point for point in history if point.get("cer") is not None]
    if not measured:
        return None
    most_lines = max(point["training_lines"] for point in measured) or 1
    # The CER axis up to the next tenth above the worst, so a curve near 0 is not flattened.
    top_cer = max(0.1, math.ceil(max(point["cer"] for point in measured) * 10 - 1e-9) / 10)
    width = CHART_WIDTH - CHART_LEFT - CHART_RIGHT
    height = CHART_HEIGHT - CHART_TOP - CHART_BOTTOM

    def x(lines: int) -> float:
        return round(CHART_LEFT + width * lines / most_lines, 1)

    def y(cer: float) -> float:
        return round(CHART_TOP + height * (1 - min(cer, top_cer) / top_cer), 1)

    points = [
        {
            "x": x(point["training_lines"]),
            "y": y(point["cer"]),
            "name": point["name"],
            "lines": point["training_lines"],
            "cer": point["cer"],
        }
        for point in measured
    ]
    steps = round(top_cer * 10) if top_cer <= 0.5 else 5
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": CHART_LEFT,
        "right": CHART_WIDTH - CHART_RIGHT,
        "top": CHART_TOP,
        "bottom": CHART_TOP + height,
        "points": points,
        "polyline": " ".join(f"{point['x']},{point['y']}" for point in points),
        "cer_ticks": [{"y": y(top_cer * k / steps), "cer": top_cer * k / steps} for k in range(steps + 1)],
        "line_ticks": [{"x": x(lines), "lines": lines} for lines in (0, most_lines)],
    }


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
