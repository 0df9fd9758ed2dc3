"""Tensor-signature enforcement: the input an ndarray (or a dict of them by name) of the
declared dtype and shape, as the format's reference implementation checks it.

Apart from column enforcement (``models.enforce``), which shares nothing with it but the
error type: a tensor model's input is usually an ndarray, so pandas is never imported here
unless the caller already holds a pandas object.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from pyfunc_ops.errors import SchemaEnforcementError
from pyfunc_ops.models.types import Schema, TensorSpec

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


def _clean_dtype(dtype: np.dtype) -> np.dtype:
    import numpy as np

    if dtype.char == "U":
        return np.dtype("str")
    if dtype.char == "S":
        return np.dtype("bytes")
    return dtype


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _enforce_tensor(values: Any, spec: TensorSpec) -> Any:
    import numpy as np

    expected = np.dtype(spec.dtype)
    shape = spec.shape
    label = f"tensor {spec.name!r}" if spec.name is not None else "the input tensor"
    if len(shape) == 1 and shape[0] == -1 and expected == np.dtype("O"):
        return values
    if len(shape) > 1 and -1 in shape[1:] and values.ndim == 1 and values.dtype == object:
        return values  # a ragged array
    actual = tuple(values.shape)
    if len(actual) != len(shape) or any(
        e not in (-1, a) for e, a in zip(shape, actual, strict=False)
    ):
        raise SchemaEnforcementError(
            f"{label}: shape {_shape_text(actual)} does not match the declared shape "
            f"{_shape_text(shape)} (-1 is free). Reshape the input."
        )
    if _clean_dtype(values.dtype) != expected:
        raise SchemaEnforcementError(
            f"{label}: dtype {values.dtype} does not match the declared dtype {expected}; "
            f"convert it first (array.astype({str(expected)!r}))."
        )
    return values


def _tensor_from_column(name: Any, column: pd.Series, spec: TensorSpec) -> Any:
    import numpy as np

    label = f"column {name!r}" if name is not None else "the input column"
    if spec.shape[0] != -1 or -1 in spec.shape[1:]:
        raise SchemaEnforcementError(
            f"{label}: a DataFrame can feed a tensor only when its first dimension is free and "
            f"the others fixed; the signature declares {_shape_text(spec.shape)}. Pass a numpy "
            "array instead."
        )
    first = column.iloc[0]
    if np.isscalar(first):
        if spec.shape in ((-1,), (-1, 1)):
            return _enforce_tensor(np.asarray(column, dtype=spec.dtype).reshape(spec.shape), spec)
        raise SchemaEnforcementError(
            f"{label} holds scalars, which fit a tensor of shape (-1,) or (-1, 1) only; the "
            f"signature declares {_shape_text(spec.shape)}."
        )
    if isinstance(first, (list, np.ndarray)):
        try:
            stacked = np.vstack(column.tolist()).reshape(spec.shape)
            if isinstance(first, list):
                stacked = stacked.astype(spec.dtype)
        except ValueError:
            stacked = None
        if stacked is None or len(stacked) != len(column):
            raise SchemaEnforcementError(
                f"{label}: its values cannot be reshaped to {_shape_text(spec.shape)}; every "
                f"row must hold the same number of {spec.dtype} values."
            )
        return _enforce_tensor(stacked, spec)
    raise SchemaEnforcementError(
        f"{label}: a tensor signature needs scalars, lists or numpy arrays in the DataFrame, "
        f"found {type(first).__name__}."
    )


def enforce_tensors(data: Any, schema: Schema) -> Any:
    """``data`` as the model receives it under the tensor ``schema``: an ndarray (or a dict
    of them, by name) of the declared dtype, its shape checked (``-1`` is free)."""
    import numpy as np

    # A tensor model's input is usually an ndarray: pandas (and pyarrow with it) is not
    # imported for it. A pandas object can only exist once pandas has been imported.
    pd = sys.modules.get("pandas")
    frames: tuple[type[Any], ...] = (pd.DataFrame,) if pd is not None else ()
    if pd is not None and isinstance(data, pd.Series):
        data = pd.DataFrame(data)
    if schema.has_names():
        required = schema.required_names()
        if len(required) == 1 and isinstance(data, np.ndarray):
            data = {required[0]: data}
        if isinstance(data, (dict, *frames)):
            present = set(data.keys() if isinstance(data, dict) else data.columns)  # type: ignore[attr-defined]
            missing = [n for n in required if n not in present]
            if missing:
                raise SchemaEnforcementError(
                    f"Model input is missing tensor(s) {missing}; the signature expects "
                    f"{schema.names()}, the input has {sorted(map(str, present))}."
                )
        if isinstance(data, dict):
            out = {}
            for spec in schema.inputs:
                value = data[spec.name]
                if not isinstance(value, np.ndarray):
                    raise SchemaEnforcementError(
                        f"tensor {spec.name!r}: expected a numpy array, found "
                        f"{type(value).__name__}. Pass a dict of name -> numpy array."
                    )
                out[spec.name] = _enforce_tensor(value, spec)
            return out
        if isinstance(data, frames):
            return {
                spec.name: _tensor_from_column(spec.name, data[spec.name], spec)
                for spec in schema.inputs
            }
        raise SchemaEnforcementError(
            f"The model's signature names its tensors {schema.names()}, so its input must be "
            f"a dict of name -> numpy array (or a DataFrame of those columns); found "
            f"{type(data).__name__}."
        )
    spec = schema.inputs[0]
    if isinstance(data, frames):
        if data.empty:
            raise SchemaEnforcementError("Model input DataFrame is empty; pass at least one row.")
        if len(data.columns) == 1:
            return _tensor_from_column(None, data[data.columns[0]], spec)
        if spec.shape != (-1, len(data.columns)):
            raise SchemaEnforcementError(
                f"The input DataFrame has {len(data.columns)} columns; the model's unnamed "
                f"tensor has shape {_shape_text(spec.shape)}, so a DataFrame input needs "
                f"shape (-1, {len(data.columns)}). Pass a numpy array of the declared shape."
            )
        return _enforce_tensor(data.to_numpy(), spec)
    if isinstance(data, np.ndarray) or hasattr(data, "toarray"):
        return _enforce_tensor(data, spec)
    raise SchemaEnforcementError(
        f"The model's signature declares one unnamed tensor, so its input must be a numpy "
        f"array (or a DataFrame); found {type(data).__name__}."
    )


__all__ = ["enforce_tensors"]
