"""Signature inference from example data, with the reference implementation's rules.

DataFrames, Series, lists and dicts of plain values give column specs (object columns are
inferred from their values: ints are ``long``, bytes ``binary``, lists ``array``, dicts
``object``; a column holding missing values is optional); an ndarray or a dict of ndarrays
gives tensor specs with a free first dimension; a dict of params gives a param schema.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pyfunc_ops.errors import InvalidParameterError
from pyfunc_ops.models.types import (
    AnyType,
    Array,
    ColSpec,
    ColType,
    Map,
    Object,
    ParamSchema,
    ParamSpec,
    Property,
    Schema,
    TensorSpec,
)


def _is_none_or_nan(value: Any) -> bool:
    from pyfunc_ops.models.enforce import _is_none_or_nan as check

    return check(value)


def dtype_type(dtype: Any) -> str:
    """The scalar type name of a numpy / pandas dtype (object dtypes need their values)."""
    kind = getattr(dtype, "kind", "O")
    size = getattr(dtype, "itemsize", 8)
    if kind == "b":
        return "boolean"
    if kind in "iu":
        if size < 4 or (kind == "i" and size == 4):
            return "integer"
        if size < 8 or kind == "i":
            return "long"
    elif kind == "f":
        return "float" if size <= 4 else "double"
    elif kind == "U":
        return "string"
    elif kind == "S":
        return "binary"
    elif kind == "M":
        return "datetime"
    elif kind == "O" and str(dtype) in ("string", "str"):
        return "string"
    raise InvalidParameterError(
        f"infer_signature: dtype {dtype} has no type in the format (uint64, complex, "
        "timedelta... are not representable); convert the column first."
    )


def _scalar_type(value: Any) -> str:
    import numpy as np

    mapping: dict[type, str] = {
        bool: "boolean",
        np.bool_: "boolean",
        int: "long",
        np.int64: "long",
        np.int32: "integer",
        float: "double",
        np.float64: "double",
        np.float32: "float",
        str: "string",
        np.str_: "string",
        bytes: "binary",
        np.bytes_: "binary",
        bytearray: "binary",
    }
    found = mapping.get(type(value))
    if found is not None:
        return found
    if isinstance(value, (dt.date, np.datetime64)):
        return "datetime"
    raise InvalidParameterError(
        f"infer_signature: cannot infer a type for {type(value).__name__} value {value!r}; "
        "use bool, int, float, str, bytes, datetime, lists or dicts of those."
    )


def _merge(a: ColType, b: ColType) -> ColType:
    """One type covering both (lists of dicts with differing keys give optional fields)."""
    if isinstance(a, AnyType):
        return b
    if isinstance(b, AnyType) or a == b:
        return a
    if isinstance(a, Array) and isinstance(b, Array):
        return Array(_merge(a.items, b.items))
    if isinstance(a, Map) and isinstance(b, Map):
        return Map(_merge(a.values, b.values))
    if isinstance(a, Object) and isinstance(b, Object):
        left = {p.name: p for p in a.properties}
        right = {p.name: p for p in b.properties}
        props = []
        for name in {**left, **right}:
            if name in left and name in right:
                p, q = left[name], right[name]
                props.append(Property(name, _merge(p.type, q.type), p.required and q.required))
            else:
                p = left.get(name) or right[name]
                props.append(Property(name, p.type, False))
        return Object(tuple(props))
    raise InvalidParameterError(
        f"infer_signature: a list mixes values of types {a!r} and {b!r}; all items of a "
        "list must have one type."
    )


def infer_type(value: Any) -> ColType | None:
    """The column type of one value (None: an empty numpy array, undetermined)."""
    import numpy as np

    if _is_none_or_nan(value) or (isinstance(value, (list, dict)) and not value):
        return AnyType()
    if isinstance(value, dict):
        props = []
        for key, item in value.items():
            found = _known_type(item, f"dict value {key!r}")
            props.append(Property(str(key), found, not isinstance(found, AnyType)))
        return Object(tuple(props))
    if isinstance(value, (list, np.ndarray)):
        result: ColType | None = None
        for item in value:
            sub = infer_type(item)
            if sub is None:
                continue
            if result is None:
                result = sub
            elif isinstance(result, str):
                if not isinstance(sub, AnyType) and sub != result:
                    raise InvalidParameterError(
                        f"infer_signature: a list mixes values of types {result!r} and "
                        f"{sub!r}; all items of a list must have one type."
                    )
            else:
                result = _merge(result, sub)
        return Array(result) if result is not None else None
    return _scalar_type(value)


def _known_type(value: Any, what: str) -> ColType:
    """:func:`infer_type` of ``value``, refusing an empty numpy array (``what`` names it)."""
    found = infer_type(value)
    if found is None:
        raise InvalidParameterError(f"infer_signature: {what} is an empty numpy array.")
    return found


def _required(values: Any) -> bool:
    import pandas as pd

    if isinstance(values, (list, pd.Series)):
        return not any(_is_none_or_nan(v) for v in values)
    return not _is_none_or_nan(values)


def _column_type(column: Any) -> ColType:
    import pandas as pd

    if column.dtype.kind == "O" and not isinstance(column.dtype, pd.StringDtype):
        column = column.infer_objects()
    if column.dtype.kind == "O" and not isinstance(column.dtype, pd.StringDtype):
        try:
            found = infer_type(column.tolist())
        except InvalidParameterError:
            if pd.api.types.is_string_dtype(column):
                return "string"
            raise
        if not isinstance(found, Array):
            raise InvalidParameterError(
                f"infer_signature: column {column.name!r} has no non-empty value to infer a "
                "type from."
            )
        return found.items
    return dtype_type(column.dtype)


def _tensor_dtype(dtype: Any) -> str:
    if dtype.char == "U":
        return "str"
    if dtype.char == "S":
        return "bytes"
    return str(dtype.name)


def infer_schema(data: Any) -> Schema:
    """A schema describing ``data`` (see the module docstring for the rules)."""
    import numpy as np
    import pandas as pd

    if isinstance(data, list) and data == []:
        return Schema([ColSpec("string")])
    if isinstance(data, list) and all(isinstance(v, dict) for v in data):
        columns: dict[str, list[Any]] = {}
        for row in data:
            for key, value in row.items():
                columns.setdefault(key, []).append(value)
        specs = []
        for name, values in columns.items():
            found = infer_type(values)
            assert isinstance(found, Array)
            required = all(row.get(name) is not None for row in data)
            specs.append(ColSpec(found.items, name, required))
        return Schema(specs)
    if isinstance(data, dict):
        if data and all(isinstance(v, np.ndarray) for v in data.values()):
            return Schema(
                [
                    TensorSpec(_tensor_dtype(a.dtype), (-1, *a.shape[1:]), str(k))
                    for k, a in data.items()
                ]
            )
        if any(not isinstance(k, str) for k in data):
            raise InvalidParameterError(
                "infer_signature: the dict's keys must all be strings (they name columns)."
            )
        out = []
        for name, value in data.items():
            found = _known_type(value, f"value {name!r}")
            out.append(ColSpec(found, name, _required(value)))
        return Schema(out)
    if isinstance(data, pd.Series):
        return Schema([ColSpec(_column_type(data), data.name, _required(data))])
    if isinstance(data, pd.DataFrame):
        return Schema([ColSpec(_column_type(data[c]), c, _required(data[c])) for c in data.columns])
    if isinstance(data, np.ndarray):
        return Schema([TensorSpec(_tensor_dtype(data.dtype), (-1, *data.shape[1:]))])
    if isinstance(data, list):
        found = infer_type(data)
        if not isinstance(found, Array):
            raise InvalidParameterError("infer_signature: the list holds no value to infer from.")
        return Schema([ColSpec(found.items)])
    found = infer_type(data)
    if found is None:
        raise InvalidParameterError(f"infer_signature: cannot infer a schema from {data!r}.")
    return Schema([ColSpec(found)])


def _param_type_and_shape(name: str, value: Any) -> tuple[str | Object, tuple[int, ...] | None]:
    import numpy as np

    if isinstance(value, (list, np.ndarray)):
        if np.array(value, dtype=object).ndim != 1 or any(
            isinstance(v, (list, dict, np.ndarray)) for v in value
        ):
            raise InvalidParameterError(
                f"infer_signature: param {name!r} must be a scalar, a dict or a 1-D list; "
                f"found a nested list."
            )
        if value and all(isinstance(v, (dt.date, np.datetime64)) for v in value):
            return "datetime", (-1,)
        return dtype_type(np.array(value).dtype), (-1,)
    if isinstance(value, (dt.date, np.datetime64)):
        return "datetime", None
    if isinstance(value, dict):
        found = infer_type(value)
        assert isinstance(found, Object)
        return found, None
    if np.isscalar(value):
        return dtype_type(np.array(value).dtype), None
    raise InvalidParameterError(
        f"infer_signature: param {name!r} must be a scalar, a dict or a 1-D list, found "
        f"{type(value).__name__}."
    )


def infer_param_schema(params: dict[str, Any]) -> ParamSchema:
    """The param schema of example params: each value is also the param's default."""
    import copy

    from pyfunc_ops.models.enforce import check_param_value

    if not isinstance(params, dict):
        raise InvalidParameterError(
            f"infer_signature: params must be a dict of name -> value, found "
            f"{type(params).__name__}."
        )
    specs = []
    for name, value in params.items():
        ptype, shape = _param_type_and_shape(str(name), value)
        spec = ParamSpec(str(name), ptype, None, shape)
        default = check_param_value(copy.deepcopy(value), spec)
        specs.append(ParamSpec(spec.name, ptype, default, shape))
    return ParamSchema(specs)
