"""Fixtures of the flavor conformance suite: MLflow's side runs once per session.

MLflow lives in its own venv (``scripts/mlflow_venv.sh``); two subprocesses run there per
session, one saving every case with MLflow, one loading every model of ours with stock
MLflow (pyfunc_ops unimportable there). Predictions travel as pickles, so the container,
columns, dtypes and values compare exactly.
"""

from __future__ import annotations

import os
import pickle
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from flavor_cases import Case, all_cases

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def mlflow_env(cwd: Path) -> dict[str, str]:
    """The environment of a subprocess in the MLflow venv (nothing of ours leaks in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYFUNC_OPS_"))}
    env.update(
        MLFLOW_ALLOW_PICKLE_DESERIALIZATION="true",  # MLflow 3.17+ refuses pickles else
        MLFLOW_TRACKING_URI=(cwd / "mlruns").as_uri(),
        KERAS_BACKEND="torch",
    )
    return env


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


def run_mlflow_side(venv: Path, *args: str | Path, cwd: Path) -> None:
    proc = subprocess.run(
        [str(venv / "bin" / "python"), str(HERE / "mlflow_side.py"), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=mlflow_env(cwd),
        timeout=1200,
    )
    if proc.returncode != 0:
        pytest.fail(f"mlflow_side.py {args[0]} failed (exit {proc.returncode}):\n{proc.stderr}")


@dataclass
class SideResults:
    """What one MLflow-side run left in ``root``: per case a result or an error."""

    root: Path

    def get(self, case_id: str, suffix: str) -> Any:
        error = self.root / f"{case_id}.error.txt"
        if error.exists():
            pytest.fail(f"MLflow's side failed for {case_id}:\n{error.read_text()}")
        return pickle.loads((self.root / f"{case_id}.{suffix}.pkl").read_bytes())


@pytest.fixture(scope="session")
def mlflow_written(mlflow_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> SideResults:
    """Every available case saved by MLflow 3.18, with MLflow's own prediction."""
    root = tmp_path_factory.mktemp("mlflow_written")
    # Only the cases this venv can run: the torch venv and the main one each write theirs.
    wanted = ",".join(c.id for c in all_cases() if c.available())
    run_mlflow_side(mlflow_venv, "write", root / "models", wanted, cwd=root)
    return SideResults(root / "models")


def save_ours(case: Case, path: Path) -> Any:
    """Save ``case``'s model with our flavor module; returns the native model saved."""
    from pyfunc_ops.models.flavors import FLAVORS, import_flavor

    native = case.build()
    import_flavor(FLAVORS[case.flavor]).save_model(native, path, **case.save_kwargs)
    return native


@pytest.fixture(scope="session")
def ours_in_mlflow(mlflow_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> SideResults:
    """Every available case saved by us, then loaded and scored by stock MLflow."""
    root = tmp_path_factory.mktemp("ours_in_mlflow")
    for case in all_cases():
        if case.available():
            save_ours(case, root / "models" / case.id)
    run_mlflow_side(mlflow_venv, "read", root / "models", root / "out", cwd=root)
    return SideResults(root / "out")


def assert_same(actual: Any, expected: Any, rtol: float = 0.0) -> None:
    """The same prediction: container type, columns/index, dtypes and values, exactly
    (``rtol``: values within that relative tolerance, for another process's BLAS)."""
    assert type(actual) is type(expected), f"{type(actual)} != {type(expected)}"
    if isinstance(expected, pd.DataFrame):
        pd.testing.assert_frame_equal(actual, expected, check_exact=not rtol, rtol=rtol or 1e-5)
    elif isinstance(expected, pd.Series):
        pd.testing.assert_series_equal(actual, expected, check_exact=not rtol, rtol=rtol or 1e-5)
    elif isinstance(expected, np.ndarray):
        assert actual.dtype == expected.dtype and actual.shape == expected.shape
        if rtol and expected.dtype.kind == "f":
            np.testing.assert_allclose(actual, expected, rtol=rtol)
        else:
            np.testing.assert_array_equal(actual, expected)
    elif isinstance(expected, dict):
        assert actual.keys() == expected.keys()
        for key in expected:
            assert_same(actual[key], expected[key], rtol)
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected, strict=True):
            assert_same(a, e, rtol)
    else:
        assert actual == expected
