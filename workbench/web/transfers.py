"""Import and export in the browser: editors only. transfer.py does the work.

An upload is written once, straight into the import's temporary folder
(``transfer.temporary_folder``: the edition's ``.workbench/tmp``) as it arrives, and
imported from there; each user runs one import at a time (a lock file per user, so
that it holds across threads and processes), and a second is refused with 429.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from flask import (
    Request,
    abort,
    after_this_request,
    current_app,
    g,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from htmx_flask.requests import HtmxAwareRequest

from workbench.exchange import iiif, layout_files, transfer
from workbench.model import NotFound, WorkbenchError
from workbench.tei.validation import InvalidDocument
from workbench.web.auth import required_role, staff_blueprint
from workbench.web.state import edition, index_changed, users

bp = staff_blueprint("transfer", __name__, role="editor")
IMPORT_ENDPOINT = "transfer.import_manuscript"


def take_import_slot(folder: Path, user_name: str) -> int | None:
    """A lock on ``user_name``'s one import at a time (a file descriptor to close when the
    import is over), or None while another import of theirs holds it."""
    locks = folder / "import-locks"
    locks.mkdir(exist_ok=True)
    path = locks / f"{hashlib.sha256(user_name.encode()).hexdigest()[:32]}.lock"
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    return descriptor


@dataclass
class _Upload:
    """What one import request holds: its slot, its folder, and why it was refused, if it was."""

    slot: int | None = None
    folder: Path | None = None
    refused: str | None = None  # "busy" or "space"
    parts: int = 0
    files: list[IO[bytes]] = field(default_factory=list)


class UploadRequest(HtmxAwareRequest):
    """The app's requests; the import form's files go to the import's temporary folder,
    once, as they arrive (Werkzeug's default is a file in the system's /tmp, which the
    view then copied). htmx-flask's request class underneath: request.htmx as everywhere."""

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        if self.endpoint != IMPORT_ENDPOINT:
            return super()._get_file_stream(total_content_length, content_type, filename, content_length)
        return _upload_stream(_upload_of(self), total_content_length or 0)

    def close(self) -> None:
        super().close()
        upload = self.__dict__.get("workbench_upload")
        if upload is not None:
            for file in upload.files:
                file.close()
            if upload.folder is not None:
                shutil.rmtree(upload.folder, ignore_errors=True)
            if upload.slot is not None:
                os.close(upload.slot)  # releases the lock


def _upload_of(current: Request) -> _Upload:
    return current.__dict__.setdefault("workbench_upload", _Upload())


def _upload_stream(upload: _Upload, total_length: int) -> IO[bytes]:
    """Where the next file of the import form goes: a new file in this request's folder, or
    nowhere (the bytes are read and dropped) for a request that will be refused anyway.

    The form is read before any view runs (the CSRF check reads its token), so this
    decides who may store an upload: only a user the import view admits, one import at
    a time, and only while the upload leaves ``transfer.FREE_SPACE_MARGIN`` free.
    """
    if upload.refused or not _may_import():
        return open(os.devnull, "w+b")
    folder = transfer.temporary_folder(edition())
    if upload.slot is None:
        upload.slot = take_import_slot(folder, session["user"])
        if upload.slot is None:
            upload.refused = "busy"
            return open(os.devnull, "w+b")
    if total_length + transfer.FREE_SPACE_MARGIN > shutil.disk_usage(folder).free:
        upload.refused = "space"
        return open(os.devnull, "w+b")
    if upload.folder is None:
        upload.folder = Path(tempfile.mkdtemp(dir=folder, prefix="workbench-upload-"))
    upload.parts += 1
    file = open(upload.folder / f"part-{upload.parts}", "w+b")
    upload.files.append(file)
    return file


def _may_import() -> bool:
    """Whether the session's user is one the import view admits (the blueprint checks it
    again, after the form has been read)."""
    name = session.get("user")
    user = users().get(name) if name else None
    return user is not None and not user.disabled and user.can(required_role(IMPORT_ENDPOINT) or "editor")


@bp.record_once
def _stream_uploads(state) -> None:
    state.app.request_class = UploadRequest


