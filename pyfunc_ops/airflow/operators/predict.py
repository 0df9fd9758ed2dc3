"""``PyfuncPredictOperator``: score Parquet/CSV files with a pyfunc model, in batches."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyfunc_ops.airflow.operators.base import PyfuncOpsBaseOperator
from pyfunc_ops.jobs.scoring import ScoreFilesRequest

if TYPE_CHECKING:
    from airflow.sdk import Context


class PyfuncPredictOperator(PyfuncOpsBaseOperator):
    """Score ``input_url`` (a Parquet/CSV/JSON-lines file, folder or glob at any fsspec URL)
    with the model at ``model_uri`` into one Parquet file at ``output_url``, ``batch_size``
    rows at a time (memory holds one batch, whatever the input size).

    The arguments (all templated) are the fields of
    :class:`pyfunc_ops.jobs.scoring.ScoreFilesRequest`, with its defaults: ``model_uri``,
    ``input_url``, ``output_url``, ``batch_size``, ``keep_columns``, ``key_column``,
    ``env_manager``, ``input_format``, ``columns``; plus ``pyfunc_ops_conn_id``.

    Returns (XCom) ``{"output_uri", "rows_in", "rows_out", "files", "batches",
    "model_uri"}``.
    """

    request_type = ScoreFilesRequest
    ui_color = "#fdf1d6"

    def execute_job(self, context: Context) -> dict[str, Any]:
        from pyfunc_ops.jobs.scoring import run_score_files

        request: ScoreFilesRequest = self.job_request()
        result = run_score_files(request)
        return {**result.to_dict(), "model_uri": request.model_uri}
