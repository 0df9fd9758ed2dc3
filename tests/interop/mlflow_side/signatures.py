"""Runs inside the MLflow venv: MLflow's side of the signature interop tests.

Usage: python signatures.py OUT_DIR OURS_DIR

Writes OUT_DIR/results.json: MLflow's inferred signatures, its enforcement of every
``enforce_cases()`` input, its params enforcement, and the predictions (what the echo model
received) of the models it writes to OUT_DIR/<name> and of the models pyfunc_ops wrote to
OURS_DIR/<name>, plus how MLflow reads both sides' input examples. One process does it
all, because importing MLflow costs seconds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import mlflow.pyfunc  # noqa: E402
from _signature_cases import (  # noqa: E402
    describe,
    dump,
    enforce_cases,
    infer_cases,
    make_echo,
    model_cases,
    params_cases,
    run_case,
)
from mlflow.models import Model, infer_signature  # noqa: E402
from mlflow.models.utils import _enforce_params_schema, _enforce_schema  # noqa: E402


def main() -> None:
    out, ours = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    infer = infer_cases()
    results: dict = {"infer": {}, "enforce": {}, "params": {}, "predict": {}, "examples": {}}
    for name, (data, params) in infer.items():
        results["infer"][name] = infer_signature(data, None, params).to_dict()
    for name, schema_case, data in enforce_cases():
        schema = infer_signature(infer[schema_case][0]).inputs
        results["enforce"][name] = run_case(lambda s=schema, d=data: _enforce_schema(d, s))
    param_schema = infer_signature(infer["params"][0], None, infer["params"][1]).params
    for name, params in params_cases():
        results["params"][name] = run_case(lambda p=params: _enforce_params_schema(p, param_schema))
    Echo = make_echo(mlflow.pyfunc.PythonModel)
    for name, case in model_cases().items():
        path = out / name
        signature = (
            infer_signature(case["signature"][0], None, case["signature"][1])
            if case["signature"]
            else None
        )
        mlflow.pyfunc.save_model(
            str(path),
            python_model=Echo(),
            signature=signature,
            input_example=case["example"],
            code_paths=[str(HERE / "_signature_cases.py")],
            pip_requirements=["pandas"],
        )
    for side, root in (("mlflow", out), ("ours", ours)):
        for name, case in model_cases().items():
            path = str(root / name)
            model = mlflow.pyfunc.load_model(path)
            for call, data, params in case["calls"]:
                results["predict"][f"{side}/{name}/{call}"] = run_case(
                    lambda m=model, d=data, p=params: json.loads(m.predict(d, params=p)[0])
                )
            meta = Model.load(path)
            results["examples"][f"{side}/{name}"] = run_case(
                lambda m=meta, p=path: m.load_input_example(p)
            )
            results["examples"][f"{side}/{name}/signature"] = (
                meta.signature.to_dict() if meta.signature else None
            )
            results["examples"][f"{side}/{name}/info"] = meta.saved_input_example_info
    dump(out / "results.json", results)
    print(describe({"done": 1}))


if __name__ == "__main__":
    main()
