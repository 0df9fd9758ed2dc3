"""The xgboost flavor beyond the conformance suite: what the MLmodel records, model_class
refusals, the older formats, damaged files, params at predict, a missing framework."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from flavor_cases import frame
from flavor_cases.case_xgboost import _booster, _classifier, _regressor

from pyfunc_ops import pyfunc
from pyfunc_ops import xgboost as pyfunc_xgb
from pyfunc_ops.errors import (
    InvalidParameterError,
    LoaderError,
    ModelFormatError,
    SerializationError,
)

xgb = pytest.importorskip("xgboost")


def _edit_mlmodel(path: Path, **changes: Any) -> None:
    """Set (or, with ``None``, drop) keys of the xgboost section."""
    mlmodel = path / "MLmodel"
    data = yaml.safe_load(mlmodel.read_text())
    for key, value in changes.items():
        if value is None:
            data["flavors"]["xgboost"].pop(key, None)
        else:
            data["flavors"]["xgboost"][key] = value
    mlmodel.write_text(yaml.safe_dump(data))


def test_the_mlmodel_has_mlflows_keys_and_requirements(tmp_path: Path) -> None:
    model = pyfunc_xgb.save_model(_classifier(), tmp_path / "m", metadata={"team": "risk"})
    data = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())
    assert data["flavors"]["python_function"]["loader_module"] == "mlflow.xgboost"
    assert data["flavors"]["python_function"]["data"] == "model.ubj"
    section = data["flavors"]["xgboost"]
    assert section == {
        "xgb_version": xgb.__version__,
        "data": "model.ubj",
        "model_class": "xgboost.sklearn.XGBClassifier",
        "model_format": "ubj",
        "code": None,
    }
    assert data["metadata"] == {"team": "risk"}
    assert model.flavors["xgboost"]["model_format"] == "ubj"
    reqs = (tmp_path / "m" / "requirements.txt").read_text().split()
    assert f"xgboost=={xgb.__version__}" in reqs
    assert not any(r.startswith("pyfunc") for r in reqs)


@pytest.mark.parametrize("fmt", ["xgb", "deprecated"])
def test_older_mlflow_formats_save_and_load(tmp_path: Path, fmt: str) -> None:
    native = _regressor()
    pyfunc_xgb.save_model(native, tmp_path / "m", model_format=fmt)
    assert (tmp_path / "m" / f"model.{fmt}").is_file()
    loaded = pyfunc_xgb.load_model(tmp_path / "m")
    assert type(loaded) is xgb.XGBRegressor
    np.testing.assert_array_equal(loaded.predict(frame()), native.predict(frame()))
    np.testing.assert_array_equal(
        pyfunc.load_model(tmp_path / "m").predict(frame()), native.predict(frame())
    )


def test_a_model_without_model_class_loads_as_a_booster(tmp_path: Path) -> None:
    """MLflow before 1.22 recorded no model_class: such a model is a Booster."""
    native = _booster()
    pyfunc_xgb.save_model(native, tmp_path / "m", model_format="json")
    _edit_mlmodel(tmp_path / "m", model_class=None)
    loaded = pyfunc_xgb.load_model(tmp_path / "m")
    assert type(loaded) is xgb.Booster
    expected = native.predict(xgb.DMatrix(frame()))
    np.testing.assert_array_equal(pyfunc.load_model(tmp_path / "m").predict(frame()), expected)


@pytest.mark.parametrize("trust", [None, True])
@pytest.mark.parametrize(
    ("model_class", "match"),
    [
        ("os.system", "not a class of xgboost; refusing to import it"),
        ("sklearn.linear_model.Ridge", "not a class of xgboost"),
        ("xgboost.core.DMatrix", "neither xgboost.Booster nor an estimator"),
        ("not a class", "must be a dotted class name"),
        ("xgboost.sklearn.NoSuchModel", "cannot be imported here"),
    ],
)
def test_a_model_class_outside_xgboost_is_refused(
    tmp_path: Path, model_class: str, match: str, trust: bool | None
) -> None:
    pyfunc_xgb.save_model(_regressor(), tmp_path / "m")
    _edit_mlmodel(tmp_path / "m", model_class=model_class)
    with pytest.raises(ModelFormatError, match=match):
        pyfunc_xgb.load_model(tmp_path / "m", trust_remote_code=trust)
    with pytest.raises(ModelFormatError, match=match):
        pyfunc.load_model(tmp_path / "m")


def test_a_damaged_model_file_names_the_file(tmp_path: Path) -> None:
    pyfunc_xgb.save_model(_regressor(), tmp_path / "m")
    (tmp_path / "m" / "model.ubj").write_bytes(b"{not ubjson at all")
    with pytest.raises(SerializationError, match=r"model\.ubj: xgboost .* cannot read"):
        pyfunc_xgb.load_model(tmp_path / "m")


def test_the_retired_binary_format_says_which_xgboost_reads_it(tmp_path: Path) -> None:
    """xgboost >= 3.1 no longer reads the binary format; the error says what to do."""
    pyfunc_xgb.save_model(_booster(), tmp_path / "m", model_format="deprecated")
    (tmp_path / "m" / "model.deprecated").write_bytes(b"binf" + bytes(200))
    if tuple(int(p) for p in xgb.__version__.split(".")[:2]) < (3, 1):
        pytest.skip("this xgboost still reads the binary format")
    with pytest.raises(SerializationError, match=r"model\.deprecated: .*xgboost<3\.1"):
        pyfunc.load_model(tmp_path / "m")


def test_a_missing_model_file_is_named(tmp_path: Path) -> None:
    pyfunc_xgb.save_model(_regressor(), tmp_path / "m")
    _edit_mlmodel(tmp_path / "m", data="gone.ubj")
    with pytest.raises(ModelFormatError, match=r"gone\.ubj"):
        pyfunc_xgb.load_model(tmp_path / "m")


def test_a_data_path_outside_the_model_is_refused(tmp_path: Path) -> None:
    pyfunc_xgb.save_model(_regressor(), tmp_path / "m")
    (tmp_path / "outside.ubj").write_bytes((tmp_path / "m" / "model.ubj").read_bytes())
    _edit_mlmodel(tmp_path / "m", data="../outside.ubj")
    with pytest.raises(Exception, match="outside"):
        pyfunc_xgb.load_model(tmp_path / "m")


def test_save_refuses_what_it_cannot_write(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match=r"takes an xgboost\.Booster"):
        pyfunc_xgb.save_model(object(), tmp_path / "a")
    with pytest.raises(InvalidParameterError, match="not fitted"):
        pyfunc_xgb.save_model(xgb.XGBRegressor(), tmp_path / "b")
    with pytest.raises(InvalidParameterError, match="model_format must be a file extension"):
        pyfunc_xgb.save_model(_regressor(), tmp_path / "c", model_format="../x")
    with pytest.raises(InvalidParameterError, match="metadata must be a dict"):
        pyfunc_xgb.save_model(_regressor(), tmp_path / "d", metadata=["x"])  # type: ignore[arg-type]
    assert not any((tmp_path / n).exists() for n in "abcd")


class MyRegressor(xgb.XGBRegressor):  # type: ignore[misc]
    """A user's subclass: its own code is not in the file."""


