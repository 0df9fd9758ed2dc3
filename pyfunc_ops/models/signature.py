"""Model signatures: the column schema a model expects, and its vectorized enforcement.

The on-disk form matches the format's other implementations: ``signature:`` holds
``inputs`` and ``outputs`` as JSON strings of column specs
(``{"type": "double", "name": "x", "required": true}``), so signatures written elsewhere
are enforced here the same way.

Enforcement sits on the hot path of every ``predict``: it works column by column with
dtype checks and ``astype`` (never a per-row loop), and returns the caller's DataFrame
untouched when it already matches, so a well-formed batch costs no copy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyfunc_ops.errors import ModelFormatError, SchemaEnforcementError

if TYPE_CHECKING:
    import pandas as pd

# Type name -> numpy dtype string used for casting (None: kept as object).
DATA_TYPES: dict[str, str | None] = {
    "boolean": "bool",
    "integer": "int32",
    "long": "int64",
    "float": "float32",
    "double": "float64",
    "string": None,
    "binary": None,
    "datetime": "datetime64[ns]",
}
# Source dtype (kind, itemsize) -> target type names reachable without losing information.
# These are the rules of the format's reference implementation, so a model's signature is
# enforced the same way whichever library loads it: upcasts within a kind, small unsigned
# to signed, and integers of at most 4 bytes to double. int64 -> double is refused (values
# above 2**53 would change), except a column holding only 0 and 1 (see _cast_column).
_SAFE_NUMERIC = {
    "integer": {("i", 1), ("i", 2), ("i", 4), ("u", 1), ("u", 2)},
    "long": {("i", 1), ("i", 2), ("i", 4), ("i", 8), ("u", 1), ("u", 2), ("u", 4)},
    "float": {("f", 2), ("f", 4)},
    "double": {
        ("i", 1),
        ("i", 2),
        ("i", 4),
        ("u", 1),
        ("u", 2),
        ("u", 4),
        ("f", 2),
        ("f", 4),
        ("f", 8),
    },
}


@dataclass(frozen=True)
class ColSpec:
    """One column: its data type name, optional name, and whether it must be present."""

    type: str
    name: str | None = None
    required: bool = True

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.name is not None:
            out["name"] = self.name
        out["required"] = self.required
        return out


@dataclass
class Schema:
    """An ordered list of column specs (or raw tensor specs, which are kept, not enforced)."""

    inputs: list[ColSpec] = field(default_factory=list)
    raw: list[dict[str, Any]] | None = None
    # (names, dtypes) of a frame that needs no enforcement at all; computed on first use.
    _exact: Any = field(default=None, init=False, repr=False, compare=False)

    @property
    def is_tensor(self) -> bool:
        return self.raw is not None

    def names(self) -> list[str]:
        return [c.name for c in self.inputs if c.name is not None]

    def has_names(self) -> bool:
        return bool(self.inputs) and all(c.name is not None for c in self.inputs)

    def matches_exactly(self, data: pd.DataFrame) -> bool:
        """True when ``data`` has exactly the named columns, in order, with the canonical
        dtypes: the common case on the hot path, decided from two cheap list comparisons."""
        if self._exact is None:
            import numpy as np

            names = self.names() if self.has_names() else None
            dtypes = [DATA_TYPES.get(c.type) or "object" for c in self.inputs]
            self._exact = (names, [np.dtype(t) for t in dtypes])
        names, dtypes = self._exact
        return (
            names is not None
            and data.columns.tolist() == names
            and data.dtypes.to_numpy().tolist() == dtypes
        )

    def to_json(self) -> str:
        return json.dumps(self.raw if self.raw is not None else [c.to_dict() for c in self.inputs])

    @classmethod
    def from_json(cls, text: str, source: str = "signature") -> Schema:
        try:
            items = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise ModelFormatError(
                f"{source}: signature schema is not valid JSON ({exc})."
            ) from None
        if not isinstance(items, list):
            raise ModelFormatError(
                f"{source}: signature schema must be a JSON list, found {items!r}."
            )
        if any(isinstance(i, dict) and i.get("type") == "tensor" for i in items):
            return cls(raw=items)
        specs = []
        seen: set[str] = set()
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("type"), str):
                raise ModelFormatError(
                    f"{source}: bad column spec {_short(item)}; expected {{type, name}}."
                )
            name = item.get("name")
            if name is not None and not isinstance(name, str):
                raise ModelFormatError(
                    f"{source}: signature column name {_short(name)} is a "
                    f"{type(name).__name__}, not a string; name columns with strings."
                )
            if name is not None and name in seen:
                raise ModelFormatError(
                    f"{source}: signature column {name!r} appears twice; column names must be "
                    "unique."
                )
            if name is not None:
                seen.add(name)
            required = item.get("required", True)
            if not isinstance(required, bool):
                raise ModelFormatError(
                    f"{source}: signature column {name!r}: 'required' must be true or false, "
                    f"found {_short(required)}."
                )
            specs.append(ColSpec(item["type"], name, required))
        return cls(specs)


@dataclass
class ModelSignature:
    """Input and (optional) output schema of a model."""

    inputs: Schema | None = None
    outputs: Schema | None = None
    params: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs.to_json() if self.inputs is not None else None,
            "outputs": self.outputs.to_json() if self.outputs is not None else None,
            "params": self.params,
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "MLmodel") -> ModelSignature:
        if not isinstance(data, dict):
            raise ModelFormatError(
                f"{source}: 'signature' must be a mapping, found {type(data).__name__} "
                f"{_short(data)}."
            )
        inputs, outputs = data.get("inputs"), data.get("outputs")
        for key, value in (("inputs", inputs), ("outputs", outputs)):
            if value is not None and not isinstance(value, str):
                raise ModelFormatError(
                    f"{source}: signature {key!r} must be a JSON string of column specs, "
                    f"found {type(value).__name__} {_short(value)}."
                )
        return cls(
            inputs=Schema.from_json(inputs, source) if inputs else None,
            outputs=Schema.from_json(outputs, source) if outputs else None,
            params=data.get("params"),
        )


def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters: hostile files can be huge."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _type_of_dtype(dtype: Any) -> str:
    """Map a pandas/numpy dtype to a schema type name."""
    import numpy as np

    kind = getattr(dtype, "kind", "O")
    if kind == "b":
        return "boolean"
    if kind in "iu":
        return "long" if np.dtype(dtype).itemsize > 4 or kind == "u" else "integer"
    if kind == "f":
        return "float" if np.dtype(dtype).itemsize <= 4 else "double"
    if kind == "M":
        return "datetime"
    if kind == "S":
        return "binary"
    return "string"


def _schema_of(data: Any) -> Schema:
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.Series):
        data = data.to_frame()
    if isinstance(data, np.ndarray):
        data = pd.DataFrame(data)
    if isinstance(data, dict):
        data = pd.DataFrame(data)
    if not isinstance(data, pd.DataFrame):
        data = pd.DataFrame(data)
    named = all(isinstance(c, str) for c in data.columns)
    return Schema(
        [ColSpec(_type_of_dtype(t), str(c) if named else None) for c, t in data.dtypes.items()]
    )


def infer_signature(model_input: Any, model_output: Any = None) -> ModelSignature:
    """Infer a signature from example input (and, optionally, output) data."""
    return ModelSignature(
        inputs=_schema_of(model_input),
        outputs=_schema_of(model_output) if model_output is not None else None,
    )


def _zero_one(values: pd.Series) -> bool:
    """True when an integer column holds only 0 and 1 (a flag; exact in any float)."""
    return bool(((values == 0) | (values == 1)).all())


def _cast_column(values: pd.Series, spec: ColSpec) -> pd.Series:
    """Return ``values`` as ``spec.type`` when the cast is safe, else raise."""
    target = DATA_TYPES.get(spec.type)
    dtype = values.dtype
    kind = getattr(dtype, "kind", "O")
    label = f"column {spec.name!r}" if spec.name is not None else "input column"
    if spec.type == "string":
        if kind in "OUS" or str(dtype) in ("string", "str"):
            return values
    elif spec.type == "binary":
        if kind in "OS":
            return values
    elif spec.type == "boolean":
        if kind == "b":
            return values
    elif spec.type == "datetime":
        if kind == "M":
            return values
        if kind == "O":
            import pandas as pd

            try:
                return pd.to_datetime(values)
            except (ValueError, TypeError):
                pass
    elif target is not None:
        if str(dtype) == target:
            return values
        if (kind, getattr(dtype, "itemsize", 0)) in _SAFE_NUMERIC.get(spec.type, set()):
            return values.astype(target)
        if str(dtype) == "int64" and spec.type in ("float", "double") and _zero_one(values):
            return values.astype(target)
    raise SchemaEnforcementError(
        f"{label}: expected type {spec.type!r} (numpy {target or 'object'}), found dtype "
        f"{dtype}; the cast is not safe. Convert the column before calling predict, or save "
        "the model with a signature that matches the data."
    )


def enforce_schema(data: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Check ``data`` against ``schema``: select and order its columns, apply safe casts.

    Missing required columns raise :class:`SchemaEnforcementError` naming them; extra
    columns are dropped. A frame that already matches is returned as it is.
    """
    if schema.is_tensor or not schema.inputs:
        return data
    if schema.matches_exactly(data):
        return data
    if not schema.has_names():
        if len(data.columns) < len(schema.inputs):
            raise SchemaEnforcementError(
                f"Model input has {len(data.columns)} columns; the signature expects "
                f"{len(schema.inputs)} unnamed columns. Pass all of them, in order."
            )
        specs = list(zip(data.columns[: len(schema.inputs)], schema.inputs, strict=False))
    else:
        present = set(data.columns)
        missing = [c.name for c in schema.inputs if c.required and c.name not in present]
        if missing:
            raise SchemaEnforcementError(
                f"Model input is missing required column(s) {missing}; the signature expects "
                f"{schema.names()}, the input has {list(map(str, data.columns))}. Add the "
                "missing columns (names are case-sensitive)."
            )
        specs = [(c.name, c) for c in schema.inputs if c.name in present]
    names = [n for n, _ in specs]
    out = data if list(data.columns) == names else data[names]
    casts = {}
    for name, spec in specs:
        column = out[name]
        cast = _cast_column(column, spec)
        if cast is not column:
            casts[name] = cast
    if casts:
        # A shallow copy: the caller's frame stays as it was, and pandas does not treat the
        # column selection above as a view being written to (SettingWithCopyWarning).
        out = out.copy(deep=False)
        for name, cast in casts.items():
            out[name] = cast
    return out
