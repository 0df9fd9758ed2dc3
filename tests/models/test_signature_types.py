"""The signature type system: every spec MLflow 3 writes is read and written back unchanged,
and inferred from examples with MLflow's rules."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from pyfunc_ops.errors import InvalidParameterError, ModelFormatError, SchemaEnforcementError
from pyfunc_ops.models.signature import (
    AnyType,
    Array,
    ColSpec,
    Map,
    ModelSignature,
    Object,
    ParamSchema,
    ParamSpec,
    Property,
    Schema,
    TensorSpec,
    infer_signature,
)

# Exactly as MLflow 3.17 writes them (json.dumps of its to_dict).
MLFLOW_INPUTS = [
    '[{"type": "double", "name": "a", "required": true}, '
    '{"type": "binary", "name": "b", "required": false}, '
    '{"type": "datetime", "name": "t", "required": true}, '
    '{"type": "boolean", "name": "f", "required": true}]',
    '[{"type": "array", "items": {"type": "array", "items": {"type": "long"}}, '
    '"name": "nested", "required": true}]',
    '[{"type": "object", "properties": {"a": {"type": "string", "required": true}, '
    '"b": {"type": "array", "items": {"type": "double"}, "required": false}}, '
    '"name": "obj", "required": true}]',
    '[{"type": "map", "values": {"type": "object", "properties": {"x": {"type": "long", '
    '"required": true}}}, "name": "m", "required": true}, '
    '{"type": "any", "name": "whatever", "required": false}]',
    '[{"type": "string", "required": true}]',
    '[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 28, 28]}}]',
    '[{"name": "ids", "type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}, '
    '{"name": "mask", "type": "tensor", "tensor-spec": {"dtype": "bool", "shape": [-1, 4]}}]',
]
MLFLOW_PARAMS = (
    '[{"name": "temperature", "default": 0.5, "shape": null, "type": "double"}, '
    '{"name": "stops", "default": ["a", "b"], "shape": [-1], "type": "string"}, '
    '{"name": "when", "default": "2024-01-02T03:04:05", "shape": null, "type": "datetime"}, '
    '{"name": "opts", "default": {"k": 1}, "shape": null, "type": "object", '
    '"properties": {"k": {"type": "long", "required": true}}}]'
)


@pytest.mark.parametrize("text", MLFLOW_INPUTS)
def test_schemas_round_trip_unchanged(text: str) -> None:
    sig = ModelSignature.from_dict({"inputs": text, "outputs": text})
    assert sig.to_dict() == {"inputs": text, "outputs": text, "params": None}


def test_params_round_trip_unchanged() -> None:
    sig = ModelSignature.from_dict({"inputs": MLFLOW_INPUTS[4], "params": MLFLOW_PARAMS})
    assert sig.to_dict()["params"] == MLFLOW_PARAMS
    assert sig.params is not None
    when = sig.params.params[2]
    assert when.default == dt.datetime(2024, 1, 2, 3, 4, 5)


def test_parsed_types() -> None:
    sig = ModelSignature.from_dict({"inputs": MLFLOW_INPUTS[2]})
    assert sig.inputs is not None
    assert sig.inputs.inputs[0] == ColSpec(
        Object((Property("b", Array("double"), False), Property("a", "string"))), "obj"
    )
    tensors = Schema.from_json(MLFLOW_INPUTS[6])
    assert tensors.is_tensor and tensors.names() == ["ids", "mask"]
    assert tensors.inputs[1] == TensorSpec("bool", (-1, 4), "mask")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"type": "array", "name": "x"}]', r"'array' type needs 'items'"),
        ('[{"type": "map"}]', r"'map' type needs 'values'"),
        ('[{"type": "object", "properties": 3}]', r"'object' type needs 'properties'"),
        ('[{"type": "decimal", "name": "x"}]', r"unknown type 'decimal'"),
        ('[{"type": "tensor", "tensor-spec": {"dtype": "float32"}}]', r"needs 'tensor-spec'"),
        (
            '[{"type": "tensor", "tensor-spec": {"dtype": "nope", "shape": [-1]}}]',
            r"'nope' is not a numpy dtype",
        ),
        (
            '[{"type": "tensor", "tensor-spec": {"dtype": "int8", "shape": [-1]}}, '
            '{"type": "long"}]',
            r"mixes tensor and column specs",
        ),
        (
            '[{"type": "object", "properties": {"a": {"type": "long", "required": 1}}}]',
            r"property 'a': 'required' must be true or false",
        ),
    ],
)
def test_malformed_schemas_are_refused(text: str, message: str) -> None:
    with pytest.raises(ModelFormatError, match=message):
        Schema.from_json(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"name": "p", "type": "double"}]', r"bad param spec"),
        ('[{"name": "p", "type": "binary", "default": null}]', r"unsupported param type"),
        ('[{"name": "p", "type": "long", "default": 1, "shape": [2]}]', r"shape must be null"),
        ('[{"name": "p", "type": "long", "default": "x"}]', r"param 'p': expected long"),
        ('{"name": "p"}', r"must be a JSON list"),
    ],
)
def test_malformed_params_are_refused(text: str, message: str) -> None:
    with pytest.raises((ModelFormatError, SchemaEnforcementError), match=message):
        ModelSignature.from_dict({"params": text})


def test_infer_from_object_columns() -> None:
    frame = pd.DataFrame(
        {
            "ints": pd.Series([1, 2], dtype=object),
            "raw": [b"a", b"b"],
            "tags": [["x"], ["y", "z"]],
            "obj": [{"a": 1}, {"a": 2, "b": "s"}],
            "gaps": [1.0, None],
            "flags": [True, None],
        }
    )
    sig = infer_signature(frame)
    assert sig.inputs is not None
    assert sig.inputs.inputs == [
        ColSpec("long", "ints"),
        ColSpec("binary", "raw"),
        ColSpec(Array("string"), "tags"),
        ColSpec(Object((Property("a", "long"), Property("b", "string", False))), "obj"),
        ColSpec("double", "gaps", required=False),
        ColSpec("boolean", "flags", required=False),
    ]


def test_infer_tensors_lists_dicts_and_scalars() -> None:
    sig = infer_signature(np.zeros((3, 4), dtype="float32"), {"a": np.arange(3)})
    assert sig.inputs == Schema([TensorSpec("float32", (-1, 4))])
    assert sig.outputs == Schema([TensorSpec("int64", (-1,), "a")])
    assert infer_signature(["a", "b"]).inputs == Schema([ColSpec("string")])
    assert infer_signature({"q": "hi", "n": 3, "m": {"k": [1.5]}}).inputs == Schema(
        [
            ColSpec("string", "q"),
            ColSpec("long", "n"),
            ColSpec(Object((Property("k", Array("double")),)), "m"),
        ]
    )
    assert infer_signature([{"a": 1}, {"a": None}]).inputs == Schema(
        [ColSpec("long", "a", required=False)]
    )
    assert infer_signature("text").inputs == Schema([ColSpec("string")])
    assert infer_signature({"m": {}}).inputs == Schema([ColSpec(AnyType(), "m")])


def test_infer_params() -> None:
    sig = infer_signature(
        pd.DataFrame({"x": [1.0]}),
        params={"t": 0.5, "n": 3, "stops": ["a"], "on": True, "when": dt.datetime(2024, 1, 1)},
    )
    assert sig.params == ParamSchema(
        [
            ParamSpec("t", "double", 0.5),
            ParamSpec("n", "long", 3),
            ParamSpec("stops", "string", ["a"], (-1,)),
            ParamSpec("on", "boolean", True),
            ParamSpec("when", "datetime", dt.datetime(2024, 1, 1)),
        ]
    )
    stored = json.loads(sig.to_dict()["params"])
    assert stored[2] == {"name": "stops", "default": ["a"], "shape": [-1], "type": "string"}
    assert stored[4]["default"] == "2024-01-01T00:00:00"


def test_infer_refusals() -> None:
    with pytest.raises(InvalidParameterError, match=r"mixes values of types"):
        infer_signature([1, "a"])
    with pytest.raises(InvalidParameterError, match=r"param 'p' must be a scalar, a dict or a 1-D"):
        infer_signature(pd.DataFrame({"x": [1]}), params={"p": [[1]]})
    with pytest.raises(InvalidParameterError, match=r"keys must all be strings"):
        infer_signature({1: "a"})


def test_params_given_in_stored_form() -> None:
    sig = ModelSignature(params='[{"name": "o", "type": "double", "default": 0, "shape": null}]')
    assert sig.params == ParamSchema([ParamSpec("o", "double", 0.0)])


def test_map_type_dict() -> None:
    assert ColSpec(Map("long"), "m").to_dict() == {
        "type": "map",
        "values": {"type": "long"},
        "name": "m",
        "required": True,
    }
