"""The reading room (web/reader.py): published manuscripts, reading view, search; no login."""

from __future__ import annotations

import re

import pytest

from tests.web.client import MS, csrf_token, log_in
from workbench.search.indexing import Indexer


@pytest.fixture
def published(app, sample_edition):
    """The sample edition, published and indexed (as the background indexer would)."""
    sample_edition.set_published(MS, True, "tester")
    Indexer(sample_edition, app.extensions["search"]).catch_up()
    return app.test_client()


@pytest.fixture
def unpublished(app, sample_edition):
    sample_edition.set_published(MS, False, "tester")
    Indexer(sample_edition, app.extensions["search"]).catch_up()
    return app.test_client()


@pytest.mark.parametrize(
    "path",
    [
        f"/read/{MS}/",
        f"/read/{MS}/1/",
        f"/read/{MS}/1/3",
        f"/read/{MS}/1/image",
        f"/read/{MS}/1/lines/{MS}_p1_l3.png",
    ],
)
def test_unpublished_manuscripts_are_not_shown_to_readers(unpublished, path):
    assert unpublished.get(path).status_code == 404


@pytest.mark.parametrize(
    "path",
    [f"/read/{MS}/", f"/read/{MS}/1/", f"/read/{MS}/1/3", f"/read/{MS}/1/image", f"/read/{MS}/1/lines/{MS}_p1_l3.png"],
)
def test_published_manuscripts_are_open_to_anyone(published, path):
    response = published.get(path)
    assert response.status_code == 200


def test_home_lists_published_manuscripts_only(app, sample_edition):
    client = app.test_client()
    sample_edition.set_published(MS, False, "tester")
    assert "Трифонов" not in client.get("/read/").get_data(as_text=True)
    sample_edition.set_published(MS, True, "tester")
    home = client.get("/read/").get_data(as_text=True)
    assert f'href="/read/{MS}/"' in home
    assert 'role="search"' in home


@pytest.mark.parametrize(
    ("path", "code"), [("/read/nothing/", 404), (f"/read/{MS}/99/", 404), (f"/read/{MS}/1/99", 404)]
)
def test_unknown_manuscripts_pages_and_lines(published, path, code):
    assert published.get(path).status_code == code


def test_reading_view_shows_facsimile_zones_and_text_with_the_line_highlighted(published):
    page = published.get(f"/read/{MS}/2/2").get_data(as_text=True)
    assert f'data-current="{MS}_p2_l2"' in page
    assert f'id="zone-{MS}_p2_l2"' in page  # the zone on the facsimile
    assert re.search(rf'class="text-line current" id="line-{MS}_p2_l2"', page)
    assert "по бѣли рѫкави" in page
    assert f'href="/read/{MS}/2/2"' in page  # a citable link per line


def test_reading_text_toggle_shows_markup_diplomatic_or_normalised(published, sample_edition):
    with sample_edition.edit(MS, "tester", pages=["1"]) as manuscript:
        manuscript.pages[0].lines[
            0
        ].text = (
            "<choice><abbr>Ж.</abbr><expan>Живъ</expan></choice> е <del>не</del> той<add place='above'>, живъ</add>"
        )
    diplomatic = published.get(f"/read/{MS}/1/").get_data(as_text=True)
    reading = published.get(f"/read/{MS}/1/?text=reading").get_data(as_text=True)
    assert '<span class="tei-del' in diplomatic and '<span class="tei-expan">(Живъ)</span>' in diplomatic
    assert '<span class="tei-add above' in diplomatic
    assert "tei-del" not in reading and "Ж." not in reading and "Живъ е  той, живъ" in reading


def test_search_page_finds_old_spelling_by_modern_words(published):
    page = published.get("/read/search?q=бели+ръкави").get_data(as_text=True)
    assert "<mark>бѣли</mark> <mark>рѫкави</mark>" in page
    assert f'href="/read/{MS}/2/2?q=' in page  # the hit links to its line (with its search, for next/previous)
    assert f'src="/read/{MS}/2/lines/{MS}_p2_l2.png?v=' in page  # and shows its image
    # with the lines above and below as context
    assert '<p class="context">Въ тая прохладна майска вечерь чорбаджи Марко,</p>' in page
    assert '<p class="context">вечеряше съ челядьта си на двора.</p>' in page


