"""Batch scoring of Parquet, CSV or JSON-lines files with a pyfunc model, in bounded memory.

One request type, :class:`ScoreFilesRequest`, holds the job's parameters and their only
defaults; :func:`score_files` (keyword options), ``PyfuncPredictOperator`` and the
``pyfunc-ops predict`` command all build it and call :func:`run_score_files`. The input (a
file, a folder or a glob at any fsspec URL) is streamed by :mod:`pyfunc_ops.jobs.inputs`:
Parquet row group by row group (``ParquetFile.iter_batches``), CSV and JSON lines block by
block (pyarrow's streaming CSV and JSON readers). Rows are regrouped into batches of at
most ``batch_size`` rows, each batch is predicted on and appended to one Parquet output
file with a ``ParquetWriter``. The model is loaded once.

Reading, predicting and writing overlap (:mod:`pyfunc_ops.jobs.pipeline`): a reader
thread decodes the next batches and a writer thread encodes the previous ones while the
model predicts, with a fixed number of batches in flight, so memory holds a handful of
batches and reader blocks, never the whole input, and the output is the one the
sequential loop writes, in the same order. While the threads run, BLAS may use only the
cores they leave (see :mod:`pyfunc_ops.jobs.pipeline`), and the output's column encodings
are chosen from the first batch (:mod:`pyfunc_ops.jobs.outputs`).

``output_mode="file"`` (the default) writes one Parquet file, to a temporary name beside
the destination moved into place at the end, so a failed run leaves no partial output
behind. ``output_mode="parts"`` writes one part per input file into a folder, each
published atomically, then a manifest (:mod:`pyfunc_ops.jobs.parts`, which also has
:func:`~pyfunc_ops.jobs.parts.check_parts` for the step after a fan-out).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pyfunc_ops.config import with_settings
from pyfunc_ops.core.crashpoints import crash_point
from pyfunc_ops.core.oserrors import os_error, os_errors
from pyfunc_ops.core.progress import Progress, progress
from pyfunc_ops.core.redact import redact
from pyfunc_ops.core.staging import remove_leftovers, temporary_name
from pyfunc_ops.errors import (
    InvalidParameterError,
    PyfuncOpsError,
    ResultTypeError,
    ScoringError,
    SerializationError,
)
from pyfunc_ops.jobs.inputs import (
    FORMATS,
    is_local_filesystem,
    kept_columns,
    list_input_files,
    model_columns,
    read_batches,
    rebatch,
)
from pyfunc_ops.jobs.outputs import open_parquet_writer
from pyfunc_ops.jobs.pipeline import run_pipeline
from pyfunc_ops.jobs.request import LoadOptions, check_batch_size, make_request

if TYPE_CHECKING:
    import fsspec
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

logger = logging.getLogger(__name__)

# 10,000 rows keep a batch's memory small (a few MB for tens of columns) while the
# per-batch overhead (one predict call, one Parquet row group) stays negligible.
DEFAULT_BATCH_SIZE = 10_000
PREDICTION_COLUMN = "prediction"
OUTPUT_MODES = ("file", "parts")


@dataclass(frozen=True)
class ScoreFilesRequest(LoadOptions):
    """What to score with which model, and how: the parameters of :func:`score_files`.

    ``keep_columns``: ``None`` (predictions only), ``"all"`` or a list of input columns to
    copy into the output; ``key_column`` is copied first. ``columns``: the input columns
    the model receives (default all, e.g. leave an id column out). ``input_format``:
    ``"parquet"``, ``"csv"`` or ``"json"`` (JSON lines); default from the file names.
    ``output_mode``: ``"file"`` writes one Parquet file at ``output_url``; ``"parts"``
    treats ``output_url`` as a folder and writes ``part-<i:05d>-<input stem>.parquet`` per
    input file plus a manifest, for fan-out jobs (see :mod:`pyfunc_ops.jobs.parts`). How
    the model is loaded and called (``env_manager``, ``trust_remote_code``,
    ``skops_trusted_types``, ``params``): :class:`~pyfunc_ops.jobs.request.LoadOptions`.
    """

    job: ClassVar[str] = "score_files"

    model_uri: str
    input_url: str
    output_url: str
    batch_size: int = DEFAULT_BATCH_SIZE
    keep_columns: Literal["all"] | Sequence[str] | None = None
    key_column: str | None = None
    input_format: str | None = None
    columns: Sequence[str] | None = None
    output_mode: Literal["file", "parts"] = "file"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_batch_size(self.batch_size)
        if self.output_mode not in OUTPUT_MODES:
            raise InvalidParameterError(
                f"output_mode must be one of {list(OUTPUT_MODES)}; got {self.output_mode!r} "
                "('file': one Parquet file, 'parts': one part file per input in a folder)."
            )


@dataclass
class ScoreResult:
    """What :func:`score_files` wrote. In ``parts`` mode ``output_uri`` is the folder,
    ``parts`` the manifest's entries and ``manifest`` its URI."""

    output_uri: str
    rows_in: int
    rows_out: int
    files: list[str] = field(default_factory=list)
    batches: int = 0
    parts: list[dict[str, Any]] = field(default_factory=list)
    manifest: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "output_uri": self.output_uri,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "files": list(self.files),
            "batches": self.batches,
            "parts": [dict(p) for p in self.parts],
            "manifest": self.manifest,
        }


