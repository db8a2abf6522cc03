"""Where the workbench's own files are: the one place that knows.

Three kinds of files live outside the Python code: the project schemas (``schemas/``,
a top-level folder of the repository), the front-end files the web workbench serves
(htmx and the viewers, installed from the npm registry into ``node_modules/``, never
committed) and the sample edition (``tei/`` and ``facsimiles/`` of the repository).
An installed workbench (``pip install .``, a wheel, pipx) carries copies of them in
the package, under ``workbench/bundled/``: setup.py puts them there at build time.
Run from a checkout (the editable install of ``make setup``, or ``PYTHONPATH``), there
is no ``bundled/`` and they are read from the checkout's own folders.

Only the standard library is imported here: setup.py reads the tables below before
the workbench's dependencies are installed.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

BUNDLED = "bundled"  # the folder in the package that holds the copies

# Served under /assets/ (never from a CDN: the reading room may be offline): name → file in node_modules/.
FRONT_END = {
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    "panzoom.min.js": "@panzoom/panzoom/dist/panzoom.min.js",
    # The reading room's deep zoom viewer (its own buttons are not used: no image icons to serve).
    "openseadragon.min.js": "openseadragon/build/openseadragon/openseadragon.min.js",
    # The IIIF viewer page (/read/<manuscript>/viewer): Mirador, one self-contained bundle.
    "mirador.min.js": "mirador/dist/mirador.min.js",
}
# Each npm package's licence travels with its file (under bundled/assets/licences/).
FRONT_END_LICENCES = {
    "htmx.org": "LICENSE",
    "@panzoom/panzoom": "MIT-License.txt",
    "openseadragon": "LICENSE.txt",
    "mirador": "LICENSE",
}
# Only for rebuilding the schema (schemas/build.py): not copied into the package.
SCHEMA_BUILD_ONLY = ("build.py", "p5subset.xml")
# The sample edition `workbench sample` copies: paths relative to an edition's root.
SAMPLE = ("tei/trifonov-sample.xml", "facsimiles/trifonov-sample", "tei/register.xml", "tei/bibliography.xml")


def _package() -> Path:
    # pip and pipx install packages unpacked, so the package is a folder on disk (lxml
    # and Flask need real paths; a zipped install is not supported).
    return Path(str(resources.files("workbench")))


def _bundled() -> Path | None:
    folder = _package() / BUNDLED
    return folder if folder.is_dir() else None


def checkout() -> Path:
    """The repository the package was imported from (meaningful only when not installed)."""
    return _package().parent


def installed() -> bool:
    """Whether the package carries its own copies (a built install), not a checkout."""
    return _bundled() is not None


def schema_dir() -> Path:
    bundled = _bundled()
    return bundled / "schemas" if bundled else checkout() / "schemas"


def front_end(name: str) -> Path | None:
    """The file served as /assets/``name``; None if ``name`` is not a front-end file."""
    if name not in FRONT_END:
        return None
    bundled = _bundled()
    return bundled / "assets" / name if bundled else checkout() / "node_modules" / FRONT_END[name]


def sample_root() -> Path:
    """A folder holding the sample edition's files at the paths in ``SAMPLE``."""
    bundled = _bundled()
    return bundled / "sample" if bundled else checkout()
