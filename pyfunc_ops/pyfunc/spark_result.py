"""``spark_udf``'s ``result_type``: which Spark types are accepted, and how predictions fit them.

The format's reference fixes the semantics: a scalar type takes the *leftmost* prediction
column that fits it, an array type takes *every* column that fits, string types turn
values into text. Parsing happens once on the driver (so a bad type fails before any job
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
    "'array<float>', 'array<double>', 'array<string>' (or the matching pyspark DataType)"
)
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_NUMPY_TYPES = {"int": "int32", "long": "int64", "float": "float32", "double": "float64"}


@dataclass(frozen=True)
class ResultSpec:
    """A validated ``result_type``: the element ``kind`` and whether it is an array."""

    kind: str
    array: bool = False

    @property
    def ddl(self) -> str:
        return f"array<{self.kind}>" if self.array else self.kind

    def spark_type(self) -> Any:
        """The pyspark ``DataType`` (imported lazily: workers unpickle specs without Spark)."""
        from pyspark.sql import types as T

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


def parse_result_type(result_type: Any) -> ResultSpec:
    """Validate ``result_type`` (a DDL string or a pyspark ``DataType``) on the driver."""
    if isinstance(result_type, str):
        text = "".join(result_type.split()).lower()
        array = text.startswith("array<") and text.endswith(">")
        inner = text[len("array<") : -1] if array else text
        kind = _KINDS.get(inner)
        if kind is None:
            raise _refuse(result_type)
        return ResultSpec(kind, array)
    name = type(result_type).__name__
    if name == "ArrayType":
        element = getattr(result_type, "elementType", None)
        kind = _SPARK_CLASSES.get(type(element).__name__)
        if kind is not None:
            return ResultSpec(kind, True)
    elif name in _SPARK_CLASSES and type(result_type).__module__.startswith("pyspark"):
        return ResultSpec(_SPARK_CLASSES[name])
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


def make_converter(spec: ResultSpec) -> Callable[[Any], pd.Series]:
    """A function turning one batch of predictions into the Series Spark expects."""
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
