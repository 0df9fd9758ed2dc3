"""Runs inside the MLflow venv against a live ``mlflow server``: MLflow's half of the tests.

Usage:
  python server_side.py log URL OUT_JSON
      log an sklearn model twice as registered model ``mlflow-made`` (versions 1 and 2),
      alias ``champion`` -> version 1; write run id, model ids and MLflow's predictions.
  python server_side.py read URL NAME OUT_JSON
      read what pyfunc_ops registered as NAME (version 1, alias ``champion``): the version
      as MLflow's client sees it, and predictions from ``mlflow.sklearn.load_model`` and
      ``mlflow.pyfunc.load_model``.

One process per half because importing MLflow costs seconds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mlflow
import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from sklearn.linear_model import LinearRegression

X = pd.DataFrame({"x": np.arange(6, dtype=float)})


def log(url: str, out: Path) -> None:
    mlflow.set_tracking_uri(url)
    result: dict[str, object] = {"model_ids": []}
    for slope in (2.0, 5.0):
        model = LinearRegression().fit(X, slope * X["x"] + 1.0)
        with mlflow.start_run() as run:
            info = mlflow.sklearn.log_model(
                model, name="model", registered_model_name="mlflow-made"
            )
        result["model_ids"].append(info.model_id)  # type: ignore[attr-defined]
        result.setdefault("run_ids", []).append(run.info.run_id)  # type: ignore[attr-defined]
        result.setdefault("predictions", []).append(model.predict(X).tolist())  # type: ignore[attr-defined]
    MlflowClient().set_registered_model_alias("mlflow-made", "champion", "1")
    out.write_text(json.dumps(result))


def read(url: str, name: str, out: Path) -> None:
    mlflow.set_tracking_uri(url)
    client = MlflowClient()
    version = client.get_model_version_by_alias(name, "champion")
    result = {
        "version": version.version,
        "aliases": list(version.aliases),
        "tags": dict(version.tags),
        "source": version.source,
        "run_id": version.run_id,
        "versions": sorted(
            int(v.version) for v in client.search_model_versions(f"name = '{name}'")
        ),
        "sklearn": mlflow.sklearn.load_model(f"models:/{name}@champion").predict(X).tolist(),
        "pyfunc": np.asarray(mlflow.pyfunc.load_model(f"models:/{name}/1").predict(X))
        .ravel()
        .tolist(),
    }
    out.write_text(json.dumps(result))


if __name__ == "__main__":
    command, url, *rest = sys.argv[1:]
    if command == "log":
        log(url, Path(rest[0]))
    else:
        read(url, rest[0], Path(rest[1]))
