"""Validation of TEI documents against the project schema and the official tei_all.

Every save checks the project schema (schemas/workbench.rng, compiled from
workbench.odd, plus the Schematron rules of workbench.sch and two checks XPath 1.0
cannot express). ``tei_all`` takes 13-17 s to load in lxml, so it is loaded once per
process, on first use: by ``workbench validate``, by export and by the tests; the web
application loads it in the background as it starts (``warm_tei_all``).
"""

from __future__ import annotations

import importlib.resources
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Generic, TypeVar

from lxml import etree, isoschematron

from workbench import packaged
from workbench.tei.xml import NSMAP, XML_ID, parser

SCHEMA_DIR = packaged.schema_dir()  # the repository's schemas/, or the installed copy


@dataclass(frozen=True)
class Problem:
    """One reason a document is invalid, with where it is and which check found it."""

    line: int | None
    message: str
    check: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.message} [{self.check}]"


class InvalidDocument(Exception):
    def __init__(self, name: str, problems: list[Problem]):
        self.problems = problems
        shown = "\n".join(f"  {problem}" for problem in problems[:20])
        more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"{name} is not valid TEI for this edition:\n{shown}{more}")


Validator = TypeVar("Validator")


class _Validators(Generic[Validator]):
    """Validators of one schema, each lent to one thread at a time.

    An lxml validator keeps the error log (and Schematron its report) of its last run
    on itself, and each run clears it first: two threads validating with one
    validator cleared each other's log, and an invalid document was refused with no
    problem named (two saves at once in the web application). A run borrows a
    validator no other run is using; another is compiled when all are busy, up to
    ``most`` (then the run waits for one).
    """

    def __init__(self, compile_one: Callable[[], Validator], most: int = 8):
        self._compile_one = compile_one
        self._most = most
        self._free: list[Validator] = []
        self._count = 0
        self._returned = threading.Condition()

    @contextmanager
    def borrow(self) -> Iterator[Validator]:
        with self._returned:
            while not self._free and self._count >= self._most:
                self._returned.wait()
            validator = self._free.pop() if self._free else None
            if validator is None:
                self._count += 1
        if validator is None:
            try:
                validator = self._compile_one()
            except BaseException:
                with self._returned:
                    self._count -= 1
                    self._returned.notify()
                raise
        try:
            yield validator
        finally:
            with self._returned:
                self._free.append(validator)
                self._returned.notify()


@cache
def _project_relaxng(schema_dir: Path) -> _Validators[etree.RelaxNG]:
    return _Validators(lambda: etree.RelaxNG(etree.parse(str(schema_dir / "workbench.rng"), parser())))


@cache
def _project_schematron(schema_dir: Path) -> _Validators[isoschematron.Schematron]:
    return _Validators(
        lambda: isoschematron.Schematron(etree.parse(str(schema_dir / "workbench.sch"), parser()), store_report=True)
    )


@cache
def _tei_all(schema_dir: Path) -> _Validators[etree.RelaxNG]:
    # One copy: it takes 15 s and much memory to load; a second run waits for it.
    return _Validators(lambda: etree.RelaxNG(etree.parse(str(schema_dir / "tei_all.rng"), parser())), most=1)


def warm_tei_all(schema_dir: Path = SCHEMA_DIR) -> threading.Thread:
    """Load tei_all in a background thread (the web app does at start), so that the first
    export does not wait 15 s for it; an export that comes sooner waits for this load
    rather than starting a second (``_tei_all`` keeps one copy)."""

    def load() -> None:
        with _tei_all(schema_dir).borrow():
            pass

    thread = threading.Thread(target=load, name="warm-tei-all", daemon=True)
    thread.start()
    return thread


@cache
def _closed_value_lists(schema_dir: Path) -> dict[tuple[str, str], list[str]]:
    """(element, attribute) → allowed values, from the closed value lists of the ODD."""
    odd = etree.parse(str(schema_dir / "workbench.odd"), parser())
    lists = {}
    for att_def in odd.iterfind(".//tei:elementSpec/tei:attList/tei:attDef", NSMAP):
        values = att_def.xpath("tei:valList[@type='closed']/tei:valItem/@ident", namespaces=NSMAP)
        if values:
            element = att_def.getparent().getparent().get("ident")
            lists[(element, att_def.get("ident"))] = list(values)
    return lists


