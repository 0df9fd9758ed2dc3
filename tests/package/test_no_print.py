"""Library code reports through ``logging`` (and tqdm for progress), never ``print``:
data engineers run it inside Airflow tasks and Spark executors, where stdout is not a log.
The command line (the cli package) is the one place that writes to stdout on purpose,
and only through its output module."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "pyfunc_ops"
ALLOWED = {PACKAGE / "cli" / "output.py"}


def _print_calls(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "print"
    ]


def test_library_code_never_prints() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): lines
        for path in sorted(PACKAGE.rglob("*.py"))
        if path not in ALLOWED and (lines := _print_calls(path))
    }
    assert offenders == {}


def test_the_scan_finds_a_print(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    print('x')\n")
    assert _print_calls(sample) == [2]
