"""The Spark ML flavor: save, log and load a ``pyspark.ml`` model; a pyfunc ``loader_module``.

A model is Spark ML's own persistence format (JSON metadata and Parquet data) in the
``sparkml`` folder, with the MLmodel keys MLflow writes (``pyspark_version``, ``model_data``,
``model_class``). A fitted transformer that is not a ``PipelineModel`` is saved as a
one-stage ``PipelineModel``, as MLflow does, so every model loads as a ``PipelineModel``.

Loading builds objects from data only, so a model from an untrusted place loads; but Spark
ML's reader imports the class each stage's metadata names. Before Spark reads anything,
every metadata file of the ``sparkml`` tree is read here: a stage folder that would leave
the model is refused whatever the trust, and a class outside Spark ML
(``org.apache.spark.ml.*``, ``pyspark.ml.*``, e.g. a custom Python stage) needs the load
to be trusted, since importing it runs its module. The ``model_class`` the MLmodel records
must be a ``pyspark.ml`` transformer class, whatever the trust.

Spark reads and writes models through Hadoop's file system, which on a cluster is not the
driver's disk: saving writes to ``dfs_tmpdir`` first and copies the result into the model
folder; loading copies the folder to ``dfs_tmpdir`` when the session's default file system
is not the local one. pyfunc ``predict`` runs on the active SparkSession, or a ``local[1]``
one started for the purpose, and returns a list of the ``prediction`` column's values, as
MLflow's Spark wrapper does. :func:`spark_native_scorer` is the hook the Spark scoring job
uses to score with the model's own ``transform`` on the cluster instead of a Python UDF.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import posixpath
import shutil
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyfunc_ops.errors import InvalidParameterError, ModelFormatError, SerializationError
from pyfunc_ops.models.mlmodel import MLMODEL_FILE_NAME, Model
from pyfunc_ops.pyfunc.flavor_support import (
    FlavorFiles,
    OpenedFlavor,
    add_sections,
    flavor_requirements,
    open_for_load,
    open_for_pyfunc,
    recorded_class,
    saves_model,
    type_name,
)
from pyfunc_ops.pyfunc.log import log_model_with

if TYPE_CHECKING:
    from pyfunc_ops.pyfunc.save import StagedModel
    from pyfunc_ops.pyfunc.trust import TrustDecision

log = logging.getLogger(__name__)

FLAVOR_NAME = "spark"
#: The folder (and ``model_data`` / python_function ``data``) holding the Spark ML model.
MODEL_DATA = "sparkml"
#: The column MLflow's pyfunc reads the predictions from.
PREDICTION_COLUMN = "prediction"
#: Where Spark writes (and, on a cluster file system, reads) models on their way to and
#: from the model folder; a fresh sub-folder per call. ``dfs_tmpdir=`` overrides it.
DEFAULT_DFS_TMP = "/tmp/pyfunc_ops/spark"
#: Class name prefixes of Spark ML's own stages (JVM names, and their Python twins).
SPARK_ML_CLASSES = ("org.apache.spark.ml", "pyspark.ml")
_CONNECT_PREFIX = "pyspark.ml.connect."


def get_default_pip_requirements() -> list[str]:
    """What a Spark ML model needs: cloudpickle, MLflow's pin and the pinned ``pyspark``."""
    return flavor_requirements(FLAVOR_NAME)


def get_default_conda_env() -> dict[str, Any]:
    """The conda environment of :func:`get_default_pip_requirements`."""
    from pyfunc_ops.models import env as env_files

    return env_files.conda_env_from_pip(get_default_pip_requirements())


def code_reason(flavors: dict[str, Any]) -> str | None:
    """``None``: Spark ML's format is JSON metadata and Parquet data, nothing is unpickled.
    (A stage class outside Spark ML is found, and needs trust, only when the files are
    read: see the module docstring.)"""
    return None


# -- the session and Hadoop's file system --------------------------------------------------


