"""``describe`` as a library call: the facts of a registered version (registry, run, digest
verified) and of a plain folder (no registry, no run, not verified)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from sklearn.linear_model import LinearRegression

import pyfunc_ops.sklearn as pyfunc_sklearn
from pyfunc_ops import tracking
from pyfunc_ops.jobs.model_facts import NO_SIGNATURE, describe, flavor_facts

X = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.0, 1.0, 0.0]})


def test_describe_a_registered_version() -> None:
    estimator = LinearRegression().fit(X, 2 * X["a"] + X["b"])
    with tracking.start_run() as run:
        tracking.log_params({"alpha": 0.5})
        pyfunc_sklearn.log_model(
            estimator, "model", registered_model_name="churn", input_example=X.head(2)
        )
    tracking.TrackingClient().set_registered_model_alias("churn", "champion", 1)
    info = describe("models:/churn@champion")
    json.dumps(info, default=str)  # JSON-ready
    assert info["registry"]["name"] == "churn" and info["registry"]["aliases"] == ["champion"]
    assert info["digest"] and info["verified"]
    assert info["run"]["run_id"] == run.info.run_id and info["run"]["params"] == {"alpha": "0.5"}
    assert info["flavor"]["name"] == "sklearn" and info["flavor"]["runs_code"] is False  # skops
    assert info["warnings"] == [] and info["signature"]["inputs"]
    assert "MLmodel" in info["files"]


def test_describe_a_folder(tmp_path: Path) -> None:
    estimator = LinearRegression().fit(X, X["a"])
    pyfunc_sklearn.save_model(estimator, str(tmp_path / "m"))
    info = describe(str(tmp_path / "m"))
    assert "registry" not in info and "run" not in info
    assert info["warnings"] == [NO_SIGNATURE]
    assert flavor_facts({}) == {
        "name": "python_function",
        "framework_version": None,
        "runs_code": False,
        "runs_code_because": None,
    }
