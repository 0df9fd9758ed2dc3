"""Model signatures: the input, output and params schemas a model declares.

The on-disk form matches the format's other implementations: ``signature:`` holds
``inputs``, ``outputs`` and ``params`` as JSON strings (column specs such as
``{"type": "double", "name": "x", "required": true}``, tensor specs, param specs), so a
signature written elsewhere is read, enforced and written back unchanged.

The type system lives in :mod:`pyfunc_ops.models.types`, enforcement in
:mod:`pyfunc_ops.models.enforce`, inference in :mod:`pyfunc_ops.models.infer`; this
module keeps the names callers import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyfunc_ops.errors import ModelFormatError
from pyfunc_ops.models.enforce import check_param_value, enforce_params, enforce_schema
from pyfunc_ops.models.infer import infer_param_schema, infer_schema
from pyfunc_ops.models.types import (
    DATA_TYPES,
    AnyType,
    Array,
    ColSpec,
    Map,
    Object,
    ParamSchema,
    ParamSpec,
    Property,
    Schema,
    TensorSpec,
    _short,
)

__all__ = [
    "DATA_TYPES",
    "AnyType",
    "Array",
    "ColSpec",
    "Map",
    "ModelSignature",
    "Object",
    "ParamSchema",
    "ParamSpec",
    "Property",
    "Schema",
    "TensorSpec",
    "enforce_params",
    "enforce_schema",
    "infer_signature",
    "params_from_json",
]


@dataclass
class ModelSignature:
    """Input, (optional) output and (optional) params schema of a model."""

    inputs: Schema | None = None
    outputs: Schema | None = None
    params: ParamSchema | None = None

    def __post_init__(self) -> None:
        # Params given in their stored form (the JSON text, or its list) are parsed here.
        if isinstance(self.params, str):
            self.params = params_from_json(self.params)
        elif isinstance(self.params, list):
            import json

            self.params = params_from_json(json.dumps(self.params))

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs.to_json() if self.inputs else None,
            "outputs": self.outputs.to_json() if self.outputs else None,
            "params": self.params.to_json() if self.params and self.params.params else None,
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "MLmodel") -> ModelSignature:
        if not isinstance(data, dict):
            raise ModelFormatError(
                f"{source}: 'signature' must be a mapping, found {type(data).__name__} "
                f"{_short(data)}."
            )
        inputs, outputs, params = data.get("inputs"), data.get("outputs"), data.get("params")
        for key, value in (("inputs", inputs), ("outputs", outputs), ("params", params)):
            if value is not None and not isinstance(value, str):
                raise ModelFormatError(
                    f"{source}: signature {key!r} must be a JSON string of specs, "
                    f"found {type(value).__name__} {_short(value)}."
                )
        return cls(
            inputs=Schema.from_json(inputs, source) if inputs else None,
            outputs=Schema.from_json(outputs, source) if outputs else None,
            params=params_from_json(params, source) if params else None,
        )


def params_from_json(text: str, source: str = "signature") -> ParamSchema:
    """The stored params schema, each default checked against (and coerced to) its type, as
    MLflow does when it reads one (a datetime default given as text becomes a datetime)."""
    schema = ParamSchema.from_json(text, source)
    return ParamSchema(
        [ParamSpec(p.name, p.type, check_param_value(p.default, p), p.shape) for p in schema.params]
    )


def infer_signature(
    model_input: Any = None, model_output: Any = None, params: dict[str, Any] | None = None
) -> ModelSignature:
    """Infer a signature from example input, (optional) output and (optional) params."""
    return ModelSignature(
        inputs=infer_schema(model_input) if model_input is not None else None,
        outputs=infer_schema(model_output) if model_output is not None else None,
        params=infer_param_schema(params) if params else None,
    )
