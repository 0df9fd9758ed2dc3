"""The cases every flavor's conformance tests run (``tests/flavors/test_conformance.py``).

One module per flavor (``case_<flavor>.py``) holds ``CASES``: a tiny native model per
format variant, built from the framework alone (no pyfunc_ops, no mlflow), because the
same module is imported on both sides: by our tests, and by ``mlflow_side.py`` in the
MLflow venv, which saves the same kind of model with MLflow and predicts with it.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


def frame(rows: int = 24) -> pd.DataFrame:
    """The tabular input every case is fitted on and scored with: float64 columns f0..f3."""
    rng = np.random.default_rng(7)
    return pd.DataFrame(rng.normal(size=(rows, 4)), columns=[f"f{i}" for i in range(4)])


def target(rows: int = 24) -> np.ndarray:
    """A regression target for :func:`frame`."""
    x = frame(rows).to_numpy()
    return x @ np.array([1.5, -2.0, 0.5, 1.0]) + 0.25


def classes(rows: int = 24) -> np.ndarray:
    """Binary labels (0/1) for :func:`frame`."""
    return (target(rows) > 0.25).astype(np.int64)


def default_predict(native: Any, model_input: Any) -> Any:
    return native.predict(model_input)


@dataclass(frozen=True)
class Case:
    """One flavor and format variant: see the module docstring.

    ``build``: a fitted native model. ``save_kwargs``: format options given to both our
    ``save_model`` and MLflow's. ``mlflow_kwargs``: options for MLflow's ``save_model`` only.
    ``native_predict``: what pyfunc ``predict`` must return exactly (container, dtypes,
    values). ``runs_code``: loading unpickles (an untrusted source needs trust).
    ``requires``: import names the case needs (missing: skipped). ``heavy``: torch/keras
    cases, run by scripts/test.sh in the torch venv. ``udf_result_type``: the Spark type of
    one prediction column for ``spark_udf`` (``None``: not scored with a UDF).
    ``caller_types``: skops types the model records, which an untrusted load takes from
    the caller only (a trusted one honours the recorded list).
    """

    id: str
    flavor: str
    build: Callable[[], Any]
    save_kwargs: dict[str, Any] = field(default_factory=dict)
    mlflow_kwargs: dict[str, Any] = field(default_factory=dict)
    native_predict: Callable[[Any, Any], Any] = default_predict
    model_input: Callable[[], Any] = frame
    runs_code: bool = False
    requires: tuple[str, ...] = ()
    heavy: bool = False
    udf_result_type: str | None = "double"
    caller_types: tuple[str, ...] = ()

    def available(self) -> bool:
        return all(importlib.util.find_spec(name) is not None for name in self.requires)


def all_cases() -> list[Case]:
    """Every case of every ``case_*.py`` module in this package, in module order."""
    found: list[Case] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("case_"):
            found.extend(importlib.import_module(f"{__name__}.{info.name}").CASES)
    ids = [c.id for c in found]
    assert len(ids) == len(set(ids)), f"duplicate case ids: {ids}"
    return found


def by_id(case_id: str) -> Case:
    return next(c for c in all_cases() if c.id == case_id)
