"""Input examples: stored beside the model as the format's other tools store them.

Writing follows the reference implementation (MLflow 3): ``input_example.json`` holds the
example (a DataFrame in the "split" orientation without its index, an ndarray or a dict of
ndarrays as nested lists, other dicts and lists as JSON), bytes as base64 text, missing
values as ``null``; ``serving_input_example.json`` holds the request a scoring server takes
(``{"dataframe_split": ...}`` or ``{"inputs": ...}``, plus ``"params"``). An example given as
``(data, params)`` stores both.

Reading types the example by the model's signature, so what comes back is what was saved:
int32 columns stay int32, datetimes are datetimes, binary is bytes again; dict and list
examples come back as the JSON they are.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from pyfunc_ops.errors import InvalidParameterError, ModelFormatError

EXAMPLE_FILE_NAME = "input_example.json"
SERVING_FILE_NAME = "serving_input_example.json"


class _Encoder(json.JSONEncoder):
    """JSON for numpy and pandas values, bytes as base64 (as the reference encoder)."""

    def default(self, o: Any) -> Any:
        import numpy as np
        import pandas as pd

        if isinstance(o, np.ndarray):
            if o.dtype == object:
                return [self.default(x) if not _plain(x) else x for x in o.tolist()]
            if o.dtype.kind == "S":
                return [base64.encodebytes(x).decode("ascii") for x in o.ravel().tolist()]
            return o.tolist()
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, (bytes, bytearray)):
            return base64.encodebytes(bytes(o)).decode("ascii")
        if isinstance(o, np.datetime64):
            return np.datetime_as_string(o)
        if isinstance(o, (pd.Timestamp, dt.date, dt.datetime, dt.time)):
            return o.isoformat()
        return super().default(o)


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool, list, dict))


def _nan_to_none(array: Any) -> Any:
    import numpy as np

    if np.issubdtype(array.dtype, np.number):
        return np.where(np.isnan(array), None, array)
    return array


def _split_params(example: Any) -> tuple[Any, dict[str, Any] | None]:
    if isinstance(example, tuple) and len(example) == 2 and isinstance(example[1], dict):
        from pyfunc_ops.models.infer import infer_param_schema

        infer_param_schema(example[1])  # refuses params that have no type in the format
        return example[0], example[1]
    return example, None


def build_input_example(example: Any) -> tuple[dict[str, Any], str, str, Any, Any]:
    """(info block, input_example.json text, serving text, data, params) for ``example``."""
    import numpy as np
    import pandas as pd

    data, params = _split_params(example)
    info: dict[str, Any] = {"artifact_path": EXAMPLE_FILE_NAME}
    if params:
        info["params"] = "true"
    if isinstance(data, pd.Series):
        data = data.to_frame()
    stored: Any
    if isinstance(data, pd.DataFrame):
        split = data.where(data.notnull(), None).to_dict(orient="split")
        del split["index"]
        if list(data.columns) == list(range(len(data.columns))):
            del split["columns"]
        stored, serving = split, {"dataframe_split": split}
        info.update(type="dataframe", pandas_orient="split" if "columns" in split else "values")
    elif isinstance(data, np.ndarray):
        stored = _nan_to_none(data).tolist()
        serving = {"inputs": stored}
        info["type"] = "ndarray"
    elif isinstance(data, dict) and any(isinstance(v, np.ndarray) for v in data.values()):
        if not all(isinstance(v, np.ndarray) for v in data.values()):
            raise InvalidParameterError(
                "input_example: a dict example mixes numpy arrays and other values; pass a "
                "dict of arrays (named tensors) or a dict of plain values."
            )
        stored = {k: _nan_to_none(v).tolist() for k, v in data.items()}
        serving = {"inputs": stored}
        info["type"] = "ndarray"
    elif isinstance(data, (dict, list)):
        stored, serving = data, {"inputs": data}
        info["type"] = "json_object"
    else:
        raise InvalidParameterError(
            f"input_example: expected a pandas DataFrame, dict, list or numpy array (or a "
            f"(data, params) tuple of those), found {type(data).__name__}."
        )
    if params:
        stored = {"inputs": stored, "params": params}
        serving = {**serving, "params": params}
    info["serving_input_path"] = SERVING_FILE_NAME
    try:
        text = json.dumps(stored, cls=_Encoder)
        serving_text = json.dumps(serving, cls=_Encoder, indent=2)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"input_example: the example cannot be stored as JSON ({exc}); use plain values, "
            "numpy/pandas scalars, datetimes or bytes."
        ) from None
    return info, text, serving_text, data, params


def save_input_example(model_dir: Path, example: Any) -> tuple[dict[str, Any], Any]:
    """Write the example files into ``model_dir``; return the info block and the example's
    data (what a signature is inferred from)."""
    info, text, serving_text, data, _ = build_input_example(example)
    (Path(model_dir) / EXAMPLE_FILE_NAME).write_text(text)
    (Path(model_dir) / SERVING_FILE_NAME).write_text(serving_text)
    return info, data


def _confined(model_dir: Path, name: Any, key: str) -> Path:
    if not isinstance(name, str) or not name:
        raise ModelFormatError(
            f"{model_dir}: saved_input_example_info {key!r} must be a file name, found {name!r}."
        )
    root = Path(model_dir).resolve()
    target = (root / name).resolve()
    if not target.is_relative_to(root):
        raise ModelFormatError(
            f"{model_dir}: saved_input_example_info {key!r} {name!r} points outside "
            "the model folder; the example must be a file inside it."
        )
    return target


def _read_json(model_dir: Path, info: dict[str, Any]) -> Any:
    name = info.get("artifact_path")
    target = _confined(model_dir, name, "artifact_path")
    try:
        return json.loads(target.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFormatError(
            f"{model_dir}: the input example file {name!r} named in the MLmodel is missing."
        ) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelFormatError(
            f"{model_dir}: the input example file {name!r} is not JSON text ({exc})."
        ) from None


def _resolve(model: Any, info: dict[str, Any] | None) -> tuple[Path, dict[str, Any] | None, Any]:
    """(folder, info block, signature inputs) of a path, a PyFuncModel or a Model."""
    from pyfunc_ops.models.mlmodel import Model

    meta = getattr(model, "metadata", None)
    folder = getattr(model, "model_path", None)
    if meta is None and isinstance(model, (str, os.PathLike)):
        folder = os.fspath(model)
        try:
            meta = Model.load(folder)
        except (ModelFormatError, OSError):
            if info is None:
                raise
            meta = None
    if folder is None:
        raise InvalidParameterError(
            f"load_input_example: expected a model folder path or a loaded model, found "
            f"{type(model).__name__}."
        )
    if info is None and meta is not None:
        info = meta.saved_input_example_info
    signature = meta.signature if meta is not None else None
    return Path(folder), info, signature.inputs if signature is not None else None


def load_input_example(model: Any, info: dict[str, Any] | None = None) -> Any:
    """The model's input example typed by its signature (None when it has none).

    ``model`` is a model folder or a loaded model; ``info`` overrides the MLmodel's
    ``saved_input_example_info``. DataFrame examples come back as DataFrames with the
    signature's dtypes, tensor examples as ndarrays (or a dict of them), dict and list
    examples as the JSON they are.
    """
    folder, info, schema = _resolve(model, info)
    if not info:
        return None
    kind = info.get("type")
    if kind not in ("dataframe", "ndarray", "json_object"):
        raise ModelFormatError(
            f"{folder}: saved_input_example_info type {kind!r} is not supported; expected "
            "'dataframe', 'ndarray' or 'json_object'."
        )
    payload = _read_json(folder, info)
    if info.get("params") and isinstance(payload, dict) and "inputs" in payload:
        payload = payload["inputs"]
    if kind == "json_object":
        return payload
    if kind == "ndarray":
        return _typed_tensors(payload, schema)
    return _typed_frame(folder, info, payload, schema)


def load_input_example_params(model: Any, info: dict[str, Any] | None = None) -> Any:
    """The params stored with the input example (None when there are none)."""
    folder, info, _ = _resolve(model, info)
    if not info or not info.get("params"):
        return None
    payload = _read_json(folder, info)
    return payload.get("params") if isinstance(payload, dict) else None


def _typed_tensors(payload: Any, schema: Any) -> Any:
    import numpy as np

    specs = {s.name: s for s in schema.inputs} if schema is not None else {}
    if isinstance(payload, dict):
        return {
            k: np.array(v, dtype=specs[k].dtype if k in specs and schema.is_tensor else None)
            for k, v in payload.items()
        }
    if schema is not None and schema.is_tensor:
        return np.array(payload, dtype=schema.inputs[0].dtype)
    return np.array(payload)


def _typed_frame(folder: Path, info: dict[str, Any], payload: Any, schema: Any) -> Any:
    import pandas as pd

    name = info.get("artifact_path")
    if isinstance(payload, dict) and "dataframe_split" in payload:
        payload = payload["dataframe_split"]
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise ModelFormatError(
            f"{folder}: the input example file {name!r} must hold a JSON object with a "
            "'data' list (pandas 'split' orient)."
        )
    try:
        frame = pd.DataFrame(payload["data"], columns=payload.get("columns"))
    except (TypeError, ValueError) as exc:
        raise ModelFormatError(
            f"{folder}: the input example file {name!r} does not describe a table ({exc})."
        ) from None
    if schema is None or schema.is_tensor:
        return frame
    try:
        return _cast_frame(frame, schema)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ModelFormatError(
            f"{folder}: the input example {name!r} does not fit the model's signature ({exc})."
        ) from None


def _cast_frame(frame: Any, schema: Any) -> Any:
    """Cast example columns to the signature's types (base64 binary decoded)."""
    import numpy as np
    import pandas as pd

    from pyfunc_ops.models.enforce import _Refused, enforce_value
    from pyfunc_ops.models.types import DATA_TYPES, AnyType

    if schema.has_names():
        pairs = [(c.name, c) for c in schema.inputs if c.name in frame.columns]
    else:
        pairs = list(zip(frame.columns, schema.inputs, strict=False))
    for column, spec in pairs:
        values = frame[column]
        if isinstance(spec.type, AnyType):
            continue
        if not isinstance(spec.type, str):
            try:
                cast = [enforce_value(v, spec.type, spec.required) for v in values]
            except _Refused as exc:
                raise ValueError(f"column {column!r}: {exc}") from None
            frame[column] = pd.Series(cast, index=frame.index, dtype=object)
        elif spec.type == "binary":
            frame[column] = values.map(
                lambda x: base64.decodebytes(bytes(x, "utf8")) if isinstance(x, str) else x
            )
        elif spec.type == "datetime":
            parsed = pd.to_datetime(values)
            if getattr(parsed.dt, "unit", "ns") != "ns":
                parsed = parsed.dt.as_unit("ns")
            frame[column] = parsed
        elif spec.type == "string":
            if not isinstance(values.dtype, pd.StringDtype):
                frame[column] = values.astype(object)
        elif spec.type == "boolean" and values.isna().any():
            # A missing value stays missing (the column stays object): casting to bool would
            # turn None into False (and NaN into True). MLflow reads examples so since 3.18.
            frame[column] = values.where(values.isna(), values.astype(bool))
        else:
            frame[column] = values.astype(np.dtype(DATA_TYPES[spec.type]))
    return frame
