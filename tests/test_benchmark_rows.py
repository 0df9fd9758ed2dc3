"""The benchmark suite's own plumbing, without running a benchmark: how benchmarks/run.py
reads a section module's rows (one numeric comparison per row) and how the shared
``mlflow_server`` starter reports a server that does not start."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from benchmarks.common import RESULTS_DIR, mlflow_server


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """benchmarks/run.py, whose import puts benchmarks/ first on sys.path (undone after)."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    return importlib.import_module("benchmarks.run")


def test_a_row_per_comparison_is_judged_by_its_kind(run: ModuleType) -> None:
    rows = run.section_rows(
        [
            {"name": "vs floor", "ours_s": 1.0, "floor_s": 2.0, "target": 0.9},
            {"name": "limit", "ours_s": 0.004, "kind": "abs", "target": 0.01},
            {"name": "rss", "ours_mb": 300.0, "mlflow_mb": 600.0, "target": None},
        ],
        "demo",
    )
    assert [(r["benchmark"], r["kind"], r["pass"]) for r in rows] == [
        ("vs floor", "max", True),
        ("limit", "abs", True),
        ("(info) rss", "info", None),
    ]
    assert rows[0]["ratio"] == 0.5 and rows[0]["reference_label"] == "floor"
    assert rows[1]["reference"] is None and rows[2]["unit"] == "MB"


def test_a_text_target_is_refused(run: ModuleType) -> None:
    row = {"name": "old", "ours_s": 1.0, "floor_s": 1.0, "target": "<= 1.05x plain"}
    with pytest.raises(ValueError, match=r"demo: row 'old' .*'<= 1.05x plain'.*one row per"):
        run.extra_row(row, "demo")


def test_two_references_in_one_row_are_refused(run: ModuleType) -> None:
    row = {"name": "both", "ours_s": 1.0, "floor_s": 1.0, "mlflow_s": 2.0, "target": 1.05}
    with pytest.raises(ValueError, match=r"\['floor_s', 'mlflow_s'\].*one row per comparison"):
        run.extra_row(row, "demo")


def test_the_saved_results_rerender_in_the_current_row_form(run: ModuleType) -> None:
    """``run.py --rerender`` rebuilds the table from these raw rows: they must still read."""
    saved: dict[str, Any] = json.loads((RESULTS_DIR / "results.json").read_text())
    sections = saved["raw"]["sections"]
    rendered = [r for name, raw in sections.items() for r in run.section_rows(raw, name)]
    assert rendered == [r for r in saved["rows"] if "section" in r]


def test_a_server_that_exits_is_reported_with_its_log(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "mlflow"
    fake.write_text("#!/bin/sh\necho 'no such backend'\nexit 3\n")
    fake.chmod(0o755)
    with (
        pytest.raises(RuntimeError, match=r"did not start at http://127\.0\.0\.1:\d+:\n.*backend"),
        mlflow_server(bin_dir / "python", tmp_path),
    ):
        pass
