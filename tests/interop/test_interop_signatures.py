"""Signatures, inputs, params and input examples, both ways against MLflow 3.

One MLflow subprocess (``mlflow_side/signatures.py``) infers, enforces and predicts every
case of ``mlflow_side/_signature_cases.py``, on models it writes and on models pyfunc_ops
wrote; these tests run the same cases here and compare the JSON descriptions exactly.
Refusals are compared as refusals (the wording differs by design).
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import MLFLOW_SIDE, run_in_mlflow

from pyfunc_ops.models.enforce import enforce_params, enforce_schema
from pyfunc_ops.models.example import load_input_example
from pyfunc_ops.models.mlmodel import Model
from pyfunc_ops.models.signature import infer_signature
from pyfunc_ops.pyfunc import PythonModel, load_model, save_model

pytestmark = pytest.mark.mlflow

_spec = importlib.util.spec_from_file_location(
    "interop_signature_cases", MLFLOW_SIDE / "_signature_cases.py"
)
assert _spec is not None and _spec.loader is not None
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)


@dataclass
class Results:
    mlflow_models: Path
    our_models: Path
    data: dict[str, Any]


@pytest.fixture(scope="module")
def results(mlflow_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Results:
    root = tmp_path_factory.mktemp("signatures")
    ours, out = root / "ours", root / "mlflow"
    ours.mkdir()
    echo = cases.make_echo(PythonModel)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYFUNC_OPS_HOME", str(root / "pyfunc_ops_home"))
        for name, case in cases.model_cases().items():
            signature = (
                infer_signature(case["signature"][0], None, case["signature"][1])
                if case["signature"]
                else None
            )
            save_model(
                ours / name,
                python_model=echo(),
                signature=signature,
                input_example=case["example"],
                code_path=[MLFLOW_SIDE / "_signature_cases.py"],
                pip_requirements=["pandas"],
            )
    run_in_mlflow(mlflow_python, "signatures.py", out, ours, cwd=root)
    return Results(out, ours, json.loads((out / "results.json").read_text()))


def same(ours: dict[str, Any], theirs: dict[str, Any], what: str) -> None:
    if theirs.get("refused"):
        assert ours.get("refused"), f"{what}: MLflow refuses ({theirs['error']}), we accept"
    else:
        assert ours == theirs, f"{what}: ours {ours} != MLflow's {theirs}"


def test_inferred_signatures_are_written_as_mlflow_writes_them(results: Results) -> None:
    for name, (data, params) in cases.infer_cases().items():
        assert infer_signature(data, None, params).to_dict() == results.data["infer"][name], name


def test_enforcement_accepts_and_refuses_as_mlflow(results: Results) -> None:
    infer = cases.infer_cases()
    for name, schema_case, data in cases.enforce_cases():
        schema = infer_signature(infer[schema_case][0]).inputs
        assert schema is not None
        ours = cases.run_case(lambda s=schema, d=data: enforce_schema(d, s))
        same(ours, results.data["enforce"][name], f"enforce {name}")


def test_params_are_enforced_as_mlflow(results: Results) -> None:
    schema = infer_signature(
        cases.infer_cases()["params"][0], None, cases.infer_cases()["params"][1]
    ).params
    for name, params in cases.params_cases():
        ours = cases.run_case(lambda p=params: enforce_params(p, schema))
        same(ours, results.data["params"][name], f"params {name}")


@pytest.mark.parametrize("side", ["mlflow", "ours"])
def test_models_receive_the_same_inputs_and_params(results: Results, side: str) -> None:
    """Each side's models, loaded by both libraries: the echo model saw the same thing."""
    root = results.mlflow_models if side == "mlflow" else results.our_models
    for name, case in cases.model_cases().items():
        model = load_model(root / name)
        for call, data, params in case["calls"]:
            ours = cases.run_case(
                lambda m=model, d=data, p=params: json.loads(m.predict(d, params=p)[0])
            )
            same(ours, results.data["predict"][f"{side}/{name}/{call}"], f"{side}/{name}/{call}")


@pytest.mark.parametrize("side", ["mlflow", "ours"])
def test_input_examples_and_signatures_read_the_same(results: Results, side: str) -> None:
    root = results.mlflow_models if side == "mlflow" else results.our_models
    for name in cases.model_cases():
        meta = Model.load(root / name)
        ours = cases.run_case(lambda p=root / name: load_input_example(p))
        same(ours, results.data["examples"][f"{side}/{name}"], f"example {side}/{name}")
        theirs = results.data["examples"][f"{side}/{name}/signature"]
        assert (meta.signature.to_dict() if meta.signature else None) == theirs, name


def test_we_write_examples_as_mlflow_writes_them(results: Results) -> None:
    for name in cases.model_cases():
        info = results.data["examples"]
        assert info[f"ours/{name}/info"] == info[f"mlflow/{name}/info"], name
        for file in ("input_example.json", "serving_input_example.json"):
            mine, theirs = results.our_models / name / file, results.mlflow_models / name / file
            assert mine.is_file() == theirs.is_file(), f"{name}/{file}"
            if theirs.is_file():
                assert mine.read_text() == theirs.read_text(), f"{name}/{file}"
