"""A big export from the browser: made by a job on the low queue (a real consumer and job
process), its progress polled, the zip then offered; small exports stay in the request."""

from __future__ import annotations

import io
import re
import zipfile

from tests.builders import consuming, wait_until_ended
from tests.web.client import MS, log_in
from workbench.jobs import JobStore

BG = {"Accept-Language": "bg"}


def test_a_big_export_is_a_job_whose_page_polls_and_then_offers_the_zip(make_app, sample_edition):
    app = make_app(EXPORT_IN_REQUEST_BYTES=1000)  # the sample's page images are bigger: a job
    client = app.test_client()
    assert log_in(client).status_code == 302
    page = client.get(f"/m/{MS}/", headers=BG).get_data(as_text=True)
    # The manuscript page links the job's page for exports with images, the file for the others.
    assert f'href="/m/{MS}/export/all/job"' in page and f'href="/m/{MS}/export/tei" download' in page
    moved = client.get(f"/m/{MS}/export/page?notes=1")
    assert moved.status_code == 302 and moved.location.endswith(f"/m/{MS}/export/page/job?notes=1")
    offer = client.get(f"/m/{MS}/export/page/job?notes=1", headers=BG).get_data(as_text=True)
    assert "Подготвяне на износа" in offer and 'name="notes" value="1"' in offer
    token = re.search(r'name="csrf_token" value="([^"]+)"', offer).group(1)

    started = client.post(f"/m/{MS}/export/page/job", data={"csrf_token": token, "notes": "1"}, headers=BG)
    assert started.status_code == 200
    store = JobStore.of(sample_edition)
    [job] = store.list()
    assert (job.kind, job.queue, job.options["file"], job.options["notes"]) == ("export", "low", f"{MS}-page.zip", True)
    shown = started.get_data(as_text=True)
    assert f'hx-get="/jobs/{job.id}"' in shown and "Износ: чака" in shown  # polled while it waits
    # Asked again while it waits: the same job, not a second zip.
    client.post(f"/m/{MS}/export/page/job", data={"csrf_token": token, "notes": "1"})
    assert [j.id for j in store.list()] == [job.id]
    assert client.get(f"/jobs/{job.id}/download").status_code == 404  # not made yet

    with consuming(sample_edition.root, ("low",)):
        job = wait_until_ended(store, job.id, timeout=120)
    assert job.state == "done", job.message
    shown = client.get(f"/jobs/{job.id}", headers=BG).get_data(as_text=True)
    assert "hx-get" not in shown and f"Изтегляне на {MS}-page.zip" in shown
    assert f"{job.total} от {job.total} файла" in shown
    download = client.get(f"/jobs/{job.id}/download")
    assert download.status_code == 200 and f"{MS}-page.zip" in download.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(download.data)) as archive:
        names = archive.namelist()
    pages = sample_edition.load(MS).pages
    assert len([name for name in names if name.startswith(f"{MS}/page/")]) == len(pages)
    assert len([name for name in names if name.startswith(f"{MS}/facsimiles/")]) == len(pages)


def test_a_small_export_is_still_made_in_the_request(editor):
    reply = editor.get(f"/m/{MS}/export/all")
    assert reply.status_code == 200 and reply.mimetype == "application/zip"
    page = editor.get(f"/m/{MS}/").get_data(as_text=True)
    assert f'href="/m/{MS}/export/all" download' in page


def test_only_editors_download_an_export(make_app, sample_edition, accounts):
    store = JobStore.of(sample_edition)
    job = store.submit(sample_edition, "export", MS, "ivan", options={"formats": ["text"], "images": False})
    with consuming(sample_edition.root, ("low",)):
        wait_until_ended(store, job.id, timeout=120)
    accounts.add("petya", "transcriber", "another good password")
    client = make_app().test_client()
    assert log_in(client, "petya", "another good password").status_code == 302
    assert client.get(f"/jobs/{job.id}/download").status_code == 403
