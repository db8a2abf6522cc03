"""The low queue's jobs: the search index rebuilt and a manuscript exported as a zip, each
run by a real consumer in a real job process (tests/builders.py ``consuming``)."""

from __future__ import annotations

import re
import zipfile

import pytest
from click.testing import CliRunner

from tests.builders import consuming, wait_until_ended
from workbench import queue, remote
from workbench.cli import cli
from workbench.exchange import transfer
from workbench.jobs import JobStore
from workbench.model import WorkbenchError
from workbench.search.indexing import Indexer

MS = "trifonov-sample"


def test_reindex_as_a_job_goes_to_the_low_queue_and_rebuilds_the_index(sample_edition, tmp_path):
    sample_edition.set_published(MS, True, "tester")
    (sample_edition.root / "workbench.toml").write_text("")
    shown = CliRunner().invoke(cli, ["--edition", str(sample_edition.root), "--user", "maria", "reindex", "--job"])
    assert shown.exit_code == 0, shown.output
    store = JobStore.of(sample_edition)
    [job] = store.list()
    assert (job.kind, job.queue, job.who, job.manuscript_id) == ("reindex", "low", "maria", "")
    assert f"job {job.id}: reindex, queued on the low queue" in shown.output
    assert queue.pending(sample_edition.root, "low") == [job.id] and queue.pending(sample_edition.root, "cpu") == []
    # The same work asked again while it waits: the job already there.
    assert store.submit(sample_edition, "reindex", "", "ivan").id == job.id
    with consuming(sample_edition.root, ("low",)):
        job = wait_until_ended(store, job.id, timeout=120)
    pages = len(sample_edition.load(MS).pages)
    assert (job.state, job.outcome, job.done, job.total) == ("done", {"pages": pages}, 1, 1), job.message
    assert job.message == f"indexed {pages} page(s) of the published manuscripts"
    # The index is the one a synchronous rebuild makes: nothing behind, nothing extra.
    assert Indexer(sample_edition).catch_up() == 0
    assert "indexed" in store.log_path(job.id).read_text()


def test_an_export_job_writes_the_same_zip_as_the_request_did_with_its_progress(sample_edition, tmp_path):
    store = JobStore.of(sample_edition)
    options = {"formats": ["tei", "page"], "images": True, "notes": False, "file": f"{MS}-page.zip"}
    job = store.submit(sample_edition, "export", MS, "ivan", options=options)
    assert job.queue == "low"
    # An export reads the manuscript: a segmentation of it is not refused meanwhile.
    segment = store.submit(sample_edition, "segment", MS, "ivan", pages="1")
    store.cancel(segment.id)
    with consuming(sample_edition.root, ("low",)):
        job = wait_until_ended(store, job.id, timeout=120)
    assert job.state == "done", job.message
    made = store.export_path(job)
    assert job.outcome == {"file": made.name, "bytes": made.stat().st_size}
    pages = len(sample_edition.load(MS).pages)
    assert (job.done, job.total) == (2 * pages + 1, 2 * pages + 1)  # page XML and image of each page, the TEI
    direct = transfer.export_zip(sample_edition, MS, tmp_path / "direct.zip", ("tei", "page"))
    with zipfile.ZipFile(made) as archive, zipfile.ZipFile(direct) as expected:
        assert archive.namelist() == expected.namelist()
        layouts = [name for name in expected.namelist() if name.startswith(f"{MS}/page/")]
        assert len(layouts) == pages
        # The same files but for when each was written (PAGE's <Created> and <LastChange>).
        assert all(_undated(archive.read(name)) == _undated(expected.read(name)) for name in layouts)


def _undated(page_xml: bytes) -> bytes:
    return re.sub(rb"<(Created|LastChange)>[^<]*</\1>", b"", page_xml)


def test_a_bad_export_is_refused_and_a_cancelled_one_leaves_no_file(sample_edition):
    store = JobStore.of(sample_edition)
    with pytest.raises(WorkbenchError, match="unknown export format"):
        store.submit(sample_edition, "export", MS, "ivan", options={"formats": ["docx"]})
    with pytest.raises(WorkbenchError, match="is not a zip file's name"):
        store.submit(sample_edition, "export", MS, "ivan", options={"file": "../evil.zip"})
    job = store.submit(sample_edition, "export", MS, "ivan")
    assert queue.pending(sample_edition.root, "low") == [job.id]
    assert store.cancel(job.id, "ivan").message == "cancelled by ivan"
    assert queue.huey_for(sample_edition.root, "low").is_revoked(job.id)  # no worker runs it
    assert not store.export_path(job).exists()


def test_a_remote_worker_leaves_the_low_queue_to_the_workbenchs_machine(tmp_path):
    with pytest.raises(WorkbenchError, match="the low queue's jobs .* read the edition's files"):
        remote.run_remote_worker("http://127.0.0.1:9", "wbw_x", ["cpu", "low"], 1, workdir=tmp_path)
