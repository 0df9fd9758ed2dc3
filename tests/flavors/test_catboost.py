"""The CatBoost flavor beyond the conformance suite: what the MLmodel records, model_type
refusals, save formats, damaged files, native ``.cbm`` files, a missing framework."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from flavor_cases import frame
from flavor_cases.case_catboost import _classifier, _plain, _ranker, _regressor

from pyfunc_ops import catboost as pyfunc_cb
from pyfunc_ops import pyfunc
from pyfunc_ops.errors import (
    InvalidParameterError,
    LoaderError,
    ModelFormatError,
    SerializationError,
)

cb = pytest.importorskip("catboost")


def _edit_mlmodel(path: Path, **changes: Any) -> None:
    """Set (or, with ``None``, drop) keys of the catboost section."""
    mlmodel = path / "MLmodel"
    data = yaml.safe_load(mlmodel.read_text())
    for key, value in changes.items():
        if value is None:
            data["flavors"]["catboost"].pop(key, None)
        else:
            data["flavors"]["catboost"][key] = value
    mlmodel.write_text(yaml.safe_dump(data))


def test_the_mlmodel_has_mlflows_keys_and_requirements(tmp_path: Path) -> None:
    pyfunc_cb.save_model(_classifier(), tmp_path / "m", metadata={"team": "risk"})
    assert (tmp_path / "m" / "model.cb").is_file()
    data = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())
    assert data["flavors"]["python_function"]["loader_module"] == "mlflow.catboost"
    assert data["flavors"]["python_function"]["data"] == "model.cb"
    assert data["flavors"]["catboost"] == {
        "catboost_version": cb.__version__,
        "code": None,
        "data": "model.cb",
        "model_type": "CatBoostClassifier",
        "save_format": "cbm",
    }
    assert data["metadata"] == {"team": "risk"}
    reqs = (tmp_path / "m" / "requirements.txt").read_text().split()
    assert f"catboost=={cb.__version__}" in reqs
    assert not any(r.startswith("pyfunc") for r in reqs)


@pytest.mark.parametrize(
    ("build", "cls"),
    [
        (_classifier, "CatBoostClassifier"),
        (_regressor, "CatBoostRegressor"),
        (_ranker, "CatBoostRanker"),
        (_plain, "CatBoost"),
    ],
)
def test_each_model_type_loads_as_its_class(tmp_path: Path, build: Any, cls: str) -> None:
    native = build()
    pyfunc_cb.save_model(native, tmp_path / "m")
    loaded = pyfunc_cb.load_model(tmp_path / "m")
    assert type(loaded).__name__ == cls
    np.testing.assert_array_equal(loaded.predict(frame()), native.predict(frame()))
    raw = pyfunc_cb._load_pyfunc(str(tmp_path / "m" / "model.cb")).get_raw_model()
    assert type(raw).__name__ == cls


def test_json_format_is_recorded_and_read(tmp_path: Path) -> None:
    native = _classifier()
    pyfunc_cb.save_model(native, tmp_path / "m", format="json")
    assert (
        yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())["flavors"]["catboost"][
            "save_format"
        ]
        == "json"
    )
    assert (tmp_path / "m" / "model.cb").read_text().lstrip().startswith("{")
    np.testing.assert_array_equal(
        pyfunc.load_model(tmp_path / "m").predict(frame()), native.predict(frame())
    )


@pytest.mark.parametrize("fmt", ["python", "cpp", "pmml", "onnx"])
def test_formats_that_do_not_load_back_are_refused_at_save(tmp_path: Path, fmt: str) -> None:
    with pytest.raises(InvalidParameterError, match=rf"format '{fmt}' is not supported"):
        pyfunc_cb.save_model(_classifier(), tmp_path / "m", format=fmt)
    assert not (tmp_path / "m").exists()


def test_save_refuses_what_is_not_a_fitted_catboost_model(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="saves CatBoost models"):
        pyfunc_cb.save_model(object(), tmp_path / "a")
    with pytest.raises(InvalidParameterError, match="not fitted"):
        pyfunc_cb.save_model(cb.CatBoostRegressor(), tmp_path / "b")
    with pytest.raises(InvalidParameterError, match=r"unknown options \['compress'\]"):
        pyfunc_cb.save_model(_classifier(), tmp_path / "c", compress=True)


@pytest.mark.parametrize("model_type", ["os.system", "builtins.eval", "Pool", "CatBoostError"])
def test_a_model_type_outside_catboosts_model_classes_is_refused(
    tmp_path: Path, model_type: str
) -> None:
    pyfunc_cb.save_model(_classifier(), tmp_path / "m")
    _edit_mlmodel(tmp_path / "m", model_type=model_type)
    with pytest.raises(ModelFormatError, match="not one of CatBoost's model classes"):
        pyfunc_cb.load_model(tmp_path / "m")
    with pytest.raises(ModelFormatError, match="not one of CatBoost's model classes"):
        pyfunc.load_model(tmp_path / "m")


def test_an_unknown_save_format_is_refused(tmp_path: Path) -> None:
    pyfunc_cb.save_model(_classifier(), tmp_path / "m")
    _edit_mlmodel(tmp_path / "m", save_format="python")
    with pytest.raises(ModelFormatError, match="save_format is 'python'"):
        pyfunc_cb.load_model(tmp_path / "m")


def test_a_model_without_save_format_reads_cbm(tmp_path: Path) -> None:
    native = _regressor()
    pyfunc_cb.save_model(native, tmp_path / "m")
    _edit_mlmodel(tmp_path / "m", save_format=None)
    np.testing.assert_array_equal(
        pyfunc_cb.load_model(tmp_path / "m").predict(frame()), native.predict(frame())
    )


def test_a_damaged_model_file_is_named(tmp_path: Path) -> None:
    pyfunc_cb.save_model(_classifier(), tmp_path / "m")
    (tmp_path / "m" / "model.cb").write_bytes(b"not a catboost model")
    with pytest.raises(SerializationError, match=r"model\.cb: not a readable CatBoost cbm"):
        pyfunc_cb.load_model(tmp_path / "m")


def test_a_missing_or_escaping_model_file_is_named(tmp_path: Path) -> None:
    pyfunc_cb.save_model(_classifier(), tmp_path / "m")
    _edit_mlmodel(tmp_path / "m", data="gone.cb")
    with pytest.raises(ModelFormatError, match=r"gone\.cb"):
        pyfunc_cb.load_model(tmp_path / "m")
    (tmp_path / "outside.cb").write_bytes((tmp_path / "m" / "model.cb").read_bytes())
    _edit_mlmodel(tmp_path / "m", data="../outside.cb")
    with pytest.raises(ModelFormatError, match="outside"):
        pyfunc_cb.load_model(tmp_path / "m")


@pytest.mark.parametrize(
    ("build", "cls"),
    [
        (_classifier, "CatBoostClassifier"),
        (_regressor, "CatBoostRegressor"),
        (_ranker, "CatBoostRanker"),
    ],
)
def test_read_native_picks_the_class_from_the_loss(tmp_path: Path, build: Any, cls: str) -> None:
    native = build()
    native.save_model(str(tmp_path / "model.cbm"))
    assert ".cbm" in pyfunc_cb.NATIVE_SUFFIXES
    loaded = pyfunc_cb.read_native(tmp_path / "model.cbm")
    assert type(loaded).__name__ == cls
    np.testing.assert_array_equal(loaded.predict(frame()), native.predict(frame()))


def test_a_missing_framework_names_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pyfunc_cb.save_model(_classifier(), tmp_path / "m")
    monkeypatch.setitem(sys.modules, "catboost", None)
    with pytest.raises(LoaderError, match="pip install catboost") as info:
        pyfunc_cb.load_model(tmp_path / "m")
    assert "mlflow" not in str(info.value)
    with pytest.raises(LoaderError, match="pip install catboost"):
        pyfunc.load_model(tmp_path / "m")


def test_log_model_registers_and_loads_back() -> None:
    native = _classifier()
    info = pyfunc_cb.log_model(native, "model", registered_model_name="cb-model")
    assert info.registered_model_version == 1
    assert info.flavors["catboost"]["model_type"] == "CatBoostClassifier"
    for uri in (info.model_uri, "models:/cb-model/1"):
        assert type(pyfunc_cb.load_model(uri)) is cb.CatBoostClassifier
        np.testing.assert_array_equal(
            pyfunc.load_model(uri).predict(frame()), native.predict(frame())
        )
