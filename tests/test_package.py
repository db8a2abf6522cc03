"""A built workbench runs outside its checkout: the wheel carries the templates, the static
files, the compiled translations, the project schemas and htmx and the viewers from npm.

The wheel is built from this checkout and installed, without its dependencies, into a
fresh virtual environment that sees the dependencies of the environment running the tests
(a .pth file) but not the checkout; every command runs in a folder outside the checkout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from tests.builders import REPO


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ folder of a virtual environment with the workbench installed from a wheel."""
    base = tmp_path_factory.mktemp("package")
    wheels, venv = base / "wheels", base / "venv"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", wheels, REPO], check=True)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    site_packages = Path(sysconfig.get_path("purelib", vars={"base": venv, "platbase": venv}))
    # A .pth file adds the test environment's site-packages, whose own .pth files (the
    # checkout's editable install) are not read: the dependencies without the checkout.
    (site_packages / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    python = venv / "bin" / "python"
    (wheel,) = wheels.glob("workbench-*.whl")
    subprocess.run([python, *pip[1:], "install", "--no-deps", "--no-index", "--ignore-installed", wheel], check=True)
    return venv / "bin"


def run(cwd: Path, *args: str | Path, input: str | None = None) -> str:
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "WORKBENCH_EDITION")}
    done = subprocess.run([*args], cwd=cwd, env=environment, input=input, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_the_installed_workbench_serves_and_validates_outside_the_checkout(installed: Path, tmp_path: Path):
    assert REPO not in tmp_path.parents
    workbench = installed / "workbench"
    made = run(
        tmp_path,
        workbench,
        "init",
        "edition",
        "--admin",
        "maria",
        "--password-stdin",
        input="correct horse battery\n",
    )
    assert "admin maria added" in made and (tmp_path / "edition/workbench.toml").is_file()
    refused = subprocess.run([workbench, "init", "edition"], cwd=tmp_path, capture_output=True, text=True)
    assert refused.returncode == 1 and "is not empty" in refused.stderr
    run(tmp_path, workbench, "sample", "sample")
    validated = run(tmp_path, workbench, "--edition", "sample", "validate", "--no-tei-all")
    assert "tei/trifonov-sample.xml: valid (workbench schema)" in validated

    probe = textwrap.dedent(
        """
        import json, sys
        import workbench
        from workbench.tei import validation
        from workbench.web import create_app

        client = create_app("sample", {"TESTING": True, "SESSION_COOKIE_SECURE": False}).test_client()
        paths = ("/login", "/login?lang=en", "/assets/htmx.min.js", "/assets/mirador.min.js", "/assets/style.css", "/read/trifonov-sample/1/")
        pages = {path: client.get(path) for path in paths}
        print(json.dumps({
            "package": workbench.__file__,
            "schemas": str(validation.SCHEMA_DIR),
            "pages": {path: [response.status_code, response.get_data(as_text=True)] for path, response in pages.items()},
        }))
        """
    )
    seen = json.loads(run(tmp_path, installed / "python", "-c", probe).splitlines()[-1])
    venv = installed.parent
    assert Path(seen["package"]).is_relative_to(venv) and not Path(seen["package"]).is_relative_to(REPO)
    assert Path(seen["schemas"]).is_relative_to(venv) and (Path(seen["schemas"]) / "tei_all.rng").is_file()
    pages = seen["pages"]
    assert all(status == 200 for status, _ in pages.values()), {path: status for path, (status, _) in pages.items()}
    assert "Вход" in pages["/login"][1] and "Log in" not in pages["/login"][1]  # the compiled Bulgarian catalogue
    assert "Log in" in pages["/login?lang=en"][1]
    htmx = (REPO / "node_modules/htmx.org/dist/htmx.min.js").read_text(encoding="utf-8")
    assert pages["/assets/htmx.min.js"][1] == htmx
    assert "/assets/htmx.min.js" in pages["/login"][1]
    assert "Живъ е той, живъ е!" in pages["/read/trifonov-sample/1/"][1]  # the sample, published for readers
