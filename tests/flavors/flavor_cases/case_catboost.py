"""CatBoost: classifier, regressor, ranker and plain ``CatBoost`` in ``cbm`` (the default),
a classifier in ``json``; pyfunc predict is the model's own ``predict``."""

from __future__ import annotations

from typing import Any

import numpy as np

from flavor_cases import Case, classes, frame, target

_OPTIONS = {"iterations": 8, "depth": 3, "random_seed": 0, "verbose": False}


def _fit(name: str, **params: Any) -> Any:
    import catboost

    # allow_writing_files=False: no catboost_info/ folder in the working directory.
    options = {**_OPTIONS, "allow_writing_files": False, **params}
    if name == "CatBoost":  # the plain class takes one params dict
        return catboost.CatBoost(options)
    return getattr(catboost, name)(**options)


def _classifier() -> Any:
    return _fit("CatBoostClassifier").fit(frame(), classes())


def _regressor() -> Any:
    return _fit("CatBoostRegressor").fit(frame(), target())


def _ranker() -> Any:
    groups = np.repeat(np.arange(6), 4)
    return _fit("CatBoostRanker", loss_function="YetiRank").fit(frame(), target(), group_id=groups)


def _plain() -> Any:
    return _fit("CatBoost", loss_function="RMSE").fit(frame(), target())


def _example() -> dict[str, Any]:
    """An input example, so the model has a signature: CatBoost checks feature names, and
    spark_udf names the columns it hands the model after the signature (else 0, 1, ...)."""
    return {"input_example": frame(3)}


CASES = [
    Case("catboost-classifier-cbm", "catboost", _classifier, _example(), requires=("catboost",)),
    Case("catboost-regressor-cbm", "catboost", _regressor, _example(), requires=("catboost",)),
    # JSON keeps leaves to ~16 digits (a regressor's values move by an ulp): class labels.
    Case(
        "catboost-classifier-json",
        "catboost",
        _classifier,
        {"format": "json", **_example()},
        requires=("catboost",),
    ),
    Case("catboost-ranker-cbm", "catboost", _ranker, _example(), requires=("catboost",)),
    Case("catboost-plain-cbm", "catboost", _plain, _example(), requires=("catboost",)),
]
