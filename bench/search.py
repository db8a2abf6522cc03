"""Search: build a Whoosh index of N generated old-orthography lines, time queries and saves.

Prints:
- build: lines per second, seconds, index size on disk;
- queries typed in MODERN spelling (what readers type) against the old-spelling lines:
  p50 / p95 / max milliseconds for word, phrase, prefix (``рък*``) and fuzzy (``ръка~``)
  queries, and how many were refused as too broad (design.md §7 target: word and phrase
  p95 ≤ 50 ms on 1,000,000 lines);
- save → findable: a line saved in a published 50-page TEI manuscript of the same edition
  (validated, journalled, atomic save through ``transcription.save_line``) until a search finds
  it, with the background ``IndexerThread`` the web workbench runs (target ≤ 2 s).

The corpus: a vocabulary of generated stems in the pre-1945 spelling (ѣ, ѫ, final ъ,
-ьтъ …) with noun, adjective and verb endings, plus the frequent function words,
drawn with a Zipf distribution, 6–10 words a line.

Run: .venv/bin/python bench/search.py [--lines 1000000] [--queries 200] [--keep DIR]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from workbench import transcription
from workbench.edition import Edition
from workbench.model import Line, Manuscript, Page
from workbench.sample import vocabulary
from workbench.search import analysis
from workbench.search.index import LineRecord, Query, QueryError, WhooshIndex
from workbench.search.indexing import Indexer, IndexerThread


def zipf_sampler(items: list[str], rng: random.Random, exponent: float = 1.05):
    weights = [1 / (rank + 1) ** exponent for rank in range(len(items))]
    cumulative = []
    total = 0.0
    for weight in weights:
        total += weight
        cumulative.append(total)

    def sample(k: int) -> list[str]:
        return rng.choices(items, cum_weights=cumulative, k=k)

    return sample


def lines(count: int, sample, rng: random.Random):
    for i in range(count):
        words = sample(rng.randint(6, 10))
        words[0] = words[0].capitalize()
        yield i, " ".join(words)


def modern(word: str) -> str:
    return analysis.modern_forms(word)[0]


def timed_queries(index: WhooshIndex, kind: str, texts: list[str]) -> None:
    times, refused, found = [], 0, 0
    for text in texts:
        started = time.perf_counter()
        try:
            results = index.search(Query(text))
        except QueryError:
            refused += 1
            continue
        times.append((time.perf_counter() - started) * 1000)
        found += bool(results.hits)
    times.sort()
    p50 = statistics.median(times) if times else float("nan")
    p95 = times[int(len(times) * 0.95) - 1] if times else float("nan")
    print(
        f"  {kind:7} n={len(texts):4}  p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  max {max(times, default=0):7.1f} ms"
        f"  refused {refused}  with hits {found}/{len(times)}"
    )


def query_sets(sample, rng: random.Random, count: int, corpus_lines: list[str]) -> dict[str, list[str]]:
    words = [w.lower() for w in sample(count * 4)]
    long_words = [w for w in words if len(modern(w)) >= 5]
    sets = {"word": [modern(w) for w in words[:count]]}
    phrases = []
    for _ in range(count):
        parts = rng.choice(corpus_lines).lower().split()
        k = rng.randrange(len(parts) - 1)
        phrases.append(f'"{modern(parts[k])} {modern(parts[k + 1])}"')
    sets["phrase"] = phrases
    sets["prefix"] = [modern(w)[:4] + "*" for w in long_words[:count]]
    fuzzy = []
    for w in long_words[count : 2 * count]:
        m = modern(w)
        i = rng.randrange(1, len(m))
        fuzzy.append(m[:i] + rng.choice("абвгдеиклмнопрст") + m[i + 1 :] + "~")
    sets["fuzzy"] = fuzzy
    return sets


def save_to_findable(edition: Edition, index: WhooshIndex, repeat: int) -> list[float]:
    """Seconds from a line save (returned) until a search finds the new word."""
    manuscript = Manuscript(id="bench-letters", title="Писма (бенчмарк)")
    machine = manuscript.source("recognition", "bench")
    for n in range(1, 51):
        page = Page(f"bench-letters_p{n}", str(n), f"{n:03}.png", 1000, 1400, "image/png")
        for k in range(1, 31):
            top = 40 * k
            page.lines.append(
                Line(
                    f"{page.id}_l{k}",
                    [(50, top), (950, top), (950, top + 35), (50, top + 35)],
                    [(50, top + 30), (950, top + 30)],
                    text="Писмо до учителя въ Русе",
                    status="automatic",
                    resp=machine.id,
                )
            )
        manuscript.pages.append(page)
    edition.create(manuscript, who="bench")
    edition.set_published(manuscript.id, True, "bench")
    indexer = Indexer(edition, index)
    indexer.catch_up()
    thread = IndexerThread(indexer)
    thread.start()
    delays = []
    try:
        for i in range(repeat):
            word = f"звѣздобройцитѣ{chr(0x430 + i % 26)}{i}"
            line = edition.read(manuscript.id, "7").pages[0].lines[i % 30]
            started = time.perf_counter()
            transcription.save_line(
                edition, manuscript.id, line.id, f"{word} и пѫтьтъ", transcription.line_version(line), "bench"
            )
            saved = time.perf_counter()
            thread.wake()  # what the web editor does after a save
            query = Query(modern(word))
            while not index.search(query).hits:
                if time.perf_counter() - saved > 60:
                    raise SystemExit("a saved line was not findable within a minute")
                time.sleep(0.02)
            delays.append((time.perf_counter() - saved, saved - started))
    finally:
        thread.stop()
        thread.join()
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200, help="queries of each kind")
    parser.add_argument("--stems", type=int, default=20_000)
    parser.add_argument("--saves", type=int, default=10)
    parser.add_argument("--keep", type=Path, help="build the edition here and keep it (default: a temporary folder)")
    args = parser.parse_args()

    rng = random.Random(1926)
    forms = vocabulary(args.stems, rng)
    sample = zipf_sampler(forms, rng)
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-search-"))
    edition = Edition(root)
    index = WhooshIndex(edition.index_dir)
    print(f"corpus: {args.lines:,} generated lines, {len(forms):,} distinct old-spelling word forms; edition {root}")

    per_page = 30
    kept: list[str] = []  # some lines of the corpus, for phrase queries that have an answer

    def keep(numbered):
        for i, text in numbered:
            if i % max(1, args.lines // 2000) == 0:
                kept.append(text)
            yield i, text

    started = time.perf_counter()
    records = (
        LineRecord(
            manuscript_id="bench-corpus",
            title="Генериран корпус",
            page_n=str(i // per_page + 1),
            line_id=f"bench-corpus_p{i // per_page + 1}_l{i % per_page + 1}",
            line_n=i % per_page + 1,
            diplomatic=text,
            reading=text,
            years=(1880 + i % 46, 1880 + i % 46),
        )
        for i, text in keep(lines(args.lines, sample, rng))
    )
    index.replace_pages("bench-corpus", [], records, bulk=True)
    seconds = time.perf_counter() - started
    size = subprocess.run(["du", "-sm", str(index.directory)], capture_output=True, text=True).stdout.split()[0]
    print(f"build: {args.lines / seconds:,.0f} lines/s, {seconds:.0f} s, index {size} MB on disk")

    sets = query_sets(sample, rng, args.queries, kept)
    index.search(Query("учител"))  # open the searcher, as a running server has
    print("queries in modern spelling (in-process, one thread, warm searcher):")
    for kind, texts in sets.items():
        timed_queries(index, kind, texts)
    timed_queries(index, "common", ["и", "на", "въ", "се", '"и на"'])

    delays = save_to_findable(edition, index, args.saves)
    findable = sorted(d for d, _ in delays)
    saves = sorted(s for _, s in delays)
    print(
        f"save → findable ({len(delays)} saves in a published 50-page manuscript, background indexer): "
        f"median {statistics.median(findable):.2f} s, max {findable[-1]:.2f} s "
        f"(the save itself: median {statistics.median(saves) * 1000:.0f} ms)"
    )
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