def check_project(tree: etree._ElementTree, schema_dir: Path = SCHEMA_DIR) -> list[Problem]:
    """Problems against the project schema: RELAX NG, Schematron, closed value lists, coordinates."""
    # libxml2 often blames an enclosing element for an error deep inside it, so the
    # checks that can name the culprit exactly come first.
    problems = _check_points(tree) + _bad_values(tree, schema_dir)
    with _project_relaxng(schema_dir).borrow() as relaxng:
        if not relaxng.validate(tree):
            return problems + _log_problems(relaxng.error_log, "workbench.rng")
    with _project_schematron(schema_dir).borrow() as schematron:
        if not schematron.validate(tree):
            problems += _schematron_problems(schematron.validation_report) or [_unexplained("workbench.sch")]
    return problems


def check_tei_all(tree: etree._ElementTree, schema_dir: Path = SCHEMA_DIR) -> list[Problem]:
    """Problems against the official TEI P5 4.8.0 tei_all schema."""
    with _tei_all(schema_dir).borrow() as relaxng:
        if relaxng.validate(tree):
            return []
        return _log_problems(relaxng.error_log, "tei_all.rng")


def _check_points(tree: etree._ElementTree) -> list[Problem]:
    # (Duplicate xml:ids need no check here: libxml2 refuses them while parsing.)
    problems = []
    for surface in tree.iterfind(".//tei:surface", NSMAP):
        try:
            width, height = int(surface.get("lrx", "0")), int(surface.get("lry", "0"))
        except ValueError:
            continue  # the schema reports malformed coordinates
        for element in surface.iterfind(".//*[@points]"):
            for pair in element.get("points").split():
                x, _, y = pair.partition(",")
                if not (0 <= float(x) <= width and 0 <= float(y) <= height):
                    problems.append(
                        Problem(
                            element.sourceline,
                            f"point {pair} of {etree.QName(element).localname} {element.get(XML_ID) or ''} "
                            f"lies outside its page ({width}×{height} pixels)",
                            "coordinates",
                        )
                    )
                    break
    return problems


def _bad_values(tree: etree._ElementTree, schema_dir: Path) -> list[Problem]:
    problems = []
    for (element, attribute), allowed in _closed_value_lists(schema_dir).items():
        for node in tree.iterfind(f".//tei:{element}[@{attribute}]", NSMAP):
            if node.get(attribute) not in allowed:
                problems.append(
                    Problem(
                        node.sourceline,
                        f'<{element} {attribute}="{node.get(attribute)}">: {attribute} must be one of {", ".join(allowed)}',
                        "workbench.odd",
                    )
                )
    return problems


def _schematron_problems(report: etree._ElementTree) -> list[Problem]:
    svrl = {"svrl": "http://purl.oclc.org/dsdl/svrl"}
    problems = []
    for failed in report.iterfind(".//svrl:failed-assert", svrl):
        text = " ".join("".join(failed.itertext()).split())
        problems.append(Problem(None, f"{text} (at {failed.get('location')})", "workbench.sch"))
    return problems


# libxml2's RELAX NG messages, reworded for people who do not read schemas.
_PLAIN = [
    (re.compile(r"Invalid attribute (\S+) for element (\S+)"), r"attribute \1 is not allowed on <\2>"),
    (
        re.compile(r"Element (\S+) failed to validate attributes"),
        r"an attribute of <\1> has a value the schema does not allow",
    ),
    (re.compile(r"Did not expect element (\S+) there"), r"<\1> is not allowed at this place"),
    (re.compile(r"Expecting element (\S+), got (\S+)"), r"<\2> found where <\1> was expected"),
    (re.compile(r"Element (\S+) has extra content: (\S+)"), r"<\1> contains <\2>, which is not allowed there"),
    (re.compile(r"Element (\S+) failed to validate content"), r"the content of <\1> is not what the schema allows"),
    (re.compile(r"Expecting an element (\S+), got nothing"), r"<\1> is required here but missing"),
    (re.compile(r"Error validating value"), "a value does not have the form the schema requires"),
]


