"""``PyfuncPredictOperator``: score Parquet/CSV files with a pyfunc model, in batches."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyfunc_ops.airflow.operators.base import PyfuncOpsBaseOperator
from pyfunc_ops.airflow.operators.output_assets import emit_output_event, output_outlets
from pyfunc_ops.jobs.scoring import ScoreFilesRequest

if TYPE_CHECKING:
    from airflow.sdk import Context

# Above this many input files, lineage names the input URL instead of every file.
MAX_LINEAGE_FILES = 100


class PyfuncPredictOperator(PyfuncOpsBaseOperator):
    """Score ``input_url`` (a Parquet/CSV/JSON-lines file, folder or glob at any fsspec URL)
    with the model at ``model_uri`` into one Parquet file at ``output_url``, ``batch_size``
    rows at a time (memory holds one batch, whatever the input size).

    The arguments (all templated) are the fields of
    :class:`pyfunc_ops.jobs.scoring.ScoreFilesRequest`, with its defaults: ``model_uri``,
    ``input_url``, ``output_url``, ``batch_size``, ``keep_columns``, ``key_column``,
    ``env_manager``, ``input_format``, ``columns``, ...; plus ``pyfunc_ops_conn_id`` and
    ``aws_conn_id``. ``input_url``/``output_url`` may be ``ObjectStoragePath`` values.

    Returns (XCom) ``{"output_uri", "rows_in", "rows_out", "files", "batches",
    "model_uri"}``. The output is an Asset (see :func:`output_outlets`): its event's extra
    names the model version that wrote it.
    """

    request_type = ScoreFilesRequest
    ui_color = "#fdf1d6"

    def __init__(self, **kwargs: Any) -> None:
        output_url = kwargs.get("output_url")
        super().__init__(**self.with_default_outlets(kwargs, output_outlets, output_url))

    def lineage_io(self) -> tuple[list[str], list[str]]:
        return [str(getattr(self, "input_url", ""))], [str(getattr(self, "output_url", ""))]

    def execute_job(self, context: Context) -> dict[str, Any]:
        from pyfunc_ops.jobs.scoring import run_score_files

        request: ScoreFilesRequest = self.job_request()
        result = run_score_files(request)
        files = list(result.files)
        self.record_model(request.model_uri)
        self._lineage_inputs = [
            *(files if 0 < len(files) <= MAX_LINEAGE_FILES else [request.input_url]),
            *([self._lineage_model["source"]] if self._lineage_model.get("source") else []),
        ]
        self._lineage_outputs = [result.output_uri]
        emit_output_event(context, list(self.outlets), result.output_uri, self._lineage_model)
        return {**result.to_dict(), "model_uri": request.model_uri}
