"""Review and comments over HTTP: a transcriber's finished line awaits a reviewer, who
verifies it or sends it back; comment threads; the queue; notes in the TEI export."""

from __future__ import annotations

import re

import pytest

from tests.web.client import LINE, MS, PASSWORD, line_base, log_in, save
from workbench.review import Reviews
from workbench.tei import validation
from workbench.tei.xml import NSMAP, parse_xml

OTHER = f"{MS}_p1_l3"


def logged_in(app, name: str):
    client = app.test_client()
    assert log_in(client, name).status_code == 302
    page = client.get(f"/m/{MS}/p/1/").get_data(as_text=True)
    client.token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    return client


@pytest.fixture
def team(app, accounts):
    accounts.add("tanya", "transcriber", PASSWORD)
    accounts.add("rosen", "reviewer", PASSWORD)
    return logged_in(app, "tanya"), logged_in(app, "rosen")


def post(client, path, **data):
    return client.post(path, data=data, headers={"X-CSRFToken": client.token, "HX-Request": "true"})


def status_in_tei(edition, line_id=LINE) -> str | None:
    tree = parse_xml(edition.tei_path(MS).read_bytes())
    return tree.find(f".//tei:lb[@xml:id='{line_id}_t']", NSMAP).get("type")


def test_a_transcribers_finished_line_awaits_review_and_a_reviewer_verifies_it(team, sample_edition):
    tanya, rosen = team
    response = save(tanya, "по[[тъ]]ненъ въ кърви", status="verified")
    assert response.status_code == 200
    assert status_in_tei(sample_edition) == "corrected"  # not verified: a transcriber cannot
    assert "чака преглед" in response.get_data(as_text=True)
    assert Reviews(sample_edition.review_dir).states(MS)[LINE].status == "ready"
    assert [e.who for e in sample_edition.journal.entries(MS, LINE)][-1] == "tanya"

    page = rosen.get(f"/m/{MS}/p/1/").get_data(as_text=True)
    assert 'class="send-back-button"' in page  # reviewers get the means to send it back
    assert save(rosen, "по[[тъ]]ненъ въ кърви", status="verified").status_code == 200
    assert status_in_tei(sample_edition) == "verified"
    assert LINE not in Reviews(sample_edition.review_dir).states(MS)


def test_ctrl_enter_on_a_verified_line_does_not_unverify_it_for_a_transcriber(team, sample_edition):
    tanya, rosen = team
    save(rosen, "по[[тъ]]ненъ въ кърви", status="verified")
    assert save(tanya, "по[[тъ]]ненъ въ кърви", status="verified").status_code == 200
    assert status_in_tei(sample_edition) == "verified"
    assert LINE not in Reviews(sample_edition.review_dir).states(MS)


def test_a_reviewer_sends_a_line_back_with_a_comment_the_line_then_shows(team, sample_edition):
    tanya, rosen = team
    save(tanya, "по[[тъ]]ненъ въ кърви", status="verified")
    assert post(tanya, f"/m/{MS}/lines/{LINE}/send-back", **{"send-back": "не"}).status_code == 403
    refused = post(rosen, f"/m/{MS}/lines/{LINE}/send-back", **{"send-back": "   "})
    assert refused.status_code == 422 and "напишете коментар" in refused.get_data(as_text=True)
    assert Reviews(sample_edition.review_dir).states(MS)[LINE].status == "ready"
    sent = post(rosen, f"/m/{MS}/lines/{LINE}/send-back", **{"send-back": "„ненъ“ или „нѣнъ“? Вижте пак."})
    assert sent.status_code == 200
    assert "Върнат от rosen:" in sent.get_data(as_text=True)
    page = tanya.get(f"/m/{MS}/p/1/").get_data(as_text=True)
    assert "„ненъ“ или „нѣнъ“? Вижте пак." in page
    listed = tanya.get(f"/m/{MS}/review?status=returned").get_data(as_text=True)
    assert f'id="line-{LINE}"' in listed and f'id="line-{OTHER}"' not in listed
    # Ready again: out of "sent back", into "awaiting review".
    save(tanya, "по[[тъ]]нѣнъ въ кърви", status="verified")
    assert f'id="line-{LINE}"' in tanya.get(f"/m/{MS}/review?status=ready").get_data(as_text=True)
    assert f'id="line-{LINE}"' not in tanya.get(f"/m/{MS}/review?status=returned").get_data(as_text=True)


def test_the_queue_takes_a_reviewer_to_the_line_waiting_longest(team):
    tanya, rosen = team
    assert "Няма ред, който чака преглед" in rosen.get("/review/next").get_data(as_text=True)
    save(tanya, "първи", status="verified", line_id=OTHER)
    save(tanya, "втори", status="verified", line_id=LINE)
    first = rosen.get("/review/next")
    assert first.status_code == 303 and first.headers["Location"].endswith(f"/m/{MS}/p/1/?line={OTHER}")
    second = rosen.get(f"/review/next?manuscript={MS}&after={OTHER}")
    assert second.headers["Location"].endswith(f"?line={LINE}")
    assert tanya.get("/review/next").status_code == 403


def test_comment_threads_on_a_line(team, sample_edition):
    tanya, rosen = team
    path = f"/m/{MS}/lines/{LINE}/comments"
    assert post(tanya, path, **{"comment-new": "  "}).status_code == 422
    shown = post(tanya, path, **{"comment-new": "<b>ѫ</b> или ъ?"}).get_data(as_text=True)
    assert "&lt;b&gt;ѫ&lt;/b&gt; или ъ?" in shown and "<b>ѫ</b>" not in shown
    (thread,) = Reviews(sample_edition.review_dir).comments(MS, LINE)
    post(rosen, path, reply_to=thread.id, **{f"comment-{thread.id}": "ѫ"})
    assert "✎ 1" in rosen.get(f"/m/{MS}/p/1/").get_data(as_text=True)  # an open thread on the line
    resolved = post(rosen, f"{path}/{thread.id}/resolve").get_data(as_text=True)
    assert "Приключено от rosen" in resolved
    (thread,) = Reviews(sample_edition.review_dir).comments(MS, LINE)
    assert [c.who for c in [thread, *thread.replies]] == ["tanya", "rosen"] and thread.resolved
    assert post(rosen, f"{path}/nothing/resolve").status_code == 404


def test_comments_go_into_the_tei_export_only_when_an_editor_asks(team, editor, sample_edition):
    tanya, _ = team
    post(tanya, f"/m/{MS}/lines/{LINE}/comments", **{"comment-new": "петно над реда"})
    plain = editor.get(f"/m/{MS}/export/tei")
    assert plain.status_code == 200 and b'type="editorial"' not in plain.data
    with_notes = editor.get(f"/m/{MS}/export/tei?notes=1")
    assert with_notes.status_code == 200
    tree = parse_xml(with_notes.data)
    (note,) = tree.findall(".//tei:back/tei:div/tei:note[@type='editorial']", NSMAP)
    assert note.get("target") == f"#{LINE}_t" and "петно над реда" in "".join(note.itertext())
    assert validation.check_project(tree) == [] and validation.check_tei_all(tree) == []
    assert tanya.get(f"/m/{MS}/export/tei?notes=1").status_code == 403


def test_a_transcriber_sees_no_editor_controls(team):
    tanya, _ = team
    page = tanya.get(f"/m/{MS}/").get_data(as_text=True)
    assert "/publish" not in page and "/export/" not in page and "/metadata" not in page
    assert f"/m/{MS}/review" in page
    assert line_base(tanya)  # the page editor itself is theirs