def test_search_fragment_for_htmx(published):
    response = published.get("/read/search?q=ъгъл", headers={"HX-Request": "true"})
    fragment = response.get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="results"')
    assert "<mark>ѫгълъ</mark>" in fragment


def test_refused_queries_get_a_translated_message(published):
    english = published.get("/read/search?q=*ъка&lang=en").get_data(as_text=True)
    assert "cannot come first" in english
    bulgarian = published.get("/read/search?q=*ъка&lang=bg").get_data(as_text=True)
    assert "не може да е първа" in bulgarian


def test_hits_of_a_withdrawn_manuscript_are_hidden_before_the_index_catches_up(published, sample_edition):
    sample_edition.set_published(MS, False, "tester")  # the index still has it
    page = published.get("/read/search?q=ръкави").get_data(as_text=True)
    assert "рѫкави" not in page


def test_editors_publish_and_withdraw_from_the_manuscript_page(app, sample_edition):
    client = app.test_client()
    log_in(client)
    token = csrf_token(client, f"/m/{MS}/")
    response = client.post(f"/m/{MS}/publish", data={"published": "1", "csrf_token": token})
    assert response.status_code == 303
    assert sample_edition.load(MS).published
    assert client.get(f"/read/{MS}/").status_code == 200
    assert f'<a href="/read/{MS}/">публикуван</a>' in client.get("/").get_data(as_text=True)
    client.post(f"/m/{MS}/publish", data={"published": "0", "csrf_token": token})
    assert not sample_edition.load(MS).published
    assert client.get(f"/read/{MS}/").status_code == 404


def test_readers_cannot_publish(app, sample_edition):
    sample_edition.set_published(MS, False, "tester")
    client = app.test_client()
    token = csrf_token(client)
    response = client.post(f"/m/{MS}/publish", data={"published": "1", "csrf_token": token})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert not sample_edition.load(MS).published


def test_results_are_paginated_with_links_that_keep_the_query(published, sample_edition):
    first = published.get("/read/search?q=е+OR+се+OR+и+OR+на&exact=&page=1").get_data(as_text=True)
    assert first.count('class="hit"') == 20
    assert 'rel="next"' in first and 'rel="prev"' not in first
    link = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    assert "page=2" in link and "q=" in link
    second = published.get(link).get_data(as_text=True)
    assert 'rel="prev"' in second
    assert second.count('class="hit"') >= 1
    first_ids = set(re.findall(r'href="/read/[^"]+/(\d+/\d+)\?', first))
    second_ids = set(re.findall(r'href="/read/[^"]+/(\d+/\d+)\?', second))
    assert first_ids and second_ids and not first_ids & second_ids


def test_search_by_the_years_of_writing_from_the_header(app, sample_edition):
    path = sample_edition.tei_path(MS)
    dated = '</msIdentifier><history><origin><origDate notBefore="1890" notAfter="1895">1890-те</origDate></origin></history>'.encode()
    path.write_bytes(path.read_bytes().replace(b"</msIdentifier>", dated, 1))
    assert sample_edition.problems(MS) == []
    assert sample_edition.load(MS).years == (1890, 1895)
    sample_edition.set_published(MS, True, "tester")
    Indexer(sample_edition, app.extensions["search"]).catch_up()
    client = app.test_client()
    form = client.get("/read/").get_data(as_text=True)
    assert 'name="from"' in form and 'name="to"' in form  # shown because a manuscript is dated
    assert "1890–1895" in client.get(f"/read/{MS}/").get_data(as_text=True)
    inside = client.get("/read/search?q=ръкави&from=1893&to=1900").get_data(as_text=True)
    assert "<mark>рѫкави</mark>" in inside
    outside = client.get("/read/search?q=ръкави&from=1900").get_data(as_text=True)
    assert "<mark>" not in outside and "0 реда" in outside
