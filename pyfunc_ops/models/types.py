"""The signature type system of the format: column, tensor and parameter specs.

Each class reads the JSON the format stores in the MLmodel ``signature:`` block and writes
it back with the same keys in the same order, so a signature another tool wrote survives a
round trip through pyfunc_ops unchanged (``json.dumps`` of the same dicts gives the same
text). Scalar column types are kept as their names (``"double"``); nested types
(:class:`Array`, :class:`Object`, :class:`Map`, :class:`AnyType`) are small frozen objects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from pyfunc_ops.errors import ModelFormatError

# Scalar type name -> numpy dtype string used for casting (None: kept as object).
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
NESTED_TYPES = ("array", "object", "map", "any", "sparkml_vector")


@dataclass(frozen=True)
class AnyType:
    """Any value at all (the format's ``{"type": "any"}``): never checked."""

    def to_dict(self) -> dict[str, Any]:
        return {"type": "any"}


@dataclass(frozen=True)
class SparkMLVector(AnyType):
    """A Spark ML vector column (the format's ``{"type": "sparkml_vector"}``), which MLflow
    records for models whose input is a ``VectorUDT`` column. Its values (a list of numbers
    or a ``pyspark.ml.linalg`` vector) are passed on unchecked, as for ``any``."""

    def to_dict(self) -> dict[str, Any]:
        return {"type": "sparkml_vector"}


@dataclass(frozen=True)
class Array:
    """A list (or 1-D array) whose items all have type ``items``."""

    items: ColType

    def to_dict(self) -> dict[str, Any]:
        return {"type": "array", "items": type_to_dict(self.items)}


@dataclass(frozen=True)
class Property:
    """One named field of an :class:`Object`."""

    name: str
    type: ColType
    required: bool = True

    def to_dict(self) -> dict[str, Any]:
        out = type_to_dict(self.type)
        out["required"] = self.required
        return out


@dataclass(frozen=True)
class Object:
    """A dict with declared ``properties`` (undeclared keys are refused)."""

    properties: tuple[Property, ...]

    def __post_init__(self) -> None:
        # The format keeps properties sorted by name, whatever order they were given in.
        object.__setattr__(self, "properties", tuple(sorted(self.properties, key=_prop_name)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {p.name: p.to_dict() for p in self.properties},
        }


@dataclass(frozen=True)
class Map:
    """A dict of string keys to values of type ``values``."""

    values: ColType

    def to_dict(self) -> dict[str, Any]:
        return {"type": "map", "values": type_to_dict(self.values)}


ColType: TypeAlias = str | Array | Object | Map | AnyType


def _prop_name(prop: Property) -> str:
    return prop.name


def type_to_dict(value: ColType) -> dict[str, Any]:
    """``{"type": name}`` for a scalar type, the nested type's own dict otherwise."""
    return {"type": value} if isinstance(value, str) else value.to_dict()


def _element_type(data: dict[str, Any], key: str, where: str, needs: str) -> ColType:
    """The type under ``key`` of an array (``items``) or a map (``values``) description."""
    if key not in data:
        raise ModelFormatError(f"{where}: {needs}, found {_short(data)}.")
    return type_from_dict(data[key], f"{where} {key}")


def type_from_dict(data: Any, where: str) -> ColType:
    """Parse one type description (``{"type": ..., "items"/"properties"/"values": ...}``)."""
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ModelFormatError(
            f"{where}: bad type description {_short(data)}; expected a mapping with a string "
            '\'type\' (e.g. {"type": "double"}).'
        )
    kind = data["type"]
    if kind == "array":
        needs = "an 'array' type needs 'items' (the type of its elements)"
        return Array(_element_type(data, "items", where, needs))
    if kind == "map":
        needs = "a 'map' type needs 'values' (the type of its values)"
        return Map(_element_type(data, "values", where, needs))
    if kind == "object":
        props = data.get("properties")
        if not isinstance(props, dict):
            raise ModelFormatError(
                f"{where}: an 'object' type needs 'properties' (a mapping of field name to "
                f"type), found {_short(data)}."
            )
        out = []
        for name, spec in props.items():
            sub = type_from_dict(spec, f"{where} property {name!r}")
            required = spec.get("required", True)
            if not isinstance(required, bool):
                raise ModelFormatError(
                    f"{where} property {name!r}: 'required' must be true or false, found "
                    f"{_short(required)}."
                )
            out.append(Property(str(name), sub, required))
        return Object(tuple(out))
    if kind == "any":
        return AnyType()
    if kind == "sparkml_vector":
        return SparkMLVector()
    if kind not in DATA_TYPES:
        raise ModelFormatError(
            f"{where}: unknown type {kind!r}; expected one of "
            f"{sorted([*DATA_TYPES, *NESTED_TYPES])}."
        )
    return kind


@dataclass(frozen=True)
class ColSpec:
    """One column: its type (a scalar type name or a nested type), name, and whether it
    must be present."""

    type: ColType
    name: str | None = None
    required: bool = True

    def to_dict(self) -> dict[str, Any]:
        out = type_to_dict(self.type)
        if self.name is not None:
            out["name"] = self.name
        out["required"] = self.required
        return out


@dataclass(frozen=True)
class TensorSpec:
    """One tensor: numpy dtype name, shape (``-1`` marks a free dimension), optional name."""

    dtype: str
    shape: tuple[int, ...]
    name: str | None = None

    @property
    def required(self) -> bool:
        return True

    def to_dict(self) -> dict[str, Any]:
        spec = {"dtype": self.dtype, "shape": list(self.shape)}
        if self.name is None:
            return {"type": "tensor", "tensor-spec": spec}
        return {"name": self.name, "type": "tensor", "tensor-spec": spec}


def _tensor_from_dict(item: dict[str, Any], where: str) -> TensorSpec:
    import numpy as np

    spec = item.get("tensor-spec")
    if not isinstance(spec, dict) or "dtype" not in spec or "shape" not in spec:
        raise ModelFormatError(
            f"{where}: a tensor spec needs 'tensor-spec': {{dtype, shape}}, found {_short(item)}."
        )
    shape = spec["shape"]
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) for d in shape
    ):
        raise ModelFormatError(
            f"{where}: tensor shape must be a list of integers (-1 for a free dimension), "
            f"found {_short(shape)}."
        )
    try:
        np.dtype(spec["dtype"])
    except TypeError:
        raise ModelFormatError(
            f"{where}: tensor dtype {_short(spec['dtype'])} is not a numpy dtype name."
        ) from None
    name = item.get("name")
    return TensorSpec(str(spec["dtype"]), tuple(shape), None if name is None else str(name))


