"""Fixtures of the flavor conformance suite: MLflow's side runs once per session (the
helpers are in ``flavor_harness.py``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from flavor_cases import all_cases
from flavor_harness import ROOT, SideResults, run_mlflow_side, save_ours


@pytest.fixture(scope="session")
def mlflow_venv() -> Path:
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "mlflow_venv.sh")],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode != 0:
        pytest.fail(f"building the MLflow venv failed:\n{proc.stderr[-3000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def mlflow_written(mlflow_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> SideResults:
    """Every available case saved by MLflow 3.18, with MLflow's own prediction."""
    root = tmp_path_factory.mktemp("mlflow_written")
    # Only the cases this venv can run: the torch venv and the main one each write theirs.
    wanted = ",".join(c.id for c in all_cases() if c.available())
    run_mlflow_side(mlflow_venv, "write", root / "models", wanted, cwd=root)
    return SideResults(root / "models")


@pytest.fixture(scope="session")
def ours_in_mlflow(mlflow_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> SideResults:
    """Every available case saved by us, then loaded and scored by stock MLflow."""
    root = tmp_path_factory.mktemp("ours_in_mlflow")
    for case in all_cases():
        if case.available():
            save_ours(case, root / "models" / case.id)
    run_mlflow_side(mlflow_venv, "read", root / "models", root / "out", cwd=root)
    return SideResults(root / "out")
