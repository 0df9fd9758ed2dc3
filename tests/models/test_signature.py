"""Signatures: inference, serialization and vectorized enforcement."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from pyfunc_ops.errors import ModelFormatError, SchemaEnforcementError
from pyfunc_ops.models.signature import (
    ColSpec,
    ModelSignature,
    Schema,
    TensorSpec,
    enforce_schema,
    infer_signature,
)


def schema(**types: str) -> Schema:
    return Schema([ColSpec(t, n) for n, t in types.items()])


def test_infer_signature_maps_dtypes() -> None:
    frame = pd.DataFrame(
        {
            "i32": np.array([1], dtype="int32"),
            "i64": np.array([1], dtype="int64"),
            "f32": np.array([1.0], dtype="float32"),
            "f64": [1.0],
            "b": [True],
            "s": ["x"],
            "t": pd.to_datetime(["2024-01-01"]),
        }
    )
    sig = infer_signature(frame, np.array([0.5]))
    assert sig.inputs == schema(
        i32="integer", i64="long", f32="float", f64="double", b="boolean", s="string", t="datetime"
    )
    assert sig.outputs is not None
    # An ndarray is a tensor (as MLflow infers it): float64 with a free first dimension.
    assert sig.outputs.inputs == [TensorSpec("float64", (-1,))]
    assert not sig.outputs.has_names()


def test_signature_dict_round_trip() -> None:
    sig = ModelSignature(schema(a="double", b="string"), Schema([ColSpec("long")]))
    assert ModelSignature.from_dict(sig.to_dict()) == sig


def test_signature_bad_column_spec() -> None:
    with pytest.raises(ModelFormatError, match=r"bad column spec \{'name': 'x'\}"):
        ModelSignature.from_dict({"inputs": '[{"name": "x"}]'})
    with pytest.raises(ModelFormatError, match=r"must be a JSON list"):
        ModelSignature.from_dict({"inputs": '{"name": "x"}'})


def test_tensor_schemas_are_kept_and_enforced() -> None:
    raw = '[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3]}}]'
    sig = ModelSignature.from_dict({"inputs": raw})
    assert sig.inputs is not None and sig.inputs.is_tensor
    assert sig.to_dict()["inputs"] == raw.replace(" ", "").replace(",", ", ").replace(":", ": ")
    array = np.ones((2, 3), dtype="float32")
    assert enforce_schema(array, sig.inputs) is array
    with pytest.raises(SchemaEnforcementError, match=r"holds scalars, which fit a tensor"):
        enforce_schema(pd.DataFrame({"anything": [1]}), sig.inputs)


def test_matching_frame_is_returned_unchanged() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    assert enforce_schema(frame, schema(a="double", b="string")) is frame


def test_missing_column_is_named() -> None:
    frame = pd.DataFrame({"a": [1.0]})
    with pytest.raises(SchemaEnforcementError, match=r"missing required column\(s\) \['b'\]"):
        enforce_schema(frame, schema(a="double", b="double"))


def test_missing_optional_column_is_allowed() -> None:
    frame = pd.DataFrame({"a": [1.0]})
    spec = Schema([ColSpec("double", "a"), ColSpec("double", "b", required=False)])
    assert list(enforce_schema(frame, spec).columns) == ["a"]


def test_extra_columns_are_dropped_and_order_follows_the_schema() -> None:
    frame = pd.DataFrame({"extra": [0], "b": [2.0], "a": [1.0]})
    out = enforce_schema(frame, schema(a="double", b="double"))
    assert list(out.columns) == ["a", "b"]
    assert list(frame.columns) == ["extra", "b", "a"]  # the caller's frame is not modified


@pytest.mark.parametrize(
    ("source", "spec", "target"),
    [
        ("int32", "long", "int64"),
        ("int16", "integer", "int32"),
        ("float32", "double", "float64"),
        ("int32", "double", "float64"),
        ("uint8", "long", "int64"),
    ],
)
def test_safe_casts_are_applied(source: str, spec: str, target: str) -> None:
    frame = pd.DataFrame({"x": np.array([1, 2, 3], dtype=source)})
    out = enforce_schema(frame, schema(x=spec))
    assert str(out["x"].dtype) == target
    assert out["x"].tolist() == [1, 2, 3]
    assert str(frame["x"].dtype) == source  # cast on a copy


@pytest.mark.parametrize(
    ("source", "spec"),
    [
        ("float64", "long"),
        ("int64", "integer"),
        ("float64", "float"),
        ("int64", "float"),
        ("int64", "double"),
        ("int16", "float"),
        ("int64", "string"),
        ("float64", "boolean"),
    ],
)
def test_unsafe_casts_are_refused(source: str, spec: str) -> None:
    frame = pd.DataFrame({"x": np.array([1, 2], dtype=source)})
    if source == "float64":
        frame["x"] += 0.5
    with pytest.raises(
        SchemaEnforcementError, match=rf"column 'x': expected type '{spec}'.*found dtype {source}"
    ):
        enforce_schema(frame, schema(x=spec))


def test_datetime_strings_are_parsed() -> None:
    frame = pd.DataFrame({"t": ["2024-01-01", "2024-02-01"]})
    out = enforce_schema(frame, schema(t="datetime"))
    assert out["t"].dtype.kind == "M"


def test_unnamed_schema_checks_positions() -> None:
    spec = Schema([ColSpec("double"), ColSpec("double")])
    frame = pd.DataFrame(np.ones((2, 3)))
    assert enforce_schema(frame, spec).shape == (2, 2)  # trailing extra column dropped
    out = enforce_schema(pd.DataFrame(np.ones((2, 2), dtype="float32")), spec)
    assert list(out.dtypes.astype(str)) == ["float64", "float64"]
    with pytest.raises(SchemaEnforcementError, match=r"has 1 columns; the signature expects 2"):
        enforce_schema(pd.DataFrame(np.ones((2, 1))), spec)


@contextlib.contextmanager
def no_row_loops() -> Iterator[None]:
    """Make every per-row pandas path raise, so only vectorized code can pass."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("schema enforcement must not loop over rows")

    with pytest.MonkeyPatch.context() as mp:
        for owner, name in [
            (pd.DataFrame, "apply"),
            (pd.DataFrame, "itertuples"),
            (pd.DataFrame, "iterrows"),
            (pd.DataFrame, "map"),
            (pd.Series, "apply"),
            (pd.Series, "map"),
            (pd.Series, "__iter__"),
            (pd.Series, "tolist"),
        ]:
            mp.setattr(owner, name, forbidden)
        yield


