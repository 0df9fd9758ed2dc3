"""score_spark, the library call behind SparkUDFScoreOperator: tables in and out, and the
errors a caller can hit. (Parquet paths in and out run in the example DAG test.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pyfunc_ops import sklearn as pyfunc_sklearn
from pyfunc_ops.errors import InputNotFoundError, InvalidParameterError
from pyfunc_ops.jobs.spark import DEFAULT_MASTER, score_spark, session_settings
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


def test_parquet_in_parquet_out_is_one_job_counted_by_the_write(
    spark: Any, model: tuple[Path, Any], data: pd.DataFrame, tmp_path: Path
) -> None:
    """Scoring and writing are one Spark job, and the row counts come from it (observed
    metrics): no count() of the input, no read-back of the output."""
    path, estimator = model
    source = tmp_path / "input"
    source.mkdir()
    for i, part in enumerate(np.array_split(data, 3)):
        part.to_parquet(source / f"part-{i}.parquet")
    target = tmp_path / "output"
    sc = spark.sparkContext

    def jobs_of(group: str, work: Any) -> tuple[Any, list[int]]:
        sc.setJobGroup(group, "score_spark job count")
        try:
            return work(), sc.statusTracker().getJobIdsForGroup(group)
        finally:
            sc.setLocalProperty("spark.jobGroup.id", None)

    # Reading a Parquet folder's schema is a (small) job of its own; the plain
    # read -> withColumn(udf) -> write job has it too.
    _, schema_jobs = jobs_of("score-spark-schema", lambda: spark.read.parquet(str(source)))
    result, jobs = jobs_of(
        "score-spark-one-job",
        lambda: score_spark(
            spark, str(path), input_path=str(source), output_path=str(target), keep_columns=["id"]
        ),
    )
    assert (result.rows_in, result.rows_out) == (300, 300)
    assert len(jobs) == len(schema_jobs) + 1, (jobs, schema_jobs)
    scored = pd.read_parquet(target).sort_values("id")
    assert scored["id"].tolist() == list(range(300))
    np.testing.assert_allclose(
        scored["prediction"].to_numpy(), estimator.predict(data[["a", "b"]]), rtol=1e-12
    )
    # mode="ignore" on an existing output writes nothing, and says so.
    ignored = score_spark(
        spark, str(path), input_path=str(source), output_path=str(target), mode="ignore"
    )
    assert ignored.rows_out == 0


def test_params_are_passed_to_spark_udf(
    spark: Any, model: tuple[Path, Any], data: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyfunc_ops.pyfunc import spark as spark_module

    seen: list[Any] = []
    real = spark_module.spark_udf

    def recording(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("params"))
        return real(*args, **kwargs)

    monkeypatch.setattr(spark_module, "spark_udf", recording)
    spark.createDataFrame(data).createOrReplaceTempView("scoring_params")
    result = score_spark(
        spark,
        str(model[0]),
        input_table="scoring_params",
        output_table="scoring_params_out",
        params={"alpha": 0.5},
    )
    assert result.rows_out == 300
    assert seen == [{"alpha": 0.5}]


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


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_path": "/no/such/folder"}, r"input Parquet path '/no/such/folder' does not"),
        ({"input_table": "no_such_table"}, r"input table 'no_such_table' does not exist"),
    ],
)
def test_missing_input_is_input_not_found(
    spark: Any, model: tuple[Path, Any], kwargs: dict[str, str], message: str
) -> None:
    with pytest.raises(InputNotFoundError, match=message) as raised:
        score_spark(spark, str(model[0]), output_table="never_written", **kwargs)
    assert isinstance(raised.value, FileNotFoundError)


def test_unknown_option_is_named() -> None:
    with pytest.raises(InvalidParameterError, match=r"unknown option\(s\) \['input_pth'\]"):
        score_spark(None, "models:/m/1", input_pth="in", output_path="out")


def test_session_settings_precedence() -> None:
    assert session_settings(None, None) == (DEFAULT_MASTER, {})
    master, conf = session_settings(
        None,
        {"spark.a": 1},
        fallback_master="spark://h:7077",
        fallback_conf={"spark.a": "0", "spark.b": True},
    )
    assert master == "spark://h:7077"
    assert conf == {"spark.a": "1", "spark.b": "True"}
    assert session_settings("local[2]", None, fallback_master="spark://h")[0] == "local[2]"


_SESSION_SCRIPT = """
import json, os, sys
from pyfunc_ops.jobs.spark import spark_session
conf = {"spark.ui.enabled": "false", "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1"}
before = dict(os.environ)
with spark_session("local[1]", conf, "python-check") as spark:
    workers = spark.sparkContext.parallelize([0], 1).map(lambda _: __import__("sys").executable)
    print(json.dumps({
        "worker": workers.collect()[0],
        "conf": spark.conf.get("spark.pyspark.python"),
        "app": spark.sparkContext.appName,
        "env_unchanged": dict(os.environ) == before,
    }))
print(json.dumps({"stopped": spark.sparkContext._jsc is None}))
"""


def test_a_started_session_runs_this_python_without_touching_the_environment(
    tmp_path: Path,
) -> None:
    """No PYSPARK_PYTHON anywhere: the workers still run this interpreter, because the
    session gets it as configuration; os.environ is left as it was."""
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYSPARK_")}
    done = subprocess.run(
        [sys.executable, "-c", _SESSION_SCRIPT],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines[0] == {
        "worker": sys.executable,
        "conf": sys.executable,
        "app": "python-check",
        "env_unchanged": True,
    }
    assert lines[1] == {"stopped": True}


def test_a_moving_alias_is_pinned_once_for_the_whole_run(
    spark: Any,
    data: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The flavor check and the scorer see the same version, even if the alias moves
    between them (a promotion while the job starts)."""
    from sklearn.linear_model import LinearRegression

    import pyfunc_ops.jobs.spark as spark_job
    from pyfunc_ops.tracking import TrackingClient

    monkeypatch.setenv("PYFUNC_OPS_HOME", str(tmp_path / "home"))
    features = data[["a", "b"]]
    client = TrackingClient()
    client.create_registered_model("pinned")
    for number, slope in ((1, 1.0), (2, -1.0)):
        estimator = LinearRegression().fit(features, slope * data["a"])
        pyfunc_sklearn.save_model(estimator, tmp_path / f"v{number}")
        client.create_model_version("pinned", str(tmp_path / f"v{number}"))
    client.set_registered_model_alias("pinned", "champion", 1)

    looked_at: list[str] = []
    native_scorer = spark_job._native_scorer

    def promote_meanwhile(session: Any, request: Any) -> Any:
        looked_at.append(request.model_uri)
        client.set_registered_model_alias("pinned", "champion", 2)
        return native_scorer(session, request)

    monkeypatch.setattr(spark_job, "_native_scorer", promote_meanwhile)
    spark.createDataFrame(data).createOrReplaceTempView("pinned_input")
    score_spark(
        spark,
        "models:/pinned@champion",
        input_table="pinned_input",
        output_table="pinned_output",
        keep_columns=["id"],
        columns=["a", "b"],
    )
    assert looked_at == ["models:/pinned/1"]
    scored = spark.table("pinned_output").toPandas().sort_values("id")
    np.testing.assert_allclose(scored["prediction"].to_numpy(), data["a"].to_numpy(), atol=1e-9)
