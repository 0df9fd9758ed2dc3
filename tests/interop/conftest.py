"""Fixtures talking to the real MLflow, which lives in its own virtual environment.

pyfunc_ops' own environment has no mlflow (the tests assert it). ``scripts/mlflow_venv.sh``
builds a separate venv with MLflow 3 (once; uv; cached) and installs pyfunc_ops into it.
Two subprocesses run there per session, because importing MLflow costs seconds: one writes
every MLflow-side model (``mlflow_side/write_models.py``), one loads every model of ours
with MLflow (``mlflow_side/read_models.py``). Predictions travel as .npy/.parquet files.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MLFLOW_SIDE = HERE / "mlflow_side"
OURS_SIDE = HERE / "ours_side"
# What a failed build prints when the package registry (or uv's download) is unreachable.
_OFFLINE = re.compile(
    r"(failed to fetch|connection|network|dns|timed out|temporary failure|unreachable|"
    r"could not resolve host|name resolution)",
    re.IGNORECASE,
)


def _load_predictions_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "interop_predictions", MLFLOW_SIDE / "_predictions.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


predictions = _load_predictions_module()


@pytest.fixture(scope="session")
def mlflow_python() -> Path:
    """The MLflow venv's interpreter (built on first use; a registry outage skips locally)."""
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "mlflow_venv.sh")],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    if proc.returncode != 0:
        reason = f"building the MLflow venv failed:\n{proc.stderr[-3000:]}"
        if _OFFLINE.search(proc.stderr) and not os.environ.get("CI"):
            pytest.skip(f"package registry unreachable; {reason}")
        pytest.fail(reason)
    python = Path(proc.stdout.strip().splitlines()[-1]) / "bin" / "python"
    assert python.is_file(), f"mlflow_venv.sh printed {proc.stdout!r}, no interpreter there"
    return python


def run_in_mlflow(python: Path, script: str, *args: str | Path, cwd: Path) -> None:
    """Run an ``mlflow_side`` script with the MLflow venv; fail the test on a non-zero exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYFUNC_OPS_"))}
    env.update(
        MLFLOW_ALLOW_PICKLE_DESERIALIZATION="true",  # MLflow 3.17 refuses pickles/skops else
        MLFLOW_TRACKING_URI=(cwd / "mlruns").as_uri(),
        PYFUNC_OPS_HOME=str(cwd / "pyfunc_ops_home"),
    )
    proc = subprocess.run(
        [str(python), str(MLFLOW_SIDE / script), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )
    if proc.returncode != 0:
        pytest.fail(f"{script} failed in the MLflow venv (exit {proc.returncode}):\n{proc.stderr}")


@dataclass
class MlflowModels:
    """Models MLflow wrote: ``root/<name>``, MLflow's own predictions and notes."""

    root: Path
    results: dict[str, Any]

    def path(self, name: str) -> Path:
        return self.root / name

    def expected(self, name: str) -> Any:
        return predictions.load_prediction(self.root / "expected" / name)


@pytest.fixture(scope="session")
def mlflow_models(mlflow_python: Path, tmp_path_factory: pytest.TempPathFactory) -> MlflowModels:
    root = tmp_path_factory.mktemp("mlflow_written")
    run_in_mlflow(mlflow_python, "write_models.py", root / "models", cwd=root)
    models = root / "models"
    return MlflowModels(models, json.loads((models / "results.json").read_text()))


@dataclass
class OursInMlflow:
    """Models pyfunc_ops wrote (``models/<name>``) and what MLflow predicted with them."""

    models: Path
    out: Path
    manifest: list[dict[str, Any]]
    results: dict[str, Any]

    def mlflow_prediction(self, name: str) -> Any:
        return predictions.load_prediction(self.out / name)


def _write_our_models(models: Path) -> list[dict[str, Any]]:
    """Save one model per kind pyfunc_ops writes; return the manifest read_models.py reads."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from pyfunc_ops import sklearn as our_sklearn
    from pyfunc_ops.models.signature import ModelSignature, infer_signature
    from pyfunc_ops.pyfunc import save_model

    sys.path.insert(0, str(OURS_SIDE))
    try:
        from our_model import Affine
    finally:
        sys.path.remove(str(OURS_SIDE))

    X, y = predictions.input_frame(), predictions.labels()
    coef = models / "_sources" / "coef.json"
    coef.parent.mkdir(parents=True)
    coef.write_text(json.dumps({"a": 0.5, "b": 2.0}))
    # MLflow passes params only to models whose signature declares them (in its format).
    params_schema = json.dumps(
        [{"name": "offset", "type": "double", "default": 0.0, "shape": None}]
    )
    signature = ModelSignature(inputs=infer_signature(X).inputs, params=params_schema)
    variants = [
        {"suffix": ""},
        {"suffix": "__params_config", "params": {"offset": 1.5}, "model_config": {"scale": 3.0}},
    ]
    save_model(
        models / "ours_workflow1",
        python_model=Affine(),
        artifacts={"coef": str(coef)},
        code_path=[str(OURS_SIDE / "our_model.py")],
        signature=signature,
        config={"scale": 2.0},
    )
    save_model(
        models / "ours_workflow2",
        loader_module="our_loader",
        data_path=str(coef),
        code_path=[str(OURS_SIDE / "our_loader.py")],
        signature=signature,
        config={"scale": 2.0},
    )
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    our_sklearn.save_model(
        pipe, models / "ours_sklearn_skops", serialization_format="skops", input_example=X.head(3)
    )
    logreg = LogisticRegression(C=0.5).fit(X, y)
    our_sklearn.save_model(
        logreg,
        models / "ours_sklearn_cloudpickle",
        serialization_format="cloudpickle",
        pyfunc_predict_fn="predict_proba",
    )
    return [
        {"name": "ours_workflow1", "variants": variants, "missing_column": "b"},
        {"name": "ours_workflow2", "variants": variants},
        {
            "name": "ours_sklearn_skops",
            "variants": [{"suffix": ""}],
            "sklearn": True,
            "missing_column": "a",
        },
        {
            "name": "ours_sklearn_cloudpickle",
            "variants": [{"suffix": ""}],
            "sklearn": True,
            "predict_fn": "predict_proba",
        },
    ]


@pytest.fixture(scope="session")
def ours_in_mlflow(
    mlflow_python: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OursInMlflow]:
    root = tmp_path_factory.mktemp("ours_written")
    models, out = root / "models", root / "mlflow_predictions"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYFUNC_OPS_HOME", str(root / "pyfunc_ops_home"))
        manifest = _write_our_models(models)
    (models / "manifest.json").write_text(json.dumps(manifest))
    run_in_mlflow(mlflow_python, "read_models.py", models, out, cwd=root)
    yield OursInMlflow(models, out, manifest, json.loads((out / "results.json").read_text()))
