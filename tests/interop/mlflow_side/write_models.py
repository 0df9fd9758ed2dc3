"""Runs inside the MLflow venv: write every MLflow-side model the interop tests read.

Usage: python write_models.py OUT_DIR

Writes OUT_DIR/<model>/ (one folder per model), OUT_DIR/expected/<model>[__variant] (what
MLflow itself predicts after loading the saved model) and OUT_DIR/results.json (versions,
MLflow's own error messages and what MLflow makes of hand-written 1.x models). One process
writes them all because importing MLflow costs several seconds.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
CODE = HERE / "code"
sys.path.insert(0, str(CODE))

import cloudpickle  # noqa: E402
import helpers  # noqa: E402
import mlflow  # noqa: E402
import mlflow.pyfunc  # noqa: E402
import mlflow.sklearn  # noqa: E402
import pandas as pd  # noqa: E402
import sklearn  # noqa: E402
from _predictions import input_frame, labels, save_prediction  # noqa: E402
from custom_model import WeightedSum  # noqa: E402
from mlflow.models import infer_signature  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

# Explicit requirements: MLflow would otherwise infer them by loading each model in a
# subprocess, which costs many seconds per model and is irrelevant to the format.
REQS = ["scikit-learn", "pandas", "cloudpickle"]
PY = "{}.{}.{}".format(*sys.version_info[:3])


class MainModel(mlflow.pyfunc.PythonModel):
    """Defined in ``__main__``: cloudpickle stores the class by value, MLflow's wrapper too."""

    def load_context(self, context):
        with open(context.artifacts["coef"]) as fh:
            self.coef = json.load(fh)
        table = Path(context.artifacts["table"]) / "bias.csv"
        self.bias = float(pd.read_csv(table)["bias"].iloc[0])

    def predict(self, context, model_input, params=None):
        offset = float((params or {}).get("offset", 0.0))
        raw = model_input["a"] * self.coef["a"] + model_input["b"] * self.coef["b"] + self.bias
        return pd.DataFrame({"y": helpers.shift(raw, offset), "offset": offset})


class TypedModel(mlflow.pyfunc.PythonModel):
    """Type hints make MLflow wrap predict with its own validation (not loadable without it)."""

    def predict(self, model_input: list[str], params=None) -> list[str]:
        return [s.upper() for s in model_input]


def expect(out: Path, name: str, value) -> None:
    save_prediction(out / "expected" / name, value)


def error_of(call) -> str | None:
    try:
        call()
    except Exception as exc:  # MLflow's error types vary; the tests only need the message
        return f"{type(exc).__name__}: {exc}"
    return None


def sklearn_models(out: Path, results: dict) -> None:
    X, y = input_frame(), labels()
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    mlflow.sklearn.save_model(
        pipe,
        out / "sklearn_skops",
        serialization_format="skops",
        signature=infer_signature(X, pipe.predict(X)),
        input_example=X.head(3),
        pip_requirements=REQS,
    )
    loaded = mlflow.pyfunc.load_model(str(out / "sklearn_skops"))
    expect(out, "sklearn_skops", loaded.predict(X))
    # Enforcement: int32 columns are cast to the signature's double; a missing column errors;
    # MLflow refuses int64 -> double (pyfunc_ops accepts it: see docs/compatibility.md).
    as_int = X.round()
    expect(out, "sklearn_skops__int32_input", loaded.predict(as_int.astype("int32")))
    results["errors"]["sklearn_skops_missing_column"] = error_of(lambda: loaded.predict(X[["a"]]))
    results["errors"]["sklearn_skops_int64"] = error_of(
        lambda: loaded.predict(as_int.astype("int64"))
    )

    logreg = LogisticRegression(C=0.5).fit(X, y)
    mlflow.sklearn.save_model(
        logreg,
        out / "sklearn_cloudpickle",
        serialization_format="cloudpickle",
        pyfunc_predict_fn="predict_proba",
        pip_requirements=REQS,
    )
    expect(
        out,
        "sklearn_cloudpickle",
        mlflow.pyfunc.load_model(str(out / "sklearn_cloudpickle")).predict(X),
    )
    # 1.x-era models, written by hand as MLflow 1.x wrote them (cloudpickle, data: model.pkl).
    for name in ("legacy_nested", "legacy_flat"):
        write_legacy(out / name, logreg, flat=name == "legacy_flat")
        expect(out, name, logreg.predict(X))
        results["mlflow_loads_legacy"][name] = error_of(
            lambda n=name: mlflow.pyfunc.load_model(str(out / n)).predict(X)
        )