def test_no_row_loops_guard_catches_a_loop() -> None:
    frame = pd.DataFrame({"a": [1]})
    with no_row_loops(), pytest.raises(AssertionError, match="must not loop"):
        frame.apply(lambda row: row, axis=1)


@pytest.mark.filterwarnings("error")
def test_enforcement_is_vectorized_on_a_large_castable_frame() -> None:
    n = 200_000
    frame = pd.DataFrame(
        {
            "a": np.arange(n, dtype="int32"),
            "b": np.ones(n, dtype="float32"),
            "c": np.zeros(n),
            "drop": np.zeros(n),
        }
    )
    with no_row_loops():
        out = enforce_schema(frame, schema(a="long", b="double", c="double"))
    assert out.shape == (n, 3)
    assert [str(t) for t in out.dtypes] == ["int64", "float64", "float64"]
    assert int(out["a"].iloc[-1]) == n - 1
    assert str(frame["a"].dtype) == "int32"  # the caller's frame is left as it was


@pytest.mark.parametrize("spec", ["float", "double"])
def test_int64_flags_of_zero_and_one_cast_to_floats(spec: str) -> None:
    frame = pd.DataFrame({"x": np.array([0, 1, 1, 0], dtype="int64")})
    with no_row_loops():
        out = enforce_schema(frame, schema(x=spec))
    assert out["x"].tolist() == [0.0, 1.0, 1.0, 0.0]
    assert str(out["x"].dtype) == ("float32" if spec == "float" else "float64")
