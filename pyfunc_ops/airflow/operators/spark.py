"""``SparkUDFScoreOperator``: score a Parquet path or table on Spark with ``spark_udf``."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from airflow.sdk import BaseOperator

from pyfunc_ops.airflow.hooks.pyfunc_ops import PyfuncOpsHook
from pyfunc_ops.scoring import PREDICTION_COLUMN

if TYPE_CHECKING:
    from airflow.sdk import Context

logger = logging.getLogger(__name__)


def spark_settings(
    master: str | None, conf: Mapping[str, Any] | None, spark_conn_id: str | None
) -> tuple[str, dict[str, str]]:
    """The master URL and configuration: parameters win over the ``spark`` connection
    (``host`` [+ ``port``] is the master, extras named ``spark.*`` are configuration),
    and ``local[*]`` is the default master."""
    settings: dict[str, str] = {}
    conn_master = None
    if spark_conn_id:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(spark_conn_id)
        if conn.host:
            conn_master = f"{conn.host}:{conn.port}" if conn.port else conn.host
        settings.update(
            {k: str(v) for k, v in conn.extra_dejson.items() if str(k).startswith("spark.")}
        )
    settings.update({str(k): str(v) for k, v in (conf or {}).items()})
    return master or conn_master or "local[*]", settings


class SparkUDFScoreOperator(BaseOperator):
    """Score ``input_path`` (Parquet) or ``input_table`` with the model at ``model_uri``
    through :func:`pyfunc_ops.pyfunc.spark_udf`, writing ``output_path`` (Parquet) or
    ``output_table``. Returns (XCom) ``{"output_uri", "rows_in", "rows_out", "model_uri"}``.

    The SparkSession is built from ``master``/``conf``, else from the ``spark`` connection
    ``spark_conn_id`` (host = master URL, ``spark.*`` extras = configuration), else
    ``local[*]``. An already active session is reused (and left running); one this task
    started is stopped at the end. ``PYSPARK_PYTHON`` defaults to this interpreter so the
    workers can import the model's libraries.
    """

    template_fields: Sequence[str] = (
        "model_uri",
        "input_path",
        "input_table",
        "output_path",
        "output_table",
        "columns",
        "conf",
    )
    ui_color = "#fbe3cf"

    def __init__(
        self,
        *,
        model_uri: str,
        input_path: str | None = None,
        input_table: str | None = None,
        output_path: str | None = None,
        output_table: str | None = None,
        columns: Sequence[str] | None = None,
        result_type: str = "double",
        prediction_column: str = PREDICTION_COLUMN,
        keep_columns: Literal["all"] | Sequence[str] | None = "all",
        mode: str = "overwrite",
        env_manager: str = "local",
        master: str | None = None,
        conf: Mapping[str, Any] | None = None,
        spark_conn_id: str | None = None,
        app_name: str | None = None,
        pyfunc_ops_conn_id: str = PyfuncOpsHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model_uri = model_uri
        self.input_path = input_path
        self.input_table = input_table
        self.output_path = output_path
        self.output_table = output_table
        self.columns = columns
        self.result_type = result_type
        self.prediction_column = prediction_column
        self.keep_columns = keep_columns
        self.mode = mode
        self.env_manager = env_manager
        self.master = master
        self.conf = conf
        self.spark_conn_id = spark_conn_id
        self.app_name = app_name
        self.pyfunc_ops_conn_id = pyfunc_ops_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from pyspark.sql import SparkSession

        from pyfunc_ops.scoring import score_spark

        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        active = SparkSession.getActiveSession()
        if active is not None:
            logger.info("reusing the active SparkSession (master %s)", active.sparkContext.master)
            spark = active
        else:
            master, settings = spark_settings(self.master, self.conf, self.spark_conn_id)
            builder = SparkSession.builder.master(master).appName(
                self.app_name or f"pyfunc-ops-{self.task_id}"
            )
            for key, value in settings.items():
                builder = builder.config(key, value)
            spark = builder.getOrCreate()
        try:
            with PyfuncOpsHook(self.pyfunc_ops_conn_id).configured():
                result = score_spark(
                    spark,
                    self.model_uri,
                    input_path=self.input_path or None,
                    input_table=self.input_table or None,
                    output_path=self.output_path or None,
                    output_table=self.output_table or None,
                    columns=list(self.columns) if self.columns else None,
                    result_type=self.result_type,
                    prediction_column=self.prediction_column,
                    keep_columns=self.keep_columns,
                    mode=self.mode,
                    env_manager=self.env_manager,
                )
        finally:
            if active is None:
                spark.stop()
        return {
            "output_uri": result.output_uri,
            "rows_in": result.rows_in,
            "rows_out": result.rows_out,
            "model_uri": self.model_uri,
        }
