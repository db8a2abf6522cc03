"""The Whoosh index (index.py) on a generated corpus in the old orthography."""

from __future__ import annotations

import random
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.search import index as search_index
from workbench.search.index import LineRecord, Query, QueryError, WhooshIndex

# Lines a reader should find by the modern words after them.
FINDABLE = [
    ("Бѣлъ градъ на брѣга", "бял"),
    ("ще вземе рѫката ѝ", "ръка"),
    ("по пѫтя къмъ село", "път"),
    ("азъ четѫ книгата", "чета"),
    ("прѣзъ градоветѣ минахме", "градовете"),
    ("тѣ сѫ тамъ отдавна", "са"),
    ("коньтъ цвили въ обора", "конят"),
    ("пѣсеньта на робинитѣ", "песента"),
]
FILLER = "и на въ се да не по съ за отъ като тъй много малко голѣмо старо ново".split()


def corpus(lines: int = 600, seed: int = 7) -> list[LineRecord]:
    """``lines`` lines over two manuscripts, the FINDABLE ones among filler words."""
    rng = random.Random(seed)
    records = []
    for i in range(lines):
        manuscript = "ms-a" if i % 2 == 0 else "ms-b"
        if i < len(FINDABLE):
            text = FINDABLE[i][0]
        else:
            text = " ".join(rng.choices(FILLER, k=7))
        page = str(i // 20 + 1)
        records.append(
            LineRecord(
                manuscript_id=manuscript,
                title=f"Ръкопис {manuscript}",
                page_n=page,
                line_id=f"{manuscript}_p{page}_l{i % 20 + 1}",
                line_n=i % 20 + 1,
                diplomatic=text,
                reading=text,
                years=(1890, 1895) if manuscript == "ms-a" else (1910, 1920),
            )
        )
    return records


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> WhooshIndex:
    index = WhooshIndex(tmp_path_factory.mktemp("search") / "index")
    records = corpus()
    for manuscript in ("ms-a", "ms-b"):
        mine = [r for r in records if r.manuscript_id == manuscript]
        index.replace_pages(manuscript, sorted({r.page_n for r in mine}), mine)
    return index


def texts(results: search_index.Results) -> list[str]:
    return [hit.snippet.replace("<mark>", "").replace("</mark>", "") for hit in results.hits]


@pytest.mark.parametrize(("old", "modern"), FINDABLE)
def test_modern_word_finds_old_spelling_line(index, old, modern):
    results = index.search(Query(modern))
    assert old in texts(results)
    assert "<mark>" in results.hits[texts(results).index(old)].snippet


def test_snippet_marks_the_matching_word_and_escapes_the_rest(tmp_path):
    index = WhooshIndex(tmp_path / "index")
    line = LineRecord("ms", "T", "1", "ms_p1_l1", 1, "<b>бѣлъ</b> & рѫка", "<b>бѣлъ</b> & рѫка")
    index.replace_pages("ms", ["1"], [line])
    (hit,) = index.search(Query("бял")).hits
    assert hit.snippet == "&lt;b&gt;<mark>бѣлъ</mark>&lt;/b&gt; &amp; рѫка"


def test_hit_names_manuscript_page_and_line(index):
    (hit,) = index.search(Query("конят")).hits
    assert (hit.manuscript_id, hit.page_n, hit.line_n, hit.line_id) == ("ms-a", "1", 7, "ms-a_p1_l7")
    assert hit.title == "Ръкопис ms-a"


def test_stress_marks_and_homoglyphs_in_the_query_are_ignored(index):
    plain = texts(index.search(Query("ръка")))
    assert plain
    assert texts(index.search(Query("ръ\u0301ка"))) == plain  # a stress mark
    assert texts(index.search(Query("pъка"))) == plain  # a Latin p


def test_phrase_matches_words_in_order_only(index):
    assert texts(index.search(Query('"бял град"'))) == ["Бѣлъ градъ на брѣга"]
    assert texts(index.search(Query('"град бял"'))) == []
    assert texts(index.search(Query('"цвили в обора"'))) == ["коньтъ цвили въ обора"]
    assert texts(index.search(Query('"конят цвили в обора"'))) == ["коньтъ цвили въ обора"]
    assert texts(index.search(Query('"цвили обора"'))) == []


def test_and_or_not_in_english_and_bulgarian(index):
    assert texts(index.search(Query("бял AND град"))) == ["Бѣлъ градъ на брѣга"]
    assert texts(index.search(Query("бял И град"))) == ["Бѣлъ градъ на брѣга"]
    either = set(texts(index.search(Query("бял OR конят"))))
    assert either == {"Бѣлъ градъ на брѣга", "коньтъ цвили въ обора"}
    assert set(texts(index.search(Query("бял ИЛИ конят")))) == either
    assert texts(index.search(Query("град NOT бял"))) == ["прѣзъ градоветѣ минахме"]
    assert texts(index.search(Query("град НЕ бял"))) == ["прѣзъ градоветѣ минахме"]


def test_prefix_in_old_or_modern_letters(index):
    assert "ще вземе рѫката ѝ" in texts(index.search(Query("рѫк*")))
    assert "ще вземе рѫката ѝ" in texts(index.search(Query("ръка*")))
    assert "ще вземе <mark>рѫката</mark> ѝ" in [hit.snippet for hit in index.search(Query("рък*")).hits]


def test_fuzzy_match_finds_a_word_with_a_wrong_letter(index):
    assert texts(index.search(Query("кнегата"))) == []
    assert [hit.snippet for hit in index.search(Query("кнегата~")).hits] == ["азъ четѫ <mark>книгата</mark>"]


def test_exact_spelling_searches_the_diplomatic_text_only(index):
    assert texts(index.search(Query("бѣлъ", exact=True))) == ["Бѣлъ градъ на брѣга"]
    assert texts(index.search(Query("бял", exact=True))) == []
    assert texts(index.search(Query("БѢЛЪ", exact=True))) == ["Бѣлъ градъ на брѣга"]


def test_filter_by_manuscript_and_by_date(index):
    everywhere = index.search(Query("старо", per_page=1000))
    only_a = index.search(Query("старо", manuscript_id="ms-a", per_page=1000))
    assert 0 < only_a.total < everywhere.total
    assert {hit.manuscript_id for hit in only_a.hits} == {"ms-a"}
    in_1915 = index.search(Query("старо", year_from=1915, year_to=1915, per_page=1000))
    assert {hit.manuscript_id for hit in in_1915.hits} == {"ms-b"}
    assert index.search(Query("старо", year_from=1930)).total == 0


def test_results_are_paginated(index):
    first = index.search(Query("старо", page=1, per_page=10))
    second = index.search(Query("старо", page=2, per_page=10))
    assert len(first.hits) == len(second.hits) == 10
    assert not {h.line_id for h in first.hits} & {h.line_id for h in second.hits}
    assert first.pages == min(search_index.MAX_PAGE, -(-first.total // 10))


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "empty"),
        ("*ка", "leading_wildcard"),
        ("?ъка", "leading_wildcard"),
        ("р*", "short_prefix"),
        ("ръка~5", "fuzzy_distance"),
        ("на~2", "short_fuzzy"),
        ("x" * 501, "too_long"),
    ],
)
def test_slow_or_empty_queries_are_refused_with_a_reason(index, text, code):
    with pytest.raises(QueryError) as refused:
        index.search(Query(text))
    assert refused.value.code == code


