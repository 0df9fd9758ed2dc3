"""Signature cases both sides run (the MLflow venv and ours): the same inputs, schemas and
params, described in JSON so the two results compare exactly.

``describe`` turns what enforcement returned (or what a model received) into plain JSON:
kind, dtypes, shape and values. Each case yields ``{"ok": description}`` or ``{"refused":
True}``; the messages differ by design (ours name the column the same way, worded apart).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pandas as pd


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return {"ndarray": str(value.dtype), "values": [_plain(v) for v in value.tolist()]}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return {
            type(value).__name__: value.item()
            if not isinstance(value, np.datetime64)
            else str(value)
        }
    if isinstance(value, (bytes, bytearray)):
        return {"bytes": bytes(value).hex()}
    if isinstance(value, (pd.Timestamp, dt.datetime, dt.date)):
        return {"datetime": value.isoformat()}
    if isinstance(value, float) and value != value:
        return "NaN"
    return value


def describe(value: Any) -> Any:
    """JSON describing ``value`` exactly enough to tell two inputs apart."""
    if isinstance(value, pd.DataFrame):
        return {
            "kind": "DataFrame",
            "columns": [str(c) for c in value.columns],
            "dtypes": [str(t) for t in value.dtypes],
            "values": {str(c): _plain(value[c].tolist()) for c in value.columns},
        }
    if isinstance(value, np.ndarray):
        return {
            "kind": "ndarray",
            "dtype": str(value.dtype),
            "shape": list(value.shape),
            "values": _plain(value.tolist()),
        }
    if isinstance(value, dict):
        return {"kind": "dict", "items": {str(k): describe(v) for k, v in value.items()}}
    return {"kind": type(value).__name__, "value": _plain(value)}


def infer_cases() -> dict[str, tuple[Any, Any]]:
    """name -> (model_input, params) to infer a signature from."""
    scalars = pd.DataFrame(
        {
            "i32": np.array([1, 2], dtype="int32"),
            "i64": [1, 2],
            "f32": np.array([0.5, 1.5], dtype="float32"),
            "f64": [0.5, None],
            "b": [True, False],
            "s": ["x", "y"],
            "t": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "raw": [b"a", b"b"],
        }
    )
    nested = pd.DataFrame(
        {
            "ints": pd.Series([1, 2], dtype=object),
            "tags": [["x"], ["y", "z"]],
            "grid": [[[1, 2]], [[3]]],
            "obj": [{"a": 1, "b": ["p"]}, {"a": 2}],
            "flags": [True, None],
        }
    )
    return {
        "scalars": (scalars, None),
        "nested": (nested, None),
        "tensor": (np.zeros((2, 3, 4), dtype="float32"), None),
        "named_tensors": ({"ids": np.arange(3), "w": np.ones((3, 2))}, None),
        "list_of_str": (["a", "b"], None),
        "dict_of_values": ({"q": "hi", "n": 3, "m": {"k": [1.5]}}, None),
        "list_of_dicts": ([{"a": 1, "s": "x"}, {"a": None, "s": "y"}], None),
        "params": (
            pd.DataFrame({"x": [1.0]}),
            {
                "t": 0.5,
                "n": 3,
                "stops": ["a", "b"],
                "on": True,
                "name": "z",
                "when": dt.datetime(2024, 1, 2, 3, 4, 5),
            },
        ),
    }


def enforce_cases() -> list[tuple[str, str, Any]]:
    """(case name, schema case from infer_cases, input) for enforcement."""
    scalars = infer_cases()["scalars"][0]
    base = scalars.copy()
    cases: list[tuple[str, str, Any]] = [
        ("exact", "scalars", base),
        ("reordered_extra", "scalars", base[list(reversed(base.columns))].assign(extra=1)),
        ("i32_to_long", "scalars", base.assign(i64=np.array([1, 2], dtype="int32"))),
        ("i16_to_integer", "scalars", base.assign(i32=np.array([1, 2], dtype="int16"))),
        ("u32_to_long", "scalars", base.assign(i64=np.array([1, 2], dtype="uint32"))),
        ("i64_to_integer", "scalars", base.assign(i32=[1, 2])),
        ("f64_to_long", "scalars", base.assign(i64=[1.5, 2.0])),
        ("nan_to_long", "scalars", base.assign(i64=[1.0, None])),
        ("obj_ints_to_long", "scalars", base.assign(i64=pd.Series([1, 2], dtype=object))),
        ("i32_to_double", "scalars", base.assign(f64=np.array([1, 2], dtype="int32"))),
        ("i64_to_double", "scalars", base.assign(f64=[1, 2])),
        ("i64_flags_to_double", "scalars", base.assign(f64=[0, 1])),
        ("f32_to_double", "scalars", base.assign(f64=np.array([1, 2], dtype="float32"))),
        ("f64_to_float", "scalars", base.assign(f32=[0.5, 1.0])),
        ("i32_to_float", "scalars", base.assign(f32=np.array([1, 2], dtype="int32"))),
        ("int_to_bool", "scalars", base.assign(b=[1, 0])),
        ("obj_bool_none", "scalars", base.assign(b=[True, None])),
        ("int_to_string", "scalars", base.assign(s=[1, 2])),
        ("ts_seconds", "scalars", base.assign(t=base["t"].astype("datetime64[s]"))),
        ("ts_strings", "scalars", base.assign(t=["2024-01-01", "2024-03-04 05:06:07"])),
        ("ts_bad_strings", "scalars", base.assign(t=["soon", "later"])),
        ("ts_tz", "scalars", base.assign(t=base["t"].dt.tz_localize("UTC"))),
        ("str_to_binary", "scalars", base.assign(raw=["a", "b"])),
        ("int_to_binary", "scalars", base.assign(raw=[1, 2])),
        ("missing_required", "scalars", base.drop(columns=["s"])),
        ("missing_optional", "scalars", base.drop(columns=["f64"])),
        ("dict_row", "dict_of_values", {"q": "hi", "n": 3, "m": {"k": [2.5]}}),
        ("nested_ok", "nested", infer_cases()["nested"][0]),
        ("nested_bad_items", "nested", infer_cases()["nested"][0].assign(tags=[[1], [2]])),
        (
            "nested_obj_missing",
            "nested",
            infer_cases()["nested"][0].assign(obj=[{"b": []}, {"a": 1}]),
        ),
        (
            "nested_obj_extra",
            "nested",
            infer_cases()["nested"][0].assign(obj=[{"a": 1, "z": 0}, {"a": 1}]),
        ),
        ("nested_not_list", "nested", infer_cases()["nested"][0].assign(tags=["x", "y"])),
        ("tensor_ok", "tensor", np.ones((5, 3, 4), dtype="float32")),
        ("tensor_shape", "tensor", np.ones((5, 3, 5), dtype="float32")),
        ("tensor_dtype", "tensor", np.ones((5, 3, 4), dtype="float64")),
        ("named_ok", "named_tensors", {"ids": np.arange(4), "w": np.zeros((4, 2))}),
        ("named_missing", "named_tensors", {"ids": np.arange(4)}),
        (
            "named_frame",
            "named_tensors",
            pd.DataFrame({"ids": [1, 2], "w": [[1.0, 2.0], [3.0, 4.0]]}),
        ),
        ("list_input", "list_of_str", ["p", "q", "r"]),
        ("scalar_input", "list_of_str", "one"),
    ]
    return cases


def params_cases() -> list[tuple[str, Any]]:
    return [
        ("none", None),
        ("empty", {}),
        ("coerce", {"t": 2, "n": np.int32(4), "stops": np.array(["u"])}),
        ("undeclared", {"t": 1.0, "zzz": 3}),
        ("bad_long", {"n": 1.5}),
        ("bad_double", {"t": "x"}),
        ("bad_bool", {"on": 1}),
        ("bad_list", {"stops": "a"}),
        ("bad_scalar_list", {"n": [1, 2]}),
        ("when_string", {"when": "2025-05-06T07:08:09"}),
        ("bad_when", {"when": "nope"}),
        ("str_for_str", {"name": "q"}),
    ]


def run_case(call: Any) -> dict[str, Any]:
    try:
        return {"ok": describe(call())}
    except Exception as exc:  # both sides' error types differ; only refusal is compared
        return {"refused": True, "error": f"{type(exc).__name__}: {exc}"[:300]}


def dump(path: Any, data: Any) -> None:
    with open(path, "w") as fh:
        json.dump(data, fh, indent=1, default=str)


def make_echo(base: type) -> type:
    """A model class (on ``base``, either side's PythonModel) returning what it received.

    Defined inside a function so cloudpickle stores the class by value; ``describe`` is
    found through the model's code folder (this file is saved with it)."""

    class Echo(base):  # type: ignore[misc, valid-type]
        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            from _signature_cases import _plain, describe

            return [
                json.dumps({"input": describe(model_input), "params": _plain(params)}, default=str)
            ]

    return Echo


def model_cases() -> dict[str, dict[str, Any]]:
    """Models each side writes (signature, input example) and the predict calls on them."""
    cases = infer_cases()
    scalars = cases["scalars"][0]
    nested = cases["nested"][0]
    params = cases["params"][1]
    frame = scalars.assign(i64=np.array([5, 6], dtype="int32"), extra=[0, 1])
    return {
        "cols": {
            "signature": (scalars, params),
            "example": (scalars, {"t": 0.75}),
            "calls": [
                ("frame", frame, None),
                ("params", scalars, {"t": 3, "zzz": 1}),
                ("dict_row", {**{c: scalars[c].iloc[0] for c in scalars.columns}}, None),
            ],
        },
        "nested": {
            "signature": (nested, None),
            "example": nested,
            "calls": [("frame", nested, {"ignored": 1})],
        },
        "tensor": {
            "signature": (np.zeros((2, 3), dtype="float32"), None),
            "example": np.arange(6, dtype="float32").reshape(2, 3),
            "calls": [
                ("array", np.ones((4, 3), dtype="float32"), None),
                ("frame", pd.DataFrame(np.ones((2, 3), dtype="float32")), None),
            ],
        },
        "named": {
            "signature": ({"ids": np.arange(3), "w": np.ones((3, 2))}, None),
            "example": {"ids": np.arange(2), "w": np.ones((2, 2))},
            "calls": [("dict", {"ids": np.arange(4), "w": np.zeros((4, 2))}, None)],
        },
        "dict_example": {
            "signature": ({"q": "hi", "n": 3}, None),
            "example": {"q": "hi", "n": 3},
            "calls": [("dict", {"q": "there", "n": 4}, None)],
        },
        "unsigned": {
            "signature": None,
            "example": None,
            "calls": [("list", [1, 2, 3], None), ("dict", {"a": [1]}, {"p": 1})],
        },
    }
