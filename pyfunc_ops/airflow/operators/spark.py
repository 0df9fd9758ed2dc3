"""``SparkUDFScoreOperator``: score a Parquet path or table on Spark with ``spark_udf``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pyfunc_ops.airflow.operators.base import PyfuncOpsBaseOperator
from pyfunc_ops.airflow.operators.output_assets import emit_output_event, output_outlets
from pyfunc_ops.jobs.spark import ScoreSparkRequest, session_settings

if TYPE_CHECKING:
    from airflow.sdk import Context


def spark_settings(
    master: str | None, conf: Mapping[str, Any] | None, spark_conn_id: str | None
) -> tuple[str, dict[str, str]]:
    """The master URL and configuration: parameters win over the ``spark`` connection
    (``host`` [+ ``port``] is the master, extras named ``spark.*`` are configuration),
    and ``local[*]`` is the default master."""
    conn_master = None
    conn_conf: dict[str, Any] = {}
    if spark_conn_id:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(spark_conn_id)
        if conn.host:
            conn_master = f"{conn.host}:{conn.port}" if conn.port else conn.host
        conn_conf = {k: v for k, v in conn.extra_dejson.items() if str(k).startswith("spark.")}
    return session_settings(master, conf, fallback_master=conn_master, fallback_conf=conn_conf)


def _path_outlets(output_path: Any) -> list[Any]:
    """Default outlets: the Asset of ``output_path`` (none for an output table)."""
    return output_outlets(output_path) if output_path else []


class SparkUDFScoreOperator(PyfuncOpsBaseOperator):
    """Score ``input_path`` (Parquet) or ``input_table`` with the model at ``model_uri``
    through :func:`pyfunc_ops.pyfunc.spark_udf`, writing ``output_path`` (Parquet) or
    ``output_table``. A Spark ML model scores with its own ``transform`` on the cluster
    instead (no Python UDF; see :func:`pyfunc_ops.jobs.spark.score_spark`).
    Returns (XCom) ``{"output_uri", "rows_in", "rows_out", "model_uri"}``.
    An ``output_path`` is an Asset (its event's extra names the model version), and the
    task reports OpenLineage datasets (paths; tables as ``spark`` datasets).

    The arguments (all templated) are the fields of
    :class:`pyfunc_ops.jobs.spark.ScoreSparkRequest`, with its defaults, plus
    ``spark_conn_id`` and ``pyfunc_ops_conn_id``.

    The SparkSession is built from ``master``/``conf``, else from the ``spark`` connection
    ``spark_conn_id`` (host = master URL, ``spark.*`` extras = configuration), else
    ``local[*]``; ``app_name`` defaults to ``pyfunc-ops-<task_id>``. An already active
    session is reused (and left running); one this task started is stopped at the end. Its
    Python workers run ``spark.pyspark.python`` from ``conf``, else ``PYSPARK_PYTHON``, else
    this worker's interpreter, so they can import the model's libraries.
    """

    request_type = ScoreSparkRequest
    ui_color = "#fbe3cf"

    def __init__(self, *, spark_conn_id: str | None = None, **kwargs: Any) -> None:
        path = kwargs.get("output_path")
        super().__init__(**self.with_default_outlets(kwargs, _path_outlets, path))
        self.spark_conn_id = spark_conn_id

    def lineage_io(self) -> tuple[list[str], list[str]]:
        def where(path: Any, table: Any) -> list[str]:
            if path:
                return [str(path)]
            return [f"spark://tables/{table}"] if table else []

        inputs = where(getattr(self, "input_path", None), getattr(self, "input_table", None))
        outputs = where(getattr(self, "output_path", None), getattr(self, "output_table", None))
        return inputs, outputs

    def execute_job(self, context: Context) -> dict[str, Any]:
        from pyfunc_ops.jobs.spark import run_score_spark

        request: ScoreSparkRequest = self.job_request()
        master, conf = spark_settings(request.master, request.conf, self.spark_conn_id)
        request = dataclasses.replace(
            request,
            master=master,
            conf=conf,
            app_name=request.app_name or f"pyfunc-ops-{self.task_id}",
        )
        result = run_score_spark(request)
        model = self.record_model(request.model_uri)
        inputs, outputs = self.lineage_io()
        self._lineage_inputs = [*inputs, *([model["source"]] if model.get("source") else [])]
        self._lineage_outputs = outputs
        if request.output_path:
            emit_output_event(context, list(self.outlets), result.output_uri, model)
        return {
            "output_uri": result.output_uri,
            "rows_in": result.rows_in,
            "rows_out": result.rows_out,
            "model_uri": request.model_uri,
        }