def _session() -> Any:
    """The SparkSession in use, else a ``local[1]`` one (as MLflow's pyfunc starts): an
    existing session, perhaps on a cluster, is never reconfigured."""
    from pyfunc_ops.models.flavors import import_framework

    session_cls = import_framework(FLAVOR_NAME, "pyspark.sql").SparkSession
    active = session_cls.getActiveSession() or session_cls._instantiatedSession
    if active is not None:
        return active
    log.info("no active SparkSession: starting a local[1] one for the Spark ML model")
    return (
        session_cls.builder.master("local[1]")
        .appName("pyfunc-ops-spark-model")
        .config("spark.ui.enabled", "false")
        .config("spark.python.worker.reuse", "true")
        # A session started inside a Spark task (spark_udf on an executor) is allowed.
        .config("spark.executor.allowSparkContext", "true")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )


class _Hadoop:
    """Hadoop's default file system of a session, through the JVM (what Spark ML uses)."""

    def __init__(self, spark: Any) -> None:
        self._jvm = spark.sparkContext._jvm
        conf = spark.sparkContext._jsc.hadoopConfiguration()
        self._fs = self._jvm.org.apache.hadoop.fs.FileSystem.get(conf)

    def _path(self, path: str) -> Any:
        return self._jvm.org.apache.hadoop.fs.Path(path)

    def is_local(self, local: Path) -> bool:
        """Whether the default file system resolves ``local`` to the driver's disk."""
        qualified = str(self._fs.makeQualified(self._path(str(local))).toString())
        return qualified.startswith("file:")

    def to_local(self, src: str, dst: Path) -> None:
        self._fs.copyToLocalFile(True, self._path(src), self._path(str(dst)))

    def from_local(self, src: Path, dst: str) -> None:
        self._fs.copyFromLocalFile(False, self._path(str(src)), self._path(dst))


def _dfs_path(dfs_tmpdir: str | None) -> str:
    base = dfs_tmpdir or DEFAULT_DFS_TMP
    if not isinstance(base, str):
        raise InvalidParameterError(
            f"dfs_tmpdir must be a path or URL string of a folder Spark can write, got "
            f"{type(base).__name__} {base!r}."
        )
    return posixpath.join(base, uuid.uuid4().hex)


# -- save ---------------------------------------------------------------------------------


def _pipeline_of(spark_model: Any) -> Any:
    """``spark_model`` as a ``PipelineModel`` (a single transformer becomes one stage), or
    :class:`InvalidParameterError` for anything Spark ML cannot persist."""
    from pyfunc_ops.models.flavors import import_framework

    ml = import_framework(FLAVOR_NAME, "pyspark.ml")
    util = import_framework(FLAVOR_NAME, "pyspark.ml.util")
    name = type_name(spark_model)
    if name.startswith(_CONNECT_PREFIX):
        raise InvalidParameterError(
            f"{name} is a Spark Connect ML model (pyspark.ml.connect), which pyfunc_ops does "
            "not save; use a pyspark.ml model (or MLflow for Spark Connect ML)."
        )
    persistable = isinstance(spark_model, util.MLWritable) and isinstance(
        spark_model, util.MLReadable
    )
    if not isinstance(spark_model, ml.Transformer) or not persistable:
        raise InvalidParameterError(
            f"Cannot save a {name} with the Spark ML flavor: it takes a fitted pyspark.ml "
            "Transformer or Model that Spark ML can persist (MLWritable and MLReadable), "
            "such as a PipelineModel from Pipeline.fit."
        )
    if isinstance(spark_model, ml.PipelineModel):
        return spark_model
    return ml.PipelineModel([spark_model])


def _write_sparkml(pipeline: Any, target: Path, dfs_tmpdir: str | None) -> None:
    """Spark ML writes on Hadoop's file system (a cluster's, or the local disk): to a fresh
    temporary folder there, then copied (and removed) into ``target``."""
    spark = _session()
    tmp = _dfs_path(dfs_tmpdir)
    try:
        pipeline.write().save(tmp)
    except Exception as exc:  # py4j and Spark raise many types for a failed write
        raise SerializationError(
            f"Spark ML could not write the {type(pipeline).__name__} to {tmp!r} ({exc}). "
            "Pass dfs_tmpdir= a folder this Spark session can write."
        ) from exc
    _Hadoop(spark).to_local(tmp, target)


