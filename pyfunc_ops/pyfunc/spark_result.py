"""``spark_udf``'s ``result_type``: which Spark types are accepted, and how predictions fit them.

The format's reference fixes the semantics: a scalar type takes the *leftmost* prediction
column that fits it, an array type takes *every* column that fits, string types turn
values into text. A struct type (``struct<a:double,b:string>`` or a ``StructType`` of
those element types) takes one prediction column per field: by name from a DataFrame
(MLflow's rule), by position from a 2-D array, each fitted to its field's type.

Parsing happens once on the driver (so a bad type fails before any job
runs); conversion runs once per Arrow batch inside the workers and therefore stays
vectorized: dtype checks, a min/max range check and one ``astype`` per selected column.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyfunc_ops.errors import ResultTypeError

if TYPE_CHECKING:
    import pandas as pd

# Element kinds, in the reference's order, with their DDL spellings.
_KINDS: dict[str, str] = {
    "int": "int",
    "integer": "int",
    "long": "long",
    "bigint": "long",
    "float": "float",
    "real": "float",
    "double": "double",
    "string": "string",
}
_SPARK_CLASSES = {
    "IntegerType": "int",
    "LongType": "long",
    "FloatType": "float",
    "DoubleType": "double",
    "StringType": "string",
}
ACCEPTED = (
    "'int', 'long', 'float', 'double', 'string', 'array<int>', 'array<long>', "
    "'array<float>', 'array<double>', 'array<string>', 'struct<name:type,...>' of those "
    "(or the matching pyspark DataType)"
)
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_NUMPY_TYPES = {"int": "int32", "long": "int64", "float": "float32", "double": "float64"}


@dataclass(frozen=True)
class ResultSpec:
    """A validated ``result_type``: the element ``kind`` and whether it is an array, or
    (``kind == "struct"``) the struct's ``fields``, each a scalar or array spec."""

    kind: str
    array: bool = False
    fields: tuple[tuple[str, ResultSpec], ...] = ()

    @property
    def ddl(self) -> str:
        if self.kind == "struct":
            return "struct<" + ",".join(f"{n}:{f.ddl}" for n, f in self.fields) + ">"
        return f"array<{self.kind}>" if self.array else self.kind

    def spark_type(self) -> Any:
        """The pyspark ``DataType`` (imported lazily: workers unpickle specs without Spark)."""
        from pyspark.sql import types as T

        if self.kind == "struct":
            return T.StructType([T.StructField(n, f.spark_type()) for n, f in self.fields])
        element = {
            "int": T.IntegerType,
            "long": T.LongType,
            "float": T.FloatType,
            "double": T.DoubleType,
            "string": T.StringType,
        }[self.kind]()
        return T.ArrayType(element) if self.array else element


def _refuse(result_type: Any) -> ResultTypeError:
    shown = result_type if isinstance(result_type, str) else repr(result_type)
    return ResultTypeError(
        f"spark_udf: result_type {shown!r} is not supported. Use one of {ACCEPTED}; for "
        "other outputs return a string ('string' or 'array<string>') and parse it in Spark."
    )


