"""The statsmodels flavor beyond the conformance suite: what the MLmodel records,
``remove_data``, the time-series input rule, trust, damaged files, a missing framework."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from flavor_cases import frame, target
from flavor_cases.case_statsmodels import _arima, _ols

from pyfunc_ops import pyfunc
from pyfunc_ops import statsmodels as pyfunc_sm
from pyfunc_ops.errors import (
    InvalidParameterError,
    LoaderError,
    ModelFormatError,
    SerializationError,
)
from pyfunc_ops.pyfunc.trust import code_reason

sm = pytest.importorskip("statsmodels")


def test_the_mlmodel_has_mlflows_keys_and_requirements(tmp_path: Path) -> None:
    pyfunc_sm.save_model(_ols(), tmp_path / "m", metadata={"team": "risk"})
    assert (tmp_path / "m" / "model.statsmodels").is_file()
    data = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())
    assert data["flavors"]["python_function"]["loader_module"] == "mlflow.statsmodels"
    assert data["flavors"]["python_function"]["data"] == "model.statsmodels"
    assert data["flavors"]["statsmodels"] == {
        "statsmodels_version": sm.__version__,
        "code": None,
        "data": "model.statsmodels",
    }
    assert data["metadata"] == {"team": "risk"}
    reqs = (tmp_path / "m" / "requirements.txt").read_text().split()
    assert f"statsmodels=={sm.__version__}" in reqs
    assert not any(r.startswith("pyfunc") for r in reqs)


def test_loading_always_counts_as_running_code(tmp_path: Path) -> None:
    model = pyfunc_sm.save_model(_ols(), tmp_path / "m")
    reason = code_reason(model.flavors)
    assert reason is not None and "unpickling runs code" in reason


def test_remove_data_drops_the_training_arrays(tmp_path: Path) -> None:
    native = _ols()
    big = sm.regression.linear_model.OLS(
        np.tile(target(), 50), pd.concat([frame()] * 50, ignore_index=True)
    ).fit()
    pyfunc_sm.save_model(big, tmp_path / "full")
    pyfunc_sm.save_model(big, tmp_path / "small", remove_data=True)
    full = (tmp_path / "full" / "model.statsmodels").stat().st_size
    small = (tmp_path / "small" / "model.statsmodels").stat().st_size
    assert small < full / 2
    loaded = pyfunc_sm.load_model(tmp_path / "small")
    pd.testing.assert_series_equal(loaded.predict(frame()), native.predict(frame()))
    with pytest.raises(InvalidParameterError, match="remove_data must be True or False"):
        pyfunc_sm.save_model(native, tmp_path / "bad", remove_data="yes")  # type: ignore[arg-type]


def test_save_refuses_a_model_that_is_not_fitted_results(tmp_path: Path) -> None:
    unfitted = sm.regression.linear_model.OLS(target(), frame())
    with pytest.raises(InvalidParameterError, match="Pass the results of fit"):
        pyfunc_sm.save_model(unfitted, tmp_path / "m")


def test_a_time_series_model_takes_one_row_of_start_and_end(tmp_path: Path) -> None:
    native = _arima()
    pyfunc_sm.save_model(native, tmp_path / "m")
    model = pyfunc.load_model(tmp_path / "m")
    got = model.predict(pd.DataFrame({"start": [2], "end": [6]}))
    np.testing.assert_array_equal(got, native.predict(start=2, end=6))
    for bad in (pd.DataFrame({"start": [0, 1], "end": [3, 4]}), frame(1)):
        with pytest.raises(InvalidParameterError, match="exactly one row"):
            model.predict(bad)


def test_a_damaged_pickle_is_named(tmp_path: Path) -> None:
    pyfunc_sm.save_model(_ols(), tmp_path / "m")
    (tmp_path / "m" / "model.statsmodels").write_bytes(b"\x80\x05truncated")
    with pytest.raises(SerializationError, match=r"model\.statsmodels: not a readable pickle"):
        pyfunc_sm.load_model(tmp_path / "m")


def test_a_pickle_of_something_else_is_refused(tmp_path: Path) -> None:
    pyfunc_sm.save_model(_ols(), tmp_path / "m")
    (tmp_path / "m" / "model.statsmodels").write_bytes(pickle.dumps({"not": "results"}))
    with pytest.raises(ModelFormatError, match="not statsmodels results"):
        pyfunc_sm.load_model(tmp_path / "m")
    with pytest.raises(ModelFormatError, match="not statsmodels results"):
        pyfunc.load_model(tmp_path / "m")


def test_a_missing_or_escaping_pickle_is_named(tmp_path: Path) -> None:
    pyfunc_sm.save_model(_ols(), tmp_path / "m")
    mlmodel = tmp_path / "m" / "MLmodel"
    data = yaml.safe_load(mlmodel.read_text())
    data["flavors"]["statsmodels"]["data"] = "gone.statsmodels"
    mlmodel.write_text(yaml.safe_dump(data))
    with pytest.raises(ModelFormatError, match=r"gone\.statsmodels"):
        pyfunc_sm.load_model(tmp_path / "m")
    data["flavors"]["statsmodels"]["data"] = "../outside.statsmodels"
    mlmodel.write_text(yaml.safe_dump(data))
    with pytest.raises(ModelFormatError, match="outside"):
        pyfunc_sm.load_model(tmp_path / "m")


def test_read_native_reads_a_results_file(tmp_path: Path) -> None:
    native = _ols()
    native.save(str(tmp_path / "ols.statsmodels"))
    assert ".statsmodels" in pyfunc_sm.NATIVE_SUFFIXES
    loaded = pyfunc_sm.read_native(tmp_path / "ols.statsmodels")
    pd.testing.assert_series_equal(loaded.predict(frame()), native.predict(frame()))


def test_a_missing_framework_names_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pyfunc_sm.save_model(_ols(), tmp_path / "m")
    monkeypatch.setitem(sys.modules, "statsmodels", None)
    with pytest.raises(LoaderError, match="pip install statsmodels") as info:
        pyfunc_sm.load_model(tmp_path / "m")
    assert "mlflow" not in str(info.value)
    with pytest.raises(LoaderError, match="pip install statsmodels"):
        pyfunc.load_model(tmp_path / "m")


def test_log_model_registers_and_loads_back() -> None:
    native = _ols()
    info = pyfunc_sm.log_model(native, "model", registered_model_name="sm-model")
    assert info.registered_model_version == 1
    for uri in (info.model_uri, "models:/sm-model/1"):
        pd.testing.assert_series_equal(
            pyfunc_sm.load_model(uri).predict(frame()), native.predict(frame())
        )
        pd.testing.assert_series_equal(
            pyfunc.load_model(uri).predict(frame()), native.predict(frame())
        )
