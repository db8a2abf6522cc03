"""Line saves over HTTP: gunicorn on loopback, many editors at once, a 500-page manuscript.

Starts `workbench serve`'s configuration of gunicorn (one process, threads) on a
generated 500-page, 15,000-line manuscript, logs in N editors, and has each save
lines as fast as it can for a bounded number of saves. Prints p50/p95/p99 latency,
saves per second, the editor page's render time, and then checks that every
acknowledged save is in the TEI file and in the journal (zero lost or corrupted).
Target: p95 ≤ 50 ms for a save, ≤ 200 ms for the page (design.md §7).

Run: .venv/bin/python bench/saves.py [--editors 8] [--saves 1500] [--published]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from validation import LINE_TEXT, generate

from workbench import transcription
from workbench.edition import Edition
from workbench.model import Line
from workbench.sample import HADZHI_DIMITAR, render_page
from workbench.users import Users

BIN = Path(sys.executable).parent
PASSWORD = "bench password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(root: Path, pages: int, lines_per_page: int) -> Edition:
    manuscript = generate(pages, lines_per_page)
    edition = Edition(root)
    edition.create(manuscript, who="bench")
    # Every page points at a real image (the editor stats it for crop URLs).
    image, _ = render_page(HADZHI_DIMITAR.splitlines(), width=2480, height=3508)
    folder = edition.facsimile_dir / manuscript.id
    folder.mkdir(parents=True)
    image.convert("L").save(folder / "page.jpg", quality=80)
    for page in manuscript.pages:
        os.link(folder / "page.jpg", folder / page.image)
    return edition


def serve(
    edition_root: Path, threads: int, processes: int = 1, app: str = "workbench.web:create_app()"
) -> tuple[subprocess.Popen, str]:
    """`workbench serve`'s gunicorn (``processes`` processes, ``threads`` threads each) on a
    free loopback port, once it answers; the process and its base URL."""
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "--workers", str(processes), "--threads", str(threads)]
        + ["--bind", f"127.0.0.1:{port}", "--log-level", "warning", app],
        env={**os.environ, "WORKBENCH_EDITION": str(edition_root)},
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            requests.get(f"{base}/login", timeout=30)
            break
        except requests.RequestException:
            time.sleep(0.2)
    return server, base


class Editor:
    """One logged-in editor. The session cookie is Secure, and this client talks plain
    HTTP on loopback, so it carries the cookie itself instead of a cookie jar."""

    def __init__(self, base: str, name: str):
        self.base, self.name = base, name
        login = requests.get(f"{base}/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)
        response = requests.post(
            f"{base}/login",
            data={"name": name, "password": PASSWORD, "csrf_token": token},
            headers={"Cookie": f"session={login.cookies['session']}"},
            allow_redirects=False,
        )
        assert response.status_code == 302, response.text
        self.headers = {"Cookie": f"session={response.cookies['session']}", "HX-Request": "true"}
        page = requests.get(f"{base}/m/big/p/1/", headers=self.headers)
        # The page made the session's CSRF token: the session cookie changed with it.
        self.headers["Cookie"] = f"session={page.cookies.get('session', response.cookies['session'])}"
        self.headers["X-CSRFToken"] = re.search(r'"X-CSRFToken": "([^"]+)"', page.text).group(1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--lines-per-page", type=int, default=30)
    parser.add_argument("--editors", type=int, default=8)
    parser.add_argument("--saves", type=int, default=1200, help="saves in all, in the as-fast-as-possible run")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between one editor's saves, paced run")
    parser.add_argument("--paced-saves", type=int, default=40, help="saves per editor in the paced run")
    parser.add_argument("--seconds", type=float, default=120, help="stop after this long in any case")
    parser.add_argument(
        "--published", action="store_true", help="publish the manuscript first: every save is then indexed for readers"
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-saves-"))
    try:
        edition = prepare(tmp, args.pages, args.lines_per_page)
        if args.published:
            edition.set_published("big", True, "bench")
        users = Users(edition.state_dir / "users.json")
        names = [f"editor{k}" for k in range(args.editors)]
        for name in names:
            users.add(name, "editor", PASSWORD)
        server, base = serve(tmp, args.editors)
        print(
            f"Line saves over HTTP: gunicorn (1 process, {args.editors} threads), {args.pages} pages, "
            f"{args.pages * args.lines_per_page} lines{' (published)' if args.published else ''}, "
            f"{args.editors} editors at once\n"
        )
        started = time.perf_counter()
        editors = [Editor(base, names[0])]  # its login opens page 1: the server reads the file
        print(
            f"first login and page view (reads and validates the 8.8 MB file once): "
            f"{time.perf_counter() - started:.2f} s"
        )
        editors += [Editor(base, name) for name in names[1:]]

        renders = []
        for n in random.Random(1).sample(range(1, args.pages + 1), min(30, args.pages)):
            t = time.perf_counter()
            response = requests.get(f"{base}/m/big/p/{n}/", headers=editors[0].headers)
            renders.append(time.perf_counter() - t)
            assert response.status_code == 200
        print(
            f"editor page render (30 random pages): median {statistics.median(renders) * 1000:.0f} ms, "
            f"max {max(renders) * 1000:.0f} ms  (target ≤ 200 ms)"
        )

        # Corrections of the segmentation: each a save of its page and the page's whole
        # list of lines sent back. Line 30 of a page moved to the top, merged into line
        # 29, then both undone (editors' saves below use lines 1-8).
        changes: dict[str, list[float]] = {"reorder": [], "merge": [], "undo": []}
        for n in random.Random(2).sample(range(1, args.pages + 1), min(20, args.pages)):
            last, before_last = f"big_p{n}_l{args.lines_per_page}", f"big_p{n}_l{args.lines_per_page - 1}"
            seen = {  # the versions the editor's page shows (generated lines: LINE_TEXT, corrected)
                f"base-{line_id}": transcription.line_version(Line(line_id, [], [], text=LINE_TEXT, status="corrected"))
                for line_id in (last, before_last)
            }
            steps = [
                ("reorder", "lines/move", {"line": last, "index": "0"}),
                ("undo", "undo", {}),
                ("merge", "lines/merge", {"line": before_last, "other": last, **seen}),
                ("undo", "undo", {}),
            ]
            for kind, action, values in steps:
                t = time.perf_counter()
                response = requests.post(f"{base}/m/big/p/{n}/{action}", data=values, headers=editors[0].headers)
                changes[kind].append(time.perf_counter() - t)
                if response.status_code != 200:
                    server.terminate()
                    raise SystemExit(f"{action} on page {n}: {response.status_code}")
        for kind, times in changes.items():
            times.sort()
            print(
                f"segmentation change over HTTP, {kind} (20 pages): median {statistics.median(times) * 1000:.0f} ms, "
                f"p95 {times[int(0.95 * (len(times) - 1))] * 1000:.0f} ms"
            )

        acknowledged: dict[str, tuple[str, str]] = {}  # line id → (text, editor) of the last acknowledged save
        errors: list[str] = []
        lock = threading.Lock()
        # Each editor has its own line on every page (line k+1), so saves never conflict.
        texts = [dict.fromkeys(range(1, args.pages + 1), LINE_TEXT) for _ in editors]
        counter = iter(range(10**9))

        def work(k: int, editor: Editor, saves: int, interval: float, latencies: list[float], deadline: float) -> None:
            rng = random.Random(k)
            # Editors do not save in step: spread their first saves over one interval.
            time.sleep(rng.uniform(0, interval))
            for _ in range(saves):
                if time.perf_counter() > deadline:
                    return
                n = rng.randint(1, args.pages)
                line_id = f"big_p{n}_l{k + 1}"
                new = f"поправка {next(counter)} на {editor.name}: нѣщо ново"
                base_version = transcription.line_version(Line(line_id, [], [], text=texts[k][n], status="corrected"))
                t = time.perf_counter()
                response = requests.post(
                    f"{base}/m/big/lines/{line_id}", data={"text": new, "base": base_version}, headers=editor.headers
                )
                elapsed = time.perf_counter() - t
                with lock:
                    if response.status_code == 200:
                        latencies.append(elapsed)
                        acknowledged[line_id] = (new, editor.name)
                        texts[k][n] = new
                    else:
                        errors.append(f"{line_id}: {response.status_code}")
                time.sleep(max(0.0, interval - elapsed))

        def phase(label: str, saves_each: int, interval: float) -> None:
            latencies: list[float] = []
            deadline = time.perf_counter() + args.seconds
            threads = [
                threading.Thread(target=work, args=(k, e, saves_each, interval, latencies, deadline))
                for k, e in enumerate(editors)
            ]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - started
            if not latencies:
                raise SystemExit(f"no save was acknowledged: {errors[:5]}")
            latencies.sort()

            def pct(p: float) -> float:
                return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

            print(
                f"\n{label}: {len(latencies)} saves acknowledged in {wall:.1f} s = {len(latencies) / wall:.1f} saves/s\n"
                f"  latency p50 {pct(0.50):.0f} ms, p95 {pct(0.95):.0f} ms, p99 {pct(0.99):.0f} ms  (target p95 ≤ 50 ms)"
            )

        phase(f"{args.editors} editors, each saving once every {args.interval:g} s", args.paced_saves, args.interval)
        phase(f"{args.editors} editors, each saving as fast as the server answers", args.saves // args.editors, 0.0)
        if args.published:
            findable = []
            for k, n in enumerate(random.Random(3).sample(range(1, args.pages + 1), 10)):
                line_id, word = f"big_p{n}_l{len(editors) + 1}", f"нѣкогашенъ{k}ѫ"
                base_version = transcription.line_version(Line(line_id, [], [], text=LINE_TEXT, status="corrected"))
                t = time.perf_counter()
                response = requests.post(
                    f"{base}/m/big/lines/{line_id}",
                    data={"text": word, "base": base_version},
                    headers=editors[0].headers,
                )
                assert response.status_code == 200, response.status_code
                while line_id not in requests.get(f"{base}/read/search", params={"q": word}).text:
                    if time.perf_counter() - t > 30:
                        raise SystemExit(f"{word} not findable after 30 s")
                    time.sleep(0.02)
                findable.append(time.perf_counter() - t)
            print(
                f"\nsave → findable by readers (10 saves, one at a time): median {statistics.median(findable):.2f} s, "
                f"max {max(findable):.2f} s  (target ≤ 2 s)"
            )
        server.terminate()
        server.wait(timeout=30)
        print(f"refused saves: {len(errors)}")

        manuscript = Edition(tmp).load("big")
        lines = {line.id: line for line in manuscript.lines()}
        lost = [line_id for line_id, (text, _) in acknowledged.items() if lines[line_id].text != text]
        journal = {(e.line, e.new, e.who) for e in edition.journal.entries("big")}
        unjournalled = [line_id for line_id, (text, who) in acknowledged.items() if (line_id, text, who) not in journal]
        problems = Edition(tmp).problems("big")
        print(
            f"after the run: {len(lost)} acknowledged saves missing from the TEI, {len(unjournalled)} missing "
            f"from the journal; TEI {'valid' if not problems else f'INVALID: {problems[:3]}'}"
        )
        if errors:
            print("refused:", errors[:5])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