def _split_fields(text: str) -> list[str]:
    """The comma-separated parts of ``text`` at nesting depth 0 (``array<..>`` keeps its own)."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"<": 1, ">": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _parse_struct(result_type: Any, inner: str) -> ResultSpec:
    fields: list[tuple[str, ResultSpec]] = []
    for part in _split_fields(inner):
        name, sep, type_text = part.strip().partition(":")
        if not sep:  # Spark's DDL also allows "name type"
            name, _, type_text = part.strip().partition(" ")
        name = name.strip().strip("`")
        field = _parse_plain(type_text) if name else None
        if field is None or name in dict(fields):
            raise _refuse(result_type)
        fields.append((name, field))
    return ResultSpec("struct", fields=tuple(fields))


def _parse_plain(text: str) -> ResultSpec | None:
    """A scalar or array spec from DDL text, or None."""
    text = "".join(text.split()).lower()
    array = text.startswith("array<") and text.endswith(">")
    kind = _KINDS.get(text[len("array<") : -1] if array else text)
    return None if kind is None else ResultSpec(kind, array)


def _parse_datatype(result_type: Any) -> ResultSpec | None:
    """A scalar or array spec from a pyspark ``DataType``, or None."""
    name = type(result_type).__name__
    if name == "ArrayType":
        element = getattr(result_type, "elementType", None)
        kind = _SPARK_CLASSES.get(type(element).__name__)
        return None if kind is None else ResultSpec(kind, True)
    if name in _SPARK_CLASSES and type(result_type).__module__.startswith("pyspark"):
        return ResultSpec(_SPARK_CLASSES[name])
    return None


def parse_result_type(result_type: Any) -> ResultSpec:
    """Validate ``result_type`` (a DDL string or a pyspark ``DataType``) on the driver."""
    if isinstance(result_type, str):
        text = result_type.strip()
        if text.lower().startswith("struct<") and text.endswith(">"):
            return _parse_struct(result_type, text[len("struct<") : -1])
        spec = _parse_plain(text)
        if spec is None:
            raise _refuse(result_type)
        return spec
    if type(result_type).__name__ == "StructType" and hasattr(result_type, "fields"):
        fields = []
        for field in result_type.fields:
            spec = _parse_datatype(field.dataType)
            if spec is None:
                raise _refuse(result_type)
            fields.append((str(field.name), spec))
        if not fields or len({n for n, _ in fields}) != len(fields):
            raise _refuse(result_type)
        return ResultSpec("struct", fields=tuple(fields))
    spec = _parse_datatype(result_type)
    if spec is not None:
        return spec
    raise _refuse(result_type)


def _columns(predictions: Any) -> list[Any]:
    """The prediction columns (numpy arrays or pandas Series), left to right, no copies."""
    import numpy as np
    import pandas as pd

    if isinstance(predictions, pd.DataFrame):
        return [predictions.iloc[:, i] for i in range(predictions.shape[1])]
    if isinstance(predictions, pd.Series):
        return [predictions]
    array = np.asarray(predictions)
    if array.ndim == 1:
        return [array]
    if array.ndim == 2:
        return [array[:, i] for i in range(array.shape[1])]
    raise ResultTypeError(
        f"spark_udf: the model returned a {array.ndim}-dimensional "
        f"{type(predictions).__name__}; expected a 1-D or 2-D array, a Series or a "
        "DataFrame (one row per input row)."
    )


def _describe(columns: Sequence[Any]) -> str:
    return ", ".join(f"column {i}: {c.dtype}" for i, c in enumerate(columns))


def _kind(column: Any) -> str:
    return str(getattr(column.dtype, "kind", "O"))


def _fits(column: Any, bounds: tuple[int, int]) -> bool:
    """Whether the integer ``column``'s values lie within ``bounds`` (NaN/NA ignored)."""
    import numpy as np

    dtype = column.dtype
    info = np.iinfo(dtype.numpy_dtype if hasattr(dtype, "numpy_dtype") else dtype)
    if info.min >= bounds[0] and info.max <= bounds[1]:
        return True
    if len(column) == 0:
        return True
    import pandas as pd

    low, high = column.min(), column.max()
    if pd.isna(low) or pd.isna(high):  # every value is missing
        return True
    return bool(int(low) >= bounds[0] and int(high) <= bounds[1])


def _as_series(values: Any, dtype: str) -> pd.Series:
    import pandas as pd

    if isinstance(values, pd.Series):
        if str(values.dtype).islower():  # numpy dtype: plain cast
            return values.astype(dtype, copy=False).reset_index(drop=True)
        # Nullable extension dtype (Int64, Float64): keep missing values as nulls.
        return values.astype(dtype.capitalize()).reset_index(drop=True)
    return pd.Series(values.astype(dtype, copy=False), copy=False)


def _as_strings(values: Any) -> pd.Series:
    import pandas as pd

    series = values if isinstance(values, pd.Series) else pd.Series(values, copy=False)
    return series.astype(str).reset_index(drop=True)


