"""A team's day on a published edition, all over HTTP through the real server.

A published 500-page, 15,000-line manuscript (bench/saves.py's pages and images, with
bench/search.py's generated old-orthography text, indexed for readers), served by
gunicorn as `workbench serve --processes N` runs it, for N = 1, 2 and 4 in turn, and
as "1+1": an editors' server and a reading room's beside it on the same edition (the
readers sent to the second, as a proxy routes /read/ there; README, deployment):

- 8 editors, each saving one of its own lines on a random page once a second;
- 20 readers, each once a second either searching (/read/search, a word in modern
  spelling) or opening a page of the reading room (/read/big/<n>/), in turn;
- a prober saving a new word every 2 s and asking /read/search until it is found
  (save → findable);
- 1 segmentation job (kraken, through the web job API: POST /m/big/jobs) on pages 1-4,
  run by a `workbench worker` beside the server as `workbench serve` starts one (its
  job processes at the `[queue] nice` given by --nice: 10 as shipped, 0 for the
  server's own priority),
  which the editors leave alone; cancelled if still running when the phase ends.

Prints, per N: editors' save p50/p95, readers' search and page p95, save → findable
median/max, saves/s, the job's state, and each server process's memory (RSS) with the
manuscript open; at the end: acknowledged saves missing from the TEI or the journal,
saves journalled twice, and whether the TEI is valid.
Targets (design.md §7): save p95 ≤ 50 ms, search p95 ≤ 150 ms, findable ≤ 2 s.

Run: .venv/bin/python bench/mixed_load.py [--seconds 30] [--processes 1,2,4,1+1] [--nice 10,0]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests
from saves import BIN, PASSWORD, Editor, prepare, serve
from search import lines, modern, vocabulary, zipf_sampler

from workbench import transcription
from workbench.edition import Edition
from workbench.model import Line
from workbench.search.indexing import Indexer
from workbench.users import Users

EDITORS, READERS = 8, 20
JOB_PAGES = {1, 2, 3, 4}  # the segmentation job's; nobody else saves there


@dataclass
class Shared:
    """What the phases share: the lines' texts as last saved, and every acknowledged save."""

    texts: dict[str, str]
    pages: list[int]
    queries: list[str]
    acknowledged: dict[str, tuple[str, str]]  # line id → (text, editor) of its last acknowledged save
    refused: list[str]
    lock: threading.Lock
    counter: Iterator[int]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")


def workers(server_pid: int) -> list[int]:
    """The processes ``server_pid`` started (from any of its threads)."""
    children = []
    for task in Path(f"/proc/{server_pid}/task").iterdir():
        try:
            children += [int(pid) for pid in (task / "children").read_text().split()]
        except OSError:
            continue  # the thread ended meanwhile
    return children


def descendants(pid: int) -> list[int]:
    """The server's processes below gunicorn's master: its workers and their children
    (the search indexer's process, a job's worker)."""
    found = []
    for child in workers(pid):
        found += [child, *descendants(child)]
    return found


def rss_mb(pid: int) -> float:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # ended meanwhile
        total += int(fields[11]) + int(fields[12])
    return total / 100


