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


def _string_label_tree() -> Any:
    """MLflow records the skops types this needs; a trusted load must honour them."""
    from sklearn.tree import DecisionTreeClassifier

    labels = ["yes" if c else "no" for c in classes()]
    return DecisionTreeClassifier(max_depth=3, random_state=0).fit(frame(), labels)


def _string_label_hgb() -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    labels = ["yes" if c else "no" for c in classes()]
    return HistGradientBoostingClassifier(max_iter=5).fit(frame(), labels)


_TREE = ["sklearn.tree._tree.Tree"]
_HGB = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]

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
    Case(
        "sklearn-skops-recorded-types-tree",
        "sklearn",
        _string_label_tree,
        {"serialization_format": "skops", "skops_trusted_types": _TREE},
        requires=("sklearn", "skops"),
        udf_result_type="string",
        caller_types=tuple(_TREE),
    ),
    Case(
        "sklearn-skops-recorded-types-hgb",
        "sklearn",
        _string_label_hgb,
        {"serialization_format": "skops", "skops_trusted_types": _HGB},
        requires=("sklearn", "skops"),
        udf_result_type="string",
        caller_types=tuple(_HGB),
    ),
]