def _select(columns: list[Any], kind: str, first_only: bool) -> list[Any]:
    """The columns that fit ``kind``, left to right (just the leftmost if ``first_only``)."""
    if kind == "string":
        return columns[:1] if first_only else columns
    if kind in ("int", "long"):
        bounds = _INT32 if kind == "int" else _INT64
        integers = [c for c in columns if _kind(c) in "iu"]
        selected = []
        for column in integers:
            if _fits(column, bounds):
                selected.append(column)
                if first_only:
                    break
        if not selected and integers:
            width = "int32" if kind == "int" else "int64"
            found = "; ".join(
                f"{c.dtype} with min {c.min()} and max {c.max()}" for c in integers[:3]
            )
            raise ResultTypeError(
                f"spark_udf: result_type {kind!r} needs integer predictions that fit in "
                f"{width} [{bounds[0]}, {bounds[1]}]; the model's integer columns hold values "
                f"outside it ({found}). Use result_type='long' or 'double'."
            )
        return selected
    numeric = [c for c in columns if _kind(c) in "iuf"]
    return numeric[:1] if first_only else numeric


def _struct_converter(spec: ResultSpec) -> Callable[[Any], pd.DataFrame]:
    """Predictions to the DataFrame a struct-typed pandas UDF returns, one column per field."""
    import pandas as pd

    names = [name for name, _ in spec.fields]
    converters = [make_converter(field) for _, field in spec.fields]

    def convert(predictions: Any) -> pd.DataFrame:
        if isinstance(predictions, pd.DataFrame):
            missing = [n for n in names if n not in predictions.columns]
            if missing:
                raise ResultTypeError(
                    f"spark_udf: result_type {spec.ddl!r} takes the prediction columns named "
                    f"{names}; the model returned columns {list(map(str, predictions.columns))} "
                    f"(missing {missing}). Name the result_type's fields after the model's "
                    "output columns."
                )
            columns = [predictions[n] for n in names]
        elif isinstance(predictions, dict):
            columns = [predictions[n] for n in names if n in predictions]
        else:
            columns = _columns(predictions)
        if len(columns) < len(names):
            raise ResultTypeError(
                f"spark_udf: result_type {spec.ddl!r} has {len(names)} fields; the model "
                f"returned {len(columns)} column(s) ({_describe(columns) or 'none'}). Return "
                "a DataFrame with those columns, or a 2-D array with one column per field."
            )
        fitted = zip(names, converters, columns, strict=False)
        return pd.DataFrame({name: fit(column) for name, fit, column in fitted})

    return convert


def make_converter(spec: ResultSpec) -> Callable[[Any], Any]:
    """A function turning one batch of predictions into the Series (a DataFrame for a struct
    type) Spark expects."""
    if spec.kind == "struct":
        return _struct_converter(spec)
    import numpy as np
    import pandas as pd

    numpy_type = _NUMPY_TYPES.get(spec.kind, "")

    def nothing_fits(columns: list[Any]) -> ResultTypeError:
        wanted = {
            "int": "an integer column whose values fit in int32",
            "long": "an integer column",
            "float": "a numeric column",
            "double": "a numeric column",
        }[spec.kind]
        return ResultTypeError(
            f"spark_udf: result_type {spec.ddl!r} needs {wanted} in the predictions, but "
            f"the model returned {_describe(columns) or 'no columns'}. Use "
            "result_type='string' or 'array<string>', or change what the model returns."
        )

    def convert(predictions: Any) -> pd.Series:
        # Fast path of the default result_type: a 1-D float64 array passes through.
        if (
            numpy_type == "float64"
            and not spec.array
            and isinstance(predictions, np.ndarray)
            and predictions.ndim == 1
            and predictions.dtype == np.float64
        ):
            return pd.Series(predictions, copy=False)
        columns = _columns(predictions)
        selected = _select(columns, spec.kind, first_only=not spec.array)
        if not selected:
            raise nothing_fits(columns)
        if not spec.array:
            if spec.kind == "string":
                return _as_strings(selected[0])
            return _as_series(selected[0], numpy_type)
        if spec.kind == "string":
            matrix = np.column_stack([_as_strings(c).to_numpy(dtype=object) for c in selected])
            return pd.Series(matrix.tolist())
        matrix = np.column_stack(
            [c.to_numpy() if isinstance(c, pd.Series) else c for c in selected]
        ).astype(numpy_type, copy=False)
        return pd.Series(list(matrix))

    return convert