def settle(server_pid: int, base: str, limit: float = 240) -> float:
    """Open the manuscript in every process (each reads it once) and wait until the
    processes are idle (tei_all loads in each at start): seconds waited."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        for _ in range(4 * len(workers(server_pid))):
            requests.get(f"{base}/read/big/3/", timeout=120)  # a new connection: any process
        pids = descendants(server_pid)
        before = cpu_seconds(pids)
        time.sleep(2)
        if cpu_seconds(pids) - before < 0.3:
            break
    return time.perf_counter() - started


def phase(
    tmp: Path,
    processes: str,
    seconds: float,
    shared: Shared,
    with_job: bool,
    readers: int,
    indexer_in: str,
    nice: int = 10,
) -> tuple:
    """One run of the mixed load on ``processes`` server processes; prints its figures.

    ``processes`` "N": one server of N processes for everybody; "E+R": the editors' server
    of E processes and, beside it on the same edition, a reading room's of R processes,
    which the readers (and the prober's searches) use, as a proxy would route /read/ there.
    """
    (tmp / "workbench.toml").write_text(f"[queue]\nnice = {nice}\n")
    worker = subprocess.Popen(
        [str(BIN / "python"), "-m", "workbench", "--edition", str(tmp), "worker"], stdin=subprocess.DEVNULL
    )
    texts, pages, queries = shared.texts, shared.pages, shared.queries
    acknowledged, refused, lock, counter = shared.acknowledged, shared.refused, shared.lock, shared.counter
    factory = "workbench.web:create_app()"
    if indexer_in == "thread":
        factory = "workbench.web:create_app(test_config={'SEARCH_INDEXER_PROCESS': False})"
    editing, _, reading = processes.partition("+")
    server, base = serve(tmp, threads=8, processes=int(editing), app=factory)
    servers = [server]
    reading_base = base
    if reading:
        reading_server, reading_base = serve(tmp, threads=8, processes=int(reading), app=factory)
        servers.append(reading_server)
    try:
        bare = [rss_mb(pid) for each in servers for pid in workers(each.pid)]
        waited = sum(settle(each.pid, url) for each, url in zip(servers, (base, reading_base), strict=False))
        editors = [Editor(base, f"editor{k}") for k in range(EDITORS + 1)]
        for each, url in zip(servers, (base, reading_base), strict=False):
            settle(each.pid, url)
        memory = [rss_mb(pid) for each in servers for pid in workers(each.pid)]
        indexer = [
            rss_mb(pid)
            for each in servers
            for pid in descendants(each.pid)
            if b"indexing" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        saves: list[float] = []
        searches: list[float] = []
        page_views: list[float] = []
        findable: list[float] = []
        errors: list[str] = []
        stop = threading.Event()

        def save(editor: Editor, line_id: str, text: str) -> float | None:
            base_version = transcription.line_version(Line(line_id, [], [], text=texts[line_id], status="corrected"))
            began = time.perf_counter()
            try:
                response = requests.post(
                    f"{base}/m/big/lines/{line_id}",
                    data={"text": text, "base": base_version},
                    headers=editor.headers,
                    timeout=60,
                )
            except requests.RequestException as error:
                errors.append(f"{line_id}: {error}")
                return None
            elapsed = time.perf_counter() - began
            with lock:
                if response.status_code == 200:
                    acknowledged[line_id] = (text, editor.name)
                    texts[line_id] = text
                else:
                    refused.append(f"{line_id}: {response.status_code}")
                    return None
            return elapsed

        def edit(k: int) -> None:
            local = random.Random(k)
            time.sleep(local.uniform(0, 1))  # editors do not save in step
            while not stop.is_set():
                line_id = f"big_p{local.choice(pages)}_l{k + 1}"
                elapsed = save(editors[k], line_id, f"поправка {next(counter)} на editor{k}")
                if elapsed is not None:
                    with lock:
                        saves.append(elapsed)
                stop.wait(max(0.0, 1 - (elapsed or 0)))

        def read(k: int) -> None:
            local = random.Random(100 + k)
            session = requests.Session()
            time.sleep(local.uniform(0, 1))
            while not stop.is_set():
                searching = local.random() < 0.5
                began = time.perf_counter()
                if searching:
                    response = session.get(
                        f"{reading_base}/read/search", params={"q": local.choice(queries)}, timeout=60
                    )
                else:
                    response = session.get(f"{reading_base}/read/big/{local.choice(pages)}/", timeout=60)
                elapsed = time.perf_counter() - began
                with lock:
                    if response.status_code != 200:
                        errors.append(f"{response.url}: {response.status_code}")
                    (searches if searching else page_views).append(elapsed)
                stop.wait(max(0.0, 1 - elapsed))

        def probe() -> None:
            local = random.Random(processes)
            while not stop.is_set():
                word = f"мѣрило{next(counter)}ѫ"
                line_id = f"big_p{local.choice(pages)}_l{EDITORS + 1}"
                began = time.perf_counter()
                if save(editors[EDITORS], line_id, f"{word} нѣщо") is None:
                    continue
                session = requests.Session()
                while word not in session.get(f"{reading_base}/read/search", params={"q": word}, timeout=60).text:
                    if time.perf_counter() - began > 30:
                        errors.append(f"{word} not findable after 30 s")
                        break
                    time.sleep(0.05)
                else:
                    with lock:
                        findable.append(time.perf_counter() - began)
                stop.wait(2)

        job_id = None
        if with_job:
            response = requests.post(
                f"{base}/m/big/jobs",
                data={"kind": "segment", "pages": "1-4", "mode": "replace"},
                headers=editors[0].headers,
                timeout=60,
            )
            found = re.search(r'id="job-([^"]+)"', response.text)
            job_id = found.group(1) if found else None
            if job_id is None:
                print(f"  segmentation job refused: {response.status_code} {response.text[:200]}")
            else:  # the load starts once the job's process runs (kraken loading is part of its load)
                for _ in range(120):
                    state = requests.get(f"{base}/jobs/{job_id}", headers=editors[0].headers, timeout=60).text
                    if 'data-state="queued"' not in state:
                        break
                    time.sleep(0.5)
        threads = [threading.Thread(target=edit, args=(k,)) for k in range(EDITORS)]
        threads += [threading.Thread(target=read, args=(k,)) for k in range(readers)]
        threads.append(threading.Thread(target=probe))
        pids = [
            pid
            for each in servers
            for pid in descendants(each.pid)
            if b"workbench.jobs" not in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        indexing = [pid for pid in pids if b"workbench.search.indexing" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        cpu_before, load_before = cpu_seconds(pids), os.getloadavg()[0]
        indexer_before = cpu_seconds(indexing)
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        stop.set()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - began
        cpu = cpu_seconds(pids) - cpu_before
        indexer_cpu = cpu_seconds(indexing) - indexer_before
        load = (load_before + os.getloadavg()[0]) / 2
        job = "none"
        if job_id is not None:
            state = requests.get(f"{base}/jobs/{job_id}", headers=editors[0].headers, timeout=60).text
            job = re.search(r'data-state="([^"]+)"', state).group(1)
            progress = re.search(r'<progress max="(\d+)" value="(\d+)"', state)
            job += f", {progress.group(2)}/{progress.group(1)} pages"
            if "running" in job or "queued" in job:
                requests.post(f"{base}/jobs/{job_id}/cancel", headers=editors[0].headers, timeout=60)
                job += " when the phase ended (cancelled)"
    finally:
        for each in servers:
            each.terminate()
            each.wait(timeout=60)
        worker.terminate()
        worker.wait(timeout=120)
    print(
        f"\n{processes} server process(es) × 8 threads, indexer in a {indexer_in}, job processes at nice {nice}, {wall:.0f} s (settled in {waited:.0f} s): "
        f"{len(saves)} saves = {len(saves) / wall:.1f} saves/s\n"
        f"  editors' save     p50 {median(saves) * 1000:5.0f} ms  "
        f"p95 {percentile(saves, 0.95) * 1000:5.0f} ms  (target p95 ≤ 50 ms)\n"
        f"  readers' search   p50 {median(searches) * 1000:5.0f} ms  "
        f"p95 {percentile(searches, 0.95) * 1000:5.0f} ms  (target p95 ≤ 150 ms), {len(searches)} searches\n"
        f"  readers' page     p50 {median(page_views) * 1000:5.0f} ms  "
        f"p95 {percentile(page_views, 0.95) * 1000:5.0f} ms, {len(page_views)} pages\n"
        f"  save → findable   median {median(findable):.2f} s  max {max(findable, default=float('nan')):.2f} s "
        f"({len(findable)} probes; target ≤ 2 s)\n"
        f"  segmentation job: {job}\n"
        f"  memory per server process (RSS, manuscript open): {', '.join(f'{m:.0f}' for m in memory)} MB "
        f"(before opening it: {', '.join(f'{m:.0f}' for m in bare)} MB); the indexer's process: "
        f"{', '.join(f'{m:.0f}' for m in indexer) or 'none'} MB\n"
        f"  server processes' CPU (the indexer's included, the job's not): {cpu:.1f} s in {wall:.0f} s ({cpu / max(1, len(saves)) * 1000:.0f} ms per save, "
        f"readers' requests included; the indexer's share {indexer_cpu:.1f} s); machine load average {load:.1f} on {os.cpu_count()} cores\n"
        f"  errors: {len(errors)} {errors[:3]}"
    )

    return (
        f"{processes} ({indexer_in}, job nice {nice if with_job else '-'})",
        saves,
        searches,
        page_views,
        findable,
        wall,
        memory,
        job,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=30, help="length of each phase")
    parser.add_argument(
        "--processes",
        default="1,2,4,1+1",
        help="server processes, one phase each; E+R: an editors' server of E processes and a reading room's of R",
    )
    parser.add_argument("--no-job", action="store_true", help="without the segmentation job")
    parser.add_argument("--readers", type=int, default=READERS)
    parser.add_argument(
        "--indexer",
        default="process",
        help="process (a child of the server, as served), thread (inside a server process, as before), "
        "or a comma-separated list to run every phase with each in turn",
    )
    parser.add_argument(
        "--nice", default="10", help="[queue] nice of the job's processes (comma-separated: each in turn)"
    )
    args = parser.parse_args()

    rng = random.Random(1866)
    sample = zipf_sampler(vocabulary(20_000, rng), rng)
    tmp = Path(tempfile.mkdtemp(prefix="bench-mixed-"))
    try:
        edition = prepare(tmp, args.pages, 30)
        generated = lines(args.pages * 30, sample, rng)
        with edition.edit("big", "bench") as manuscript:
            for page in manuscript.pages:
                for line in page.lines:
                    line.text = next(generated)[1]
            texts = {line.id: line.text for line in manuscript.lines()}
        edition.set_published("big", True, "bench")
        began = time.perf_counter()
        Indexer(edition).catch_up(bulk=True)
        print(f"{args.pages} pages, {len(texts)} lines, published; indexed in {time.perf_counter() - began:.0f} s")
        users = Users(edition.users_file)
        for k in range(EDITORS + 1):
            users.add(f"editor{k}", "editor", PASSWORD)
        queries = [modern(word.lower()) for word in sample(2000)]
        pages = [n for n in range(1, args.pages + 1) if n not in JOB_PAGES]

        shared = Shared(texts, pages, queries, {}, [], threading.Lock(), iter(range(10**9)))
        rows = [
            phase(tmp, processes, args.seconds, shared, not args.no_job, args.readers, indexer_in, int(nice))
            for processes in args.processes.split(",")
            for indexer_in in args.indexer.split(",")
            for nice in args.nice.split(",")
        ]
        acknowledged, refused = shared.acknowledged, shared.refused

        edition = Edition(tmp)
        manuscript = edition.load("big")
        on_disk = {line.id: line.text for line in manuscript.lines()}
        lost = [line_id for line_id, (text, _) in acknowledged.items() if on_disk.get(line_id) != text]
        journal = Counter((e.line, e.new, e.who) for e in edition.journal.entries("big"))
        unjournalled = [i for i, (text, who) in acknowledged.items() if journal[(i, text, who)] == 0]
        doubled = sum(1 for count in journal.values() if count > 1)
        problems = edition.problems("big")
        print(
            f"\nafter all phases: {len(acknowledged)} lines saved; {len(lost)} acknowledged saves missing from the TEI, "
            f"{len(unjournalled)} missing from the journal, {doubled} journalled twice; refused saves: {len(refused)} "
            f"{refused[:3]}; TEI {'valid' if not problems else f'INVALID: {problems[:3]}'}"
        )
        print(
            "\n| processes | save p50 / p95 | search p95 | page p95 | findable median / max | saves/s | RSS per process |"
        )
        print("|---|---|---|---|---|---|---|")
        for processes, saves, searches, page_views, findable, wall, memory, _ in rows:
            print(
                f"| {processes} | {median(saves) * 1000:.0f} / {percentile(saves, 0.95) * 1000:.0f} ms "
                f"| {percentile(searches, 0.95) * 1000:.0f} ms | {percentile(page_views, 0.95) * 1000:.0f} ms "
                f"| {median(findable):.2f} / {max(findable, default=float('nan')):.2f} s | {len(saves) / wall:.1f} "
                f"| {', '.join(f'{m:.0f}' for m in memory)} MB |"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
