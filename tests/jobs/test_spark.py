"""score_spark, the library call behind SparkUDFScoreOperator: tables in and out, and the
errors a caller can hit. (Parquet paths in and out run in the example DAG test.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pyfunc_ops import sklearn as pyfunc_sklearn
from pyfunc_ops.errors import InvalidParameterError
from pyfunc_ops.jobs.spark import score_spark
from pyfunc_ops.models.signature import infer_signature

pytestmark = [pytest.mark.spark]


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    ids = np.arange(300)
    return pd.DataFrame({"id": ids, "a": ids * 0.5, "b": np.cos(ids)})


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory, data: pd.DataFrame) -> tuple[Path, Any]:
    from sklearn.linear_model import LinearRegression

    features = data[["a", "b"]]
    estimator = LinearRegression().fit(features, 3 * data["a"] - data["b"] + 1)
    path = tmp_path_factory.mktemp("score-spark") / "model"
    signature = infer_signature(features, estimator.predict(features))
    pyfunc_sklearn.save_model(estimator, path, signature=signature)
    return path, estimator


def test_table_in_table_out(spark: Any, model: tuple[Path, Any], data: pd.DataFrame) -> None:
    path, estimator = model
    spark.createDataFrame(data).createOrReplaceTempView("scoring_input")
    result = score_spark(
        spark,
        str(path),
        input_table="scoring_input",
        output_table="scoring_output",
        keep_columns=["id"],
    )
    assert (result.rows_in, result.rows_out) == (300, 300)
    assert result.output_uri == "scoring_output"
    scored = spark.table("scoring_output").toPandas().sort_values("id").reset_index(drop=True)
    assert list(scored.columns) == ["id", "prediction"]
    assert scored["id"].tolist() == list(range(300))
    expected = estimator.predict(data[["a", "b"]])
    np.testing.assert_allclose(scored["prediction"].to_numpy(), expected, rtol=1e-12)

    # Scoring again replaces the table (mode="overwrite"), it does not append.
    again = score_spark(
        spark, str(path), input_table="scoring_input", output_table="scoring_output"
    )
    assert again.rows_out == 300
    assert spark.table("scoring_output").count() == 300
    assert set(spark.table("scoring_output").columns) == {"id", "a", "b", "prediction"}


def test_parquet_in_table_out_with_named_columns(
    spark: Any, model: tuple[Path, Any], data: pd.DataFrame, tmp_path: Path
) -> None:
    path, estimator = model
    source = tmp_path / "input.parquet"
    data.rename(columns={"a": "x1", "b": "x2"}).to_parquet(source)
    result = score_spark(
        spark,
        str(path),
        input_path=str(source),
        output_table="scoring_renamed",
        columns=["x1", "x2"],
        prediction_column="score",
        keep_columns=["id"],
    )
    assert result.rows_out == 300
    scored = spark.table("scoring_renamed").toPandas().sort_values("id")
    np.testing.assert_allclose(
        scored["score"].to_numpy(), estimator.predict(data[["a", "b"]]), rtol=1e-12
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"input_path": "in", "input_table": "t", "output_path": "out"},
            r"exactly one of input_path \(Parquet\) or input_table",
        ),
        ({"output_path": "out"}, r"exactly one of input_path \(Parquet\) or input_table"),
        (
            {"input_path": "in", "output_path": "out", "output_table": "t"},
            r"exactly one of output_path \(Parquet\) or output_table",
        ),
        ({"input_path": "in"}, r"exactly one of output_path \(Parquet\) or output_table"),
    ],
)
def test_input_and_output_must_each_be_given_once(kwargs: dict[str, str], message: str) -> None:
    # Checked before Spark is touched: no session is needed to get the error.
    with pytest.raises(InvalidParameterError, match=message):
        score_spark(None, "models:/m/1", **kwargs)


def test_prediction_column_must_not_overwrite_an_input_column(
    spark: Any, model: tuple[Path, Any], data: pd.DataFrame
) -> None:
    path, _ = model
    spark.createDataFrame(data.assign(prediction=0.0)).createOrReplaceTempView("with_prediction")
    with pytest.raises(InvalidParameterError, match="'prediction' is also an input column kept"):
        score_spark(spark, str(path), input_table="with_prediction", output_table="never_written")
    assert not spark.catalog.tableExists("never_written")