@dataclass
class Schema:
    """An ordered list of column specs or of tensor specs (never both)."""

    inputs: list[Any] = field(default_factory=list)
    # Lazily computed state of the enforcement hot path (see enforce.py).
    _exact: Any = field(default=None, init=False, repr=False, compare=False)
    _plans: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    _warned_extra: bool = field(default=False, init=False, repr=False, compare=False)

    @property
    def is_tensor(self) -> bool:
        return bool(self.inputs) and isinstance(self.inputs[0], TensorSpec)

    def names(self) -> list[str]:
        return [c.name for c in self.inputs if c.name is not None]

    def has_names(self) -> bool:
        return bool(self.inputs) and all(c.name is not None for c in self.inputs)

    def required_names(self) -> list[str]:
        return [c.name for c in self.inputs if c.name is not None and c.required]

    def matches_exactly(self, data: Any) -> bool:
        """True when ``data`` has exactly the named scalar columns, in order, with their
        canonical dtypes: the common case on the hot path, two cheap list comparisons."""
        if self._exact is None:
            import numpy as np

            names = self.names() if self.has_names() and not self.is_tensor else None
            if any(not isinstance(c.type, str) for c in self.inputs):
                names = None  # nested types are checked value by value, never skipped
            dtypes = [np.dtype(DATA_TYPES.get(c.type) or "object") for c in self.inputs]
            self._exact = (names, dtypes)
        names, dtypes = self._exact
        return (
            names is not None
            and data.columns.tolist() == names
            and data.dtypes.to_numpy().tolist() == dtypes
        )

    def to_dict(self) -> list[dict[str, Any]]:
        return [c.to_dict() for c in self.inputs]

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

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
                f"{source}: signature schema must be a JSON list, found {_short(items)}."
            )
        tensors = [isinstance(i, dict) and i.get("type") == "tensor" for i in items]
        if any(tensors) and not all(tensors):
            raise ModelFormatError(
                f"{source}: signature schema mixes tensor and column specs; a schema holds "
                "one kind only."
            )
        specs: list[Any] = []
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
            if item["type"] == "tensor":
                specs.append(_tensor_from_dict(item, source))
                continue
            required = item.get("required", True)
            if not isinstance(required, bool):
                raise ModelFormatError(
                    f"{source}: signature column {name!r}: 'required' must be true or false, "
                    f"found {_short(required)}."
                )
            where = f"{source}: column {name!r}" if name is not None else f"{source}: column"
            specs.append(ColSpec(type_from_dict(item, where), name, required))
        return cls(specs)


