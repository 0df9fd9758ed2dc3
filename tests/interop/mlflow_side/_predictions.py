"""Predictions to and from files, shared by both sides (the MLflow venv and ours).

A DataFrame goes to parquet (dtypes and column names survive), anything else to ``.npy``
through ``numpy.asarray``; the reader picks whichever file exists. Comparing the files
read back compares predictions exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def save_prediction(stem: Path, value: Any) -> None:
    if isinstance(value, pd.Series):
        value = value.to_frame()
    if isinstance(value, pd.DataFrame):
        value.to_parquet(stem.with_suffix(".parquet"))
    else:
        np.save(stem.with_suffix(".npy"), np.asarray(value), allow_pickle=False)


def load_prediction(stem: Path) -> Any:
    if stem.with_suffix(".parquet").exists():
        return pd.read_parquet(stem.with_suffix(".parquet"))
    return np.load(stem.with_suffix(".npy"), allow_pickle=False)


def input_frame() -> pd.DataFrame:
    """The scoring input both sides use (float columns a, b)."""
    return pd.DataFrame(
        {"a": [0.5, 1.0, 2.0, 3.5, 4.0, -1.0], "b": [1.0, 0.25, 3.0, 2.0, -0.5, 0.0]}
    )


def labels() -> list[int]:
    return [0, 0, 1, 1, 1, 0]
