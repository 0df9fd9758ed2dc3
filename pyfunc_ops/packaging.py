"""Package a model as a logged (and optionally registered) pyfunc model, at most once.

Used by ``SavePyfuncModelOperator`` (and usable from any scheduler): the model is given as
data that fits a task's arguments, i.e. strings and files, not live objects:

- a ``PythonModel`` as an import path ``"package.module:Class"`` plus keyword arguments
  and ``artifacts``;
- a ``loader_module`` plus ``data_path``;
- a fitted scikit-learn estimator file (``.skops``, ``.pkl``/``.pickle``, ``.joblib``).

``idempotency_key`` makes a retry safe: the run is tagged with the key, and a later call
with the same key returns what the first call produced instead of logging and registering
again. A first attempt that died after registering is recognised by the version that
points at its run.
"""

from __future__ import annotations

import importlib
import logging
import pickle
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pyfunc_ops.errors import InvalidParameterError, LoaderError, SerializationError

logger = logging.getLogger(__name__)

IDEMPOTENCY_TAG = "pyfunc_ops.idempotency_key"
MODEL_URI_TAG = "pyfunc_ops.model_uri"
ARTIFACT_URI_TAG = "pyfunc_ops.artifact_uri"
REGISTERED_NAME_TAG = "pyfunc_ops.registered_model_name"
REGISTERED_VERSION_TAG = "pyfunc_ops.registered_model_version"
_ESTIMATOR_SUFFIXES = (".skops", ".pkl", ".pickle", ".joblib")


@dataclass
class PackagedModel:
    """Where a packaged model is; ``reused`` tells a retry that found an earlier result."""

    model_uri: str
    run_id: str
    artifact_uri: str
    name: str | None = None
    version: int | None = None
    reused: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def import_python_model(path: str, kwargs: Mapping[str, Any] | None = None) -> Any:
    """Instantiate the ``PythonModel`` subclass named ``"package.module:Class"``."""
    from pyfunc_ops.pyfunc.model import PythonModel

    module_name, sep, class_name = str(path).partition(":")
    if not sep or not module_name or not class_name:
        raise InvalidParameterError(
            f"python_model {path!r} is not an import path 'package.module:Class'; e.g. "
            "'my_models.churn:ChurnModel'."
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise LoaderError(
            f"python_model {path!r}: cannot import module {module_name!r} ({exc}); install "
            "it on the worker or put its folder on sys.path (and in code_paths)."
        ) from exc
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, PythonModel)):
        found = "nothing" if cls is None else f"a {type(cls).__name__}"
        raise InvalidParameterError(
            f"python_model {path!r}: expected a PythonModel subclass named {class_name!r} in "
            f"{module_name}, found {found}."
        )
    return cls(**dict(kwargs or {}))


def load_estimator_file(path: str, skops_trusted_types: Sequence[str] | None = None) -> Any:
    """Read a fitted estimator from a ``.skops``, pickle or joblib file (any fsspec URL).

    skops files are read safely: types skops does not trust by default must be listed in
    ``skops_trusted_types``. Pickle and joblib files run code when read; only use files
    your own pipeline wrote.
    """
    from pyfunc_ops.storage.filesystem import get_filesystem

    suffix = next((s for s in _ESTIMATOR_SUFFIXES if str(path).lower().endswith(s)), None)
    if suffix is None:
        raise InvalidParameterError(
            f"estimator file {path!r}: expected a name ending in one of "
            f"{list(_ESTIMATOR_SUFFIXES)} (skops, pickle or joblib)."
        )
    fs, fs_path = get_filesystem(str(path))
    if not fs.isfile(fs_path):
        from pyfunc_ops.errors import ResourceNotFoundError

        raise ResourceNotFoundError(
            f"estimator file {path!r} does not exist; check the path (typically the "
            "training task's output)."
        )
    with tempfile.TemporaryDirectory(prefix="pyfunc-ops-estimator-") as tmp:
        local = Path(tmp) / f"estimator{suffix}"
        fs.get(fs_path, str(local))
        if suffix == ".skops":
            return _load_skops(local, path, skops_trusted_types)
        if suffix == ".joblib":
            import joblib

            return joblib.load(local)
        with open(local, "rb") as fh:
            return pickle.load(fh)


def _load_skops(local: Path, shown: str, trusted: Sequence[str] | None) -> Any:
    import skops.io

    untrusted = sorted(set(skops.io.get_untrusted_types(file=local)) - set(trusted or []))
    if untrusted:
        raise SerializationError(
            f"estimator file {shown!r} contains types skops does not trust by default: "
            f"{untrusted}. If you trust the file, pass skops_trusted_types={untrusted!r}."
        )
    return skops.io.load(local, trusted=list(trusted or []) or None)


