"""PyFuncModel.predict hands the model its input in the form MLflow's pyfunc does, and
params as the signature declares them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pyfunc_ops.errors import SchemaEnforcementError
from pyfunc_ops.models.example import load_input_example, load_input_example_params
from pyfunc_ops.models.signature import infer_signature
from pyfunc_ops.pyfunc import PythonModel, load_model, save_model


class Echo(PythonModel):
    """Returns what it received, so the test sees the form predict handed over."""

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return {"input": model_input, "params": params}


class NoParams(PythonModel):
    def predict(self, context: Any, model_input: Any) -> Any:
        return model_input


def echo(tmp_path: Path, **kwargs: Any) -> Any:
    path = tmp_path / "m"
    save_model(path, python_model=Echo(), **kwargs)
    return load_model(path)


def test_without_signature_the_input_passes_untouched(tmp_path: Path) -> None:
    model = echo(tmp_path)
    for value in ({"a": [1, 2]}, [1, 2], "text", np.ones(3)):
        assert model.predict(value)["input"] is value


def test_tensor_model_gets_ndarrays(tmp_path: Path) -> None:
    model = echo(tmp_path, signature=infer_signature(np.zeros((2, 3), dtype="float32")))
    array = np.ones((4, 3), dtype="float32")
    assert model.predict(array)["input"] is array
    with pytest.raises(SchemaEnforcementError, match=r"shape \(4, 2\) does not match"):
        model.predict(np.ones((4, 2), dtype="float32"))
    frame = pd.DataFrame(array, columns=["a", "b", "c"])
    got = model.predict(frame)["input"]
    assert isinstance(got, np.ndarray) and got.dtype == np.float32


def test_named_tensors_get_a_dict_of_ndarrays(tmp_path: Path) -> None:
    sig = infer_signature({"ids": np.arange(3), "w": np.ones((3, 2))})
    model = echo(tmp_path, signature=sig)
    got = model.predict({"ids": np.arange(5), "w": np.zeros((5, 2))})["input"]
    assert sorted(got) == ["ids", "w"] and got["w"].shape == (5, 2)


def test_column_model_gets_a_frame_from_dicts_scalars_and_lists(tmp_path: Path) -> None:
    sig = infer_signature(pd.DataFrame({"q": ["x"], "n": [1]}))
    model = echo(tmp_path, signature=sig)
    got = model.predict({"q": "hi", "n": 2})["input"]
    assert isinstance(got, pd.DataFrame) and got.to_dict("records") == [{"q": "hi", "n": 2}]
    rows = model.predict([{"q": "a", "n": 1}, {"q": "b", "n": 2}])["input"]
    assert rows["q"].tolist() == ["a", "b"]
    when = echo(
        tmp_path / "t", signature=infer_signature(pd.DataFrame({"t": [dt.datetime(2024, 1, 1)]}))
    )
    frame = when.predict(pd.DataFrame({"t": ["2024-02-03"]}))["input"]
    assert str(frame["t"].dtype) == "datetime64[ns]"


def test_params_are_enforced_and_defaults_filled(tmp_path: Path) -> None:
    sig = infer_signature(pd.DataFrame({"x": [1.0]}), params={"t": 0.5, "k": 2})
    model = echo(tmp_path, signature=sig)
    frame = pd.DataFrame({"x": [1.0]})
    assert model.predict(frame)["params"] == {"t": 0.5, "k": 2}
    assert model.predict(frame, params={"t": 1, "other": 3})["params"] == {"t": 1.0, "k": 2}
    with pytest.raises(SchemaEnforcementError, match=r"param 'k': expected long"):
        model.predict(frame, params={"k": "many"})


def test_params_without_a_schema_are_dropped(tmp_path: Path) -> None:
    model = echo(tmp_path, signature=infer_signature(pd.DataFrame({"x": [1.0]})))
    assert model.predict(pd.DataFrame({"x": [1.0]}), params={"t": 1})["params"] == {}


def test_params_reach_only_a_predict_that_takes_them(tmp_path: Path) -> None:
    path = tmp_path / "m"
    sig = infer_signature(pd.DataFrame({"x": [1.0]}), params={"t": 0.5})
    save_model(path, python_model=NoParams(), signature=sig)
    frame = pd.DataFrame({"x": [1.0]})
    pd.testing.assert_frame_equal(load_model(path).predict(frame, params={"t": 2.0}), frame)


def test_input_examples_come_back_typed(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "i": np.array([1, 2], dtype="int32"),
            "t": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "b": [b"\x00\x01", b"hi"],
        }
    )
    path = tmp_path / "m"
    save_model(path, python_model=Echo(), input_example=(frame, {"t": 0.5}))
    example = load_input_example(path)
    # Datetimes come back as the signature's datetime, nanoseconds (as MLflow casts them),
    # whatever unit the frame had (pandas 3 makes microseconds by default).
    expected = frame.astype({"t": "datetime64[ns]"})
    pd.testing.assert_frame_equal(example, expected)
    assert load_input_example_params(path) == {"t": 0.5}
    assert (path / "serving_input_example.json").is_file()
    model = load_model(path)
    pd.testing.assert_frame_equal(load_input_example(model), expected)


def test_dict_and_tensor_examples(tmp_path: Path) -> None:
    save_model(tmp_path / "d", python_model=Echo(), input_example={"q": "hi", "n": [1, 2]})
    assert load_input_example(tmp_path / "d") == {"q": "hi", "n": [1, 2]}
    array = np.arange(6, dtype="int32").reshape(3, 2)
    save_model(tmp_path / "a", python_model=Echo(), input_example=array)
    back = load_input_example(tmp_path / "a")
    assert back.dtype == np.int32 and back.tolist() == array.tolist()


def test_a_signature_from_type_hints_leaves_the_check_to_the_hint(tmp_path: Path) -> None:
    """MLflow marks a signature it inferred from a PythonModel's hints with a top-level
    ``is_signature_from_type_hint``; then predict does not enforce it (the hint does)."""
    signature = infer_signature(pd.DataFrame({"a": [1.0]}))
    path = tmp_path / "m"
    save_model(path, python_model=Echo(), signature=signature)
    mlmodel = path / "MLmodel"
    mlmodel.write_text(mlmodel.read_text() + "is_signature_from_type_hint: true\n")
    records = [{"text": "x"}]
    assert load_model(path).predict(records)["input"] == records
    with pytest.raises(SchemaEnforcementError, match="'a'"):
        echo(tmp_path / "enforced", signature=signature).predict(pd.DataFrame({"b": [1]}))
