"""MLflow's Spark ML vector column type reads and writes back unchanged."""

from __future__ import annotations

import json

import pandas as pd

from pyfunc_ops.models.enforce import enforce_schema
from pyfunc_ops.models.types import Schema, SparkMLVector


def test_a_sparkml_vector_column_round_trips_and_passes_its_values_on() -> None:
    text = json.dumps([{"type": "sparkml_vector", "name": "features", "required": True}])
    schema = Schema.from_json(text)
    assert schema.inputs[0].type == SparkMLVector()
    assert json.loads(schema.to_json()) == json.loads(text)
    frame = pd.DataFrame({"features": [[1.0, 2.0], [3.0, 4.0]]})
    out = enforce_schema(frame, schema)
    assert out["features"].tolist() == [[1.0, 2.0], [3.0, 4.0]]