# What the export links offer: file name suffix, formats, and whether the zip holds the
# page images (the text alone is a few kilobytes; the images can be gigabytes).
EXPORTS = {
    "tei": (".xml", ("tei",), False),
    "page": ("-page.zip", ("page",), True),
    "page2013": ("-page2013.zip", ("page2013",), True),
    "alto": ("-alto.zip", ("alto",), True),
    "text": ("-text.zip", ("text",), False),
    "all": (".zip", transfer.FORMATS, True),
}
# The export link's script (static/manuscript.js) adds ?ready=TOKEN and shows "preparing…"
# until a cookie with that token comes back with the response, whatever it is.
READY_TOKEN = re.compile(r"[A-Za-z0-9]{1,32}")


# An export whose page images come to more than this many bytes is made by a job on the
# low queue, not in the request: the page polls its progress and offers the zip when done.
EXPORT_IN_REQUEST_BYTES = 100 * 1024**2


def export_as_job(manuscript_id: str, kind: str = "all") -> bool:
    """Whether this export is big enough to be a job: the manuscript's image folder (one
    stat per file, no parse of its TEI) holds more than the limit."""
    if not EXPORTS[kind][2]:
        return False  # the text alone: a few kilobytes a page
    limit = current_app.config.get("EXPORT_IN_REQUEST_BYTES", EXPORT_IN_REQUEST_BYTES)
    total = 0
    try:
        with os.scandir(edition().facsimile_dir / manuscript_id) as entries:
            for entry in entries:
                total += entry.stat().st_size if entry.is_file() else 0
                if total > limit:
                    return True
    except OSError:
        pass  # no images (yet): the export says so itself
    return False


@bp.app_context_processor
def _export_words() -> dict:
    return {"export_as_job": export_as_job}


@bp.route("/m/<manuscript_id>/export/<kind>/job", methods=["GET", "POST"])
def export_job(manuscript_id: str, kind: str):
    """A big export: offered as a job (GET), started (POST, or the same one if it runs already)."""
    if kind not in EXPORTS or kind == "tei":
        abort(404)
    from workbench.web.state import jobs

    suffix, formats, images = EXPORTS[kind]
    notes = request.values.get("notes") == "1"
    job = None
    if request.method == "POST":
        options = {"formats": list(formats), "images": images, "notes": notes, "file": f"{manuscript_id}{suffix}"}
        job = jobs().submit(edition(), "export", manuscript_id, g.user.name, options=options)
    manuscript = edition().header(manuscript_id)
    return render_template("export_job.html", manuscript=manuscript, kind=kind, notes=notes, job=job)


@bp.get("/m/<manuscript_id>/export/<kind>")
def export(manuscript_id: str, kind: str):
    if kind not in EXPORTS:
        abort(404)
    suffix, formats, images = EXPORTS[kind]
    if export_as_job(manuscript_id, kind):
        return redirect(url_for("transfer.export_job", manuscript_id=manuscript_id, kind=kind, **request.args))
    folder = Path(tempfile.mkdtemp(prefix="workbench-export-"))
    ready = request.args.get("ready", "")

    @after_this_request
    def clean_up(response):
        # send_file has opened the file; on Linux it can go from the folder now.
        shutil.rmtree(folder)
        if READY_TOKEN.fullmatch(ready):
            response.set_cookie(
                "export-ready",
                ready,
                max_age=120,
                samesite="Lax",
                secure=current_app.config["SESSION_COOKIE_SECURE"],
            )
        return response

    try:
        notes = request.args.get("notes") == "1"  # the comments on lines, as editorial notes
        if kind == "tei":
            path = transfer.export(edition(), manuscript_id, folder, formats, notes)[0]
        else:
            target = folder / f"{manuscript_id}{suffix}"
            path = transfer.export_zip(edition(), manuscript_id, target, formats, notes, images=images)
    except InvalidDocument as error:
        message = _("The export was refused because the document is not valid:")
        return render_template("message.html", message=message, details=validation_problems(error)), 422
    except NotFound:
        raise  # the site's one "not found" page (the core's message names server paths)
    except WorkbenchError as error:
        # The manuscript's files could not be read or written: nothing a reader can act on
        # from the message, which names the server's files; the log keeps it.
        current_app.logger.warning("export of %s failed: %s", manuscript_id, error)
        message = _("The export could not be made. Try again; if it happens again, tell the administrator.")
        return render_template("message.html", message=message), 500
    return send_file(path, as_attachment=True, download_name=f"{manuscript_id}{suffix}")