def _infer_signature(pipeline: Any, input_example: Any) -> Any:
    """A signature from the example and the model's own predictions (what MLflow does: its
    output is the one unnamed prediction column)."""
    import pandas as pd

    from pyfunc_ops.models.signature import infer_signature

    frame = input_example if isinstance(input_example, pd.DataFrame) else None
    if frame is None:
        return None
    try:
        # As MLflow: the example scored as it is (no array-to-vector help), on a copy
        # (choosing the prediction column may rename the last stage's output).
        spark = _session()
        pipeline = pipeline.copy()
        example = spark.createDataFrame(frame)
        column = _prediction_column(spark, pipeline, example)
        rows = pipeline.transform(example).select(column).collect()
        signature = infer_signature(frame, pd.Series([row[0] for row in rows]))
    except Exception as exc:  # as MLflow: an inference failure only warns
        log.warning("could not infer the signature from the input example: %s", exc)
        return None
    return signature


@saves_model
def save_model(
    spark_model: Any,
    path: str | os.PathLike[str],
    mlflow_model: Model | None = None,
    conda_env: Any = None,
    code_paths: list[str | os.PathLike[str]] | None = None,
    dfs_tmpdir: str | None = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: Any = None,
    extra_pip_requirements: Any = None,
    metadata: dict[str, Any] | None = None,
) -> FlavorFiles:
    """Save a fitted Spark ML model (``PipelineModel`` or any persistable transformer) to
    the local folder ``path`` in MLflow's layout; parameters as ``mlflow.spark.save_model``.

    ``dfs_tmpdir``: the folder on Hadoop's file system Spark writes to first (default
    :data:`DEFAULT_DFS_TMP`). Without ``signature``, an ``input_example`` DataFrame gives
    one from the model's own predictions; ``signature=False`` saves none.
    """
    from pyfunc_ops.models.flavors import import_framework

    pipeline = _pipeline_of(spark_model)
    pyspark = import_framework(FLAVOR_NAME)
    if signature is False:
        signature = None
    elif signature is None and input_example is not None:
        signature = _infer_signature(pipeline, input_example)
    model_class = type_name(pipeline)

    def write_spark(staged: StagedModel) -> None:
        _write_sparkml(pipeline, staged.path / MODEL_DATA, dfs_tmpdir)
        add_sections(
            staged,
            FLAVOR_NAME,
            MODEL_DATA,
            pyspark_version=pyspark.__version__,
            model_data=MODEL_DATA,
            model_class=model_class,
        )

    return FlavorFiles(write_spark, get_default_pip_requirements(), signature=signature)


def log_model(
    spark_model: Any,
    artifact_path: str,
    registered_model_name: str | None = None,
    **kwargs: Any,
) -> Any:
    """Log a Spark ML model under the active run (started if needed); optionally register
    it. ``kwargs`` are :func:`save_model`'s."""
    return log_model_with(
        save_model, artifact_path, registered_model_name, spark_model=spark_model, **kwargs
    )


# -- the checks before Spark reads anything ------------------------------------------------


def _metadata_records(file: Path) -> list[dict[str, Any]]:
    """The JSON records of one metadata part file (Spark writes one line; gzip if the
    session compressed its text output)."""
    try:
        raw = file.read_bytes()
        text = (gzip.decompress(raw) if file.suffix == ".gz" else raw).decode("utf-8")
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
    except (OSError, ValueError, EOFError) as exc:
        raise SerializationError(
            f"{file}: not readable Spark ML metadata (JSON lines expected: {exc}). Restore "
            "the file, or save the model again."
        ) from exc
    if not all(isinstance(r, dict) and isinstance(r.get("class"), str) for r in records):
        raise SerializationError(
            f"{file}: Spark ML metadata must be JSON objects naming their 'class'. Restore "
            "the file, or save the model again."
        )
    return records


