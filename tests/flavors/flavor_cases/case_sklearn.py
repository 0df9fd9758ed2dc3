"""scikit-learn: skops (the default), cloudpickle and pickle; predict and predict_proba."""

from __future__ import annotations

from typing import Any

from flavor_cases import Case, classes, frame, target


def _regressor() -> Any:
    from sklearn.linear_model import Ridge

    return Ridge(alpha=0.5).fit(frame(), target())


def _classifier() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=0.5).fit(frame(), classes())


CASES = [
    Case(
        "sklearn-skops",
        "sklearn",
        _regressor,
        {"serialization_format": "skops"},
        requires=("sklearn", "skops"),
    ),
    Case(
        "sklearn-cloudpickle",
        "sklearn",
        _regressor,
        {"serialization_format": "cloudpickle"},
        runs_code=True,
        requires=("sklearn",),
    ),
    Case(
        "sklearn-pickle-proba",
        "sklearn",
        _classifier,
        {"serialization_format": "pickle", "pyfunc_predict_fn": "predict_proba"},
        native_predict=lambda m, x: m.predict_proba(x),
        runs_code=True,
        requires=("sklearn",),
        udf_result_type="array<double>",
    ),
]
