"""Malformed signatures: a ModelFormatError naming the column or key."""

from __future__ import annotations

import json

import pytest

from pyfunc_ops.errors import ModelFormatError
from pyfunc_ops.models.signature import ModelSignature, Schema


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ([{"type": "double", "name": "x"}, {"type": "long", "name": "x"}], "'x' appears twice"),
        ([{"type": "double", "name": 3}], "column name 3 is a int"),
        ([{"type": "double", "name": ["a"]}], r"column name \['a'\] is a list"),
        ([{"type": "double", "name": {"a": 1}}], "is a dict"),
        ([{"type": "double", "name": "x", "required": "yes"}], "'required' must be true or false"),
        ([{"name": "x"}], "bad column spec"),
        ([{"type": 3, "name": "x"}], "bad column spec"),
        (["double"], "bad column spec"),
    ],
)
def test_bad_columns(columns: list[object], message: str) -> None:
    with pytest.raises(ModelFormatError, match=message):
        Schema.from_json(json.dumps(columns), source="MLmodel")


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        ({"inputs": [{"type": "double"}]}, "signature 'inputs' must be a JSON string"),
        ({"outputs": {"type": "double"}}, "signature 'outputs' must be a JSON string"),
        ({"inputs": "{not json"}, "not valid JSON"),
        ({"inputs": '{"type": "double"}'}, "must be a JSON list"),
        ("inputs", "'signature' must be a mapping"),
        (["inputs"], "'signature' must be a mapping"),
    ],
)
def test_bad_signature_blocks(signature: object, message: str) -> None:
    with pytest.raises(ModelFormatError, match=message):
        ModelSignature.from_dict(signature, source="MLmodel")