def _check_stage_uids(record: dict[str, Any], file: Path) -> None:
    # Spark joins each stage uid into a folder name: one that is not a plain name would
    # send the reader outside the model.
    params = record.get("paramMap")
    uids = params.get("stageUids") if isinstance(params, dict) else None
    if uids is None:
        return
    listed = uids if isinstance(uids, list) else [uids]
    bad = [u for u in listed if not isinstance(u, str) or not u or {"/", "\\"} & set(u)]
    if not isinstance(uids, list) or bad or any(u in (".", "..") for u in uids):
        raise ModelFormatError(
            f"{file}: stageUids must be plain stage names, found {bad or uids!r}; refusing to "
            "read stages outside the model folder. Save the model again."
        )


def _is_spark_ml_class(name: str) -> bool:
    """Whether ``name`` (a JVM or Python class a stage's metadata names) is a Spark ML
    stage class: its Python twin (``org.apache.spark`` read as ``pyspark``, as Spark's
    reader does) is a ``Params`` class of a ``pyspark.ml`` module. Spark ML's own modules
    are imported to tell; anything else is not imported here."""
    import importlib

    python_name = name.replace("org.apache.spark", "pyspark", 1)
    module, _, attr = python_name.rpartition(".")
    in_spark_ml = module == "pyspark.ml" or module.startswith("pyspark.ml.")
    if not in_spark_ml or (module + ".").startswith(_CONNECT_PREFIX):
        return False
    if not name.startswith(tuple(p + "." for p in SPARK_ML_CLASSES)):
        return False
    try:
        found = getattr(importlib.import_module(module), attr, None)
    except ImportError:  # a Spark ML module needing an optional package (torch, ...)
        return False
    params = importlib.import_module("pyspark.ml.param").Params
    return isinstance(found, type) and issubclass(found, params)


def check_sparkml_tree(root: Path, trust: TrustDecision) -> None:
    """Read every Spark ML metadata file under ``root`` before Spark does: refuse stage
    folders that leave it, and require trust for a class outside Spark ML (Spark imports
    the class a stage names)."""
    if not root.is_dir():
        raise ModelFormatError(
            f"{root}: the Spark ML model folder is missing (the MLmodel's model_data names "
            "it). Restore it, or save the model again."
        )
    folders = [root / "metadata", *root.rglob("metadata")]
    if not (root / "metadata").is_dir():
        raise SerializationError(
            f"{root / 'metadata'}: missing; {root} is not a Spark ML model folder. Restore "
            "it, or save the model again."
        )
    for folder in dict.fromkeys(f for f in folders if f.is_dir()):
        for file in sorted(folder.iterdir()):
            if file.name.startswith((".", "_")) or not file.is_file():
                continue
            for record in _metadata_records(file):
                _check_stage_uids(record, file)
                name = record["class"]
                if not _is_spark_ml_class(name):
                    trust.require(
                        f"its Spark ML metadata {file.relative_to(root.parent)} names the "
                        f"class {name!r}, outside Spark ML, and loading imports it"
                    )


def _check_model_class(conf: dict[str, Any], where: Path) -> None:
    """The recorded ``model_class`` (optional, as in older models) must be a ``pyspark.ml``
    transformer; Spark Connect ML models are not supported."""
    value = conf.get("model_class")
    if value is None:
        return
    if isinstance(value, str) and value.startswith(_CONNECT_PREFIX):
        raise ModelFormatError(
            f"{where / MLMODEL_FILE_NAME}: spark.model_class is {value!r}, a Spark Connect ML "
            "model, which pyfunc_ops does not load. Load it with MLflow."
        )
    from pyfunc_ops.models.flavors import import_framework

    base = import_framework(FLAVOR_NAME, "pyspark.ml").Transformer
    recorded_class(value, ("pyspark.ml",), where, "spark.model_class", base)


