"""The project schema and tei_all, on valid documents and on each kind of breakage."""

from __future__ import annotations

import subprocess
import sys

import pytest
from lxml import etree

from tests.builders import REPO, make_manuscript
from workbench.tei import codec, validation
from workbench.tei.xml import NSMAP, InvalidXML, parse_xml


def document(**changes) -> etree._ElementTree:
    return codec.build_document(make_manuscript(**changes))


def broken(edit) -> list[validation.Problem]:
    """Build a valid document, break it with ``edit(root)``, and re-parse it to get line numbers."""
    root = document().getroot()
    edit(root)
    tree = parse_xml(etree.tostring(root))
    return validation.check_project(tree)


def find(root, path):
    return root.find(path, NSMAP)


def test_a_built_document_is_valid_against_both_schemas():
    tree = document(pages=2, lines=4)
    assert validation.check_project(tree) == []
    assert validation.check_tei_all(tree) == []


def test_the_sample_edition_is_valid_against_both_schemas():
    tree = parse_xml((REPO / "tei/trifonov-sample.xml").read_bytes())
    assert validation.check_project(tree) == []
    assert validation.check_tei_all(tree) == []


def test_schemas_load_without_hanging():
    # Some TEI customisations make libxml2 hang while loading (TEIC/TEI#655): load ours
    # in a child process that is killed if it does not finish.
    code = (
        "from workbench.tei import validation as v; from workbench.tei.codec import parse_xml;"
        "v.check_project(parse_xml(open('tei/trifonov-sample.xml','rb').read()))"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)


def test_unknown_line_status_is_refused_with_a_plain_message():
    problems = broken(lambda root: find(root, ".//tei:lb").set("type", "guessed"))
    assert problems[0].message == '<lb type="guessed">: type must be one of automatic, corrected, verified'
    assert problems[0].line == 45
    assert any(p.check == "workbench.rng" for p in problems)


def test_lb_pointing_nowhere_is_refused():
    problems = broken(lambda root: find(root, ".//tei:lb").set("facs", "#nowhere"))
    assert any("does not point at a line zone" in p.message for p in problems)


def test_resp_pointing_nowhere_is_refused():
    problems = broken(lambda root: find(root, ".//tei:lb").set("resp", "#nobody"))
    assert any("does not point at a respStmt" in p.message for p in problems)


def test_duplicate_ids_are_refused():
    manuscript = make_manuscript()
    manuscript.pages[0].lines[1].id = manuscript.pages[0].lines[0].id
    with pytest.raises(InvalidXML, match="ID ms1_p1_l1 already defined"):
        codec.build_document(manuscript)


def test_duplicate_ids_in_a_file_are_refused_when_it_is_read():
    text = etree.tostring(document()).replace(b'xml:id="ms1_p1_l2"', b'xml:id="ms1_p1_l1"')
    with pytest.raises(InvalidXML, match="ID ms1_p1_l1 already defined, line"):
        parse_xml(text)


def test_points_outside_the_page_are_refused():
    problems = broken(lambda root: find(root, ".//tei:zone[@type='line']").set("points", "10,10 2000,10 2000,50"))
    assert any("outside its page" in p.message for p in problems)
    assert any(p.check == "coordinates" and p.line for p in problems)


def test_a_zone_with_two_points_is_refused_by_the_tei_schema():
    problems = broken(lambda root: find(root, ".//tei:zone[@type='line']").set("points", "10,10 20,20"))
    assert problems and problems[0].check == "workbench.rng"


def test_tei_all_reports_foreign_elements_with_line_numbers():
    root = document().getroot()
    etree.SubElement(find(root, ".//tei:ab"), f"{codec.T}notAnElement")
    problems = validation.check_tei_all(parse_xml(etree.tostring(root, pretty_print=True)))
    assert problems
    assert all(p.check == "tei_all.rng" for p in problems)
    assert any(p.line for p in problems)


@pytest.mark.parametrize("schema", ["workbench.rng", "tei_all.rng", "workbench.sch", "workbench.odd"])
def test_shipped_schema_files_are_present(schema):
    assert (REPO / "schemas" / schema).stat().st_size > 1000


def test_threads_validating_at_once_each_get_their_own_problems():
    # lxml keeps a validator's log on the validator: shared between threads, one run's
    # log was cleared by another's, and a save was refused naming no problem at all.
    import threading

    manuscript = make_manuscript(pages=20, lines=20)
    manuscript.pages[3].lines[2].baseline = [(60, 100)]  # a path of one point: not allowed
    data = codec.document_bytes(manuscript)
    results: list[list[validation.Problem]] = []

    def validate_repeatedly():
        for _ in range(15):
            results.append(validation.check_project(parse_xml(data)))

    threads = [threading.Thread(target=validate_repeatedly) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 60
    for problems in results:
        assert [(p.message, p.check) for p in problems] == [
            ("<zone> contains <path>, which is not allowed there", "workbench.rng")
        ]
