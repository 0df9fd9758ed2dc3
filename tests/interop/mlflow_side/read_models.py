"""Runs inside the MLflow venv: load every model pyfunc_ops wrote, with MLflow, and predict.

Usage: python read_models.py MODELS_DIR OUT_DIR

MODELS_DIR/manifest.json lists the models: ``{"name", "variants": [{"suffix", "params",
"model_config"}], "sklearn": bool}``. For each variant, ``mlflow.pyfunc.load_model(path,
model_config=...).predict(X, params=...)`` goes to OUT_DIR/<name><suffix>; for scikit-learn
models ``mlflow.sklearn.load_model(path).predict(X)`` goes to OUT_DIR/<name>__sklearn.
OUT_DIR/results.json records per-model errors (the tests assert there are none) and the
error MLflow raises when a signed model misses an input column.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mlflow.pyfunc
import mlflow.sklearn
from _predictions import input_frame, save_prediction


def main() -> None:
    models, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    X = input_frame()
    results: dict = {"errors": {}, "loader_modules": {}, "sklearn_types": {}, "enforcement": {}}
    for entry in json.loads((models / "manifest.json").read_text()):
        name, path = entry["name"], str(models / entry["name"])
        try:
            for variant in entry["variants"]:
                model = mlflow.pyfunc.load_model(path, model_config=variant.get("model_config"))
                results["loader_modules"][name] = model.loader_module
                save_prediction(
                    out / f"{name}{variant['suffix']}",
                    model.predict(X, params=variant.get("params")),
                )
            if entry.get("missing_column"):
                try:
                    model.predict(X.drop(columns=[entry["missing_column"]]))
                    results["enforcement"][name] = None
                except Exception as exc:  # the message is what we compare
                    results["enforcement"][name] = f"{type(exc).__name__}: {exc}"
            if entry.get("sklearn"):
                estimator = mlflow.sklearn.load_model(path)
                results["sklearn_types"][name] = type(estimator).__module__
                method = getattr(estimator, entry.get("predict_fn", "predict"))
                save_prediction(out / f"{name}__sklearn", method(X))
        except Exception:  # recorded per model: one failure hides no other
            results["errors"][name] = traceback.format_exc()
    (out / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