@bp.route("/import", methods=["GET", "POST"])
def import_manuscript():
    if request.method == "GET":
        return render_template("import.html")
    if "manifest" in request.form:
        return _import_iiif(request.form["manifest"].strip(), request.form.get("id") or None)
    upload = request.files.get("file")
    state = _upload_of(request)
    if state.refused == "busy":
        message = _("An import of yours is still running. Wait until it has finished, then try again.")
        return render_template("import.html", error=message), 429
    if state.refused == "space":
        message = _("There is not enough free disk space on the server for this upload. Nothing was imported.")
        return render_template("import.html", error=message), 507
    if upload is None or not upload.filename:
        return render_template("import.html", error=_("Choose a zip or XML file to import.")), 422
    suffix = Path(upload.filename).suffix.lower()
    if suffix not in (".zip", ".xml"):
        return render_template(
            "import.html", error=_("Import a .zip (PAGE or ALTO files with their images) or a TEI .xml file.")
        ), 422
    # The file as it arrived, renamed (not copied): its name gives the manuscript's id and title.
    upload.stream.flush()
    path = Path(upload.stream.name)
    path = path.rename(path.with_name(f"{Path(upload.filename).stem[:100] or 'upload'}{suffix}"))
    try:
        report = transfer.import_path(
            edition(),
            path,
            g.user.name,
            request.form.get("id") or None,
            request.form.get("title") or None,
            temporary=path.parent,
        )
    except transfer.UnsafeArchive as error:
        return render_template("import.html", error=_unsafe_archive(error)), 422
    except transfer.NoSpace as error:
        message = _(
            "%(name)s unpacks to %(needed)s MB, but only %(free)s MB of disk space are free on the server. "
            "Nothing was imported.",
            name=error.archive,
            needed=f"{error.needed / 1024**2:,.0f}",
            free=f"{error.free / 1024**2:,.0f}",
        )
        return render_template("import.html", error=message), 507
    except (WorkbenchError, InvalidDocument) as error:
        return render_template("import.html", error=_("Nothing was imported."), **_refusal(error, path, upload)), 422
    index_changed()
    return render_template(
        "import.html",
        report=report,
        skipped=[_said(item, path, upload.filename) for item in report.skipped],
        notes=[_said(item, path, upload.filename) for item in report.notes],
    )


def _refusal(error: Exception, path: Path, upload) -> dict[str, object]:
    """What the import page says of a refused import: the reason, and each file's reason when
    none could be read; the core's English account only for what has no code (a TEI
    document's validation problems)."""
    if isinstance(error, InvalidDocument):
        intro = _("%(file)s is not valid TEI for this edition. The validator found:", file=Path(upload.filename).name)
        return {"reasons": [intro, *validation_problems(error)]}
    if isinstance(error, transfer.NothingImported):
        return {"reasons": [_said(item, path, upload.filename) for item in error.skipped]}
    note = getattr(error, "note", None)
    if isinstance(note, transfer.Note):
        return {"reasons": [_said(note, path, upload.filename)]}
    return {"details": _without_server_paths(str(error), path, upload.filename)}


def validation_problems(error: InvalidDocument, most: int = 20) -> list[str]:
    """Each of the validator's problems with a document, introduced with its line in the
    reader's language.

    The problem itself stays as the validator wrote it (lxml's RELAX NG and Schematron
    messages, or jing's), in English: it names elements, attributes and schema rules in the
    schema's own terms, comes with no code to word it from, and is what an encoder compares
    with the schema and searches for; a paraphrase would lose exactly that."""
    said = []
    for problem in error.problems[:most]:
        detail = f"{problem.message} [{problem.check}]"
        said.append(_("Line %(line)s: %(problem)s", line=problem.line, problem=detail) if problem.line else detail)
    if len(error.problems) > most:
        left = len(error.problems) - most
        said.append(ngettext("… and %(num)d more problem.", "… and %(num)d more problems.", left))
    return said


