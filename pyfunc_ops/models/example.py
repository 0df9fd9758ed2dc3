"""Input examples: a few rows stored beside the model as JSON in the "split" orientation.

The file name and the ``saved_input_example_info`` block match what other tools of the
format write, so examples travel both ways.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pyfunc_ops.errors import InvalidParameterError, ModelFormatError

EXAMPLE_FILE_NAME = "input_example.json"


def _as_frame(example: Any) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(example, pd.DataFrame):
        return example
    if isinstance(example, pd.Series):
        return example.to_frame()
    if isinstance(example, (dict, list, np.ndarray)):
        try:
            return pd.DataFrame(example)
        except ValueError as exc:
            raise InvalidParameterError(
                f"input_example: cannot turn the {type(example).__name__} into a DataFrame "
                f"({exc}). Pass a pandas DataFrame, a dict of columns or a 2-D array."
            ) from None
    raise InvalidParameterError(
        f"input_example: expected a pandas DataFrame, dict, list or numpy array, found "
        f"{type(example).__name__}."
    )


def save_input_example(model_dir: Path, example: Any) -> tuple[dict[str, Any], Any]:
    """Write ``input_example.json``; return its info block and the example as a DataFrame."""
    frame = _as_frame(example)
    payload = json.loads(frame.to_json(orient="split", index=False, date_format="iso"))
    (model_dir / EXAMPLE_FILE_NAME).write_text(json.dumps(payload))
    info = {"artifact_path": EXAMPLE_FILE_NAME, "type": "dataframe", "pandas_orient": "split"}
    return info, frame


def load_input_example(model_dir: Path, info: dict[str, Any] | None) -> Any:
    """Read a model's input example back as a DataFrame (None when it has none)."""
    import pandas as pd

    if not info or info.get("type") != "dataframe":
        return None
    name = info.get("artifact_path")
    if not isinstance(name, str) or not name:
        raise ModelFormatError(
            f"{model_dir}: saved_input_example_info 'artifact_path' must be a file name, found "
            f"{name!r}."
        )
    root = Path(model_dir).resolve()
    target = (root / name).resolve()
    if not target.is_relative_to(root):
        raise ModelFormatError(
            f"{model_dir}: saved_input_example_info 'artifact_path' {name!r} points outside "
            "the model folder; the example must be a file inside it."
        )
    try:
        payload = json.loads(target.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFormatError(
            f"{model_dir}: the input example file {name!r} named in the MLmodel is missing."
        ) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelFormatError(
            f"{model_dir}: the input example file {name!r} is not JSON text ({exc})."
        ) from None
    if isinstance(payload, dict) and "dataframe_split" in payload:
        payload = payload["dataframe_split"]
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise ModelFormatError(
            f"{model_dir}: the input example file {name!r} must hold a JSON object with a "
            "'data' list (pandas 'split' orient)."
        )
    try:
        return pd.DataFrame(payload["data"], columns=payload.get("columns"))
    except (TypeError, ValueError) as exc:
        raise ModelFormatError(
            f"{model_dir}: the input example file {name!r} does not describe a table ({exc})."
        ) from None
