"""Segmentation and recognition jobs started from the browser, and their progress bars. Editors only."""

from __future__ import annotations

from pathlib import Path

from flask import abort, g, render_template, request, send_file
from flask_babel import format_decimal, format_percent, ngettext
from flask_babel import gettext as _

from workbench.jobs import Job
from workbench.model import NotFound, WorkbenchError
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
    except NotFound:
        raise  # the site's one "not found" page (the core's message names server paths)
    except WorkbenchError as error:
        return render_template("_job.html", error=job_refusal(error)), 422
    return render_template("_job.html", job=job)


@bp.get("/jobs/<job_id>")
def job(job_id: str):
    job = jobs().get(job_id)
    if job is None:
        abort(404)
    return render_template("_job.html", job=job)


@bp.get("/jobs/<job_id>/download")
@requires("editor")
def download(job_id: str):
    """A finished export job's zip."""
    job = jobs().get(job_id)
    path = jobs().export_path(job) if job.kind == "export" and job.options else None
    if job.state != "done" or path is None or not path.is_file():
        abort(404)
    return send_file(path, as_attachment=True, download_name=path.name)


@bp.post("/jobs/<job_id>/cancel")
@requires("editor")
def cancel_job(job_id: str):
    return render_template("_job.html", job=jobs().cancel(job_id, g.user.name))


@bp.app_context_processor
def _job_words() -> dict:
    return {"job_outcome": job_outcome, "job_step": job_step, "percent": percent, "job_log": job_log}


def job_log(job: Job, size: int = 4000) -> str:
    """The end of a job's log (its worker's output, local or relayed by a remote worker)."""
    try:
        with open(jobs().log_path(job.id), "rb") as file:
            file.seek(0, 2)
            file.seek(max(0, file.tell() - size))
            return file.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def percent(share: float, decimals: int = 1) -> str:
    """A share (0.915) as a percentage in the reader's locale: 91.5% in English, 91,5% in Bulgarian."""
    return format_percent(share, "#,##0" + ("." + "0" * decimals if decimals else "") + "%")


def job_step(job: Job) -> str:
    """What a running job's worker is doing now, in the reader's language (``job.current`` in English)."""
    step = job.step or {}
    kind = step.get("step")
    pages = ", ".join(step.get("pages") or [])
    count = len(step.get("pages") or [])
    if kind == "waiting":
        return _("waiting for the worker to start")
    if kind == "loading":
        return ngettext(
            "loading kraken, then page %(pages)s", "loading kraken, then pages %(pages)s", count, pages=pages
        )
    if kind == "pages":
        return ngettext("page %(pages)s", "pages %(pages)s", count, pages=pages)
    if kind == "saving":
        return _("saving")
    if kind == "cutting":
        return _("loading kraken, cutting out the lines")
    if kind == "exporting":
        return _("writing the files")
    if kind == "indexing":
        if "manuscript" not in step:
            return _("reading the manuscripts")
        return _(
            "%(manuscript)s: page %(page)s of %(pages)s",
            manuscript=step["manuscript"],
            page=format_decimal(step["page"]),
            pages=format_decimal(step["pages"]),
        )
    if kind == "epoch":
        cer = step.get("cer")
        if cer is None and step.get("accuracy") is not None:
            cer = 1 - step["accuracy"]  # a job recorded before the CER was
        numbers = dict(epoch=step["epoch"], epochs=step["epochs"], cer="—" if cer is None else percent(cer))
        if step.get("best"):
            return _("epoch %(epoch)s of %(epochs)s, validation CER %(cer)s (best so far)", **numbers)
        return _("epoch %(epoch)s of %(epochs)s, validation CER %(cer)s", **numbers)
    return ""


