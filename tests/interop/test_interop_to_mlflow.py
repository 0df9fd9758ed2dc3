"""Models written by pyfunc_ops load and predict identically with MLflow 3 (in its venv,
beside an installed pyfunc_ops)."""

from __future__ import annotations

import pytest
from conftest import OursInMlflow, predictions
from numpy.testing import assert_array_equal
from pandas.testing import assert_frame_equal

from pyfunc_ops.errors import SchemaEnforcementError
from pyfunc_ops.pyfunc import load_model

pytestmark = pytest.mark.mlflow

X = predictions.input_frame()


def test_mlflow_loads_every_model_of_ours(ours_in_mlflow: OursInMlflow) -> None:
    assert ours_in_mlflow.results["errors"] == {}
    assert ours_in_mlflow.results["loader_modules"] == {
        # MLflow's own loaders (issue 23): stock MLflow loads what we write.
        "ours_workflow1": "mlflow.pyfunc.model",
        "ours_workflow2": "our_loader",
        "ours_sklearn_skops": "mlflow.sklearn",
        "ours_sklearn_cloudpickle": "mlflow.sklearn",
    }


@pytest.mark.parametrize("name", ["ours_workflow1", "ours_workflow2"])
def test_custom_models_predict_identically(ours_in_mlflow: OursInMlflow, name: str) -> None:
    path = ours_in_mlflow.models / name
    plain = load_model(path).predict(X)
    assert_frame_equal(plain, ours_in_mlflow.mlflow_prediction(name))
    assert (plain["scale"] == 2.0).all()  # the saved config reached the model

    tuned = load_model(path, model_config={"scale": 3.0}).predict(X, params={"offset": 1.5})
    assert_frame_equal(tuned, ours_in_mlflow.mlflow_prediction(f"{name}__params_config"))
    # MLflow handed both the load-time model_config and the predict params to our code.
    assert (tuned["scale"] == 3.0).all()
    assert (tuned["offset"] == 1.5).all()


@pytest.mark.parametrize(
    ("name", "estimator_module"),
    [
        ("ours_sklearn_skops", "sklearn.pipeline"),
        ("ours_sklearn_cloudpickle", "sklearn.linear_model._logistic"),
    ],
)
def test_sklearn_models_with_both_mlflow_loaders(
    ours_in_mlflow: OursInMlflow, name: str, estimator_module: str
) -> None:
    ours = load_model(ours_in_mlflow.models / name).predict(X)
    assert_array_equal(ours, ours_in_mlflow.mlflow_prediction(name))
    # mlflow.sklearn.load_model returned the estimator itself, predicting the same.
    assert ours_in_mlflow.results["sklearn_types"][name] == estimator_module
    assert_array_equal(ours, ours_in_mlflow.mlflow_prediction(f"{name}__sklearn"))


@pytest.mark.parametrize(("name", "column"), [("ours_workflow1", "b"), ("ours_sklearn_skops", "a")])
def test_mlflow_enforces_our_signatures(
    ours_in_mlflow: OursInMlflow, name: str, column: str
) -> None:
    assert f"Model is missing inputs ['{column}']" in ours_in_mlflow.results["enforcement"][name]
    with pytest.raises(
        SchemaEnforcementError, match=rf"missing required column\(s\) \['{column}'\]"
    ):
        load_model(ours_in_mlflow.models / name).predict(X.drop(columns=[column]))
