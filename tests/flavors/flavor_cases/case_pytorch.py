"""PyTorch: ``pt2`` (torch.export, MLflow's default; an ndarray example and input) and the
pickled ``pth`` (``serialization_format="pickle"``; a DataFrame input, as MLflow's wrapper
takes one: float32 tensor in, a DataFrame on the input's index out)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from flavor_cases import Case, frame


def _module() -> Any:
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))


def _array() -> np.ndarray:
    """The pt2 input: MLflow's pyfunc gives a pt2 model (a float32 tensor signature) an
    ndarray; a float64 DataFrame fails its schema check there."""
    return frame().to_numpy(dtype=np.float32)


def _forward(module: Any, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def _frame_forward(module: Any, x: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(_forward(module, x.to_numpy(dtype=np.float32)), index=x.index)


CASES = [
    Case(
        "pytorch-pickle",
        "pytorch",
        _module,
        {"serialization_format": "pickle"},
        native_predict=_frame_forward,
        runs_code=True,
        requires=("torch",),
        heavy=True,
    ),
    Case(
        "pytorch-pt2",
        "pytorch",
        _module,
        {"serialization_format": "pt2", "input_example": _array()},
        native_predict=_forward,
        model_input=_array,
        requires=("torch",),
        heavy=True,
    ),
]
