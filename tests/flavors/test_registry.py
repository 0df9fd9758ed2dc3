"""The flavor registry: one line maps MLflow's names to our module; everything reads it."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge

from pyfunc_ops import pyfunc
from pyfunc_ops import sklearn as our_sklearn
from pyfunc_ops.errors import InvalidParameterError, LoaderError, UntrustedModelError
from pyfunc_ops.models import flavors
from pyfunc_ops.models.flavors import (
    FLAVORS,
    FlavorSpec,
    import_framework,
    loader_target,
    spec_for_loader,
    spec_for_model,
    spec_for_object,
)
from pyfunc_ops.pyfunc.compat import import_loader
from pyfunc_ops.pyfunc.trust import code_reason

X = pd.DataFrame({"a": [0.0, 1.0, 2.0], "b": [1.0, 0.0, 1.0]})


def test_every_flavor_of_the_issue_is_registered_under_mlflows_names() -> None:
    assert sorted(FLAVORS) == sorted(
        [
            "sklearn",
            "xgboost",
            "lightgbm",
            "catboost",
            "statsmodels",
            "onnx",
            "spark",
            "pytorch",
            "keras",
        ]
    )
    for name, spec in FLAVORS.items():
        assert spec.mlflow_loader == f"mlflow.{name}"
        assert spec.module == f"pyfunc_ops.{name}"
        assert loader_target(f"mlflow.{name}") == spec.module
        assert spec_for_loader(spec.module) is spec
    with pytest.raises(TypeError):
        FLAVORS["x"] = FLAVORS["sklearn"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("flavor", "hint"),
    [
        ("spark", "pip install pyspark"),
        ("onnx", "pip install onnx onnxruntime"),
        ("pytorch", "pip install torch"),
        ("lightgbm", "pip install lightgbm"),
    ],
)
def test_a_missing_framework_names_the_package_never_mlflow(
    flavor: str, hint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, FLAVORS[flavor].framework, None)
    with pytest.raises(LoaderError, match=rf"The {flavor} flavor needs .*{hint}$") as err:
        import_framework(flavor)
    assert "mlflow" not in str(err.value)


def test_older_loader_names_keep_loading(tmp_path: Path) -> None:
    """Models pyfunc_ops 0.1 wrote name pyfunc_ops.sklearn and pyfunc_ops.pyfunc.model."""
    ridge = Ridge().fit(X, [1.0, 2.0, 3.0])
    our_sklearn.save_model(ridge, tmp_path / "sk")

    class Doubler(pyfunc.PythonModel):
        def predict(self, context, model_input):  # type: ignore[no-untyped-def]
            return model_input * 2

    pyfunc.save_model(tmp_path / "py", python_model=Doubler())
    for folder, old, new in (
        (tmp_path / "sk", "mlflow.sklearn", "pyfunc_ops.sklearn"),
        (tmp_path / "py", "mlflow.pyfunc.model", "pyfunc_ops.pyfunc.model"),
    ):
        mlmodel = folder / "MLmodel"
        assert f"loader_module: {old}" in mlmodel.read_text()
        mlmodel.write_text(mlmodel.read_text().replace(old, new))
    np.testing.assert_array_equal(pyfunc.load_model(tmp_path / "sk").predict(X), ridge.predict(X))
    pd.testing.assert_frame_equal(pyfunc.load_model(tmp_path / "py").predict(X), X * 2)
    assert spec_for_loader("pyfunc_ops.sklearn") is FLAVORS["sklearn"]


def test_the_flavor_of_an_object_is_the_first_framework_class_of_its_type() -> None:
    xgboost = pytest.importorskip("xgboost")
    assert spec_for_object(Ridge()) is FLAVORS["sklearn"]
    # XGBRegressor is a scikit-learn estimator too; its own module decides.
    assert spec_for_object(xgboost.XGBRegressor()) is FLAVORS["xgboost"]
    assert spec_for_object(object()) is None
    assert (
        spec_for_model({"python_function": {"loader_module": "mlflow.xgboost"}})
        is FLAVORS["xgboost"]
    )
    assert spec_for_model({"onnx": {}}) is FLAVORS["onnx"]


def test_a_new_flavor_is_one_module_and_one_registry_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No edit of compat, trust or the CLI: they all read the registry."""
    (tmp_path / "toy_flavor.py").write_text(
        textwrap.dedent(
            """
            class _Model:
                def predict(self, model_input, params=None):
                    return model_input["a"] + 100

            def _load_pyfunc(path, model_config=None):
                return _Model()

            def code_reason(flavors):
                if flavors["toy"].get("pickled"):
                    return "its toy is a pickle file, and unpickling runs code"
                return None
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = FlavorSpec("toy", "toy_flavor", "json", "toylib", ("toylib",))
    monkeypatch.setattr(flavors, "_SPECS", (*flavors._SPECS, spec))
    monkeypatch.setattr(flavors, "FLAVORS", MappingProxyType({**FLAVORS, "toy": spec}))
    model = tmp_path / "m"
    model.mkdir()
    (model / "MLmodel").write_text(
        "flavors:\n  python_function:\n    loader_module: mlflow.toy\n  toy: {}\n"
    )
    assert import_loader("mlflow.toy").__name__ == "toy_flavor"
    assert pyfunc.load_model(model).predict(X).tolist() == [100.0, 101.0, 102.0]
    assert code_reason({"python_function": {"loader_module": "mlflow.toy"}, "toy": {}}) is None
    flavors_of_pickle = {"python_function": {"loader_module": "mlflow.toy"}, "toy": {"pickled": 1}}
    assert code_reason(flavors_of_pickle) == "its toy is a pickle file, and unpickling runs code"
    from pyfunc_ops.cli import describe

    assert describe(str(model))["flavor"] == {
        "name": "toy",
        "framework_version": None,
        "runs_code": False,
        "runs_code_because": None,
    }


def test_package_model_chooses_the_flavor_by_type_or_by_name(tmp_path: Path) -> None:
    xgboost = pytest.importorskip("xgboost")
    from pyfunc_ops.jobs.packaging import package_model

    reg = xgboost.XGBRegressor(n_estimators=3).fit(X, [1.0, 2.0, 3.0])
    result = package_model(estimator=reg, registered_model_name="xgb")
    loaded = pyfunc.load_model(result.model_uri)
    assert loaded.metadata.flavors["python_function"]["loader_module"] == "mlflow.xgboost"
    np.testing.assert_array_equal(np.asarray(loaded.predict(X)).ravel(), reg.predict(X))

    with pytest.raises(InvalidParameterError, match=r"flavor 'nope' is not a known flavor"):
        package_model(estimator=reg, flavor="nope")
    with pytest.raises(InvalidParameterError, match=r"no flavor saves a builtins\.dict"):
        package_model(estimator={"a": 1})
    with pytest.raises(InvalidParameterError, match=r"flavor only applies with estimator"):
        package_model(loader_module="x", flavor="xgboost")


def test_package_model_reads_a_framework_file(tmp_path: Path) -> None:
    xgboost = pytest.importorskip("xgboost")
    from pyfunc_ops.jobs.packaging import package_model

    booster = xgboost.XGBRegressor(n_estimators=3).fit(X, [1.0, 2.0, 3.0]).get_booster()
    booster.save_model(str(tmp_path / "model.ubj"))
    result = package_model(estimator_path=str(tmp_path / "model.ubj"))
    loaded = pyfunc.load_model(result.model_uri)
    assert "xgboost" in loaded.metadata.flavors
    with pytest.raises(InvalidParameterError, match=r"expected a name ending in one of"):
        package_model(estimator_path=str(tmp_path / "model.unknown"))


def test_an_untrusted_pickle_of_any_flavor_is_refused_before_loading(tmp_path: Path) -> None:
    ridge = Ridge().fit(X, [1.0, 2.0, 3.0])
    our_sklearn.save_model(ridge, tmp_path / "m", serialization_format="pickle")
    from pyfunc_ops.models.mlmodel import Model
    from pyfunc_ops.pyfunc.load import prepare_load
    from pyfunc_ops.pyfunc.trust import decide

    trust = decide("s3://bucket/m", local=False, trust_remote_code=False)
    with pytest.raises(UntrustedModelError, match=r"estimator is a pickle file"):
        prepare_load(tmp_path / "m", Model.load(tmp_path / "m"), trust)
