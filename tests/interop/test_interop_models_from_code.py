"""Models from code and type-hinted models against MLflow 3 (in its own venv), both ways:
MLflow's load here without mlflow installed; ours load in MLflow."""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import MLFLOW_SIDE, run_in_mlflow

from pyfunc_ops.errors import LoaderError, SchemaEnforcementError
from pyfunc_ops.models import PYFUNC_FLAVOR, Model
from pyfunc_ops.pyfunc import load_model, save_model

pytestmark = pytest.mark.mlflow

FROM_CODE = MLFLOW_SIDE / "from_code"
WORDS = ["ab", "cd"]
NUMBERS = pd.DataFrame({"x": [1, 2, 3]})
RECORDS = pd.DataFrame({"a": ["p", "q"], "b": ["r", "s"]})


@dataclass
class Written:
    mlflow_models: Path  # what MLflow wrote
    ours: Path  # what we wrote (MLflow loaded them)
    results: dict[str, Any]


def _no_mlflow_loaded() -> bool:
    return not any(n == "mlflow" or n.startswith("mlflow.") for n in sys.modules)


@pytest.fixture(scope="module")
def written(mlflow_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Written:
    root = tmp_path_factory.mktemp("from_code")
    ours = root / "ours"
    ours.mkdir()
    save_model(ours / "ours_mlflow_imports", python_model=FROM_CODE / "ours_with_mlflow_imports.py")
    save_model(
        ours / "ours_our_imports",
        python_model=str(FROM_CODE / "ours_with_our_imports.py"),
        model_config={"factor": 2},
    )
    out = root / "mlflow"
    run_in_mlflow(mlflow_python, "models_from_code.py", out, ours, cwd=root)
    return Written(out, ours, json.loads((out / "results.json").read_text()))


def test_mlflow_is_not_importable_here() -> None:
    assert importlib.util.find_spec("mlflow") is None


def test_mlflow_writes_the_model_code_path_layout(written: Written) -> None:
    path = written.mlflow_models / "code_typed"
    conf = Model.load(path).get_flavor(PYFUNC_FLAVOR)
    assert conf["loader_module"] == "mlflow.pyfunc.loaders.code_model"
    # MLflow records the file's original (absolute) path; the copy sits at the model root.
    assert Path(conf["model_code_path"]).is_absolute()
    assert (path / Path(conf["model_code_path"]).name).is_file()


def test_an_mlflow_code_model_predicts_identically_here(written: Written) -> None:
    model = load_model(written.mlflow_models / "code_typed")
    assert model.predict(WORDS) == written.results["code_typed"]
    reconf = load_model(written.mlflow_models / "code_typed", model_config={"end": "!"})
    assert reconf.predict(WORDS) == written.results["code_typed__config"]
    assert _no_mlflow_loaded()


def test_the_type_hint_is_enforced_like_mlflow(written: Written) -> None:
    model = load_model(written.mlflow_models / "code_typed")
    assert "Failed to validate data against type hint `list[str]`" in str(
        written.results["errors"]["code_typed_bad_input"]
    )
    # Refused here too: by the signature MLflow inferred from the hint (string), or by
    # the hint itself, depending on how predict frames the list.
    with pytest.raises(SchemaEnforcementError, match=r"'string'|list\[str\]"):
        model.predict([1, 2])


def test_an_mlflow_function_model_predicts_identically_here(written: Written) -> None:
    model = load_model(written.mlflow_models / "code_function")
    assert model.predict(NUMBERS) == written.results["code_function"]
    assert _no_mlflow_loaded()


def test_an_mlflow_pickled_type_hinted_model_loads(written: Written) -> None:
    model = load_model(written.mlflow_models / "pickled_records")
    expected = written.results["pickled_records"]
    assert expected == ["p/r", "q/s"]
    # The loaded wrapper (what PyFuncModel.predict calls after its schema step) validates
    # and converts as MLflow's does: records as given, a DataFrame as its records.
    impl = model.get_raw_model()
    assert impl.predict(RECORDS.to_dict(orient="records")) == expected
    assert impl.predict(RECORDS) == expected
    assert _no_mlflow_loaded()


def test_predict_skips_the_signature_inferred_from_the_hint(written: Written) -> None:
    model = load_model(written.mlflow_models / "pickled_records")
    expected = written.results["pickled_records"]
    assert model.predict(RECORDS.to_dict(orient="records")) == expected
    assert _no_mlflow_loaded()


def test_a_pydantic_hint_is_refused_clearly(written: Written) -> None:
    with pytest.raises(LoaderError, match=r"(pydantic|Request).*(not installed|not a plain)"):
        load_model(written.mlflow_models / "pickled_pydantic")
    assert _no_mlflow_loaded()


def _hinted(path: Path) -> tuple[Any, Any, Any]:
    meta = Model.load(path)
    return (
        meta.signature.to_dict() if meta.signature else None,
        meta.extra.get("is_signature_from_type_hint"),
        meta.extra.get("type_hint_from_example"),
    )


def test_we_infer_the_signature_from_type_hints_as_mlflow(written: Written) -> None:
    """The same models-from-code file saved by both: the same signature, inferred from its
    list[dict[str, str]] -> list[str] hints, marked as coming from them."""
    theirs = _hinted(written.mlflow_models / "code_records")
    assert theirs == (
        {
            "inputs": '[{"type": "map", "values": {"type": "string"}, "required": true}]',
            "outputs": '[{"type": "string", "required": true}]',
            "params": None,
        },
        True,
        False,
    )
    assert _hinted(written.ours / "ours_mlflow_imports") == theirs
    # A file without hints: no signature, on either side.
    assert Model.load(written.ours / "ours_our_imports").signature is None


def test_our_code_model_with_mlflow_imports_loads_in_mlflow(written: Written) -> None:
    errors = written.results["errors"]
    assert errors["ours/ours_mlflow_imports"] is None
    assert written.results["ours"]["ours_mlflow_imports"] == ["p:r", "q:s"]
    assert written.results["code_records"] == ["p:r", "q:s"]
    # MLflow converts a DataFrame for our model exactly as for its own save of the file (it
    # keeps the first string column only, so the model misses 'b': the same KeyError).
    assert errors["ours_mlflow_imports_frame"] == errors["code_records_frame"]
    # ... and here, the same answer (a DataFrame becomes its records here).
    assert load_model(written.ours / "ours_mlflow_imports").predict(RECORDS) == ["p:r", "q:s"]


def test_our_code_model_with_our_imports_loads_in_mlflow(written: Written) -> None:
    errors = written.results["errors"]
    assert errors["ours/ours_our_imports"] is None
    assert errors["ours/ours_our_imports__config"] is None
    ours = written.results["ours"]
    assert ours["ours_our_imports"] == [2, 4, 6]
    assert ours["ours_our_imports__config"] == [10, 20, 30]
    # ... and here, the same answers.
    assert load_model(written.ours / "ours_our_imports").predict(NUMBERS) == [2, 4, 6]
