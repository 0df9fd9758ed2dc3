"""Spark scoring: a Parquet path or a table in, Parquet or a table out, through ``spark_udf``
(or, for a model its flavor lets Spark score itself, Spark ML's ``transform``).

One request type, :class:`ScoreSparkRequest`, holds the job's parameters and their only
defaults; :func:`score_spark` (an existing session plus keyword options) and
``SparkUDFScoreOperator`` both build it and call :func:`run_score_spark`, which also starts
the session when the caller has none (:func:`spark_session`).

Spark's Python workers must run this interpreter (or one with the model's libraries), so a
session started here gets it as configuration (``spark.pyspark.python``), never through
``os.environ``: the environment belongs to the whole process, where other tasks run too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pyfunc_ops.config import with_settings
from pyfunc_ops.errors import InputNotFoundError, InvalidParameterError
from pyfunc_ops.jobs.inputs import kept_columns
from pyfunc_ops.jobs.request import LoadOptions, make_request
from pyfunc_ops.jobs.scoring import PREDICTION_COLUMN, ScoreResult

logger = logging.getLogger(__name__)

DEFAULT_MASTER = "local[*]"
DEFAULT_APP_NAME = "pyfunc-ops"
PYTHON_CONF = "spark.pyspark.python"
# Spark's error conditions for a path or table that is not there.
_MISSING_INPUT = frozenset({"PATH_NOT_FOUND", "TABLE_OR_VIEW_NOT_FOUND"})

__all__ = [
    "DEFAULT_MASTER",
    "ScoreSparkRequest",
    "run_score_spark",
    "score_spark",
    "session_settings",
    "spark_session",
]


@dataclass(frozen=True)
class ScoreSparkRequest(LoadOptions):
    """The parameters of :func:`score_spark`.

    Give exactly one of ``input_path`` (Parquet) or ``input_table`` and one of
    ``output_path`` (Parquet) or ``output_table``. ``columns`` are the model's input columns
    (default: the signature's). The output has ``keep_columns`` of the input (default all)
    and ``prediction_column``; ``mode`` is the Spark write mode. ``master``, ``conf`` and
    ``app_name`` apply only when the job starts the session itself (no active one).
    How the model is loaded and called (``env_manager``, ``trust_remote_code``,
    ``skops_trusted_types``, ``params``): :class:`~pyfunc_ops.jobs.request.LoadOptions`,
    passed to ``spark_udf``. ``keep_columns`` defaults to ``"all"`` here (a table keeps its
    columns) where file scoring defaults to ``None`` (predictions only).
    """

    job: ClassVar[str] = "score_spark"

    model_uri: str
    input_path: str | None = None
    input_table: str | None = None
    output_path: str | None = None
    output_table: str | None = None
    columns: Sequence[str] | None = None
    result_type: Any = "double"
    prediction_column: str = PREDICTION_COLUMN
    keep_columns: Literal["all"] | Sequence[str] | None = "all"
    mode: str = "overwrite"
    master: str | None = None
    conf: Mapping[str, Any] | None = None
    app_name: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.input_path is None) == (self.input_table is None):
            raise InvalidParameterError(
                "score_spark: give exactly one of input_path (Parquet) or input_table; got "
                f"input_path={self.input_path!r}, input_table={self.input_table!r}."
            )
        if (self.output_path is None) == (self.output_table is None):
            raise InvalidParameterError(
                "score_spark: give exactly one of output_path (Parquet) or output_table; got "
                f"output_path={self.output_path!r}, output_table={self.output_table!r}."
            )


# -- the session -------------------------------------------------------------------------


def session_settings(
    master: str | None,
    conf: Mapping[str, Any] | None,
    *,
    fallback_master: str | None = None,
    fallback_conf: Mapping[str, Any] | None = None,
) -> tuple[str, dict[str, str]]:
    """The master URL and configuration of a session: ``master``/``conf`` win over the
    fallbacks (e.g. a Spark connection's), and :data:`DEFAULT_MASTER` is the default."""
    settings = {str(k): str(v) for k, v in (fallback_conf or {}).items()}
    settings.update({str(k): str(v) for k, v in (conf or {}).items()})
    return master or fallback_master or DEFAULT_MASTER, settings


def _python_for_workers(settings: Mapping[str, str]) -> str:
    # Spark's own precedence: the configuration, then PYSPARK_PYTHON; this interpreter
    # otherwise, so the workers can import the model's libraries.
    return settings.get(PYTHON_CONF) or os.environ.get("PYSPARK_PYTHON") or sys.executable


@contextlib.contextmanager
def spark_session(
    master: str | None = None,
    conf: Mapping[str, Any] | None = None,
    app_name: str | None = None,
) -> Iterator[Any]:
    """The active SparkSession (reused and left running), else a new one built from
    ``master``/``conf`` and stopped at the end of the block.

    The new session's Python workers run :func:`_python_for_workers`: it is set as
    ``spark.pyspark.python`` (what ``spark-submit`` and cluster managers read) and as the
    context's ``pythonExec`` (what PySpark's driver ships with each Python function; it
    otherwise reads ``PYSPARK_PYTHON`` from the environment when the context starts).
    """
    from pyspark.sql import SparkSession

    # The thread's active session, else the process's default one (a task run in another
    # thread than the one that built it): reused, and never stopped here.
    active = SparkSession.getActiveSession() or SparkSession._instantiatedSession
    if active is not None:
        logger.info("reusing the active SparkSession (master %s)", active.sparkContext.master)
        yield active
        return
    master_url, settings = session_settings(master, conf)
    python = settings.setdefault(PYTHON_CONF, _python_for_workers(settings))
    builder = SparkSession.builder.master(master_url).appName(app_name or DEFAULT_APP_NAME)
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.pythonExec = python
    logger.info("started a SparkSession (master %s, Python %s)", master_url, python)
    try:
        yield spark
    finally:
        spark.stop()


# -- the job -----------------------------------------------------------------------------


def score_spark(spark: Any, model_uri: str, **options: Any) -> ScoreResult:
    """Score a Parquet path or a table with ``spark_udf`` on ``spark`` and write Parquet or
    a table. ``options`` are the other fields of :class:`ScoreSparkRequest`, with its
    defaults; ``spark=None`` starts a session from ``master``/``conf``."""
    request = make_request(ScoreSparkRequest, "score_spark", {"model_uri": model_uri, **options})
    return run_score_spark(request, spark=spark)


@with_settings
def run_score_spark(request: ScoreSparkRequest, *, spark: Any = None) -> ScoreResult:
    """Run the job ``request`` describes on ``spark``, or on :func:`spark_session`."""
    request = pinned(request)
    if spark is not None:
        return _score(spark, request)
    with spark_session(request.master, request.conf, request.app_name) as session:
        return _score(session, request)


def pinned(request: ScoreSparkRequest) -> ScoreSparkRequest:
    """``request`` with a moving ``models:/`` URI (an alias, a stage, ``latest``) replaced
    by the version it selects now, ``models:/<name>/<version>``.

    The job looks at the model twice (its flavor decides between Spark's own ``transform``
    and a Python UDF, then that scorer loads it); a promotion in between must not give one
    run the flavor of one version and the predictions of another. Other URIs are kept.
    """
    from pyfunc_ops.tracking.client import pin_model_uri

    uri, version = pin_model_uri(request.model_uri)
    if version is None:
        return request
    if uri != request.model_uri:
        logger.info("score_spark: %s is version %s now", request.model_uri, uri)
    return dataclasses.replace(request, model_uri=uri)


def _read_input(spark: Any, request: ScoreSparkRequest) -> Any:
    from pyspark.errors import AnalysisException

    source = request.input_path or request.input_table
    try:
        if request.input_path:
            return spark.read.parquet(request.input_path)
        return spark.table(request.input_table)
    except AnalysisException as exc:
        if exc.getCondition() not in _MISSING_INPUT:
            raise
        kind = "Parquet path" if request.input_path else "table"
        raise InputNotFoundError(
            f"score_spark: the input {kind} {source!r} does not exist ({exc.getCondition()}); "
            "check input_path/input_table (a table must be visible to this session)."
        ) from exc


def _score(spark: Any, request: ScoreSparkRequest) -> ScoreResult:
    """Score and write in one Spark job; the row counts come from that job.

    Both counts are observed metrics (``DataFrame.observe``) of the write's own plan: Spark
    aggregates them from the tasks that succeeded while the data streams through, so
    there is no ``count()`` of the input and no read-back of the output.
    """
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    from pyfunc_ops.pyfunc.spark import spark_udf

    frame = _read_input(spark, request)
    kept = kept_columns(frame.columns, request.keep_columns, None)
    prediction_column = request.prediction_column
    if prediction_column in kept:
        raise InvalidParameterError(
            f"prediction_column {prediction_column!r} is also an input column kept in the "
            "output; choose another prediction_column or keep fewer columns."
        )
    read, written = Observation("pyfunc_ops_rows_in"), Observation("pyfunc_ops_rows_out")
    observed = frame.observe(read, F.count(F.lit(1)).alias("rows"))
    native = _native_scorer(spark, request)
    if native is not None:
        scored = _score_natively(native, observed, kept, request)
    else:
        udf = spark_udf(
            spark,
            request.model_uri,
            result_type=request.result_type,
            params=request.params,
            **request.load_kwargs(),
        )
        prediction = udf(*request.columns) if request.columns else udf()
        scored = observed.select(*kept, prediction.alias(prediction_column))
    scored = scored.observe(written, F.count(F.lit(1)).alias("rows"))
    writer = scored.write.mode(request.mode)
    if request.output_path:
        writer.parquet(request.output_path)
    else:
        writer.saveAsTable(request.output_table)
    rows_in, rows_out = int(read.get["rows"]), int(written.get["rows"])
    source = str(request.input_path or request.input_table)
    target = str(request.output_path or request.output_table)
    logger.info("Spark scored %d rows of %s into %s", rows_out, source, target)
    return ScoreResult(output_uri=target, rows_in=rows_in, rows_out=rows_out, files=[source])


# -- models Spark scores itself ----------------------------------------------------------


def _native_scorer(spark: Any, request: ScoreSparkRequest) -> Any:
    """The model loaded for scoring with its own Spark ``transform``, when its flavor
    module offers ``spark_native_scorer`` (Spark ML); ``None`` for every other model,
    which scores in a Python UDF (:func:`~pyfunc_ops.pyfunc.spark.spark_udf`).

    The flavor comes from the registry (:func:`~pyfunc_ops.models.flavors.spec_for_model`),
    so no flavor is named here. A native model runs in the cluster's JVMs: no Python
    worker loads it, and ``env_manager``, ``skops_trusted_types`` and ``params`` (which
    serve Python models) do not apply.
    """
    from pyfunc_ops.models.flavors import import_flavor, spec_for_model
    from pyfunc_ops.models.mlmodel import Model
    from pyfunc_ops.pyfunc.localize import resolve_model

    spec = spec_for_model(Model.load(resolve_model(request.model_uri).path).flavors)
    hook = getattr(import_flavor(spec), "spark_native_scorer", None) if spec else None
    if hook is None:
        return None
    if request.env_manager != "local" or request.params:
        logger.info(
            "score_spark: %s is a %s model scored by Spark itself; env_manager=%r and "
            "params do not apply to it",
            request.model_uri,
            spec.name if spec else "?",
            request.env_manager,
        )
    return hook(spark, request.model_uri, trust_remote_code=request.trust_remote_code)


def _quoted(name: str) -> Any:
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def _score_natively(
    native: Any, frame: Any, kept: Sequence[str], request: ScoreSparkRequest
) -> Any:
    """``frame`` scored by ``native.transform``: the kept columns and the prediction column,
    as the UDF path writes them.

    The model sees its input columns under the names it was fitted with (``columns``
    renamed to the signature's names by position, or the signature's columns, or every
    column without a signature); the kept columns travel beside them under private names,
    so a renamed or transformed input never replaces a kept column.
    """
    from pyspark.errors import AnalysisException

    names = native.input_names
    if request.columns:
        targets = tuple(names or request.columns)
        if len(targets) != len(request.columns):
            raise InvalidParameterError(
                f"score_spark: columns {list(request.columns)} are {len(request.columns)}, "
                f"but the model's signature names {len(targets)} inputs {list(targets)}; "
                "pass one column per model input, in the signature's order."
            )
        inputs = [_quoted(c).alias(t) for c, t in zip(request.columns, targets, strict=True)]
    else:
        inputs = [_quoted(c) for c in (names or frame.columns)]
        targets = tuple(names or frame.columns)
    missing = [c for c in (request.columns or names or ()) if c not in frame.columns]
    if missing:
        raise InvalidParameterError(
            f"score_spark: the input has no column {missing} (it has {frame.columns}); "
            "pass columns=[...] naming the input columns to score, one per model input."
        )
    output = native.output_column
    if output in targets:
        raise InvalidParameterError(
            f"score_spark: the model's input would include a column {output!r}, the column "
            f"the Spark ML model adds; rename that input column, or pass columns=[...] "
            "naming the model's inputs."
        )
    private = {c: f"__pyfunc_ops_kept_{i}" for i, c in enumerate(kept)}
    model_input = frame.select(*(_quoted(c).alias(private[c]) for c in kept), *inputs)
    scored = native.transform(model_input)
    try:
        prediction = _quoted(output).cast(request.result_type)
        return scored.select(
            *(_quoted(private[c]).alias(c) for c in kept),
            prediction.alias(request.prediction_column),
        )
    except AnalysisException as exc:
        raise InvalidParameterError(
            f"score_spark: the Spark ML model's {output!r} column cannot be cast to "
            f"result_type {request.result_type!r} ({exc.getCondition()}); pass the type of "
            "its predictions (e.g. 'double', or 'array<double>' for a vector)."
        ) from exc
