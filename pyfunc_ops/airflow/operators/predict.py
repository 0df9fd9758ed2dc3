"""``PyfuncPredictOperator``: score Parquet/CSV files with a pyfunc model, in batches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from airflow.sdk import BaseOperator

from pyfunc_ops.airflow.hooks.pyfunc_ops import PyfuncOpsHook
from pyfunc_ops.scoring import DEFAULT_BATCH_SIZE

if TYPE_CHECKING:
    from airflow.sdk import Context


class PyfuncPredictOperator(BaseOperator):
    """Score ``input_url`` (a Parquet/CSV file, folder or glob at any fsspec URL) with the
    model at ``model_uri`` into one Parquet file at ``output_url``, ``batch_size`` rows at
    a time (memory holds one batch, whatever the input size). See
    :func:`pyfunc_ops.scoring.score_files`.

    Returns (XCom) ``{"output_uri", "rows_in", "rows_out", "files", "batches",
    "model_uri"}``.

    :param keep_columns: ``None`` (predictions only), ``"all"`` or a list of input columns
        to copy into the output.
    :param key_column: an input column copied first into the output, to join back on.
    :param columns: the input columns the model receives (default: all of them).
    :param env_manager: ``"local"``, ``"virtualenv"``/``"uv"`` or ``"conda"``.
    """

    template_fields: Sequence[str] = (
        "model_uri",
        "input_url",
        "output_url",
        "keep_columns",
        "key_column",
        "columns",
        "input_format",
    )
    ui_color = "#fdf1d6"

    def __init__(
        self,
        *,
        model_uri: str,
        input_url: str,
        output_url: str,
        batch_size: int = DEFAULT_BATCH_SIZE,
        keep_columns: Literal["all"] | Sequence[str] | None = None,
        key_column: str | None = None,
        env_manager: str = "local",
        input_format: str | None = None,
        columns: Sequence[str] | None = None,
        pyfunc_ops_conn_id: str = PyfuncOpsHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model_uri = model_uri
        self.input_url = input_url
        self.output_url = output_url
        self.batch_size = batch_size
        self.keep_columns = keep_columns
        self.key_column = key_column
        self.env_manager = env_manager
        self.input_format = input_format
        self.columns = columns
        self.pyfunc_ops_conn_id = pyfunc_ops_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from pyfunc_ops.scoring import score_files

        with PyfuncOpsHook(self.pyfunc_ops_conn_id).configured():
            result = score_files(
                self.model_uri,
                self.input_url,
                self.output_url,
                batch_size=self.batch_size,
                keep_columns=self.keep_columns,
                key_column=self.key_column or None,
                env_manager=self.env_manager,
                input_format=self.input_format or None,
                columns=list(self.columns) if self.columns else None,
            )
        return {**result.to_dict(), "model_uri": self.model_uri}