def _said(item: str, upload: Path, name: str) -> str:
    """One item of an import's report in the reader's language (``transfer.Note``'s code and
    parameters), with no folder of the server's in it."""
    code = getattr(item, "code", None)
    words = _NOTES.get(code) if code else None
    if words is None:
        # A reason without a code of its own (none is expected): the core's words.
        return _("%(text)s (as the import reports it)", text=_without_server_paths(str(item), upload, name))
    params = {}
    for key, value in item.params.items():
        if isinstance(value, transfer.Note):
            value = _said(value, upload, name)
        elif isinstance(value, layout_files.Place):
            value = _place(value)
        elif isinstance(value, list):
            value = ", ".join(_place(v) if isinstance(v, layout_files.Place) else str(v) for v in value)
        elif isinstance(value, str):
            value = _without_server_paths(value, upload, name)
        params[key] = value
    return words(params)


def _place(place: layout_files.Place) -> str:
    if place.line is None:
        return f"{place.element} {place.id}"
    return _("%(element)s %(id)s (line %(line)d)", element=place.element, id=place.id or "—", line=place.line)


def _text_was(params: dict) -> str:
    return _(" (its text was: %(text)s)", text=params["text"]) if params.get("text") else ""


def _points_had(params: dict) -> str:
    return _("no baseline") if not params["points"] else _("a baseline of one point")


_NOTES = {
    # Why a file was left out, or an import refused.
    "not-xml": lambda p: (
        _("%(file)s cannot be read as XML (the error is near line %(line)s).", **p)
        if p.get("line")
        else _("%(file)s cannot be read as XML.", **p)
    ),
    "doctype": lambda p: _("%(file)s has a DOCTYPE declaration, which the workbench refuses in any XML it reads.", **p),
    "unknown-format": lambda p: _(
        "%(file)s: the XML namespace %(namespace)s of <%(element)s> is not one the workbench reads "
        "(it reads %(formats)s).",
        **{**p, "namespace": p["namespace"] or "—"},
    ),
    "no-page": lambda p: _("%(file)s has no <%(element)s> element.", **p),
    "alto-unit": lambda p: _("%(file)s: ALTO measured in %(unit)s; the workbench reads pixel coordinates only.", **p),
    "no-size": lambda p: _("%(file)s: the page has no valid image width and height.", **p),
    "bad-size": lambda p: _("%(file)s: the page's image size %(width)s×%(height)s is not a size.", **p),
    "file-too-large": lambda p: _(
        "%(file)s: %(size)s MB of XML; the workbench reads PAGE and ALTO files of at most %(limit)s MB.", **p
    ),
    "too-many-text-regions": lambda p: _(
        "%(file)s: %(count)s text regions on one page; the workbench imports at most %(limit)s.", **p
    ),
    "too-many-text-blocks": lambda p: _(
        "%(file)s: %(count)s text blocks on one page; the workbench imports at most %(limit)s.", **p
    ),
    "too-many-lines": lambda p: _(
        "%(file)s: %(count)s lines on one page; the workbench imports at most %(limit)s.", **p
    ),
    "too-many-points": lambda p: _(
        "%(file)s: %(place)s has %(count)s points; the workbench imports polygons and baselines of at most "
        "%(limit)s points.",
        **p,
    ),
    "image-size": lambda p: _(
        "%(file)s: its image %(image)s is %(size)s pixels, but the file's coordinates are for %(expected)s.", **p
    ),
    "no-image-name": lambda p: _("%(file)s names no image file.", **p),
    "image-ambiguous": lambda p: _("%(file)s: its image %(image)s is ambiguous: %(count)s files have that name.", **p),
    "image-missing": lambda p: _("%(file)s names the image %(image)s, which is not among the files imported.", **p),
    "image-taken": lambda p: _("%(file)s: its image %(image)s belongs to %(taken)s already.", **p),
    "no-xml": lambda p: _("%(file)s holds no PAGE, ALTO or TEI files (*.xml).", **p),
    "only-mets": lambda p: _("%(file)s holds a METS file but no PAGE or ALTO files (*.xml).", **p),
    "too-many-pages": lambda p: _(
        "%(file)s holds %(count)s PAGE or ALTO files; one import takes at most %(limit)s pages: import the "
        "manuscript in parts.",
        **p,
    ),
    "not-zip": lambda p: _("%(file)s cannot be read as a zip file.", **p),
    "zip-too-large": lambda p: _(
        "%(file)s holds too much: at most %(files)s files and %(gigabytes)s GB unpacked.", **p
    ),
    "nothing-read": lambda p: _("No file could be read."),
    # What was changed on the way in.
    "in-file": lambda p: f"{p['file']}: {p['note']}",
    "many-mets": lambda p: _("%(count)s METS files (%(files)s): the pages are in the order of the file names.", **p),
    "mets-unread": lambda p: _("%(problem)s The pages are in the order of the file names.", **p),
    "mets-lists-none": lambda p: _(
        "%(file)s lists none of the PAGE or ALTO files: the pages are in the order of the file names.", **p
    ),
    "not-in-mets": lambda p: _("%(file)s is not in %(mets)s and was put after the pages it lists.", **p),
    "twin": lambda p: _(
        "%(file)s (%(format)s) was left aside: %(taken)s (%(taken_format)s) was taken for the same image %(image)s.",
        **p,
    ),
    "not-text": lambda p: _("%(place)s was left out: it is not a text region.", **p),
    "band": lambda p: _("%(place)s has no polygon; a band around its baseline was used.", **p),
    "no-shape": lambda p: _("%(place)s was left out: it has no polygon and no baseline.", **p) + _text_was(p),
    "off-page": lambda p: _("%(place)s was left out: it lies wholly outside the page.", **p) + _text_was(p),
    "no-extent": lambda p: (
        _("%(place)s was left out: it has %(had)s and its polygon has no extent.", place=p["place"], had=_points_had(p))
        + _text_was(p)
    ),
    "baseline-drawn": lambda p: _(
        "%(place)s had %(had)s; one was drawn along the middle of its polygon.", place=p["place"], had=_points_had(p)
    ),
    "empty-region": lambda p: _("%(place)s was left out: it has no polygon and no lines.", **p),
    "region-box": lambda p: _("%(place)s has no polygon; the box around its lines was used.", **p),
    "moved": lambda p: ngettext(
        "%(num)d polygon or baseline reached past the page's edge and was moved onto it: %(places)s.",
        "%(num)d polygons or baselines reached past the page's edge and were moved onto it: %(places)s.",
        p["count"],
        places=p["places"],
    ),
}


