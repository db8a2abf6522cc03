"""Search over HTTP: readers' /read/search on gunicorn, a published 500-page manuscript.

Builds a 500-page, 15,000-line TEI manuscript (bench/saves.py's geometry and page
images) whose lines are generated old-orthography text (bench/search.py's corpus),
publishes and indexes it, starts `workbench serve`'s gunicorn configuration (one
process, threads) on loopback, and times whole search pages, hits rendered with their
line images' URLs, for word and phrase queries typed in modern spelling: one reader
at a time, then several at once.

Run: .venv/bin/python bench/search_http.py [--pages 500] [--readers 8] [--queries 200]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import requests
from saves import prepare, serve
from search import lines, modern, vocabulary, zipf_sampler

from workbench.search.indexing import Indexer


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * p) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--readers", type=int, default=8)
    parser.add_argument("--queries", type=int, default=200, help="queries per phase")
    args = parser.parse_args()

    rng = random.Random(1866)
    sample = zipf_sampler(vocabulary(20_000, rng), rng)
    tmp = Path(tempfile.mkdtemp(prefix="bench-search-http-"))
    try:
        edition = prepare(tmp, args.pages, 30)
        generated = lines(args.pages * 30, sample, rng)
        with edition.edit("big", "bench") as manuscript:
            kept = []
            for page in manuscript.pages:
                for line in page.lines:
                    line.text = next(generated)[1]
                    if len(kept) < 500:
                        kept.append(line.text.lower().split())
        edition.set_published("big", True, "bench")
        started = time.perf_counter()
        Indexer(edition).catch_up(bulk=True)
        print(f"{args.pages} pages, {args.pages * 30} lines indexed in {time.perf_counter() - started:.1f} s")

        words = [modern(word.lower()) for word in sample(args.queries)]
        phrases = []
        for _ in range(args.queries):
            parts = rng.choice(kept)
            k = rng.randrange(len(parts) - 1)
            phrases.append(f'"{modern(parts[k])} {modern(parts[k + 1])}"')

        server, base = serve(tmp, args.readers)
        try:
            requests.get(f"{base}/read/search", params={"q": "учител"}, timeout=30)  # warm the searcher

            def run(queries: list[str], readers: int) -> tuple[list[float], int]:
                latencies: list[float] = []
                hits = [0]
                lock = threading.Lock()
                todo = list(queries)

                def reader() -> None:
                    session = requests.Session()
                    while True:
                        with lock:
                            if not todo:
                                return
                            query = todo.pop()
                        began = time.perf_counter()
                        response = session.get(f"{base}/read/search", params={"q": query}, timeout=60)
                        elapsed = (time.perf_counter() - began) * 1000
                        response.raise_for_status()
                        with lock:
                            latencies.append(elapsed)
                            hits[0] += 'class="hit"' in response.text

                threads = [threading.Thread(target=reader) for _ in range(readers)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                return latencies, hits[0]

            print(f"GET /read/search on gunicorn (1 process, {args.readers} threads), whole pages of 20 hits:")
            for label, queries in (("word", words), ("phrase", phrases)):
                for readers in (1, args.readers):
                    began = time.perf_counter()
                    latencies, with_hits = run(queries, readers)
                    rate = len(latencies) / (time.perf_counter() - began)
                    print(
                        f"  {label:6} {readers} reader(s): {rate:5.1f} pages/s  p50 {statistics.median(latencies):6.1f} ms"
                        f"  p95 {percentile(latencies, 0.95):6.1f} ms  max {max(latencies):6.1f} ms"
                        f"  with hits {with_hits}/{len(latencies)}"
                    )
        finally:
            server.terminate()
            server.wait(timeout=30)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
