"""The benchmark scripts run as ``python bench/NAME.py``: their folder comes first on
``sys.path``, so a script named like a standard module hides that module from every
library the benchmarks import (a ``bench/queue.py`` broke ``requests`` in all of them)."""

import ast
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def test_no_benchmark_script_hides_a_standard_module():
    names = {path.stem for path in BENCH.glob("*.py")}
    assert names, "no benchmark scripts found"
    assert sorted(names & set(sys.stdlib_module_names)) == []


def test_every_benchmark_script_parses_and_says_how_to_run_it():
    for path in BENCH.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        doc = ast.get_docstring(tree) or ""
        assert "Run:" in doc or "python bench/" in doc, f"{path.name}: its docstring does not say how to run it"
