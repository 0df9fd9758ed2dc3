"""Spark ML: a ``PipelineModel`` (VectorAssembler + LinearRegression) and a single fitted
``LinearRegressionModel`` (saved wrapped into a one-stage ``PipelineModel``, as MLflow does).

The builders and ``native_predict`` use the active SparkSession, or start a ``local[1]``
one (left running: starting a JVM costs seconds, and MLflow's pyfunc reuses it too).
pyfunc ``predict`` returns a list of the ``prediction`` column's Python values, as MLflow's
Spark wrapper does.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from flavor_cases import Case, frame, target


def session() -> Any:
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    return (
        SparkSession.builder.master("local[1]")
        .appName("flavor-cases")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )


def _training() -> Any:
    spark = session()  # before any stage: a stage builds its JVM object at once
    data = frame()
    data["label"] = target()
    return spark.createDataFrame(data)


def _pipeline() -> Any:
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import VectorAssembler
    from pyspark.ml.regression import LinearRegression

    training = _training()
    assembler = VectorAssembler(inputCols=[f"f{i}" for i in range(4)], outputCol="features")
    return Pipeline(stages=[assembler, LinearRegression(regParam=0.1)]).fit(training)


def _features(data: Any) -> Any:
    from pyspark.ml.feature import VectorAssembler

    assembler = VectorAssembler(inputCols=[f"f{i}" for i in range(4)], outputCol="features")
    return assembler.transform(data)


def _regression() -> Any:
    from pyspark.ml.regression import LinearRegression

    training = _features(_training())
    return LinearRegression(regParam=0.1).fit(training)


def _predict_pipeline(model: Any, data: Any) -> list[Any]:
    scored = model.transform(session().createDataFrame(data))
    return [row.prediction for row in scored.select("prediction").collect()]


def _feature_arrays() -> pd.DataFrame:
    """The case frame as one ``features`` column of float lists (pyfunc's input for a
    model whose only stage reads a vector: MLflow turns the arrays into vectors)."""
    return pd.DataFrame({"features": [list(row) for row in frame().to_numpy()]})


def _predict_vectors(model: Any, data: Any) -> list[Any]:
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql.functions import col

    vectors = (
        session().createDataFrame(data).withColumn("features", array_to_vector(col("features")))
    )
    return [row.prediction for row in model.transform(vectors).select("prediction").collect()]


CASES = [
    Case(
        "spark-pipeline",
        "spark",
        _pipeline,
        # Both sides infer the signature from it: spark_udf then knows the column names.
        {"input_example": frame().head(3)},
        native_predict=_predict_pipeline,
        requires=("pyspark",),
    ),
    Case(
        "spark-transformer",
        "spark",
        _regression,
        native_predict=_predict_vectors,
        model_input=_feature_arrays,
        requires=("pyspark",),
        # No signature (MLflow's inference cannot score the array example either), so
        # spark_udf would name the one column "0": nothing to score it by.
        udf_result_type=None,  # type: ignore[arg-type]
    ),
]