def write_legacy(path: Path, estimator, flat: bool) -> None:
    path.mkdir()
    with open(path / "model.pkl", "wb") as fh:
        cloudpickle.dump(estimator, fh)
    (path / "conda.yaml").write_text(
        "name: mlflow-env\nchannels: [defaults]\ndependencies:\n"
        f"- python={PY}\n- pip\n- pip:\n  - mlflow<2\n  - scikit-learn\n  - cloudpickle\n"
    )
    if flat:
        text = (
            "loader_module: mlflow.sklearn\ndata: model.pkl\nenv: conda.yaml\n"
            f"python_version: {PY}\n"
        )
    else:
        text = (
            "artifact_path: model\n"
            "flavors:\n"
            "  python_function:\n"
            "    data: model.pkl\n"
            "    env: conda.yaml\n"
            "    loader_module: mlflow.sklearn\n"
            f"    python_version: {PY}\n"
            "  sklearn:\n"
            "    pickled_model: model.pkl\n"
            "    serialization_format: cloudpickle\n"
            f"    sklearn_version: {sklearn.__version__}\n"
            "run_id: 5bd7b2c9e5f44d5e9a8b2a6f3c0d1e2f\n"
            "utc_time_created: '2021-03-04 10:11:12.131415'\n"
        )
    (path / "MLmodel").write_text(text)


def pyfunc_models(out: Path, results: dict) -> None:
    X = input_frame()
    src = out / "_sources"
    (src / "table").mkdir(parents=True)
    (src / "coef.json").write_text(json.dumps({"a": 1.5, "b": -0.75}))
    (src / "table" / "bias.csv").write_text("bias\n0.125\n")
    (src / "weights.json").write_text(json.dumps({"a": 2.0, "b": 0.5}))

    main_model = MainModel()
    main_model.load_context(
        mlflow.pyfunc.PythonModelContext(
            {"coef": str(src / "coef.json"), "table": str(src / "table")}, {}
        )
    )
    signature = infer_signature(X, main_model.predict(None, X), params={"offset": 0.0})
    mlflow.pyfunc.save_model(
        out / "pyfunc_main",
        python_model=MainModel(),
        artifacts={"coef": str(src / "coef.json"), "table": str(src / "table")},
        code_paths=[str(CODE / "helpers.py")],
        signature=signature,
        pip_requirements=REQS,
    )
    loaded = mlflow.pyfunc.load_model(str(out / "pyfunc_main"))
    expect(out, "pyfunc_main", loaded.predict(X))
    expect(out, "pyfunc_main__params", loaded.predict(X, params={"offset": 2.5}))

    mlflow.pyfunc.save_model(
        out / "pyfunc_code_class",
        python_model=WeightedSum(),
        artifacts={"weights": str(src / "weights.json")},
        code_paths=[str(CODE / "custom_model.py")],
        model_config={"scale": 2.0},
        pip_requirements=REQS,
    )
    expect(
        out,
        "pyfunc_code_class",
        mlflow.pyfunc.load_model(str(out / "pyfunc_code_class")).predict(X),
    )
    expect(
        out,
        "pyfunc_code_class__config",
        mlflow.pyfunc.load_model(
            str(out / "pyfunc_code_class"), model_config={"scale": 3.0}
        ).predict(X),
    )

    mlflow.pyfunc.save_model(
        out / "pyfunc_typed",
        python_model=TypedModel(),
        input_example=["a", "b"],
        pip_requirements=REQS,
    )
    results["typed_prediction"] = mlflow.pyfunc.load_model(str(out / "pyfunc_typed")).predict(
        ["x", "y"]
    )


def main() -> None:
    out = Path(sys.argv[1])
    (out / "expected").mkdir(parents=True, exist_ok=True)
    results: dict = {
        "mlflow_version": mlflow.__version__,
        "sklearn_version": sklearn.__version__,
        "errors": {},
        "mlflow_loads_legacy": {},
    }
    try:
        sklearn_models(out, results)
        pyfunc_models(out, results)
    except Exception:
        traceback.print_exc()
        sys.exit(1)
    (out / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
