"""``spark_udf``: score a pyfunc model inside Spark with a pandas UDF.

Scoring cost is dominated by what happens per Arrow batch, so the work is split:

* the driver does everything that can be done once: it validates ``result_type`` and
  ``env_manager``, reads the signature, decides how the model reaches the executors and,
  when needed, ships it as one archive with ``SparkContext.addFile``;
* each Python worker process loads the model once, on its first batch, into a
  process-level cache keyed by the model's identity. Spark reuses Python workers across
  tasks (``spark.python.worker.reuse``, on by default), so later tasks find the model
  already loaded; a shipped archive is unpacked once per executor under a file lock;
* per batch, only the input frame is built, the model predicts and the predictions are
  fitted to ``result_type`` (see :mod:`pyfunc_ops.pyfunc.spark_result`). Numeric columns
  go from Arrow to the model untouched; only object columns are looked at, to turn Spark's
  arrays (numpy arrays) and structs (DataFrames, or dicts when nested) into the lists and
  dicts a pyfunc model gets elsewhere, as MLflow's ``spark_udf`` does.

The UDF is an iterator-of-batches pandas UDF (``SCALAR_ITER``), so the model lookup and
the per-partition decisions (how to name the columns, which converter fits the result)
happen once per task, not once per batch.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import logging
import os
import shutil
import tempfile
import threading
import uuid
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyfunc_ops.config import with_settings
from pyfunc_ops.core.paths import iter_tree, safe_extract_zip
from pyfunc_ops.errors import InvalidParameterError
from pyfunc_ops.models.mlmodel import MLMODEL_FILE_NAME, Model
from pyfunc_ops.pyfunc.spark_result import ResultSpec, make_converter, parse_result_type
from pyfunc_ops.pyfunc.trust import TrustDecision

if TYPE_CHECKING:
    import pandas as pd

    from pyfunc_ops.pyfunc.loaded_model import PyFuncModel

log = logging.getLogger(__name__)

# Worker side: loaded models of this process, by identity (see _ModelSource.key).
_MODELS: dict[tuple[str, ...], PyFuncModel] = {}
_MODELS_LOCK = threading.Lock()
# Driver side: archives already handed to a SparkContext, by (application id, fingerprint).
_SHIPPED: set[tuple[str, str]] = set()
_ARCHIVE_DIR: Path | None = None
_UNPACKED_DIR = "pyfunc_ops_models"


@dataclass(frozen=True)
class _ModelSource:
    """What a worker needs to find, load and call the model; pickled into the UDF."""

    key: tuple[str, ...]
    folder: str | None  # a folder the executors read in place, or
    archive: str | None  # the SparkFiles name of the shipped archive
    env_manager: str
    input_names: tuple[str, ...] | None  # the signature's input names, when it names all
    required: int  # how many of those are required
    result: ResultSpec
    # The driver's trust decision: workers obey it and never decide from their own
    # environment (nor from the local folder they unpacked the archive into).
    trust: TrustDecision
    skops_trusted_types: tuple[str, ...] = ()  # the caller's, as for load_model
    params: dict[str, Any] | None = None  # passed to every predict call


@with_settings
def spark_udf(
    spark: Any,
    model_uri: str | os.PathLike[str],
    result_type: Any = "double",
    env_manager: str = "local",
    *,
    ship_model: bool | None = None,
    trust_remote_code: bool | None = None,
    skops_trusted_types: Sequence[str] | None = None,
    params: Mapping[str, Any] | None = None,
) -> ModelUDF:
    """A Spark pandas UDF (iterator of batches) scoring with the pyfunc model at ``model_uri``.

    ``result_type`` is a DDL string or pyspark ``DataType``: ``int``, ``long``, ``float``,
    ``double``, ``string`` (the leftmost prediction column that fits), an ``array<...>``
    of one of them (every column that fits) or a ``struct<name:type,...>`` of those (one
    prediction column per field, by name when the model returns a DataFrame).
    ``params`` are passed to every ``predict(frame, params=params)`` call (they are
    pickled into the UDF). ``env_manager`` ("local", "virtualenv"/"uv",
    "conda") is passed to ``load_model`` in each worker.

    The model is read in place when Spark runs locally (master ``local...``) and the URI
    is a local path; otherwise it is resolved on the driver and shipped to the executors
    as an archive. ``ship_model=True``/``False`` overrides that choice (``False`` asserts
    that every executor can read the resolved folder, e.g. on a shared filesystem).

    Call the returned UDF with the input columns (``udf("a", "b")``, named by position
    unless the signature names them), with one struct (``udf(struct("a", "b"))``, named
    by its fields), or with no argument to use the signature's input columns.

    ``trust_remote_code`` as for :func:`pyfunc_ops.pyfunc.load_model`: the driver decides
    (and refuses an untrusted model that would run its own code before anything is
    shipped); the workers obey the decision the UDF carries. ``skops_trusted_types`` as for
    ``load_model``: the extra skops types the caller trusts (never read from the model).
    """
    from pyfunc_ops.core.uri import parse_model_uri
    from pyfunc_ops.envs import check_env_manager
    from pyfunc_ops.pyfunc.load import check_skops_types, prepare_load
    from pyfunc_ops.pyfunc.localize import resolve_model
    from pyfunc_ops.pyfunc.trust import check_trust_parameter, decide_for

    spec = parse_result_type(result_type)
    manager = check_env_manager(env_manager)
    if ship_model not in (None, True, False):
        raise InvalidParameterError(
            f"spark_udf: ship_model must be None (decide automatically), True or False; "
            f"got {ship_model!r}."
        )
    check_trust_parameter(trust_remote_code)
    skops_types = check_skops_types(skops_trusted_types)
    if params is not None and not isinstance(params, Mapping):
        raise InvalidParameterError(
            f"spark_udf: params must be a mapping of parameter names to values (or None); "
            f"got a {type(params).__name__}. Pass params={{'name': value}}."
        )
    parsed = parse_model_uri(model_uri)  # once: the lookup below gets the parsed form
    resolved = resolve_model(parsed)
    trust = decide_for(resolved, trust_remote_code, str(model_uri))
    model_dir = resolved.path
    model = Model.load(model_dir)
    prepare_load(model_dir, model, trust)
    names, required = _input_names(model)
    if ship_model is None:
        master = str(spark.sparkContext.master)
        ship_model = not (master.startswith("local") and parsed.scheme == "local")
    fingerprint = _fingerprint(model_dir, model.model_uuid)
    archive, folder = None, None
    if ship_model:
        archive = _ship(spark.sparkContext, model_dir, fingerprint)
        key = ("archive", archive, fingerprint, manager, trust.as_flag(), *skops_types)
    else:
        folder = str(model_dir)
        key = ("folder", folder, fingerprint, manager, trust.as_flag(), *skops_types)
    source = _ModelSource(
        key,
        folder,
        archive,
        manager,
        names,
        required,
        spec,
        trust,
        skops_types,
        dict(params) if params is not None else None,
    )
    log.info(
        "spark_udf for %s: %s, result_type %s",
        model_uri,
        f"shipped as {archive}" if archive else f"read in place from {folder}",
        spec.ddl,
    )
    return ModelUDF(_pandas_udf(source), source, str(model_uri))


class ModelUDF:
    """The UDF ``spark_udf`` returns: a pandas UDF that can also pick its own columns.

    Called with columns it is the pandas UDF; called with none it selects the columns the
    model's signature names. ``.udf`` is the underlying pandas UDF (for
    ``spark.udf.register``); other attributes are forwarded to it.
    """

    def __init__(self, udf: Any, source: _ModelSource, model_uri: str) -> None:
        self.udf = udf
        self._source = source
        self._model_uri = model_uri

    def __call__(self, *columns: Any) -> Any:
        names = self._source.input_names
        if not columns:
            if not names:
                raise InvalidParameterError(
                    f"spark_udf: the model at {self._model_uri!r} has no signature naming its "
                    "inputs, so the UDF cannot choose columns itself. Pass them: "
                    "udf('col_a', 'col_b') or udf(struct('col_a', 'col_b')), or save the "
                    "model with a signature."
                )
            from pyspark.sql import functions as F

            return self.udf(*(F.col("`" + n.replace("`", "``") + "`") for n in names))
        if names and len(columns) > 1:
            _check_count(len(columns), names, self._source.required)
        return self.udf(*columns)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.udf, name)

    def __repr__(self) -> str:
        return f"ModelUDF(model_uri={self._model_uri!r}, result_type={self._source.result.ddl!r})"


def _check_count(count: int, names: tuple[str, ...], required: int) -> None:
    if not required <= count <= len(names):
        raise InvalidParameterError(
            f"spark_udf: the UDF got {count} input column(s); the model's signature names "
            f"{len(names)} ({list(names)}, {required} required), matched by position. Pass "
            "those columns in that order, one struct of named fields, or no argument to "
            "select them by name."
        )


def _input_names(model: Model) -> tuple[tuple[str, ...] | None, int]:
    """The signature's input names (all inputs must be named) and how many are required."""
    signature = model.signature
    inputs = signature.inputs if signature is not None else None
    if inputs is None or inputs.is_tensor or not inputs.has_names():
        return None, 0
    return tuple(inputs.names()), sum(1 for c in inputs.inputs if c.required)


