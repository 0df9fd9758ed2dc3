"""Models written by MLflow 3 (in its own venv) load and predict identically here, where
mlflow is not installed."""

from __future__ import annotations

import importlib.util
import sys

import pytest
from conftest import MlflowModels, predictions
from numpy.testing import assert_array_equal
from pandas.testing import assert_frame_equal

import pyfunc_ops.sklearn as our_sklearn
from pyfunc_ops.errors import SchemaEnforcementError
from pyfunc_ops.models.example import load_input_example
from pyfunc_ops.models.mlmodel import Model
from pyfunc_ops.pyfunc import PythonModel, load_model

pytestmark = pytest.mark.mlflow

X = predictions.input_frame()


def _no_mlflow_module_loaded() -> bool:
    return not any(n == "mlflow" or n.startswith("mlflow.") for n in sys.modules)


def test_mlflow_is_not_importable_here() -> None:
    assert importlib.util.find_spec("mlflow") is None
    assert _no_mlflow_module_loaded()


@pytest.mark.parametrize(
    "name", ["sklearn_skops", "sklearn_cloudpickle", "legacy_nested", "legacy_flat"]
)
def test_sklearn_models_predict_identically(mlflow_models: MlflowModels, name: str) -> None:
    model = load_model(mlflow_models.path(name))
    assert_array_equal(model.predict(X), mlflow_models.expected(name))
    # The MLmodel says mlflow.sklearn; our module served it.
    assert model.loader_module == "mlflow.sklearn"
    assert type(model.get_raw_model()).__module__ == "pyfunc_ops.sklearn"
    assert _no_mlflow_module_loaded()


def test_sklearn_flavor_loads_the_estimator(mlflow_models: MlflowModels) -> None:
    proba = our_sklearn.load_model(mlflow_models.path("sklearn_cloudpickle")).predict_proba(X)
    assert_array_equal(proba, mlflow_models.expected("sklearn_cloudpickle"))
    pipe = our_sklearn.load_model(mlflow_models.path("sklearn_skops"))
    assert_array_equal(pipe.predict(X), mlflow_models.expected("sklearn_skops"))


def test_legacy_layouts_as_mlflow_3_sees_them(mlflow_models: MlflowModels) -> None:
    # MLflow 3 still loads the 1.x nested layout but no longer the flat one; we load both.
    loads = mlflow_models.results["mlflow_loads_legacy"]
    assert loads["legacy_nested"] is None
    assert 'does not have the "python_function" flavor' in loads["legacy_flat"]
    assert Model.load(mlflow_models.path("legacy_flat")).layout == "flat"


def test_signature_enforced_the_same_way(mlflow_models: MlflowModels) -> None:
    model = load_model(mlflow_models.path("sklearn_skops"))
    assert (
        "Model is missing inputs ['b']"
        in mlflow_models.results["errors"]["sklearn_skops_missing_column"]
    )
    with pytest.raises(SchemaEnforcementError, match=r"missing required column\(s\) \['b'\]"):
        model.predict(X[["a"]])
    # int32 columns are cast to the signature's double by both.
    as_int32 = X.round().astype("int32")
    assert_array_equal(
        model.predict(as_int32), mlflow_models.expected("sklearn_skops__int32_input")
    )


def test_int64_to_double_is_refused_in_both(mlflow_models: MlflowModels) -> None:
    # MLflow refuses int64 -> double (values above 2**53 would change); so do we, so a
    # signature is enforced the same way whichever library loads the model.
    refusal = mlflow_models.results["errors"]["sklearn_skops_int64"]
    assert "Can not safely convert int64 to float64" in refusal
    model = load_model(mlflow_models.path("sklearn_skops"))
    with pytest.raises(SchemaEnforcementError, match=r"expected type 'double'.*found dtype int64"):
        model.predict(X.round().astype("int64"))


def test_input_example_written_by_mlflow(mlflow_models: MlflowModels) -> None:
    path = mlflow_models.path("sklearn_skops")
    example = load_input_example(path, Model.load(path).saved_input_example_info)
    assert_frame_equal(example, X.head(3))
    prediction = load_model(path).predict(example)
    assert_array_equal(prediction, mlflow_models.expected("sklearn_skops")[:3])


def test_python_model_defined_in_main(mlflow_models: MlflowModels) -> None:
    model = load_model(mlflow_models.path("pyfunc_main"))
    assert model.loader_module == "mlflow.pyfunc.model"
    assert_frame_equal(model.predict(X), mlflow_models.expected("pyfunc_main"))
    assert_frame_equal(
        model.predict(X, params={"offset": 2.5}), mlflow_models.expected("pyfunc_main__params")
    )
    # MLflow's base class was mapped to ours while unpickling the class stored by value.
    python_model = model.unwrap_python_model()
    assert type(python_model).__module__ == "__main__"
    assert isinstance(python_model, PythonModel)
    assert _no_mlflow_module_loaded()


def test_python_model_class_in_a_code_paths_module(mlflow_models: MlflowModels) -> None:
    path = mlflow_models.path("pyfunc_code_class")
    model = load_model(path)
    assert_frame_equal(model.predict(X), mlflow_models.expected("pyfunc_code_class"))
    reconfigured = load_model(path, model_config={"scale": 3.0})
    assert_frame_equal(reconfigured.predict(X), mlflow_models.expected("pyfunc_code_class__config"))
    # custom_model.py ran `from mlflow.pyfunc import PythonModel` and got ours.
    python_model = model.unwrap_python_model()
    assert type(python_model).__module__ == "custom_model"
    assert isinstance(python_model, PythonModel)
    # The stand-ins that made that import work are gone again.
    assert _no_mlflow_module_loaded()
    assert importlib.util.find_spec("mlflow") is None


def test_type_hint_validated_model_loads(mlflow_models: MlflowModels) -> None:
    # MLflow wraps a type-hinted predict with its own validation code; the names that
    # wrapper refers to resolve to pyfunc_ops.pyfunc.type_hints (plain hints only).
    assert mlflow_models.results["typed_prediction"] == ["X", "Y"]
    model = load_model(mlflow_models.path("pyfunc_typed"))
    assert model.predict(["x", "y"]) == mlflow_models.results["typed_prediction"]
    assert _no_mlflow_module_loaded()
