"""``SparkUDFScoreOperator`` with a Spark ML model: scored by the model's own ``transform``
on the task's SparkSession (the active ``local[2]`` one here), never in a Python UDF."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from airflow.sdk.execution_time.context import OutletEventAccessors

from pyfunc_ops.airflow.operators import SparkUDFScoreOperator

sys.path.insert(0, str(Path(__file__).parents[1] / "flavors"))
from flavor_cases import frame
from flavor_cases.case_spark import _pipeline, _predict_pipeline

pytestmark = [pytest.mark.spark]


def test_the_operator_scores_a_spark_ml_model_with_transform(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyfunc_ops import spark as pyfunc_spark

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("spark_udf was called for a Spark ML model")

    monkeypatch.setattr("pyfunc_ops.pyfunc.spark.spark_udf", refuse)
    pipeline = _pipeline()
    pyfunc_spark.save_model(pipeline, tmp_path / "model", input_example=frame().head(3))
    data = frame(30)
    data.insert(0, "id", np.arange(30))
    data.to_parquet(tmp_path / "in.parquet")
    op = SparkUDFScoreOperator(
        task_id="score",
        model_uri=str(tmp_path / "model"),
        input_path=str(tmp_path / "in.parquet"),
        output_path=str(tmp_path / "out"),
        keep_columns=["id"],
    )
    ti = SimpleNamespace(dag_id="d", run_id="r", task_id="score", map_index=-1, try_number=1)
    result = op.execute({"ti": ti, "outlet_events": OutletEventAccessors()})
    assert (result["rows_in"], result["rows_out"]) == (30, 30)
    out = pd.read_parquet(tmp_path / "out").sort_values("id").reset_index(drop=True)
    assert list(out.columns) == ["id", "prediction"]
    expected = _predict_pipeline(pipeline, data.drop(columns="id"))
    assert out["prediction"].tolist() == expected
