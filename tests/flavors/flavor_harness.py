"""The flavor conformance harness: MLflow's side, saving our cases, comparing predictions.

MLflow lives in its own venv (``scripts/mlflow_venv.sh``); two subprocesses run there per
session (fixtures in ``conftest.py``), one saving every case with MLflow, one loading every
model of ours with stock MLflow (pyfunc_ops unimportable there). Predictions travel as
pickles, so the container, columns, dtypes and values compare exactly. A module of its own
(not ``conftest``), so test modules import it by a name no other test folder uses.
"""

from __future__ import annotations

import math
import os
import pickle
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from flavor_cases import Case

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


def save_ours(case: Case, path: Path) -> Any:
    """Save ``case``'s model with our flavor module; returns the native model saved."""
    from pyfunc_ops.models.flavors import FLAVORS, import_flavor

    native = case.build()
    import_flavor(FLAVORS[case.flavor]).save_model(native, path, **case.save_kwargs)
    return native


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
    elif isinstance(expected, float) and rtol:
        assert math.isclose(actual, expected, rel_tol=rtol), f"{actual} != {expected}"
    else:
        assert actual == expected
