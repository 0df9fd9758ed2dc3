"""Enforcement as MLflow enforces: datetimes, object columns, nested types, tensors, params."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from pyfunc_ops.errors import SchemaEnforcementError
from pyfunc_ops.models.signature import (
    Array,
    ColSpec,
    Map,
    Object,
    ParamSchema,
    ParamSpec,
    Property,
    Schema,
    TensorSpec,
    enforce_params,
    enforce_schema,
)


def one(spec: ColSpec) -> Schema:
    return Schema([spec])


def test_datetimes_are_cast_to_ns_and_tz_aware_refused() -> None:
    frame = pd.DataFrame({"t": pd.to_datetime(["2024-01-01"]).astype("datetime64[s]")})
    out = enforce_schema(frame, one(ColSpec("datetime", "t")))
    assert str(out["t"].dtype) == "datetime64[ns]"
    aware = pd.DataFrame({"t": pd.to_datetime(["2024-01-01"]).tz_localize("UTC")})
    with pytest.raises(SchemaEnforcementError, match=r"column 't'.*timezone-aware"):
        enforce_schema(aware, one(ColSpec("datetime", "t")))
    with pytest.raises(SchemaEnforcementError, match=r"column 't'.*values are not datetimes"):
        enforce_schema(pd.DataFrame({"t": ["soon"]}), one(ColSpec("datetime", "t")))


def test_object_columns_are_reinferred() -> None:
    ints = pd.DataFrame({"n": pd.Series([1, 2], dtype=object)})
    assert str(enforce_schema(ints, one(ColSpec("long", "n")))["n"].dtype) == "int64"
    flags = pd.DataFrame({"f": [True, None]})
    assert enforce_schema(flags, one(ColSpec("boolean", "f")))["f"].tolist() == [True, None]
    with pytest.raises(SchemaEnforcementError, match=r"column 's': expected type 'double'"):
        enforce_schema(pd.DataFrame({"s": ["x"]}), one(ColSpec("double", "s")))


def test_binary_and_string_columns() -> None:
    raw = pd.DataFrame({"b": [b"a"]})
    assert enforce_schema(raw, one(ColSpec("binary", "b"))) is raw
    with pytest.raises(SchemaEnforcementError, match=r"column 'b': expected type 'binary'"):
        enforce_schema(pd.DataFrame({"b": [1]}), one(ColSpec("binary", "b")))


def test_nan_integers_get_a_hint() -> None:
    with pytest.raises(SchemaEnforcementError, match=r"missing values turned the integers"):
        enforce_schema(pd.DataFrame({"n": [1.0, None]}), one(ColSpec("long", "n")))


def test_array_object_map_columns_are_checked_value_by_value() -> None:
    schema = Schema(
        [
            ColSpec(Array("double"), "v"),
            ColSpec(Object((Property("a", "string"), Property("b", "long", False))), "o"),
            ColSpec(Map(Array("string")), "m"),
        ]
    )
    frame = pd.DataFrame({"v": [[0, 1]], "o": [{"a": "x"}], "m": [{"k": ["p", "q"]}]})
    out = enforce_schema(frame, schema)
    # int64 flags of 0/1 become floats (MLflow's rule); other int64 items are refused.
    assert out["v"][0] == [0.0, 1.0] and isinstance(out["v"][0][0], float)
    assert out["o"][0] == {"a": "x"}
    bad = [
        ({"v": [["x"]], "o": [{"a": "x"}], "m": [{}]}, r"column 'v': row 0.*array items"),
        ({"v": [[1, 2]], "o": [{"a": "x"}], "m": [{}]}, r"column 'v': row 0.*array items"),
        ({"v": [[1.0]], "o": [{"b": 1}], "m": [{}]}, r"column 'o'.*missing required .*'a'"),
        ({"v": [[1.0]], "o": [{"a": "x", "z": 1}], "m": [{}]}, r"not declared.*'z'"),
        ({"v": [[1.0]], "o": [{"a": "x"}], "m": [{"k": "p"}]}, r"column 'm'.*expected a list"),
        ({"v": [3.0], "o": [{"a": "x"}], "m": [{}]}, r"column 'v'.*expected a list"),
    ]
    for data, message in bad:
        with pytest.raises(SchemaEnforcementError, match=message):
            enforce_schema(pd.DataFrame(data), schema)


def test_scalars_and_dicts_become_one_row() -> None:
    schema = Schema([ColSpec("string", "q"), ColSpec("long", "n")])
    out = enforce_schema({"q": "hi", "n": 3}, schema)
    assert out.to_dict("records") == [{"q": "hi", "n": 3}]
    assert enforce_schema("x", Schema([ColSpec("string")])).shape == (1, 1)
    with pytest.raises(SchemaEnforcementError, match=r"must be tabular; found a object"):
        enforce_schema(object(), schema)


def test_extra_columns_are_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    schema = one(ColSpec("double", "a"))
    frame = pd.DataFrame({"a": [1.0], "extra": [1]})
    with caplog.at_level(logging.WARNING):
        enforce_schema(frame, schema)
        enforce_schema(frame, schema)
    assert [r.getMessage() for r in caplog.records].count(
        "The input has columns the signature does not declare, ignored: ['extra'] (logged "
        "once per model)."
    ) == 1


def test_tensors_named_and_unnamed() -> None:
    unnamed = Schema([TensorSpec("float32", (-1, 2))])
    array = np.zeros((5, 2), dtype="float32")
    assert enforce_schema(array, unnamed) is array
    with pytest.raises(SchemaEnforcementError, match=r"shape \(5, 3\) does not match.*\(-1, 2\)"):
        enforce_schema(np.zeros((5, 3), dtype="float32"), unnamed)
    with pytest.raises(SchemaEnforcementError, match=r"dtype float64 does not match.*float32"):
        enforce_schema(np.zeros((5, 2)), unnamed)
    from_frame = enforce_schema(pd.DataFrame({"a": [1.0], "b": [2.0]}).astype("float32"), unnamed)
    assert isinstance(from_frame, np.ndarray) and from_frame.shape == (1, 2)
    named = Schema([TensorSpec("int64", (-1,), "ids"), TensorSpec("float64", (-1, 2), "w")])
    data = {"ids": np.arange(3), "w": np.ones((3, 2))}
    assert enforce_schema(data, named)["ids"] is data["ids"]
    with pytest.raises(SchemaEnforcementError, match=r"missing tensor\(s\) \['w'\]"):
        enforce_schema({"ids": np.arange(3)}, named)
    with pytest.raises(SchemaEnforcementError, match=r"tensor 'ids': expected a numpy array"):
        enforce_schema({"ids": [1], "w": np.ones((1, 2))}, named)
    listed = enforce_schema(pd.DataFrame({"ids": [1, 2], "w": [[1, 2], [3, 4]]}), named)
    assert listed["w"].dtype == np.float64 and listed["w"].shape == (2, 2)


PARAMS = ParamSchema(
    [
        ParamSpec("t", "double", 0.5),
        ParamSpec("n", "long", 3),
        ParamSpec("f", "float", 1.0),
        ParamSpec("stops", "string", ["a"], (-1,)),
        ParamSpec("on", "boolean", False),
    ]
)


def test_params_defaults_and_coercions() -> None:
    assert enforce_params(None, PARAMS) == {"t": 0.5, "n": 3, "f": 1.0, "stops": ["a"], "on": False}
    out = enforce_params({"t": 2, "f": np.int64(4), "stops": np.array(["x", "y"])}, PARAMS)
    assert out is not None
    assert out["t"] == 2.0 and isinstance(out["t"], float)
    assert out["f"] == 4.0 and isinstance(out["f"], float)
    assert out["stops"] == ["x", "y"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n": 1.5}, r"param 'n': expected long, cannot safely convert float 1.5"),
        ({"t": "x"}, r"param 't': expected double"),
        ({"on": 1}, r"param 'on': expected boolean"),
        ({"stops": "a"}, r"param 'stops': expected string list, expected a 1-D list"),
        ({"n": [1]}, r"param 'n': expected long, expected a scalar"),
    ],
)
def test_wrong_params_are_refused(params: dict[str, object], message: str) -> None:
    with pytest.raises(SchemaEnforcementError, match=message):
        enforce_params(params, PARAMS)


def test_undeclared_params_are_dropped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        out = enforce_params({"t": 1.0, "zzz": 1}, PARAMS)
        none = enforce_params({"a": 1}, None)
    assert out is not None and "zzz" not in out
    assert none == {}
    assert "Params ['zzz'] are not declared" in caplog.text
    assert "declares no params, so the params given are ignored: ['a']" in caplog.text
    assert enforce_params(None, None) is None
    with pytest.raises(SchemaEnforcementError, match=r"params must be a dict"):
        enforce_params([1], PARAMS)


def test_nullable_integers_with_missing_values_are_refused_naming_the_column() -> None:
    frame = pd.DataFrame(
        {"a": pd.array([1, None], dtype="Int64"), "b": pd.array([1, 2], dtype="Int64")}
    )
    spec = Schema([ColSpec("long", "a"), ColSpec("long", "b")])
    with pytest.raises(SchemaEnforcementError, match=r"column 'a'.*do not convert"):
        enforce_schema(frame, spec)
    out = enforce_schema(frame[["b"]], Schema([ColSpec("long", "b")]))
    assert str(out["b"].dtype) == "int64"
