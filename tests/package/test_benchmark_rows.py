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


def test_the_flavor_rows_are_one_comparison_each_against_the_issue_targets(
    run: ModuleType,
) -> None:
    """benchmarks/flavors.py: per flavor, cold against the framework alone (<= 1.10x) and
    MLflow (<= 0.70x), batch against the framework (<= 1.05x), batch against MLflow shown."""
    flavors = importlib.import_module("benchmarks.flavors")
    medians = {
        "cold_floor": 2.0,
        "cold_ours": 2.1,
        "cold_mlflow": 4.0,
        "batch_ours": 0.52,
        "batch_floor": 0.5,
        "batch_mlflow": 0.6,
    }
    rows = run.section_rows(flavors.flavor_rows("xgboost", medians, 1_000_000), "flavors")
    assert [(r["reference_label"], r["kind"], r["target"], r["pass"]) for r in rows] == [
        ("xgboost alone", "max", 1.10, True),
        ("mlflow.pyfunc", "max", 0.70, True),
        ("xgboost alone, same process", "max", 1.05, True),
        ("mlflow.pyfunc", "info", None, None),
    ]
    assert rows[0]["ratio"] == pytest.approx(1.05) and "1M rows" in rows[2]["benchmark"]
    assert rows[3]["benchmark"].startswith("(info) xgboost")


def test_the_flavor_section_runs_with_the_suite_and_alone(run: ModuleType) -> None:
    """Declared in run.py's sections (so ``--only flavors`` and the "not measured" row
    work), one row set per flavor of the issue, each with its own framework floor."""
    flavors = importlib.import_module("benchmarks.flavors")
    names = {section: found for section, _, found in run.section_modules()}
    assert names["flavors"] == ["flavors"]
    assert flavors.FLAVORS == ("xgboost", "lightgbm", "onnx", "pytorch")
    for flavor in flavors.FLAVORS:
        for variant in ("floor", "ours", "mlflow"):
            compile(flavors.cold_code(flavor, variant), f"{flavor}-{variant}", "exec")
        for lib in ("ours", "mlflow"):
            compile(flavors.batch_code(flavor, lib), f"{flavor}-{lib}", "exec")
    # The floor never imports pyfunc_ops or mlflow; ours never imports mlflow.
    assert "pyfunc_ops" not in flavors.cold_code("onnx", "floor")
    assert "mlflow" not in flavors.cold_code("pytorch", "ours")
    assert flavors.QUICK["rows"] < flavors.FULL["rows"] == 1_000_000
