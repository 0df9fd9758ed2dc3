"""Keras 3: ``data/model.keras`` on the torch backend (no TensorFlow), read in safe mode."""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from flavor_cases import Case


def _model() -> Any:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)]
    )


def _predict(model: Any, x: pd.DataFrame) -> pd.DataFrame:
    """MLflow's wrapper: ``model.predict`` of the values, a DataFrame on the input's index."""
    return pd.DataFrame(model.predict(x.values, verbose=0), index=x.index)


CASES = [
    Case(
        "keras-torch-backend",
        "keras",
        _model,
        native_predict=_predict,
        requires=("keras", "torch"),
        heavy=True,
    ),
]
