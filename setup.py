"""The one build step pyproject.toml cannot declare (everything else is there).

An installed workbench needs files that are not in workbench/ in the repository, so
setuptools' package data cannot name them: the project schemas (schemas/, a top-level
folder of the repository), htmx and the viewers (from the npm registry, in node_modules/,
never committed), the sample edition (tei/ and facsimiles/) and the interface's
translations compiled from their .po files (the .mo files are never committed). This
build_py copies them into the built package, under workbench/bundled/, where
workbench/packaged.py finds them. An editable install skips it: it reads the checkout.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def _packaged():
    """workbench/packaged.py, its tables of files (it imports only the standard library)."""
    spec = importlib.util.spec_from_file_location("workbench_packaged", ROOT / "workbench" / "packaged.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildWithData(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        packaged = _packaged()
        package = Path(self.build_lib) / "workbench"
        bundled = package / packaged.BUNDLED
        shutil.rmtree(bundled, ignore_errors=True)
        shutil.copytree(
            ROOT / "schemas", bundled / "schemas", ignore=shutil.ignore_patterns(*packaged.SCHEMA_BUILD_ONLY)
        )
        for path in packaged.SAMPLE:
            source, target = ROOT / path, bundled / "sample" / path
            target.parent.mkdir(parents=True, exist_ok=True)
            (shutil.copytree if source.is_dir() else shutil.copy2)(source, target)
        node_modules = _node_modules(packaged.FRONT_END.values())
        (bundled / "assets" / "licences").mkdir(parents=True)
        for name, path in packaged.FRONT_END.items():
            shutil.copy2(node_modules / path, bundled / "assets" / name)
        for npm_package, licence in packaged.FRONT_END_LICENCES.items():
            shutil.copy2(
                node_modules / npm_package / licence, bundled / "assets" / "licences" / npm_package.replace("/", "-")
            )
        _compile_translations(package / "web" / "translations")


def _node_modules(needed) -> Path:
    """node_modules/ with the front-end files; `npm ci` (package-lock.json's versions) when they are missing."""
    folder = ROOT / "node_modules"
    if not all((folder / path).is_file() for path in needed):
        if folder.exists():
            # `npm ci` would empty it first (a developer's dev packages, or another checkout's
            # folder behind a link): say what is missing instead.
            raise SystemExit(f"{folder} lacks the front-end files the package carries: run `npm ci` there first")
        if shutil.which("npm") is None:
            raise SystemExit(
                "building the workbench needs npm (apt install npm): htmx and the viewers come from the npm registry"
            )
        subprocess.run(["npm", "ci", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error"], cwd=ROOT, check=True)
    return folder


def _compile_translations(folder: Path) -> None:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in folder.glob("*/LC_MESSAGES/*.po"):
        with open(po, "rb") as file:
            catalog = read_po(file)
        with open(po.with_suffix(".mo"), "wb") as file:
            write_mo(file, catalog, use_fuzzy=True)  # as `make setup` compiles them


setup(cmdclass={"build_py": BuildWithData})
