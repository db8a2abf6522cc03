"""Uploads to the import page: stored once, in the edition's temporary folder; one import at a
time per user; hostile zips and a full disk refused in the reader's language."""

from __future__ import annotations

import io
import os
import shutil
import stat
import zipfile
from pathlib import Path

from flask import request

from tests.builders import REPO
from tests.web.client import csrf_token, log_in
from workbench.exchange import transfer
from workbench.web import transfers

ALTO_SET = REPO / "tests/data/ground-truth/alto4-escriptorium"


def wills_zip(*extra: tuple[zipfile.ZipInfo | str, bytes]) -> bytes:
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        for path in sorted(ALTO_SET.iterdir()):
            archive.write(path, f"wills/{path.name}")
        for entry, data in extra:
            archive.writestr(entry, data)
    return packed.getvalue()


def upload(client, data: bytes, name: str = "wills.zip", language: str = "en", **fields):
    token = csrf_token(client, "/import")
    return client.post(
        f"/import?lang={language}",
        data={"file": (io.BytesIO(data), name), "csrf_token": token, **fields},
        content_type="multipart/form-data",
    )


def temporary(edition) -> Path:
    return edition.state_dir / "tmp"


def left_behind(edition) -> list[Path]:
    folder = temporary(edition)
    return [p for p in folder.rglob("*") if "import-locks" not in p.parts] if folder.exists() else []


def test_an_upload_is_stored_once_in_the_editions_temporary_folder(editor, sample_edition, monkeypatch):
    data = wills_zip()
    seen = {}
    import_path = transfer.import_path

    def spy(edition, source, *args, **options):
        # What the disk holds while the import runs: the upload, once, where the edition keeps its temporary files.
        seen["source"], seen["size"] = source, source.stat().st_size
        seen["files"] = sorted(
            p for p in temporary(edition).rglob("*") if p.is_file() and "import-locks" not in p.parts
        )
        # The file imported is the one the request streamed the upload into, not a copy of it.
        stream = request.files["file"].stream
        seen["streamed into it"] = os.fstat(stream.fileno()).st_ino == source.stat().st_ino
        return import_path(edition, source, *args, **options)

    monkeypatch.setattr(transfer, "import_path", spy)
    response = upload(editor, data, id="wills")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert seen["files"] == [seen["source"]] and seen["source"].name == "wills.zip"
    assert seen["source"].is_relative_to(temporary(sample_edition)) and seen["size"] == len(data)
    assert seen["streamed into it"]
    assert "wills" in sample_edition.manuscript_ids()
    assert left_behind(sample_edition) == []


def test_a_zip_with_a_symbolic_link_is_refused_in_the_readers_language(editor, sample_edition):
    link = zipfile.ZipInfo("wills/images")
    link.create_system, link.external_attr = 3, (stat.S_IFLNK | 0o777) << 16
    data = wills_zip((link, b"/etc"), ("wills/images/x.png", b"x"))
    response = upload(editor, data, language="bg")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert (
        "Zip файлът wills.zip е отказан заради записа wills/images в него: е символна връзка; внасят се само "
        "обикновени файлове и папки. Нищо не е внесено."
    ) in page
    assert "wills" not in sample_edition.manuscript_ids() and left_behind(sample_edition) == []


def test_a_file_and_a_folder_of_the_same_name_is_refused_not_a_server_error(editor, sample_edition):
    data = wills_zip(("wills/pages", b"x"), ("wills/pages/1.xml", b"<x/>"))
    response = upload(editor, data)
    assert response.status_code == 422
    assert "because of its entry wills/pages: it is both a file and a folder in the archive" in response.get_data(
        as_text=True
    )
    assert "wills" not in sample_edition.manuscript_ids() and left_behind(sample_edition) == []


def test_a_second_import_of_the_same_user_is_refused_while_one_runs(editor, sample_edition, accounts):
    folder = transfer.temporary_folder(sample_edition)
    running = transfers.take_import_slot(folder, "ivan")  # what an import in another thread or process holds
    assert running is not None
    try:
        assert transfers.take_import_slot(folder, "ivan") is None
        response = upload(editor, wills_zip(), language="bg")
        assert response.status_code == 429
        assert "Едно ваше внасяне още тече. Изчакайте го да завърши и опитайте отново." in response.get_data(
            as_text=True
        )
        assert "wills" not in sample_edition.manuscript_ids() and left_behind(sample_edition) == []

        # Another editor is not held up by ivan's import.
        accounts.add("maria", "editor", "another good password")
        other = editor.application.test_client()
        assert log_in(other, "maria", "another good password").status_code == 302
        assert upload(other, wills_zip(), id="marias").status_code == 200
    finally:
        os.close(running)
    assert upload(editor, wills_zip(), id="wills").status_code == 200
    assert {"wills", "marias"} <= set(sample_edition.manuscript_ids())


def test_an_upload_the_disk_cannot_hold_is_refused_before_it_is_stored(editor, sample_edition, monkeypatch):
    data = wills_zip()
    usage = shutil.disk_usage(sample_edition.root)
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: usage._replace(free=transfer.FREE_SPACE_MARGIN + 1000))
    response = upload(editor, data, language="bg")
    assert response.status_code == 507
    assert "На сървъра няма достатъчно свободно дисково пространство за този файл." in response.get_data(as_text=True)
    assert "wills" not in sample_edition.manuscript_ids() and left_behind(sample_edition) == []


def test_uploads_of_people_who_may_not_import_are_not_stored(client, sample_edition, accounts):
    accounts.add("petar", "transcriber", "a transcriber's password")
    assert log_in(client, "petar", "a transcriber's password").status_code == 302
    token = csrf_token(client, "/")
    response = client.post(
        "/import",
        data={"file": (io.BytesIO(wills_zip()), "wills.zip"), "csrf_token": token},
        content_type="multipart/form-data",
    )
    assert response.status_code == 403
    assert left_behind(sample_edition) == []