# -- predictions -------------------------------------------------------------------------


def predictions_frame(predictions: Any, rows: int) -> pd.DataFrame:
    """The model's output as a DataFrame: its own columns for a DataFrame, ``prediction``
    for 1-D output, ``prediction_<i>`` for each column of 2-D output."""
    import numpy as np
    import pandas as pd

    if isinstance(predictions, pd.DataFrame):
        frame = predictions.rename(columns=str)
    elif isinstance(predictions, pd.Series):
        frame = predictions.to_frame(PREDICTION_COLUMN)
    elif isinstance(predictions, dict):
        frame = pd.DataFrame(predictions).rename(columns=str)
    else:
        array = np.asarray(predictions)
        if array.ndim == 1:
            frame = pd.DataFrame({PREDICTION_COLUMN: array})
        elif array.ndim == 2:
            frame = pd.DataFrame(
                {f"{PREDICTION_COLUMN}_{i}": array[:, i] for i in range(array.shape[1])}
            )
        else:
            raise ResultTypeError(
                f"the model returned a {array.ndim}-D {type(predictions).__name__}; batch "
                "scoring writes 1-D or 2-D predictions (or a DataFrame) only."
            )
    if len(frame) != rows:
        raise ResultTypeError(
            f"the model returned {len(frame)} predictions for a batch of {rows} rows; "
            "batch scoring needs one prediction row per input row."
        )
    return frame.reset_index(drop=True)


def _predictions_table(predictions: Any, rows: int) -> pa.Table:
    """The model's output as an Arrow table (see :func:`predictions_frame`). A 1-D
    ndarray, what most estimators return, goes to Arrow directly: building a DataFrame
    first and converting it back costs more than the rest of the batch's bookkeeping."""
    import numpy as np
    import pyarrow as pa

    if isinstance(predictions, np.ndarray) and predictions.ndim == 1 and len(predictions) == rows:
        return pa.table({PREDICTION_COLUMN: predictions})
    return pa.Table.from_pandas(predictions_frame(predictions, rows), preserve_index=False)


def _output_table(batch: pa.Table, predictions: pa.Table, kept: list[str]) -> pa.Table:
    clash = sorted(set(kept) & set(predictions.column_names))
    if clash:
        raise InvalidParameterError(
            f"the prediction columns {clash} have the same names as input columns kept in "
            "the output; keep fewer input columns (keep_columns/key_column)."
        )
    table = predictions
    for position, name in enumerate(kept):
        table = table.add_column(position, name, batch.column(name))
    return table


