"""LightGBM: a ``Booster`` (text file ``model.lgb``, recorded as skops by MLflow), the
scikit-learn API as skops (the default), pickle and cloudpickle; a classifier."""

from __future__ import annotations

from typing import Any

from flavor_cases import Case, classes, frame, target

_PARAMS = {"n_estimators": 5, "num_leaves": 4, "min_child_samples": 2, "verbose": -1}


def _regressor() -> Any:
    import lightgbm as lgb

    return lgb.LGBMRegressor(**_PARAMS, random_state=0, n_jobs=1).fit(frame(), target())


def _classifier() -> Any:
    import lightgbm as lgb

    return lgb.LGBMClassifier(**_PARAMS, random_state=0, n_jobs=1).fit(frame(), classes())


def _booster() -> Any:
    import lightgbm as lgb

    params = {"num_leaves": 4, "min_data_in_leaf": 2, "verbose": -1, "num_threads": 1}
    return lgb.train(params, lgb.Dataset(frame(), label=target()), num_boost_round=5)


CASES = [
    Case("lightgbm-booster", "lightgbm", _booster, requires=("lightgbm",)),
    Case("lightgbm-sklearn", "lightgbm", _regressor, requires=("lightgbm", "sklearn", "skops")),
    Case(
        "lightgbm-sklearn-pickle",
        "lightgbm",
        _regressor,
        {"serialization_format": "pickle"},
        runs_code=True,
        requires=("lightgbm", "sklearn"),
    ),
    Case(
        "lightgbm-sklearn-cloudpickle",
        "lightgbm",
        _regressor,
        {"serialization_format": "cloudpickle"},
        runs_code=True,
        requires=("lightgbm", "sklearn"),
    ),
    Case(
        "lightgbm-classifier",
        "lightgbm",
        _classifier,
        {"serialization_format": "skops"},
        requires=("lightgbm", "sklearn", "skops"),
    ),
]