def job_refusal(error: WorkbenchError) -> str:
    """Why a job was not started, in the reader's language, from the error's code and params
    (``str(error)`` is the same in English, for the command line)."""
    params = getattr(error, "params", {})
    code = getattr(error, "code", "")
    if code == "job-running":
        running = {
            "segment": _(
                "A segmentation job started by %(who)s is already working on %(manuscript)s: "
                "wait until it ends or cancel it."
            ),
            "recognize": _(
                "A recognition job started by %(who)s is already working on %(manuscript)s: "
                "wait until it ends or cancel it."
            ),
            # One training job at a time, whatever its manuscripts: each takes every core.
            "train": _(
                "A training job started by %(who)s is running, and models are trained one at a time: "
                "wait until it ends or cancel it."
            ),
        }
        return running.get(params["kind"], running["segment"]) % params
    if code == "too-few-lines":
        return _(
            "Too few corrected or verified lines to train on: %(training)s for training and %(validation)s "
            "for checking (at least %(minimum)s and 1). Correct or verify more lines first.",
            training=format_decimal(params["training"]),
            validation=format_decimal(params["validation"]),
            minimum=format_decimal(params["minimum"]),
        )
    messages = {
        "page-list": _("“%(pages)s” is not a page list: write e.g. 3 or 1,4-6."),
        "page-range": _("“%(pages)s” is not a page range: it ends before it starts."),
        "no-page": _("Manuscript %(manuscript)s has no page %(page)s."),
        "no-pages": _("%(manuscript)s has no pages yet: add page images first."),
        "no-model": _("Recognition needs a model: train one, or ask the administrator to configure one."),
        "no-such-model": _("There is no trained model %(model)s."),
        "no-model-file": _("The model file %(model)s is not on the server: ask the administrator."),
        "mode": _("Choose one of the segmentation modes offered."),
        "model-name-missing": _("Give the new model a name."),
        "model-name": _("“%(model)s” cannot be a model's name: use letters, digits, “.”, “-” and “_” (at most 64)."),
        "model-name-taken": _("A model named %(model)s exists already: choose another name."),
        "epochs": _("Training needs at least one epoch."),
        "no-new-lines": _(
            "No line was corrected or verified since %(model)s was trained: there is nothing new to retrain it on."
        ),
        "no-worker": _("The server could not start the job. Try again; if it happens again, tell the administrator."),
    }
    if code in messages:
        return messages[code] % params
    # A refusal without a code of its own (none is known to reach here): said in general
    # terms rather than in the core's English.
    return _("This job cannot be started.")


def job_outcome(job: Job) -> str:
    """A finished or failed job's outcome in the reader's language, from the job's numbers
    and error code (``job.message`` is the same in English, for the command line)."""
    if job.state == "failed" and job.error:
        if job.error == "stopped":
            return _("The worker stopped unexpectedly; the pages it finished stay saved.")
        if job.error == "no-model-sent":
            return _("The worker ended the training without sending its model; no model was kept.")
        if job.error == "model-name-taken":  # taken while the job waited for a worker
            return _("A model named %(model)s exists already: choose another name.", model=job.name)
        if job.error == "not-a-model":
            return _(
                "%(model)s is not a recognition model this version of kraken can load.",
                model=job.name or Path(job.model or "").name,
            )
        return _("The job failed; what went wrong is in its log on the server. The pages it finished stay saved.")
    outcome = job.outcome
    if not outcome:
        return ""
    if job.kind == "export":
        return _("The export is ready: %(file)s.", file=outcome["file"])
    if job.kind == "reindex":
        return ngettext(
            "The search index was rebuilt: %(num)d page.",
            "The search index was rebuilt: %(num)d pages.",
            outcome["pages"],
        )
    if job.kind == "train":
        said = ngettext(
            "Model %(model)s trained on %(num)d line.",
            "Model %(model)s trained on %(num)d lines.",
            outcome["lines"],
            model=outcome["model"],
        )
        if "cer" in outcome:
            said += " " + _(
                "Held-out lines: CER %(cer)s, WER %(wer)s.",
                cer=percent(outcome["cer"]),
                wer=percent(outcome["wer"]),
            )
        return said
    parts = []
    if outcome["failed"]:
        parts.append(
            ngettext(
                "%(num)d of %(of)d page failed: %(pages)s.",
                "%(num)d of %(of)d pages failed: %(pages)s.",
                len(outcome["failed"]),
                of=outcome["of"],
                pages=", ".join(outcome["failed"]),
            )
        )
    if job.kind == "segment":
        parts.append(
            ngettext("%(num)d page segmented", "%(num)d pages segmented", outcome["pages"])
            + ", "
            + ngettext("%(num)d line.", "%(num)d lines.", outcome["lines"])
        )
        if outcome["adding"]:
            parts.append(
                ngettext(
                    "%(num)d new line added where there were none.",
                    "%(num)d new lines added where there were none.",
                    outcome["added"],
                )
            )
        if outcome["unmapped"]:
            parts.append(
                ngettext(
                    "%(num)d transcribed line matched no new line and was kept as it was: %(lines)s.",
                    "%(num)d transcribed lines matched no new line and were kept as they were: %(lines)s.",
                    len(outcome["unmapped"]),
                    lines=", ".join(outcome["unmapped"]),
                )
            )
        if outcome["empty"]:
            parts.append(
                ngettext(
                    "Kraken found no lines on page %(pages)s.",
                    "Kraken found no lines on pages %(pages)s.",
                    len(outcome["empty"]),
                    pages=", ".join(outcome["empty"]),
                )
            )
    else:
        parts.append(
            ngettext("%(num)d page recognised", "%(num)d pages recognised", outcome["pages"])
            + ", "
            + ngettext("%(num)d line filled.", "%(num)d lines filled.", outcome["filled"])
        )
    if outcome.get("skipped"):
        parts.append(
            ngettext(
                "Page %(pages)s was left as it was: an editor changed it while the job ran.",
                "Pages %(pages)s were left as they were: an editor changed them while the job ran.",
                len(outcome["skipped"]),
                pages=", ".join(outcome["skipped"]),
            )
        )
    return " ".join(parts)