@dataclass(frozen=True)
class ParamSpec:
    """One inference parameter: name, type, default, shape (None: scalar, (-1,): a list)."""

    name: str
    type: str | Object
    default: Any
    shape: tuple[int, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        default = self.default
        if self.type == "datetime" and default is not None:
            default = [v.isoformat() for v in default] if self.shape else default.isoformat()
        out: dict[str, Any] = {
            "name": self.name,
            "default": default,
            "shape": list(self.shape) if self.shape is not None else None,
        }
        out.update(type_to_dict(self.type))
        return out


@dataclass
class ParamSchema:
    """The parameters a model accepts at inference time (``params`` of the signature)."""

    params: list[ParamSpec] = field(default_factory=list)

    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def to_dict(self) -> list[dict[str, Any]]:
        return [p.to_dict() for p in self.params]

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str, source: str = "signature") -> ParamSchema:
        """Parse the stored params; defaults are kept as written (the signature module
        checks them against their types, see ``signature.params_from_json``)."""
        try:
            items = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise ModelFormatError(
                f"{source}: signature params are not valid JSON ({exc})."
            ) from None
        if not isinstance(items, list):
            raise ModelFormatError(
                f"{source}: signature params must be a JSON list, found {_short(items)}."
            )
        specs = []
        for item in items:
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("name"), str)
                or "default" not in item
                or not isinstance(item.get("type", item.get("dtype")), str)
            ):
                raise ModelFormatError(
                    f"{source}: bad param spec {_short(item)}; expected {{name, type, default, "
                    "shape}."
                )
            kind = item.get("type") or item.get("dtype")
            where = f"{source}: param {item['name']!r}"
            ptype: str | Object
            if kind == "object":
                parsed = type_from_dict({**item, "type": "object"}, where)
                assert isinstance(parsed, Object)
                ptype = parsed
            elif kind in DATA_TYPES and kind != "binary":
                ptype = kind
            else:
                raise ModelFormatError(
                    f"{where}: unsupported param type {kind!r}; expected a scalar type other "
                    "than binary, or object."
                )
            shape = item.get("shape")
            if shape is not None and list(shape) != [-1]:
                raise ModelFormatError(
                    f"{where}: shape must be null (a scalar) or [-1] (a list), found "
                    f"{_short(shape)}."
                )
            specs.append(
                ParamSpec(item["name"], ptype, item["default"], tuple(shape) if shape else None)
            )
        return cls(specs)


def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters: hostile files can be huge."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