def _sparkml_folder(opened: OpenedFlavor) -> Path:
    _check_model_class(opened.conf, opened.path)
    folder = opened.file(opened.conf.get("model_data", MODEL_DATA), "spark.model_data")
    check_sparkml_tree(folder, opened.trust)
    return folder


def _read_pipeline(spark: Any, folder: Path, dfs_tmpdir: str | None) -> Any:
    """``PipelineModel.load`` of the checked local ``folder``, copied to ``dfs_tmpdir``
    first when the session's default file system is not the local disk."""
    from pyfunc_ops.models.flavors import import_framework

    pipeline_cls = import_framework(FLAVOR_NAME, "pyspark.ml").PipelineModel
    hadoop = _Hadoop(spark)
    source = folder.absolute().as_posix()
    if not hadoop.is_local(folder.absolute()):
        source = _dfs_path(dfs_tmpdir)
        hadoop.from_local(folder.absolute(), source)
        log.info("copied the Spark ML model %s to %s", folder, source)
    try:
        return pipeline_cls.load(source)
    except Exception as exc:  # py4j and Spark raise many types for unreadable files
        raise SerializationError(
            f"{folder}: Spark ML could not read the PipelineModel "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}). "
            "Restore the model folder, or save the model again with this pyspark version."
        ) from exc


# -- load ---------------------------------------------------------------------------------


def load_model(
    model_uri: str | os.PathLike[str],
    dfs_tmpdir: str | None = None,
    dst_path: str | os.PathLike[str] | None = None,
    *,
    trust_remote_code: bool | None = None,
) -> Any:
    """Load the ``pyspark.ml.PipelineModel`` of the model at ``model_uri`` (any model URI),
    on the active SparkSession or a ``local[1]`` one.

    ``dfs_tmpdir``: where the model is copied for Spark to read it when the session's
    file system is not the local disk (a cluster's HDFS). ``dst_path``: an existing local
    folder to copy the model into first (as MLflow downloads it there). Spark ML's format
    loads from untrusted places; ``trust_remote_code`` is needed only for stages whose
    classes are outside Spark ML.
    """
    opened = open_for_load(model_uri, FLAVOR_NAME, trust_remote_code)
    if dst_path is not None:
        dst = Path(dst_path)
        if not dst.is_dir():
            raise InvalidParameterError(
                f"dst_path {str(dst_path)!r} is not an existing folder; create it first."
            )
        target = dst / opened.path.name
        shutil.copytree(opened.path, target, dirs_exist_ok=True)
        opened = replace(opened, path=target)
    folder = _sparkml_folder(opened)
    return _read_pipeline(_session(), folder, dfs_tmpdir)


def _array_features_as_vector(frame: Any, pipeline: Any) -> Any:
    """An ``array<double>`` features column becomes a vector (MLflow looks at the last
    stage only: the one whose ``featuresCol`` a single estimator stage reads)."""
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import types as T
    from pyspark.sql.functions import col

    stage = pipeline.stages[-1] if getattr(pipeline, "stages", None) else pipeline
    if not stage.hasParam("featuresCol"):
        return frame
    name = stage.getOrDefault(stage.featuresCol)
    arrays = (T.ArrayType(T.DoubleType(), True), T.ArrayType(T.DoubleType(), False))
    if any(f.name == name and f.dataType in arrays for f in frame.schema.fields):
        return frame.withColumn(name, array_to_vector(col(name)))
    return frame


def _prediction_column(spark: Any, pipeline: Any, frame: Any) -> str:
    """``prediction``; a pipeline ending in a plain transformer whose output is not named
    so gets its ``outputCol`` set to it (as MLflow does, so any transformer predicts)."""
    from pyspark.ml import PipelineModel

    if isinstance(pipeline, PipelineModel) and pipeline.stages:
        last: Any = pipeline.stages[-1]
        if last.hasParam("outputCol"):
            empty = pipeline.transform(spark.createDataFrame([], frame.schema))
            if PREDICTION_COLUMN not in empty.columns:
                last.setOutputCol(PREDICTION_COLUMN)
    return PREDICTION_COLUMN