def _output_path(fs: fsspec.AbstractFileSystem, path: str, url: str) -> str:
    if url.endswith("/") or fs.isdir(path):
        return path.rstrip("/") + "/predictions.parquet"
    return path


def _conform(table: pa.Table, schema: pa.Schema, batch_number: int) -> pa.Table:
    if table.schema.equals(schema):
        return table
    try:
        return table.select(schema.names).cast(schema)
    except (KeyError, ValueError, TypeError, NotImplementedError) as exc:
        raise ResultTypeError(
            f"batch {batch_number}: predictions have the schema {table.schema} but the "
            f"first batch had {schema}; the model must return the same columns and types "
            f"for every batch ({exc})."
        ) from exc


# -- entry point -------------------------------------------------------------------------


def score_files(
    model_uri: str, input_url: str, output_url: str, *, model: Any = None, **options: Any
) -> ScoreResult:
    """Score the Parquet/CSV/JSON-lines ``input_url`` with the model at ``model_uri`` into
    one Parquet file at ``output_url`` (a folder or a URL ending in ``/`` gets
    ``predictions.parquet``).

    ``options`` are the other fields of :class:`ScoreFilesRequest` (``batch_size``,
    ``keep_columns``, ``key_column``, ``env_manager``, ``input_format``, ``columns``,
    ``trust_remote_code``, ``skops_trusted_types``, ``params``, ``output_mode``), with
    its defaults. An already loaded ``model`` (anything with ``predict``) skips loading.
    """
    request = make_request(
        ScoreFilesRequest,
        "score_files",
        {"model_uri": model_uri, "input_url": input_url, "output_url": output_url, **options},
    )
    return run_score_files(request, model=model)


@with_settings
def run_score_files(
    request: ScoreFilesRequest, *, model: Any = None, pipelined: bool = True
) -> ScoreResult:
    """Run the job ``request`` describes (see :func:`score_files`).

    Reading, predicting and writing overlap (:func:`pyfunc_ops.jobs.pipeline.run_pipeline`:
    a reader thread decodes the next batches while the model predicts, a writer thread
    encodes the previous ones), with a fixed number of batches in flight. ``pipelined=False``
    runs the same steps one after the other in this thread (same output, byte for byte);
    it is there for debugging and for the tests that compare the two.
    """
    from pyfunc_ops.core.uri import is_url
    from pyfunc_ops.storage.filesystem import get_filesystem

    output_url = str(request.output_url)
    in_fs, files, fmt = list_input_files(request.input_url, request.input_format)
    out_fs, out_path = get_filesystem(output_url)
    if request.output_mode == "file":
        out_path = _output_path(out_fs, out_path, output_url)
    output_uri = out_fs.unstrip_protocol(out_path) if is_url(output_url) else out_path
    if model is None:
        from pyfunc_ops.pyfunc.load import load_model

        model = load_model(request.model_uri, **request.load_kwargs())
    total = _parquet_rows(in_fs, files) if fmt == "parquet" else None
    logger.info(
        "scoring %d %s file(s) from %s with %s into %s (%s), %d rows per batch",
        len(files),
        fmt,
        redact(str(request.input_url)),
        redact(str(request.model_uri)),
        redact(output_uri),
        "one file" if request.output_mode == "file" else "one part per input file",
        request.batch_size,
    )
    result = ScoreResult(output_uri=output_uri, rows_in=0, rows_out=0, files=list(files))
    predictor = _Predictor(model, request, result, str(request.model_uri), files)
    source = _work_items(request, in_fs, files, fmt)
    with progress(total, "scoring", "rows", logger) as bar:
        if request.output_mode == "parts":
            inputs = [
                in_fs.unstrip_protocol(p) if is_url(str(request.input_url)) else p for p in files
            ]
            _score_parts(
                request, source, predictor, out_fs, out_path, inputs, result, bar, pipelined
            )
        else:
            _score_file(source, predictor, out_fs, out_path, bar, pipelined, files)
    logger.info(
        "scored %d rows in %d batches into %s", result.rows_out, result.batches, redact(output_uri)
    )
    return result