# --------------------------------------------------------------------------- driver side


def _fingerprint(model_dir: Path, model_uuid: str | None) -> str:
    """Identity of the model's content: every file's path, size and mtime, plus its uuid.

    Stat calls only, so it is cheap even for large models, and changes whenever a file is
    rewritten (a re-saved model gets a new cache entry in the workers).
    """
    digest = hashlib.sha256(str(model_uuid).encode())
    for rel in iter_tree(model_dir):
        stat = (model_dir / rel).stat()
        digest.update(f"\0{rel}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:24]


def _archive_dir() -> Path:
    """A folder for this driver's archives; it lives as long as the process (Spark serves
    added files from their original path) and is removed at exit."""
    global _ARCHIVE_DIR
    if _ARCHIVE_DIR is None:
        _ARCHIVE_DIR = Path(tempfile.mkdtemp(prefix="pyfunc_ops_spark_"))
        atexit.register(shutil.rmtree, _ARCHIVE_DIR, True)
    return _ARCHIVE_DIR


def _ship(sc: Any, model_dir: Path, fingerprint: str) -> str:
    """Zip ``model_dir`` once and add it to ``sc``; return its SparkFiles name.

    The tree is walked with :func:`iter_tree` (a symlink leaving the folder, or a link
    cycle, is refused). The archive is written under a name unique to this process and
    thread, then renamed into place, so concurrent ``spark_udf`` calls never write into
    one file.
    """
    name = f"pyfunc-model-{fingerprint}.zip"
    if (sc.applicationId, fingerprint) in _SHIPPED:
        return name
    path = _archive_dir() / name
    if not path.exists():
        files = iter_tree(model_dir)
        partial = path.with_name(_partial_name(name))
        try:
            with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
                for rel in files:
                    zf.write(model_dir / rel, rel)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
    sc.addFile(str(path))
    _SHIPPED.add((sc.applicationId, fingerprint))
    log.info("Shipped model %s to the executors as %s", model_dir, name)
    return name


def _partial_name(name: str) -> str:
    """A temporary name for an archive being written: unique per process and thread."""
    return f".{name}.{os.getpid()}.{threading.get_ident()}.{uuid.uuid4().hex[:8]}.partial"


def _pandas_udf(source: _ModelSource) -> Any:
    import typing

    import pandas as pd
    from pyspark.sql.functions import pandas_udf

    def predict(batches):  # type: ignore[no-untyped-def]
        return _score(source, batches)

    # pyspark picks the UDF kind (iterator of batches in and out) from the annotations; set
    # them as real objects, since this module's postponed (string) annotations would be
    # evaluated where pandas is not imported. A struct result is a DataFrame per batch.
    batch_iterator = typing.Iterator[pd.Series]
    output = typing.Iterator[pd.DataFrame] if source.result.kind == "struct" else batch_iterator
    predict.__annotations__ = {"batches": batch_iterator, "return": output}
    udf: Any = pandas_udf
    return udf(predict, returnType=source.result.spark_type())


# --------------------------------------------------------------------------- worker side


def _score(source: _ModelSource, batches: Iterator[Any]) -> Iterator[Any]:
    """The UDF body: one cached model, then per batch frame -> predict -> convert."""
    predict = _model(source).predict
    if source.params is not None:
        predict = functools.partial(predict, params=source.params)
    convert = make_converter(source.result)
    to_frame = None
    for batch in batches:
        if to_frame is None:
            to_frame = _frame_builder(batch, source)
        yield convert(predict(to_frame(batch)))


def _model(source: _ModelSource) -> PyFuncModel:
    """This process's copy of the model, loaded on first use."""
    model = _MODELS.get(source.key)
    if model is None:
        with _MODELS_LOCK:
            model = _MODELS.get(source.key)
            if model is None:
                from pyfunc_ops.pyfunc.load import load_decided

                folder = source.folder if source.archive is None else _unpack(source.archive)
                assert folder is not None
                model = load_decided(
                    Path(folder),
                    source.trust,
                    env_manager=source.env_manager,
                    skops_trusted_types=source.skops_trusted_types,
                )
                _MODELS[source.key] = model
                log.info("Worker %d loaded model %s", os.getpid(), folder)
    return model


def _unpack(name: str) -> str:
    """Extract the shipped archive once per executor (file lock: several Python workers
    share the executor's SparkFiles folder) and return the model folder.

    A target without an MLmodel is the leftover of an interrupted unpack and is replaced.
    Entries that would land outside the target are refused (:func:`safe_extract_zip`).
    """
    from filelock import FileLock
    from pyspark import SparkFiles

    archive = Path(SparkFiles.get(name))
    root = archive.parent / _UNPACKED_DIR
    root.mkdir(exist_ok=True)
    target = root / archive.name.removesuffix(".zip")
    with FileLock(str(target) + ".lock"):
        if not (target / MLMODEL_FILE_NAME).is_file():
            staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=root))
            try:
                safe_extract_zip(archive, staging)
                if target.is_symlink() or target.is_file():
                    target.unlink()
                elif target.exists():
                    log.warning("Replacing %s: an unpacked model without MLmodel", target)
                    shutil.rmtree(target)
                os.replace(staging, target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            log.info("Unpacked model archive %s into %s", archive, target)
    return str(target)


def _frame_builder(first: Any, source: _ModelSource) -> Any:
    """How to turn this partition's batches into the model's input DataFrame.

    Decided once per partition from the first batch's shape: a DataFrame (one struct
    argument) passes through with its field names; one Series or a tuple of Series
    (positional arguments) is named by the signature's input names, or 0, 1, ...
    A DataFrame among several arguments is a struct column: it becomes a column of dicts.
    """
    import pandas as pd

    if isinstance(first, pd.DataFrame):
        return _plain_frame
    count = 1 if isinstance(first, pd.Series) else len(first)
    if source.input_names:
        _check_count(count, source.input_names, source.required)
        names: list[Any] = list(source.input_names[:count])
    else:
        names = list(range(count))
    if isinstance(first, pd.Series):
        name = names[0]
        return lambda batch: _plain_values(batch).to_frame(name)

    def build(batch: tuple[Any, ...]) -> pd.DataFrame:
        columns = {n: _plain_column(c) for n, c in zip(names, batch, strict=True)}
        return pd.DataFrame(columns, copy=False)

    return build


def _plain_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A struct argument's fields as the model's columns, nested values made plain."""
    converted = {name: _plain_values(frame[name]) for name in frame.columns}
    if all(converted[name] is frame[name] for name in frame.columns):
        return frame
    import pandas as pd

    return pd.DataFrame(converted, copy=False)


def _plain_column(column: Any) -> Any:
    """One positional argument: a struct (a DataFrame) becomes a Series of dicts."""
    import pandas as pd

    if isinstance(column, pd.DataFrame):
        records = _plain_frame(column).to_dict(orient="records")
        return pd.Series(records, index=column.index, dtype=object)
    return _plain_values(column)


def _plain_values(series: pd.Series) -> pd.Series:
    """``series`` with Spark's arrays (numpy arrays) as lists and nested structs as plain
    dicts; numeric and string columns are returned as they are, unexamined."""
    if series.dtype != object:
        return series
    index = series.first_valid_index()
    if index is None:
        return series
    import numpy as np

    if not isinstance(series.loc[index], np.ndarray | dict):
        return series
    return series.map(_to_python, na_action="ignore")


def _to_python(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.ndarray):
        if value.dtype != object:
            return value.tolist()
        return [_to_python(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_python(v) for k, v in value.items()}
    return value
