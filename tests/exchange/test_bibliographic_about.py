"""Writings about the author recognised from the records themselves: a MARC 21 subject
added entry for a personal name (600), an RIS keyword (KW) or a BibTeX keyword that names
the author, in any spelling, on a record he neither wrote nor translated, is imported as
"about", without ``--type about``. The records are made up for the tests."""

from __future__ import annotations

from pathlib import Path

from tests.exchange.test_bibliographic import iso2709
from workbench.bibliography import Bibliography
from workbench.edition import Edition
from workbench.exchange import bibliographic
from workbench.register import Entity, Register

TRIFONOV = ["Трифон Цанев Трифонов", "Трифонъ Трифоновъ", "Trifon Tsanev Trifonov"]

# A study about him (600: the subject), his own memoirs (600 and 100 both name him), and
# his translation of Hamlet (600: Shakespeare, the subject of the translator's preface).
STUDY = [
    ("008", "660101s1966    bu            000 0 bul d", ""),
    ("100", [("a", "Иванов, Иван")], "1 "),
    ("245", [("a", "Трифон Цанев Трифонов :"), ("b", "живот и дело /")], "10"),
    ("600", [("a", "Трифонов, Трифон Цанев,"), ("d", "1866-1926")], "14"),
]
MEMOIRS = [
    ("100", [("a", "Трифоновъ, Трифонъ Ц.")], "1 "),
    ("245", [("a", "Спомени")], "10"),
    ("600", [("a", "Трифоновъ, Трифонъ Ц.")], "10"),
]
HAMLET = [
    ("100", [("a", "Шекспиръ, Уилямъ")], "1 "),
    ("245", [("a", "Хамлетъ")], "10"),
    ("600", [("a", "Shakespeare, William,"), ("d", "1564-1616")], "10"),
    ("700", [("a", "Трифоновъ, Трифонъ"), ("4", "trl")], "1 "),
]


def test_a_marc_subject_naming_the_author_makes_a_writing_about_him():
    data = iso2709(STUDY) + iso2709(MEMOIRS) + iso2709(HAMLET)
    entries = bibliographic.read(data, "marc", "records.mrc", author=TRIFONOV)
    assert [(entry.title, entry.type) for entry in entries] == [
        ("Трифон Цанев Трифонов : живот и дело", "about"),
        ("Спомени", "work"),  # his own, though indexed under his name
        ("Хамлетъ", "translation"),
    ]
    # Without the author's names nothing is about anyone: the records are what --type says.
    assert [entry.type for entry in bibliographic.read(data, "marc", "records.mrc")] == ["work", "work", "translation"]
    # The same in MARCXML.
    marcxml = """<record xmlns="http://www.loc.gov/MARC21/slim">
      <datafield tag="100" ind1="1" ind2=" "><subfield code="a">Петров, Петър</subfield></datafield>
      <datafield tag="245" ind1="1" ind2="0"><subfield code="a">Преводачът Трифонов</subfield></datafield>
      <datafield tag="600" ind1="1" ind2="4"><subfield code="a">Trifonov, Trifon</subfield></datafield>
    </record>"""
    [entry] = bibliographic.read(marcxml.encode(), "marcxml", "record.xml", author=TRIFONOV)
    assert entry.type == "about"


def test_ris_and_bibtex_keywords_naming_the_author_make_writings_about_him():
    ris = (
        "TY  - JOUR\nAU  - Иванов, Иван\nTI  - За преводите на Трифонов\nKW  - Трифонов, Трифон\n"
        "KW  - превод\nPY  - 1936\nER  - \n"
        "TY  - BOOK\nAU  - Иванов, Иван\nTI  - Христо Ботев\nKW  - Ботев, Христо\nKW  - Трифонов\nER  - \n"
    )
    assert [entry.type for entry in bibliographic.read(ris.encode(), "ris", author=TRIFONOV)] == ["about", "work"]
    bibtex = """@article{a, author = {Иванов, Иван}, title = {Трифонов като учител},
      keywords = {Трифонов, Трифон Ц., училище}, year = {1930}}
    @book{b, author = {Petrov, Petar}, title = {Bulgarian Shakespeare}, keywords = {Shakespeare; Trifonov, Trifon}}
    @book{c, author = {Petrov, Petar}, title = {Ruse}, keywords = {Ruse, Trifon, history}}"""
    entries = bibliographic.read(bibtex.encode(), "bibtex", author=TRIFONOV)
    assert [entry.type for entry in entries] == ["about", "about", "work"]


def test_the_cli_recognises_writings_about_the_registers_author(run, edition: Edition, tmp_path: Path):
    Register(edition).add(Entity("trifonov", TRIFONOV[0], name_original=TRIFONOV[1], name_latin=TRIFONOV[2]), "t")
    records = tmp_path / "records.mrc"
    records.write_bytes(iso2709(STUDY) + iso2709(HAMLET))
    result = run("bibliography", "import", str(records), "--yes")
    assert "new: Иванов, Иван — Трифон Цанев Трифонов : живот и дело — 1966 (about the author)" in result.output
    assert [entry.type for entry in Bibliography(edition).entries()] == ["about", "translation"]
    # With two people in the register, the one the bibliography's translations name is the author.
    Register(edition).add(Entity("ivanov", "Иван Иванов"), "t")
    book = Bibliography(edition)
    hamlet = book.get("b002")
    hamlet.translators[0].ref = "register.xml#trifonov"
    book.update(hamlet, "t", hamlet.version)
    study = tmp_path / "study.mrc"
    study.write_bytes(iso2709([*STUDY[:2], ("245", [("a", "Втора студия")], "10"), STUDY[3]]))
    assert "(about the author)" in run("bibliography", "import", str(study), "--yes").output
    # Where the register cannot tell, the CLI says so, and --author names him.
    hamlet = book.get("b002")
    hamlet.translators[0].ref = None
    book.update(hamlet, "t", hamlet.version)
    third = tmp_path / "third.mrc"
    third.write_bytes(iso2709([*STUDY[:2], ("245", [("a", "Трета студия")], "10"), STUDY[3]]))
    unsure = run("bibliography", "import", str(third))
    assert "name him with --author KEY" in unsure.output and "(about the author)" not in unsure.output
    named = run("bibliography", "import", str(third), "--author", "trifonov", "--yes")
    assert "(about the author)" in named.output
    assert Bibliography(edition).entries()[-1].type == "about"