def _predict(spark: Any, pipeline: Any, data: Any, signature: Any) -> list[Any]:
    frame = _array_features_as_vector(spark.createDataFrame(data), pipeline)
    column = _prediction_column(spark, pipeline, frame)
    return [row[0] for row in pipeline.transform(frame).select(column).collect()]


class _PyFuncModelWrapper:
    """The inference API over a ``PipelineModel``: ``predict(DataFrame)`` scores it on a
    SparkSession and returns the ``prediction`` column as a list (MLflow's container)."""

    def __init__(self, spark: Any, spark_model: Any, signature: Any = None) -> None:
        self.spark = spark
        self.spark_model = spark_model
        self.signature = signature

    def get_raw_model(self) -> Any:
        return self.spark_model

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> list[Any]:
        return _predict(self.spark, self.spark_model, model_input, self.signature)


def _load_pyfunc(path: str, model_config: Any = None) -> _PyFuncModelWrapper:
    """Loader entry point: ``path`` is the ``sparkml`` folder (python_function ``data``) or
    the model folder. The trust decision comes from the load in progress."""
    opened = open_for_pyfunc(path, FLAVOR_NAME)
    folder = _sparkml_folder(opened)
    spark = _session()
    return _PyFuncModelWrapper(spark, _read_pipeline(spark, folder, None), opened.model.signature)


# -- native scoring on Spark ----------------------------------------------------------------


@dataclass(frozen=True)
class SparkNativeScorer:
    """A Spark ML model ready to score a DataFrame on its cluster with ``transform``.

    ``input_names``: the columns the signature names (``None`` without one).
    ``output_column``: the column ``transform`` adds with the predictions.
    """

    pipeline: Any
    input_names: tuple[str, ...] | None
    output_column: str = PREDICTION_COLUMN

    def transform(self, frame: Any) -> Any:
        """``frame`` with the prediction column added (every input column kept)."""
        spark = frame.sparkSession
        frame = _array_features_as_vector(frame, self.pipeline)
        _prediction_column(spark, self.pipeline, frame)
        result = self.pipeline.transform(frame)
        field = next(f for f in result.schema.fields if f.name == self.output_column)
        if type(field.dataType).__name__ == "VectorUDT":
            from pyspark.ml.functions import vector_to_array
            from pyspark.sql.functions import col

            column = vector_to_array(col(self.output_column))
            result = result.withColumn(self.output_column, column)
        return result


def spark_native_scorer(
    spark: Any,
    model_uri: str | os.PathLike[str],
    *,
    trust_remote_code: bool | None = None,
    dfs_tmpdir: str | None = None,
) -> SparkNativeScorer:
    """The hook of the Spark scoring job (``score_spark``, ``SparkUDFScoreOperator``): the
    model loaded on ``spark`` itself, to score with its own ``transform`` on the cluster
    (no Python UDF, no model copy in each Python worker)."""
    opened = open_for_load(model_uri, FLAVOR_NAME, trust_remote_code)
    folder = _sparkml_folder(opened)
    pipeline = _read_pipeline(spark, folder, dfs_tmpdir)
    signature = opened.model.signature
    inputs = signature.inputs if signature is not None else None
    names: tuple[str, ...] | None = None
    if inputs is not None and not inputs.is_tensor and inputs.has_names():
        names = tuple(inputs.names())
    return SparkNativeScorer(pipeline, names)


__all__ = [
    "DEFAULT_DFS_TMP",
    "FLAVOR_NAME",
    "MODEL_DATA",
    "SparkNativeScorer",
    "check_sparkml_tree",
    "code_reason",
    "get_default_conda_env",
    "get_default_pip_requirements",
    "load_model",
    "log_model",
    "save_model",
    "spark_native_scorer",
]
