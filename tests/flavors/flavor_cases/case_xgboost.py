"""xgboost: the scikit-learn API and ``Booster``, each as ubj (the default) and json; a
classifier (pyfunc predicts its labels); the ``xgb`` extension older MLflow wrote."""

from __future__ import annotations

from typing import Any

from flavor_cases import Case, classes, frame, target

# xgboost checks feature names at predict, and a Spark UDF names the columns of a model
# without a signature by position ("0", "1", ...), in MLflow as here: every case is saved
# with an input example, so its signature names f0..f3 (as MLflow's docs recommend).
_EXAMPLE: dict[str, Any] = {"input_example": frame(3)}


def _regressor() -> Any:
    import xgboost as xgb

    return xgb.XGBRegressor(n_estimators=5, max_depth=2, random_state=0, n_jobs=1).fit(
        frame(), target()
    )


def _classifier() -> Any:
    import xgboost as xgb

    return xgb.XGBClassifier(n_estimators=5, max_depth=2, random_state=0, n_jobs=1).fit(
        frame(), classes()
    )


def _booster() -> Any:
    import xgboost as xgb

    data = xgb.DMatrix(frame(), label=target())
    return xgb.train({"max_depth": 2, "nthread": 1, "seed": 0}, data, num_boost_round=5)


def _booster_predict(native: Any, model_input: Any) -> Any:
    import xgboost as xgb

    return native.predict(xgb.DMatrix(model_input))


CASES = [
    Case("xgboost-sklearn-ubj", "xgboost", _regressor, _EXAMPLE, requires=("xgboost",)),
    Case(
        "xgboost-sklearn-json",
        "xgboost",
        _regressor,
        {"model_format": "json", **_EXAMPLE},
        requires=("xgboost",),
    ),
    Case(
        "xgboost-booster-ubj",
        "xgboost",
        _booster,
        {"model_format": "ubj", **_EXAMPLE},
        native_predict=_booster_predict,
        requires=("xgboost",),
    ),
    Case(
        "xgboost-booster-json",
        "xgboost",
        _booster,
        {"model_format": "json", **_EXAMPLE},
        native_predict=_booster_predict,
        requires=("xgboost",),
    ),
    Case("xgboost-classifier", "xgboost", _classifier, _EXAMPLE, requires=("xgboost",)),
    # The extension older MLflow versions wrote (the content is UBJSON since xgboost 2.1).
    Case(
        "xgboost-sklearn-xgb",
        "xgboost",
        _regressor,
        {"model_format": "xgb", **_EXAMPLE},
        requires=("xgboost",),
    ),
]