def _log_problems(log: etree._ListErrorLog, check: str) -> list[Problem]:
    """The validator's log as problems; never none, so a refusal always says something."""
    return [_from_log(entry, check) for entry in log] or [_unexplained(check)]


def _unexplained(check: str) -> Problem:
    return Problem(None, f"the document does not match {check}, but the validator gave no reason", check)


def _from_log(entry: etree._LogEntry, check: str) -> Problem:
    message = entry.message.replace(f"{{{NSMAP['tei']}}}", "") or f"{entry.type_name} ({entry.domain_name})"
    for pattern, plain in _PLAIN:
        if pattern.search(message):
            message = pattern.sub(plain, message)
            break
    return Problem(entry.line or None, message, check)


# -- PAGE and ALTO ----------------------------------------------------------------------

# The official XML Schemas of the exchange formats (schemas/page, schemas/alto), by namespace.
_LAYOUT_SCHEMAS = {
    "http://schema.primaresearch.org/PAGE/gts/pagecontent/2013-07-15": "page/pagecontent-2013-07-15.xsd",
    "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15": "page/pagecontent-2019-07-15.xsd",
    "http://www.loc.gov/standards/alto/ns-v4#": "alto/alto-4-2.xsd",
}
METS_NAMESPACE = "http://www.loc.gov/METS/"


class _LocalXLink(etree.Resolver):
    """ALTO and METS import the XLink schema from loc.gov: read the copy in schemas/alto instead (no network)."""

    def __init__(self, schema_dir: Path):
        self.schema_dir = schema_dir

    def resolve(self, url, pubid, context):
        if url.endswith("xlink.xsd"):
            return self.resolve_filename(str(self.schema_dir / "alto" / "xlink.xsd"), context)
        return None


def _schema_file(schema_dir: Path, namespace: str) -> Path:
    if namespace == METS_NAMESPACE:
        # The official METS schema as the metsrw package ships it (installed, never copied into the repo).
        return Path(str(importlib.resources.files("metsrw") / "resources" / "mets.xsd"))
    return schema_dir / _LAYOUT_SCHEMAS[namespace]


@cache
def _layout_schema(schema_dir: Path, namespace: str) -> _Validators[etree.XMLSchema]:
    def compile_one() -> etree.XMLSchema:
        schema_parser = parser()
        schema_parser.resolvers.add(_LocalXLink(schema_dir))
        return etree.XMLSchema(etree.parse(str(_schema_file(schema_dir, namespace)), schema_parser))

    return _Validators(compile_one)


def check_layout_xml(tree: etree._ElementTree, schema_dir: Path = SCHEMA_DIR) -> list[Problem]:
    """Problems of a PAGE (2013, 2019) or ALTO v4 document against its official XML Schema."""
    namespace = etree.QName(tree.getroot()).namespace
    if namespace not in _LAYOUT_SCHEMAS and namespace != METS_NAMESPACE:
        return [Problem(None, f"no schema for the namespace {namespace}", "xsd")]
    with _layout_schema(schema_dir, namespace).borrow() as schema:
        if schema.validate(tree):
            return []
        return [Problem(entry.line or None, entry.message, "xsd") for entry in schema.error_log] or [
            _unexplained("xsd")
        ]


def check_mets(tree: etree._ElementTree, schema_dir: Path = SCHEMA_DIR) -> list[Problem]:
    """Problems of a METS document against the official METS XML Schema (the copy the metsrw package ships)."""
    if etree.QName(tree.getroot()).namespace != METS_NAMESPACE:
        return [Problem(None, f"not a METS document (its root is {tree.getroot().tag})", "xsd")]
    return check_layout_xml(tree, schema_dir)
