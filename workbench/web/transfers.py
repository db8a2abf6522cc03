"""Import and export in the browser: editors only. transfer.py does the work."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from flask import abort, after_this_request, g, render_template, request, send_file
from flask_babel import gettext as _

from workbench.exchange import transfer
from workbench.model import WorkbenchError
from workbench.tei.validation import InvalidDocument
from workbench.web.auth import staff_blueprint
from workbench.web.state import edition, index_changed

bp = staff_blueprint("transfer", __name__, role="editor")

# What the export links offer: file name suffix, formats, and whether it is one file or a zip.
EXPORTS = {
    "tei": (".xml", ("tei",)),
    "page": ("-page.zip", ("page",)),
    "page2013": ("-page2013.zip", ("page2013",)),
    "alto": ("-alto.zip", ("alto",)),
    "text": ("-text.zip", ("text",)),
    "all": (".zip", transfer.FORMATS),
}


@bp.get("/m/<manuscript_id>/export/<kind>")
def export(manuscript_id: str, kind: str):
    if kind not in EXPORTS:
        abort(404)
    suffix, formats = EXPORTS[kind]
    folder = Path(tempfile.mkdtemp(prefix="workbench-export-"))

    @after_this_request
    def clean_up(response):
        # send_file has opened the file; on Linux it can go from the folder now.
        shutil.rmtree(folder)
        return response

    try:
        notes = request.args.get("notes") == "1"  # the comments on lines, as editorial notes
        if kind == "tei":
            path = transfer.export(edition(), manuscript_id, folder, formats, notes)[0]
        else:
            path = transfer.export_zip(edition(), manuscript_id, folder / f"{manuscript_id}{suffix}", formats, notes)
    except InvalidDocument as error:
        message = _("The export was refused because the document is not valid:") + f"\n{error}"
        return render_template("message.html", message=message), 422
    except WorkbenchError as error:
        return render_template("message.html", message=str(error)), 404
    return send_file(path, as_attachment=True, download_name=f"{manuscript_id}{suffix}")


@bp.route("/import", methods=["GET", "POST"])
def import_manuscript():
    if request.method == "GET":
        return render_template("import.html")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return render_template("import.html", error=_("Choose a zip or XML file to import.")), 422
    suffix = Path(upload.filename).suffix.lower()
    if suffix not in (".zip", ".xml"):
        return render_template(
            "import.html", error=_("Import a .zip (PAGE or ALTO files with their images) or a TEI .xml file.")
        ), 422
    with tempfile.TemporaryDirectory(prefix="workbench-upload-") as temporary:
        path = Path(temporary) / f"{Path(upload.filename).stem or 'upload'}{suffix}"
        upload.save(path)
        try:
            report = transfer.import_path(
                edition(),
                path,
                g.user.name,
                request.form.get("id") or None,
                request.form.get("title") or None,
            )
        except (WorkbenchError, InvalidDocument) as error:
            return render_template("import.html", error=str(error)), 422
    index_changed()
    return render_template("import.html", report=report)