def _import_iiif(manifest: str, manuscript_id: str | None):
    """A manuscript from a IIIF manifest's address, fetched by the server while the request
    waits; by default never from the server's own network (``IIIF_IMPORT_PRIVATE_ADDRESSES``)."""
    if not re.match(r"https?://\S+$", manifest):
        return render_template("import.html", error=_("Give the address (http or https) of a IIIF manifest.")), 422
    slot = take_import_slot(transfer.temporary_folder(edition()), g.user.name)
    if slot is None:
        message = _("An import of yours is still running. Wait until it has finished, then try again.")
        return render_template("import.html", error=message), 429
    try:
        fetcher = iiif.Fetcher(private_addresses=current_app.config.get("IIIF_IMPORT_PRIVATE_ADDRESSES", False))
        report = iiif.import_manifest(edition(), manifest, g.user.name, manuscript_id, fetcher=fetcher)
    except (WorkbenchError, InvalidDocument) as error:
        message = _(
            "Nothing was imported. Images fetched so far are kept: importing the same manifest again goes on from there."
        )
        return render_template("import.html", error=message, details=str(error)), 422
    finally:
        os.close(slot)
    index_changed()
    return render_template("import.html", report=report)


def _without_server_paths(text: str, upload: Path, name: str) -> str:
    """``text`` (the core's account of an import) as the uploader may read it: the upload
    by the name it had on their computer, the files inside it by their names in the
    archive, and no folder of the server's."""
    text = text.replace(str(upload), Path(name).name)
    folder = str(upload.parent)
    # Unpacked files live in folders made inside the upload's (workbench-import-…/).
    text = re.sub(re.escape(folder) + r"/(?:workbench-import-[^/\s]*/)?", "", text)
    return text.replace(folder, "…")


def _unsafe_archive(error: transfer.UnsafeArchive) -> str:
    reasons = {
        "outside": _("it points outside the archive"),
        "link": _("it is a symbolic link; only plain files and folders are imported"),
        "special": _("it is a device file, pipe or socket; only plain files and folders are imported"),
        "twice": _("it appears twice in the archive"),
        "file-and-folder": _("it is both a file and a folder in the archive"),
        "longer": _("it unpacks to more bytes than the archive declares for it"),
    }
    return _(
        "The zip file %(name)s was refused because of its entry %(entry)s: %(reason)s. Nothing was imported.",
        name=error.archive,
        entry=error.entry,
        reason=reasons[error.reason],
    )