def test_a_subclass_is_saved_as_the_xgboost_class_it_extends(tmp_path: Path) -> None:
    native = MyRegressor(n_estimators=3, max_depth=2).fit(frame(), frame()["f0"])
    with pytest.warns(UserWarning, match="not a class of xgboost"):
        pyfunc_xgb.save_model(native, tmp_path / "m")
    data = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())
    assert data["flavors"]["xgboost"]["model_class"] == "xgboost.sklearn.XGBRegressor"
    assert type(pyfunc_xgb.load_model(tmp_path / "m")) is xgb.XGBRegressor


def test_params_reach_predict_and_unknown_ones_are_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    native = _classifier()
    pyfunc_xgb.save_model(native, tmp_path / "m")
    wrapper = pyfunc_xgb._load_pyfunc(str(tmp_path / "m"))
    margin = wrapper.predict(frame(), params={"output_margin": True})
    np.testing.assert_array_equal(margin, native.predict(frame(), output_margin=True))
    with caplog.at_level(logging.WARNING, logger="pyfunc_ops.xgboost"):
        labels = wrapper.predict(frame(), params={"feature_store_key": 1})
    np.testing.assert_array_equal(labels, native.predict(frame()))
    assert "feature_store_key" in caplog.text

    booster = _booster()
    pyfunc_xgb.save_model(booster, tmp_path / "b")
    wrapper = pyfunc_xgb._load_pyfunc(str(tmp_path / "b" / "model.ubj"))
    got = wrapper.predict(frame(), params={"iteration_range": (0, 2), "other": 1})
    np.testing.assert_array_equal(
        got, booster.predict(xgb.DMatrix(frame()), iteration_range=(0, 2))
    )


def test_read_native_gives_the_estimator_the_file_came_from(tmp_path: Path) -> None:
    clf = _classifier()
    clf.save_model(tmp_path / "c.json")
    got = pyfunc_xgb.read_native(tmp_path / "c.json")
    assert type(got) is xgb.XGBClassifier
    np.testing.assert_array_equal(got.predict(frame()), clf.predict(frame()))
    _booster().save_model(tmp_path / "b.ubj")
    assert type(pyfunc_xgb.read_native(tmp_path / "b.ubj")) is xgb.Booster
    (tmp_path / "bad.ubj").write_bytes(b"nonsense")
    with pytest.raises(SerializationError, match=r"bad\.ubj"):
        pyfunc_xgb.read_native(tmp_path / "bad.ubj")


def test_code_reason_is_none_for_every_format() -> None:
    assert pyfunc_xgb.code_reason({"xgboost": {"model_format": "json"}}) is None


def test_a_missing_xgboost_names_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pyfunc_xgb.save_model(_regressor(), tmp_path / "m")
    monkeypatch.setitem(sys.modules, "xgboost", None)
    with pytest.raises(LoaderError, match="pip install xgboost") as info:
        pyfunc_xgb.load_model(tmp_path / "m")
    assert "mlflow" not in str(info.value)
    with pytest.raises(LoaderError, match="pip install xgboost"):
        pyfunc.load_model(tmp_path / "m")


def test_log_model_registers_and_loads_back(tmp_path: Path) -> None:
    native = _booster()
    info = pyfunc_xgb.log_model(
        native, "model", registered_model_name="xgb-model", model_format="json"
    )
    assert info.registered_model_version == 1
    assert info.flavors["xgboost"]["model_format"] == "json"
    expected = native.predict(xgb.DMatrix(frame()))
    for uri in (info.model_uri, "models:/xgb-model/1"):
        assert type(pyfunc_xgb.load_model(uri)) is xgb.Booster
        np.testing.assert_array_equal(pyfunc.load_model(uri).predict(frame()), expected)