def _parquet_rows(fs: fsspec.AbstractFileSystem, files: list[str]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    total = 0
    for path in files:
        try:
            with fs.open(path, "rb") as fh:
                total += pq.ParquetFile(fh).metadata.num_rows
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            # Read before any scoring starts: a corrupt file fails the job up front.
            raise SerializationError(
                f"cannot read scoring input {path!r} as Parquet: {exc}. Check the file, or "
                "pass the right input_format ('parquet', 'csv' or 'json')."
            ) from None
    return total


# -- the three stages: read (reader thread), predict (caller), write (writer thread) ------


@dataclass
class _Batch:
    """Read side: one batch of input file ``index``, the model's frame already built
    (Arrow to pandas conversion happens in the reader thread too)."""

    index: int
    kept: pa.Table
    frame: pd.DataFrame
    rows: int


@dataclass
class _Output:
    """Write side: the output rows of one batch of input file ``index``."""

    index: int
    table: pa.Table
    rows_in: int


@dataclass
class _InputEnd:
    """Input file ``index`` is exhausted (its part, in ``parts`` mode, can be published)."""

    index: int


def _work_items(
    request: ScoreFilesRequest, fs: fsspec.AbstractFileSystem, files: list[str], fmt: str
) -> Iterator[_Batch | _InputEnd]:
    size = request.batch_size
    for index, path in enumerate(files):
        for batch in rebatch(read_batches(fs, path, fmt, size), size):
            names = batch.column_names
            kept = batch.select(kept_columns(names, request.keep_columns, request.key_column))
            features = batch.select(model_columns(names, request.columns, request.key_column, path))
            yield _Batch(index, kept, features.to_pandas(), batch.num_rows)
        yield _InputEnd(index)


class _Predictor:
    """The middle stage: predict on a batch and build its output rows, all batches
    checked against the first one's schema."""

    def __init__(
        self,
        model: Any,
        options: LoadOptions,
        result: ScoreResult,
        model_uri: str = "the model",
        files: list[str] | None = None,
    ) -> None:
        self._model = model
        self._model_uri = model_uri
        self._files = files or []
        self._options = options
        self._result = result
        self._schema: pa.Schema | None = None

    def __call__(self, item: _Batch | _InputEnd) -> _Output | _InputEnd:
        if isinstance(item, _InputEnd):
            return item
        try:
            raw = self._options.call_predict(self._model, item.frame)
        except PyfuncOpsError:
            raise  # ours already say what is wrong (a schema mismatch, a worker failure)
        except Exception as exc:
            raise self._model_failed(item, exc) from exc
        predictions = _predictions_table(raw, item.rows)
        table = _output_table(item.kept, predictions, item.kept.column_names)
        result = self._result
        if self._schema is None:
            self._schema = table.schema
        else:
            table = _conform(table, self._schema, result.batches + 1)
        result.rows_in += item.rows
        result.rows_out += table.num_rows
        result.batches += 1
        return _Output(item.index, table, item.rows)

    def _model_failed(self, item: _Batch, exc: Exception) -> ScoringError:
        """The model's own exception, with where it happened: the batch and its rows."""
        first = self._result.rows_in
        source = self._files[item.index] if item.index < len(self._files) else "the input"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return ScoringError(
            f"the model {redact(self._model_uri)} raised {type(exc).__name__}"
            f"{': ' + reason if reason else ''} on batch {self._result.batches + 1} (rows "
            f"{first} to {first + item.rows - 1} of the job, from {redact(source)}); "
            "fix the model or those rows and score again (the traceback is in the log "
            "with --debug)"
        )


class _FileSink:
    """The write stage of ``file`` mode: every batch into one ParquetWriter."""

    def __init__(self, raw: Any, bar: Progress) -> None:
        self._raw = raw
        self._bar = bar
        self._writer: pq.ParquetWriter | None = None

    def __call__(self, item: _Output | _InputEnd) -> None:
        if isinstance(item, _InputEnd):
            return
        if self._writer is None:
            self._writer = open_parquet_writer(self._raw, item.table)
        self._writer.write_table(item.table)
        self._bar.update(item.rows_in)

    def close(self, files: list[str]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._writer is None:
            # No rows at all: still publish a valid (empty) Parquet file.
            logger.warning("scoring input %s has no rows; writing an empty output", files)
            pq.write_table(pa.table({}), self._raw)
            return
        self._writer.close()

    def abort(self) -> None:
        import pyarrow as pa

        if self._writer is not None:
            try:
                self._writer.close()
            except (OSError, pa.ArrowException) as exc:  # the job's own error matters
                logger.debug("closing the aborted output failed: %s", exc)


def _score_file(
    source: Iterator[_Batch | _InputEnd],
    predictor: _Predictor,
    out_fs: fsspec.AbstractFileSystem,
    out_path: str,
    bar: Progress,
    pipelined: bool,
    files: list[str],
) -> None:
    """``file`` mode: one output, written to a temporary name beside it and moved into
    place when complete, so a failed run leaves nothing behind."""
    parent, _, name = out_path.rpartition("/")
    tmp_path = f"{parent}/{temporary_name(name)}" if parent else temporary_name(name)
    with os_errors("write the predictions to", out_path):
        if parent:
            out_fs.makedirs(parent, exist_ok=True)
            remove_leftovers(out_fs, parent, name)
    try:
        with contextlib.ExitStack() as stack:
            # Local output through Arrow's own writer, as the input (see jobs.inputs.read_batches).
            raw = (
                tmp_path
                if is_local_filesystem(out_fs)
                else stack.enter_context(out_fs.open(tmp_path, "wb"))
            )
            sink = _FileSink(raw, bar)
            try:
                run_pipeline(source, predictor, sink, threaded=pipelined)
            except BaseException:
                sink.abort()
                raise
            sink.close(files)
        crash_point("predict.before_publish")
        out_fs.mv(tmp_path, out_path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            if out_fs.exists(tmp_path):
                out_fs.rm(tmp_path)
        if isinstance(exc, OSError) and not isinstance(exc, PyfuncOpsError):
            raise os_error(exc, "write the predictions to", out_path) from exc
        raise


def _score_parts(
    request: ScoreFilesRequest,
    source: Iterator[_Batch | _InputEnd],
    predictor: _Predictor,
    out_fs: fsspec.AbstractFileSystem,
    folder: str,
    inputs: list[str],
    result: ScoreResult,
    bar: Progress,
    pipelined: bool,
) -> None:
    """``parts`` mode: one part per input file, each published atomically, then this
    call's manifest (see :mod:`pyfunc_ops.jobs.parts`)."""
    from pyfunc_ops.jobs.parts import PartsWriter

    with os_errors("write the prediction parts to", folder):
        writer = PartsWriter(out_fs, folder, result.output_uri, str(request.model_uri), inputs)

    def sink(item: _Output | _InputEnd) -> None:
        if isinstance(item, _InputEnd):
            writer.end_input(item.index)
            return
        writer.write(item.index, item.table)
        bar.update(item.rows_in)

    try:
        run_pipeline(source, predictor, sink, threaded=pipelined)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            writer.abort()
        if isinstance(exc, OSError) and not isinstance(exc, PyfuncOpsError):
            raise os_error(exc, "write the prediction parts to", folder) from exc
        raise
    with os_errors("write the prediction parts to", folder):
        manifest = writer.finish()
    result.parts = [dict(p) for p in manifest["parts"]]
    result.manifest = f"{result.output_uri.rstrip('/')}/{writer.manifest}"


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "FORMATS",
    "OUTPUT_MODES",
    "PREDICTION_COLUMN",
    "ScoreFilesRequest",
    "ScoreResult",
    "list_input_files",
    "predictions_frame",
    "rebatch",
    "run_score_files",
    "score_files",
]