def _reusable(client: Any, run: Any, registered_model_name: str | None) -> PackagedModel | None:
    """The result recorded on ``run`` by an earlier attempt, if it is complete."""
    tags = run.data.tags
    run_id = run.info.run_id
    if MODEL_URI_TAG in tags:
        if registered_model_name and tags.get(REGISTERED_NAME_TAG) != registered_model_name:
            return None
        version = tags.get(REGISTERED_VERSION_TAG)
        return PackagedModel(
            model_uri=tags[MODEL_URI_TAG],
            run_id=run_id,
            artifact_uri=tags.get(ARTIFACT_URI_TAG, ""),
            name=tags.get(REGISTERED_NAME_TAG),
            version=int(version) if version else None,
            reused=True,
        )
    if registered_model_name:
        # Died after registering but before tagging: the version proves the upload ended.
        versions = client.search_model_versions(name=registered_model_name, run_id=run_id)
        if versions:
            mv = versions[-1]
            return PackagedModel(
                model_uri=f"models:/{registered_model_name}/{mv.version}",
                run_id=run_id,
                artifact_uri=mv.source,
                name=registered_model_name,
                version=int(mv.version),
                reused=True,
            )
    return None


def package_model(
    *,
    artifact_path: str = "model",
    python_model: str | None = None,
    python_model_kwargs: Mapping[str, Any] | None = None,
    artifacts: Mapping[str, str] | None = None,
    loader_module: str | None = None,
    data_path: str | None = None,
    estimator_path: str | None = None,
    serialization_format: str = "skops",
    skops_trusted_types: Sequence[str] | None = None,
    registered_model_name: str | None = None,
    idempotency_key: str | None = None,
    run_name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    **save_kwargs: Any,
) -> PackagedModel:
    """Log the model (one of the three forms) under a new run and optionally register it.

    Extra ``save_kwargs`` (``code_path``/``code_paths``, ``pip_requirements``,
    ``signature``, ``input_example``, ...) go to the flavor's ``save_model``. With
    ``idempotency_key``, an earlier complete result for the same key is returned instead.
    """
    from pyfunc_ops import tracking

    given = [
        n
        for n, v in (
            ("python_model", python_model),
            ("loader_module", loader_module),
            ("estimator_path", estimator_path),
        )
        if v
    ]
    if len(given) != 1:
        raise InvalidParameterError(
            f"package_model: give exactly one of python_model='package.module:Class', "
            f"loader_module='pkg.module' (with data_path) or estimator_path='model.skops'; "
            f"got {given or 'none'}."
        )
    for extra, needs, value in (
        ("python_model_kwargs", "python_model", python_model_kwargs),
        ("artifacts", "python_model", artifacts),
        ("data_path", "loader_module", data_path),
    ):
        if value and needs not in given:
            raise InvalidParameterError(
                f"package_model: {extra} only applies with {needs}; got {given[0]} instead. "
                f"Remove {extra} or package the model with {needs}."
            )
    client = tracking.TrackingClient()
    if idempotency_key:
        for run in client.search_runs(tags={IDEMPOTENCY_TAG: idempotency_key}):
            earlier = _reusable(client, run, registered_model_name)
            if earlier is not None:
                logger.info(
                    "idempotency key %r already produced %s (run %s): reusing it",
                    idempotency_key,
                    earlier.model_uri,
                    earlier.run_id,
                )
                return earlier
    run_tags = dict(tags or {})
    if idempotency_key:
        run_tags[IDEMPOTENCY_TAG] = idempotency_key
    nested = tracking.active_run() is not None
    with tracking.start_run(run_name=run_name, tags=run_tags, nested=nested) as run:
        info = _log(
            artifact_path,
            registered_model_name,
            python_model,
            python_model_kwargs,
            artifacts,
            loader_module,
            data_path,
            estimator_path,
            serialization_format,
            skops_trusted_types,
            save_kwargs,
        )
        version = info.registered_model_version
        model_uri = (
            f"models:/{registered_model_name}/{version}"
            if registered_model_name and version is not None
            else info.model_uri
        )
        result_tags = {MODEL_URI_TAG: model_uri, ARTIFACT_URI_TAG: info.artifact_uri}
        if registered_model_name and version is not None:
            result_tags[REGISTERED_NAME_TAG] = registered_model_name
            result_tags[REGISTERED_VERSION_TAG] = str(version)
        tracking.set_tags(result_tags)
        return PackagedModel(
            model_uri=model_uri,
            run_id=run.info.run_id,
            artifact_uri=info.artifact_uri,
            name=registered_model_name if version is not None else None,
            version=version,
        )


def _log(
    artifact_path: str,
    registered_model_name: str | None,
    python_model: str | None,
    python_model_kwargs: Mapping[str, Any] | None,
    artifacts: Mapping[str, str] | None,
    loader_module: str | None,
    data_path: str | None,
    estimator_path: str | None,
    serialization_format: str,
    skops_trusted_types: Sequence[str] | None,
    save_kwargs: dict[str, Any],
) -> Any:
    if estimator_path:
        from pyfunc_ops import sklearn

        estimator = load_estimator_file(estimator_path, skops_trusted_types)
        return sklearn.log_model(
            estimator,
            artifact_path,
            registered_model_name=registered_model_name,
            serialization_format=serialization_format,
            skops_trusted_types=list(skops_trusted_types) if skops_trusted_types else None,
            **save_kwargs,
        )
    from pyfunc_ops.pyfunc.log import log_model

    if python_model:
        return log_model(
            artifact_path,
            python_model=import_python_model(python_model, python_model_kwargs),
            artifacts=dict(artifacts) if artifacts else None,
            registered_model_name=registered_model_name,
            **save_kwargs,
        )
    return log_model(
        artifact_path,
        loader_module=loader_module,
        data_path=data_path,
        registered_model_name=registered_model_name,
        **save_kwargs,
    )
