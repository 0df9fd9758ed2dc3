"""Signature enforcement: inputs shaped and cast as the format's reference implementation
does, and inference parameters checked against their schema.

The accepted casts and the refusals follow the reference implementation exactly, so one
model behaves the same whichever library loads it: upcasts within a kind, small unsigned to
signed, integers of at most 4 bytes to double, int64 flags of 0/1 to floats, any datetime
precision to ``[ns]`` (timezone-aware refused), object columns re-inferred first (an object
column of ints is a long column), object booleans left alone (so ``None`` stays ``None``).

Scalar columns sit on the hot path of every ``predict``: the decision per column is made
from its dtype alone (cached per schema and dtype), casts run per dtype group on whole
blocks, and a frame that already matches is returned untouched. Only nested columns
(array, object, map) are checked value by value, as they must be. Tensor signatures are
checked by ``models.enforce_tensors``; :func:`enforce_schema` is the entry point for both.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pyfunc_ops.errors import SchemaEnforcementError
from pyfunc_ops.models.enforce_tensors import enforce_tensors
from pyfunc_ops.models.types import (
    DATA_TYPES,
    AnyType,
    Array,
    ColSpec,
    ColType,
    Map,
    Object,
    ParamSchema,
    ParamSpec,
    Schema,
)

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

_FIX = (
    "Convert the column before calling predict, or save the model with a signature that "
    "matches the data."
)


class _Refused(Exception):
    """Internal: a value-level refusal, turned into SchemaEnforcementError by the caller."""


# --------------------------------------------------------------------------- scalar columns


def _label(name: Any) -> str:
    return f"column {name!r}" if name is not None else "input column"


def _refuse(name: Any, type_name: str, dtype: Any, why: str = "the cast is not safe") -> Any:
    target = DATA_TYPES.get(type_name) or "object"
    raise SchemaEnforcementError(
        f"{_label(name)}: expected type {type_name!r} (numpy {target}), found dtype {dtype}; "
        f"{why}. {_FIX}"
    )


# Decisions made from the dtype alone: ("keep",) / ("astype", dtype) / ("values", how).
def _plan(dtype: Any, type_name: str) -> tuple[str, Any]:
    import numpy as np
    import pandas as pd

    kind = getattr(dtype, "kind", "O")
    if kind == "O" and type_name not in ("string", "binary"):
        return ("values", "infer")  # re-infer the objects first, then decide
    if type_name == "string":
        if kind == "O" or isinstance(dtype, pd.StringDtype):
            return ("keep", None)
        return ("refuse", None)
    if type_name == "binary":
        if kind in "OS" or isinstance(dtype, pd.StringDtype):
            return ("keep", None)
        return ("refuse", None)
    target = np.dtype(DATA_TYPES[type_name])
    if dtype == target:
        return ("keep", None)
    if type_name == "datetime":
        if kind == "M":
            if isinstance(dtype, pd.DatetimeTZDtype):
                return ("refuse", "tz")
            return ("astype", target)
        return ("refuse", None)
    if type_name == "boolean":
        return ("refuse", None)
    size = getattr(dtype, "itemsize", 0)
    if kind == target.kind:
        upcast = size <= target.itemsize
    elif kind == "u" and target.kind == "i":
        upcast = size < target.itemsize
    elif kind in "iu" and target == np.float64:
        upcast = size <= 6
    else:
        upcast = False
    if upcast:
        return ("astype", target)
    if dtype == np.int64 and target.kind == "f":
        return ("values", "flags")
    return ("refuse", "nan" if dtype == np.float64 and target.kind in "iu" else None)


def _cached_plan(schema: Schema | None, dtype: Any, type_name: str) -> tuple[str, Any]:
    if schema is None:
        return _plan(dtype, type_name)
    key = (dtype, type_name)
    plan = schema._plans.get(key)
    if plan is None:
        plan = schema._plans[key] = _plan(dtype, type_name)
    return plan


def _enforce_series(
    name: Any, values: pd.Series, type_name: str, schema: Schema | None = None
) -> pd.Series:
    """``values`` as ``type_name`` when the reference implementation accepts it, else raise."""
    import numpy as np

    action, how = _cached_plan(schema, values.dtype, type_name)
    if action == "values" and how == "infer":
        values = values.infer_objects()
        if values.dtype.kind == "O":
            if type_name == "boolean":
                return values  # None stays None, as the reference implementation leaves it
            if type_name == "datetime":
                try:
                    return values.astype(np.dtype("datetime64[ns]"))
                except (ValueError, TypeError) as exc:
                    return _refuse(name, type_name, "object", f"values are not datetimes ({exc})")
            return _refuse(name, type_name, "object")
        action, how = _cached_plan(schema, values.dtype, type_name)
        if action == "keep":
            return values
    if action == "keep":
        return values
    if action == "astype":
        try:
            return values.astype(how)
        except (TypeError, ValueError) as exc:  # e.g. missing values in a nullable column
            return _refuse(name, type_name, values.dtype, f"the values do not convert ({exc})")
    if action == "values" and how == "flags":
        flags = values.to_numpy()
        if bool(((flags == 0) | (flags == 1)).all()):
            return values.astype(DATA_TYPES[type_name])
        return _refuse(name, type_name, values.dtype)
    if how == "tz":
        return _refuse(
            name,
            type_name,
            values.dtype,
            "timezone-aware datetimes are refused; convert them to naive UTC first "
            "(series.dt.tz_convert(None))",
        )
    if how == "nan" and values.hasnans:
        return _refuse(
            name,
            type_name,
            values.dtype,
            "the cast is not safe (missing values turned the integers into floats: declare "
            "the column as double if it can hold missing values)",
        )
    return _refuse(name, type_name, values.dtype)


# --------------------------------------------------------------------------- nested values


def _is_none_or_nan(value: Any) -> bool:
    import pandas as pd

    if isinstance(value, float):
        return value != value
    return value is None or value is pd.NA or value is pd.NaT


def _enforce_scalar(value: Any, type_name: str, required: bool) -> Any:
    import numpy as np
    import pandas as pd

    if not required and _is_none_or_nan(value):
        return None
    if not np.isscalar(value):
        raise _Refused(f"expected a scalar {type_name}, got {type(value).__name__}")
    try:
        return _enforce_series("", pd.Series([value]), type_name).iloc[0]
    except SchemaEnforcementError:
        raise _Refused(f"value {value!r} is not a valid {type_name}") from None


def enforce_value(value: Any, spec: ColType, required: bool = True) -> Any:
    """Check (and safely cast) one value of a nested column against its declared type."""
    import numpy as np
    import pandas as pd

    if isinstance(spec, str):
        return _enforce_scalar(value, spec, required)
    if isinstance(spec, AnyType):
        return value
    if isinstance(spec, Array):
        if (not required or isinstance(spec.items, AnyType)) and (
            value is None or (isinstance(value, (list, np.ndarray)) and len(value) == 0)
        ):
            return value
        if not isinstance(value, (list, np.ndarray)):
            raise _Refused(f"expected a list or numpy array, got {type(value).__name__}")
        if isinstance(spec.items, str):
            if len(value) == 0:
                return value
            try:
                cast = _enforce_series("", pd.Series(value), spec.items)
            except SchemaEnforcementError:
                raise _Refused(f"array items are not all valid {spec.items}") from None
            out = cast.to_numpy(dtype=np.dtype(DATA_TYPES.get(spec.items) or "object"))
            return out.tolist() if isinstance(value, list) else out
        items = [enforce_value(v, spec.items, required) for v in value]
        return np.array(items) if isinstance(value, np.ndarray) else items
    if isinstance(spec, Object):
        if not required and (value is None or value == {}):
            return value
        if not isinstance(value, dict):
            raise _Refused(f"expected a dict, got {type(value).__name__}")
        props = {p.name: p for p in spec.properties}
        missing = sorted(k for k, p in props.items() if p.required and k not in value)
        if missing:
            raise _Refused(f"missing required properties {missing}")
        unknown = sorted(str(k) for k in value if k not in props)
        if unknown:
            raise _Refused(f"properties not declared in the schema: {unknown}")
        out = {}
        for key, item in value.items():
            try:
                out[key] = enforce_value(item, props[key].type, props[key].required)
            except _Refused as exc:
                raise _Refused(f"property {key!r}: {exc}") from None
        return out
    if isinstance(spec, Map):
        if (not required or isinstance(spec.values, AnyType)) and (value is None or value == {}):
            return value
        if not isinstance(value, dict):
            raise _Refused(f"expected a dict, got {type(value).__name__}")
        if not all(isinstance(k, str) for k in value):
            raise _Refused("map keys must all be strings")
        return {k: enforce_value(v, spec.values, required) for k, v in value.items()}
    raise _Refused(f"unknown type {spec!r}")


def _enforce_nested(name: Any, values: pd.Series, spec: ColSpec) -> pd.Series:
    import pandas as pd

    out = []
    for position, value in enumerate(values.to_numpy()):
        try:
            out.append(enforce_value(value, spec.type, spec.required))
        except _Refused as exc:
            raise SchemaEnforcementError(
                f"{_label(name)}: row {position} does not match the declared type "
                f"{spec.to_dict()}: {exc}. {_FIX}"
            ) from None
    return pd.Series(out, index=values.index, name=values.name, dtype=object)


# --------------------------------------------------------------------------- input shapes


def _is_scalar(value: Any) -> bool:
    import numpy as np

    return bool(np.isscalar(value)) or value is None


def as_frame_for(data: Any, schema: Schema) -> pd.DataFrame:
    """The input as a DataFrame the way the reference implementation builds one for a
    column signature: a scalar or a dict of scalars (or lists of strings) is one row."""
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return pd.DataFrame(data)
    one_string = len(schema.inputs) == 1 and not schema.has_names()
    if isinstance(data, (str, bytes)) and not (one_string and schema.inputs[0].type == "string"):
        # One unnamed string column takes a bare string as its one row (the reference
        # behaviour); anywhere else a string is a mistake, not a row of characters.
        raise SchemaEnforcementError(
            f"The model has a column signature, so its input must be tabular; found a bare "
            f"{type(data).__name__} ({data[:40]!r}). Wrap it as a row or a column, e.g. "
            f"{{{schema.names()[0] if schema.has_names() else 'column'!r}: [value]}} or a "
            "DataFrame."
        )
    try:
        if np.isscalar(data):
            return pd.DataFrame([data])
        if isinstance(data, dict):
            if any(isinstance(c.type, (Array, Object)) for c in schema.inputs) or all(
                _is_scalar(v) or (isinstance(v, list) and all(isinstance(i, str) for i in v))
                for v in data.values()
            ):
                return pd.DataFrame([data])
            return pd.DataFrame(
                {
                    k: v.tolist() if isinstance(v, np.ndarray) and v.ndim > 1 else v
                    for k, v in data.items()
                }
            )
        if isinstance(data, (list, np.ndarray)):
            return pd.DataFrame(data)
    except (ValueError, TypeError) as exc:
        raise SchemaEnforcementError(
            f"The model has a column signature, so its input must be tabular; the "
            f"{type(data).__name__} input could not become a DataFrame ({exc}). Pass a "
            "DataFrame, a dict of columns, a list of rows or a 2-D array."
        ) from None
    raise SchemaEnforcementError(
        f"The model has a column signature, so its input must be tabular; found a "
        f"{type(data).__name__}. Pass a DataFrame, a dict of columns, a list or an array."
    )


# --------------------------------------------------------------------------- column schemas


def _enforce_columns(data: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    import pandas as pd

    if schema.has_names():
        present = set(data.columns)
        missing = [n for n in schema.required_names() if n not in present]
        if missing:
            raise SchemaEnforcementError(
                f"Model input is missing required column(s) {missing}; the signature expects "
                f"{schema.names()}, the input has {list(map(str, data.columns))}. Add the "
                "missing columns (names are case-sensitive)."
            )
        declared = set(schema.names())
        if not schema._warned_extra and len(present) > len(declared & present):
            schema._warned_extra = True
            extra = [str(c) for c in data.columns if c not in declared]
            logger.warning(
                "The input has columns the signature does not declare, ignored: %s%s (logged "
                "once per model).",
                extra[:20],
                "..." if len(extra) > 20 else "",
            )
        specs = [(c.name, c) for c in schema.inputs if c.name in present]
    else:
        if len(data.columns) < len(schema.inputs):
            raise SchemaEnforcementError(
                f"Model input has {len(data.columns)} columns; the signature expects "
                f"{len(schema.inputs)} unnamed columns. Pass all of them, in order."
            )
        specs = list(zip(data.columns[: len(schema.inputs)], schema.inputs, strict=False))
    names = [n for n, _ in specs]
    dtypes = dict(zip(data.columns, data.dtypes.to_numpy(), strict=False))
    groups: dict[Any, list[Any]] = {}  # target dtype -> column names cast with one astype
    replaced: dict[Any, pd.Series] = {}
    for name, spec in specs:
        if not isinstance(spec.type, str):
            if not isinstance(spec.type, AnyType):
                replaced[name] = _enforce_nested(name, data[name], spec)
            continue
        action, how = _cached_plan(schema, dtypes[name], spec.type)
        if action == "keep":
            continue
        if action == "astype":
            groups.setdefault(how, []).append(name)
            continue
        column = data[name]
        cast = _enforce_series(name, column, spec.type, schema)
        if cast is not column:
            replaced[name] = cast
    if not groups and not replaced:
        return data if data.columns.tolist() == names else data[names]
    parts: dict[Any, Any] = {}
    by_name = dict(specs)
    for target, cols in groups.items():
        try:
            parts.update(data[cols].astype(target).items())
        except (TypeError, ValueError):
            # One column does not convert (a nullable integer holding NA...): find it, so
            # the error names it.
            for col in cols:
                parts[col] = _enforce_series(col, data[col], str(by_name[col].type), schema)
    parts.update(replaced)
    columns = {n: parts[n] if n in parts else data[n] for n in names}
    return pd.DataFrame(columns, index=data.index, copy=False)


def refuse_duplicate_columns(frame: Any) -> None:
    """A DataFrame whose column names repeat is ambiguous (``df["a"]`` is then a frame):
    refused with :class:`SchemaEnforcementError` naming the repeated names."""
    columns = getattr(frame, "columns", None)
    if columns is None or columns.is_unique:
        return
    repeated = sorted({str(c) for c in columns[columns.duplicated()]})
    raise SchemaEnforcementError(
        f"Model input has duplicate column names {repeated}: each column must have its own "
        "name. Rename or drop the repeated columns before predicting."
    )


def enforce_schema(data: Any, schema: Schema) -> Any:
    """Check ``data`` against ``schema`` and return it in the form the model receives.

    Column schemas: the input becomes a DataFrame (a scalar or a dict of scalars is one
    row), missing required columns are refused naming them, extra columns are dropped,
    columns are ordered as declared and safely cast; a frame that already matches is
    returned as it is. Tensor schemas: an ndarray (or a dict of them) of the declared
    dtype, its shape checked (``-1`` free).
    """
    if not schema.inputs:
        return data
    if schema.is_tensor:
        return enforce_tensors(data, schema)
    frame = as_frame_for(data, schema)
    refuse_duplicate_columns(frame)
    if schema.matches_exactly(frame):
        return frame
    return _enforce_columns(frame, schema)


# --------------------------------------------------------------------------- params

_PARAM_CASTS = {
    "long": ("integer",),
    "float": ("integer", "long"),
    "double": ("integer", "long", "float"),
}
_PYTHON_TYPES: dict[str, Any] = {
    "boolean": bool,
    "integer": int,
    "long": int,
    "float": float,
    "double": float,
    "string": str,
}


def _has_type(type_name: str, value: Any) -> bool:
    """The reference implementation's type test: the value's class is the type's numpy,
    pandas or Python class (``bool`` is not an ``int`` here)."""
    import numpy as np

    if type_name == "string":
        return type(value) in (str, np.str_)
    accepted = [np.dtype(DATA_TYPES[type_name]), _PYTHON_TYPES[type_name]]
    return any(type(value) == t for t in accepted)  # noqa: E721 - numpy compares types to dtypes


def _param_scalar(value: Any, type_name: str) -> Any:
    import numpy as np

    if value is None:
        return None
    if type_name == "datetime":
        try:
            converted = np.datetime64(value).item()
        except (ValueError, TypeError) as exc:
            raise _Refused(f"{value!r} is not a datetime ({exc})") from None
        if isinstance(converted, int):
            raise _Refused(f"{value!r} is not convertible to a date or datetime")
        return converted
    if not np.isscalar(value):
        raise _Refused(f"expected a scalar {type_name}, got {type(value).__name__} {value!r}")
    if _has_type(type_name, value) or any(
        _has_type(t, value) for t in _PARAM_CASTS.get(type_name, ())
    ):
        return _PYTHON_TYPES[type_name](value)
    raise _Refused(f"cannot safely convert {type(value).__name__} {value!r} to {type_name}")


def check_param_value(value: Any, spec: ParamSpec) -> Any:
    """``value`` validated against ``spec`` (safe coercions applied), else raise naming it."""
    import numpy as np

    try:
        if spec.shape == (-1,):
            if not isinstance(value, (list, np.ndarray)) or np.array(value).ndim != 1:
                raise _Refused(f"expected a 1-D list (shape (-1,)), got {type(value).__name__}")
            if isinstance(spec.type, Object):
                raise _Refused("object params cannot be lists")
            return [_param_scalar(v, spec.type) for v in value]
        if isinstance(spec.type, Object):
            enforce_value(value, spec.type)
            return value
        return _param_scalar(value, spec.type)
    except _Refused as exc:
        declared = spec.type if isinstance(spec.type, str) else "object"
        shape = " list" if spec.shape else ""
        raise SchemaEnforcementError(
            f"param {spec.name!r}: expected {declared}{shape}, {exc}. Pass a value of the "
            "declared type, or leave it out to use the default."
        ) from None


def enforce_params(params: Any, schema: ParamSchema | None) -> dict[str, Any] | None:
    """Params as the model receives them: defaults filled, safe coercions applied.

    Undeclared keys are dropped with a warning; without a param schema every key is
    dropped (the reference implementation's rule: params must be declared to be used).
    """
    if schema is None:
        if params is None or params == {}:
            return params
        keys = list(params) if isinstance(params, dict) else None
        logger.warning(
            "The model's signature declares no params, so the params given are ignored: %s. "
            "Save the model with a params schema (infer_signature(input, output, params)).",
            keys if keys is not None else f"not a dict ({type(params).__name__})",
        )
        return {}
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise SchemaEnforcementError(
            f"params must be a dict of name -> value, found {type(params).__name__}."
        )
    params = {str(k): v for k, v in params.items()}
    declared = schema.names()
    ignored = [k for k in params if k not in declared]
    if ignored:
        logger.warning(
            "Params %s are not declared in the model's signature and are ignored; declared: %s.",
            ignored,
            declared,
        )
    out: dict[str, Any] = {}
    for spec in schema.params:
        out[spec.name] = (
            check_param_value(params[spec.name], spec) if spec.name in params else spec.default
        )
    return out
