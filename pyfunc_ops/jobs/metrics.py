"""The metrics of an evaluation: scikit-learn's standard ones for regressors and
classifiers, custom ones named by dotted path, and which direction is better.

The names are those ``mlflow.models.evaluate`` logs (``root_mean_squared_error``,
``f1_score``, ...), so a team moving between the two finds the same metric keys on its
runs. Everything here works on whole label and prediction arrays: the evaluation job
streams the features in batches and keeps only these two columns (see
:mod:`pyfunc_ops.jobs.evaluation`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pyfunc_ops.core.dotted import import_named_module
from pyfunc_ops.errors import InvalidParameterError

__all__ = [
    "GREATER_IS_BETTER",
    "MODEL_TYPES",
    "CustomMetric",
    "compute_metrics",
    "load_custom_metric",
    "standard_metrics",
]

MODEL_TYPES = ("regressor", "classifier")

# Which way is better, for every standard metric (a custom metric's threshold says it).
GREATER_IS_BETTER: Mapping[str, bool] = {
    "example_count": True,
    "mean_absolute_error": False,
    "mean_squared_error": False,
    "root_mean_squared_error": False,
    "sum_on_target": True,
    "mean_on_target": True,
    "r2_score": True,
    "max_error": False,
    "mean_absolute_percentage_error": False,
    "accuracy_score": True,
    "precision_score": True,
    "recall_score": True,
    "f1_score": True,
}

CustomMetric = tuple[str, Callable[..., Any]]


def standard_metrics(model_type: str, y_true: Any, y_pred: Any) -> dict[str, float]:
    """scikit-learn's metrics for ``model_type`` (``"regressor"`` or ``"classifier"``).
    A classifier with two labels gets the binary scores of the larger label (1 for 0/1
    labels), more labels the support-weighted average over all of them."""
    import numpy as np
    from sklearn import metrics

    count = len(y_true)
    if model_type == "regressor":
        y_true = np.asarray(y_true, dtype=float)
        y_pred = np.asarray(y_pred, dtype=float)
        mse = float(metrics.mean_squared_error(y_true, y_pred))
        return {
            "example_count": float(count),
            "mean_absolute_error": float(metrics.mean_absolute_error(y_true, y_pred)),
            "mean_squared_error": mse,
            "root_mean_squared_error": math.sqrt(mse),
            "sum_on_target": float(y_true.sum()),
            "mean_on_target": float(y_true.mean()),
            "r2_score": float(metrics.r2_score(y_true, y_pred)),
            "max_error": float(metrics.max_error(y_true, y_pred)),
            "mean_absolute_percentage_error": float(
                metrics.mean_absolute_percentage_error(y_true, y_pred)
            ),
        }
    labels = sorted(set(np.unique(y_true)) | set(np.unique(y_pred)), key=str)
    if len(labels) <= 2:
        averaging: dict[str, Any] = {"average": "binary", "pos_label": labels[-1]}
    else:
        averaging = {"average": "weighted"}
    return {
        "example_count": float(count),
        "accuracy_score": float(metrics.accuracy_score(y_true, y_pred)),
        "precision_score": float(
            metrics.precision_score(y_true, y_pred, zero_division=0, **averaging)
        ),
        "recall_score": float(metrics.recall_score(y_true, y_pred, zero_division=0, **averaging)),
        "f1_score": float(metrics.f1_score(y_true, y_pred, zero_division=0, **averaging)),
    }


def load_custom_metric(path: str) -> CustomMetric:
    """``(name, function)`` of the metric ``"package.module:function"`` (or
    ``"package.module.function"``): a function of ``(y_true, y_pred)`` returning a number,
    logged under its own ``__name__``."""
    text = str(path)
    module_name, sep, attribute = text.partition(":")
    if not sep:
        module_name, _, attribute = text.rpartition(".")
    if not module_name or not attribute:
        raise InvalidParameterError(
            f"custom metric {text!r} is not a dotted path; give 'package.module:function' "
            "(a function of (y_true, y_pred) that returns a number)."
        )
    module = import_named_module(
        f"custom metric {text!r}",
        module_name,
        "install it where the evaluation runs or fix the path.",
    )
    function = getattr(module, attribute, None)
    if not callable(function):
        raise InvalidParameterError(
            f"custom metric {text!r}: module {module_name!r} has no function {attribute!r}; "
            "give 'package.module:function'."
        )
    return getattr(function, "__name__", attribute), function


def compute_metrics(
    model_type: str, y_true: Any, y_pred: Any, custom: Sequence[CustomMetric] = ()
) -> dict[str, float]:
    """The standard metrics of ``model_type`` and the ``custom`` ones; a custom metric that
    returns no finite number is an error naming it."""
    found = standard_metrics(model_type, y_true, y_pred)
    for name, function in custom:
        value = function(y_true, y_pred)
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number):
            raise InvalidParameterError(
                f"custom metric {name!r} returned {value!r}; a metric must return a finite "
                "number for (y_true, y_pred)."
            )
        found[name] = number
    return found
