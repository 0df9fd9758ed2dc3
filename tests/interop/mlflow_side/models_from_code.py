"""Runs inside the MLflow venv: models from code and type-hinted models, both directions.

Usage: python models_from_code.py OUT_DIR OURS_DIR

Writes OUT_DIR/<model>/ with MLflow (models from code, pickled type-hinted models) and
loads every model pyfunc_ops wrote in OURS_DIR/<model>/ with ``mlflow.pyfunc.load_model``.
What MLflow predicted (and the errors it raised) go to OUT_DIR/results.json. One process
does both because importing MLflow costs seconds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent / "from_code"
# MLflow runs the code file when saving, with the code_paths modules not yet importable.
sys.path.insert(0, str(HERE))

import mlflow  # noqa: E402
import mlflow.pyfunc  # noqa: E402
import pandas as pd  # noqa: E402
import pydantic  # noqa: E402

REQS = ["pandas"]
WORDS = ["ab", "cd"]
NUMBERS = pd.DataFrame({"x": [1, 2, 3]})
RECORDS = pd.DataFrame({"a": ["p", "q"], "b": ["r", "s"]})


class TypedRecords(mlflow.pyfunc.PythonModel):
    """Pickled by value (defined in __main__) with MLflow's validation wrapper."""

    def predict(self, model_input: list[dict[str, Any]], params=None) -> list[str]:
        return [f"{r['a']}/{r['b']}" for r in model_input]


class Request(pydantic.BaseModel):
    a: str


class TypedPydantic(mlflow.pyfunc.PythonModel):
    def predict(self, model_input: list[Request], params=None) -> list[str]:
        return [r.a for r in model_input]


def error_of(call) -> str | None:
    try:
        call()
    except Exception as exc:  # MLflow's error types vary; the tests only need the message
        return f"{type(exc).__name__}: {exc}"
    return None


def write(out: Path, results: dict) -> None:
    mlflow.pyfunc.save_model(
        out / "code_typed",
        python_model=str(HERE / "typed_code_model.py"),
        code_paths=[str(HERE / "model_utils.py")],
        model_config={"end": "."},
        pip_requirements=REQS,
    )
    loaded = mlflow.pyfunc.load_model(str(out / "code_typed"))
    results["code_typed"] = loaded.predict(WORDS)
    results["code_typed_list"] = loaded.predict(["xy"])
    reconf = mlflow.pyfunc.load_model(str(out / "code_typed"), model_config={"end": "!"})
    results["code_typed__config"] = reconf.predict(WORDS)
    results["errors"]["code_typed_bad_input"] = error_of(lambda: loaded.predict([1, 2]))

    mlflow.pyfunc.save_model(
        out / "code_function",
        python_model=str(HERE / "function_code_model.py"),
        input_example=NUMBERS,
        pip_requirements=REQS,
    )
    results["code_function"] = mlflow.pyfunc.load_model(str(out / "code_function")).predict(NUMBERS)

    # The models-from-code file pyfunc_ops saves too: both MLmodels must carry the same
    # signature (MLflow infers it from the list[dict[str, str]] hint).
    mlflow.pyfunc.save_model(
        out / "code_records", python_model=str(HERE / "ours_with_mlflow_imports.py")
    )
    code_records = mlflow.pyfunc.load_model(str(out / "code_records"))
    results["code_records"] = code_records.predict(RECORDS.to_dict(orient="records"))
    results["errors"]["code_records_frame"] = error_of(lambda: code_records.predict(RECORDS))

    mlflow.pyfunc.save_model(out / "pickled_records", python_model=TypedRecords())
    # A list of dicts: MLflow's own conversion of a DataFrame for this hint depends on the
    # signature it inferred from the hint (a single unnamed column), so give it the records.
    records = RECORDS.to_dict(orient="records")
    results["pickled_records"] = mlflow.pyfunc.load_model(str(out / "pickled_records")).predict(
        records
    )
    mlflow.pyfunc.save_model(out / "pickled_pydantic", python_model=TypedPydantic())


def read(ours: Path, results: dict) -> None:
    for name, data, config in [
        ("ours_mlflow_imports", RECORDS.to_dict(orient="records"), None),
        ("ours_our_imports", NUMBERS, None),
        ("ours_our_imports__config", NUMBERS, {"factor": 10}),
    ]:
        path = ours / name.split("__")[0]

        def load_and_predict(path=path, data=data, config=config, name=name):
            model = mlflow.pyfunc.load_model(str(path), model_config=config)
            results["ours"][name] = model.predict(data)

        # One model MLflow cannot load must not hide what it does with the others.
        results["errors"][f"ours/{name}"] = error_of(load_and_predict)
    # A DataFrame for the list[dict[str, str]] hint: MLflow converts it by the signature it
    # inferred from the hint, as for its own save of the same file (code_records_frame).
    model = mlflow.pyfunc.load_model(str(ours / "ours_mlflow_imports"))
    results["errors"]["ours_mlflow_imports_frame"] = error_of(lambda: model.predict(RECORDS))


def main() -> None:
    out, ours = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {"errors": {}, "ours": {}, "mlflow_version": mlflow.__version__}
    write(out, results)
    read(ours, results)
    (out / "results.json").write_text(json.dumps(results, default=list))


if __name__ == "__main__":
    main()
