"""statsmodels: results pickles (loading runs code: an untrusted source needs trust).

OLS on the frame's exog columns (predict returns a Series), the same with
``remove_data=True``, a formula OLS (predict builds its design from the frame) and an ARIMA
time series (the input is one row of ``start``/``end``; MLflow's wrapper calls
``predict(start=, end=)``)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from flavor_cases import Case, frame, target


def _ols() -> Any:
    import statsmodels.api as sm

    return sm.OLS(target(), frame()).fit()


def _formula() -> Any:
    import statsmodels.formula.api as smf

    return smf.ols("y ~ f0 + f1 + f2 + f3", frame().assign(y=target())).fit()


def _arima() -> Any:
    from statsmodels.tsa.arima.model import ARIMA

    return ARIMA(target(), order=(1, 0, 0)).fit()


def _range() -> pd.DataFrame:
    return pd.DataFrame({"start": [0], "end": [4]})


def _example() -> dict[str, Any]:
    """An input example, so the model has a signature: a formula needs the column names
    (spark_udf names the columns after the signature, else 0, 1, ...).

    The plain OLS cases go without one: MLflow's schema enforcement hands the model a new
    C-ordered copy of the frame, and BLAS then rounds ``X @ params`` differently in the
    last bit from the caller's frame, which ours passes on as it is.
    """
    return {"input_example": frame(3)}


def _predict_range(native: Any, data: pd.DataFrame) -> Any:
    return native.predict(start=data["start"][0], end=data["end"][0])


CASES = [
    Case("statsmodels-ols", "statsmodels", _ols, runs_code=True, requires=("statsmodels",)),
    Case(
        "statsmodels-ols-remove-data",
        "statsmodels",
        _ols,
        {"remove_data": True},
        runs_code=True,
        requires=("statsmodels",),
    ),
    Case(
        "statsmodels-formula-ols",
        "statsmodels",
        _formula,
        _example(),
        runs_code=True,
        requires=("statsmodels",),
    ),
    Case(
        "statsmodels-arima",
        "statsmodels",
        _arima,
        native_predict=_predict_range,
        model_input=_range,
        runs_code=True,
        requires=("statsmodels",),
        udf_result_type=None,  # type: ignore[arg-type]  # one row in, a range out: no UDF
    ),
]
