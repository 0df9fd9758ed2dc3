"""Fixtures shared by the job tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest


@pytest.fixture
def scaled_model(tmp_path: Path) -> Path:
    """A saved PythonModel returning column ``a`` times the ``scale`` param (declared in
    its signature, default 1.0: params a model does not declare are dropped, as in MLflow)."""
    from pyfunc_ops import pyfunc
    from pyfunc_ops.models.signature import ModelSignature, ParamSchema, ParamSpec

    class Scaled(pyfunc.PythonModel):
        def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
            return model_input["a"].to_numpy() * (params or {}).get("scale", 1.0)

    path = tmp_path / "scaled-model"
    pyfunc.save_model(
        str(path),
        python_model=Scaled(),
        signature=ModelSignature(params=ParamSchema([ParamSpec("scale", "double", 1.0)])),
    )
    return path