def test_a_prefix_that_stands_for_too_many_words_is_refused(tmp_path, monkeypatch):
    index = WhooshIndex(tmp_path / "index")
    words = [f"ка{chr(0x430 + a)}{chr(0x430 + b)}" for a in range(20) for b in range(20)]
    index.replace_pages("ms", ["1"], [LineRecord("ms", "T", "1", f"ms_p1_l{i}", i, w, w) for i, w in enumerate(words)])
    monkeypatch.setattr(search_index, "MAX_EXPANSION", 100)
    with pytest.raises(QueryError) as refused:
        index.search(Query("ка*"))
    assert refused.value.code == "too_many_words"
    narrower = index.search(Query("каа*", per_page=50))
    assert (narrower.total, narrower.exact_total) == (20, True)


def test_a_search_that_runs_too_long_returns_what_it_found(index, monkeypatch):
    monkeypatch.setattr(search_index, "TIME_LIMIT", 0.0)
    results = index.search(Query("старо"))
    assert results.timed_out
    assert not results.exact_total


def test_replacing_a_page_drops_its_old_lines(tmp_path):
    index = WhooshIndex(tmp_path / "index")
    first = LineRecord("ms", "T", "1", "ms_p1_l1", 1, "бѣлъ конь", "бѣлъ конь")
    index.replace_pages("ms", ["1"], [first])
    assert index.search(Query("бял")).total == 1  # a searcher is now open in this thread
    index.replace_pages("ms", ["1"], [LineRecord("ms", "T", "1", "ms_p1_l1", 1, "черенъ конь", "черенъ конь")])
    assert index.search(Query("бял")).total == 0
    assert index.search(Query("черен")).total == 1
    index.remove_manuscript("ms")
    assert index.search(Query("черен")).total == 0


def test_an_index_of_another_version_is_started_again(tmp_path, monkeypatch):
    index = WhooshIndex(tmp_path / "index")
    index.replace_pages("ms", ["1"], [LineRecord("ms", "T", "1", "ms_p1_l1", 1, "бѣлъ", "бѣлъ")])
    monkeypatch.setattr(search_index, "SCHEMA_VERSION", search_index.SCHEMA_VERSION + 1)
    again = WhooshIndex(tmp_path / "index")
    assert again.open()  # new and empty
    assert again.search(Query("бял")).total == 0


def test_reading_text_is_searched_and_shown_diplomatic_in_exact_mode(tmp_path):
    index = WhooshIndex(tmp_path / "index")
    index.replace_pages("ms", ["1"], [LineRecord("ms", "T", "1", "ms_p1_l1", 1, "Хр. воскресе", "Христосъ воскресе")])
    assert texts(index.search(Query("христос"))) == ["Христосъ воскресе"]
    assert texts(index.search(Query("хр", exact=True))) == ["Хр. воскресе"]


def test_searches_from_many_threads_while_lines_are_replaced(tmp_path):
    index = WhooshIndex(tmp_path / "index")
    records = corpus(200)
    index.replace_pages("ms-a", [], records)
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for _ in range(30):
                assert index.search(Query("старо")).total > 0
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for _ in range(5):
        index.replace_pages("ms-a", ["1"], [r for r in records if r.page_n == "1"])
    for thread in threads:
        thread.join()
    assert errors == []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.sampled_from(list('ab рѫкѣ*?~"()-:^+ANDORNTИЛЕ\\/[]{}\u0301\u0306')), max_size=30))
def test_any_query_text_gets_results_or_a_reason_never_a_crash(index, text):
    try:
        results = index.search(Query(text))
    except QueryError as refused:
        assert refused.code
    else:
        assert results.total >= len(results.hits)
