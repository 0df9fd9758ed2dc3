"""Package a model as a logged (and optionally registered) pyfunc model, at most once.

One request type, :class:`PackageRequest`, holds the job's parameters and their only
defaults; :func:`package_model` (keyword options) and ``SavePyfuncModelOperator`` both build
it and call :func:`run_package`. Usable from any scheduler: the model is given as
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

import logging
import pickle
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pyfunc_ops.config import with_settings
from pyfunc_ops.core.dotted import import_named_module
from pyfunc_ops.core.uri import models_uri
from pyfunc_ops.errors import (
    InvalidParameterError,
    LoaderError,
    PyfuncOpsError,
    SerializationError,
)
from pyfunc_ops.jobs.inputs import existing_file
from pyfunc_ops.jobs.request import field_names, make_request
from pyfunc_ops.models.flavors import (
    FLAVORS,
    FlavorSpec,
    flavor_specs,
    import_flavor,
    spec_for_object,
)

logger = logging.getLogger(__name__)

IDEMPOTENCY_TAG = "pyfunc_ops.idempotency_key"
MODEL_URI_TAG = "pyfunc_ops.model_uri"
ARTIFACT_URI_TAG = "pyfunc_ops.artifact_uri"
REGISTERED_NAME_TAG = "pyfunc_ops.registered_model_name"
REGISTERED_VERSION_TAG = "pyfunc_ops.registered_model_version"
_ESTIMATOR_SUFFIXES = (".skops", ".pkl", ".pickle", ".joblib")


@dataclass(frozen=True)
class PackageRequest:
    """The parameters of :func:`package_model`.

    Give exactly one model form: ``python_model`` (``"package.module:Class"``, with
    ``python_model_kwargs`` and ``artifacts``), ``loader_module`` (with ``data_path``),
    ``estimator`` (a fitted model object of any registered flavor) or ``estimator_path`` (a
    ``.skops``/pickle/joblib file, or a framework's own file such as an xgboost ``.ubj``, a
    LightGBM ``.txt``, an ``.onnx`` file; ``skops_trusted_types`` are the extra types to
    trust when reading a skops file). The flavor that saves an estimator is chosen by its
    type, or named by ``flavor`` (a key of :data:`pyfunc_ops.models.flavors.FLAVORS`);
    ``serialization_format`` is how a scikit-learn model stores it (other flavors take their
    format options in ``save_kwargs``). ``input_example``: the path (any fsspec URL) of a
    Parquet or CSV sample of the model's input; its first rows are saved with the model and,
    without ``signature``, give the model its input signature (so scoring passes columns by
    name and refuses a frame missing one). ``signature``: a ``ModelSignature`` or its
    MLmodel form (``{"inputs": "<JSON column specs>", "outputs": ...}``; a list of column
    specs is accepted for ``inputs``/``outputs`` too). ``save_kwargs`` go to the flavor's
    ``save_model`` (``code_path``/``code_paths``, ``pip_requirements``, ...). With
    ``idempotency_key``, an earlier complete result for the same key is returned instead.
    """

    artifact_path: str = "model"
    python_model: str | None = None
    python_model_kwargs: Mapping[str, Any] | None = None
    artifacts: Mapping[str, str] | None = None
    loader_module: str | None = None
    data_path: str | None = None
    estimator_path: str | None = None
    estimator: Any = None
    flavor: str | None = None
    serialization_format: str = "skops"
    skops_trusted_types: Sequence[str] | None = None
    registered_model_name: str | None = None
    idempotency_key: str | None = None
    run_name: str | None = None
    tags: Mapping[str, Any] | None = None
    save_kwargs: Mapping[str, Any] | None = None
    input_example: str | None = None
    signature: Any = None

    def __post_init__(self) -> None:
        for name in ("input_example", "signature"):
            if getattr(self, name) is not None and name in (self.save_kwargs or {}):
                raise InvalidParameterError(
                    f"package_model: {name} is given twice, as an option and in save_kwargs; "
                    "give it once (as the option)."
                )
        given = self.model_forms()
        if len(given) != 1:
            raise InvalidParameterError(
                f"package_model: give exactly one of python_model='package.module:Class', "
                f"loader_module='pkg.module' (with data_path), estimator=<fitted model> or "
                f"estimator_path='model.skops'; got {given or 'none'}."
            )
        if self.flavor is not None:
            if self.flavor not in FLAVORS:
                raise InvalidParameterError(
                    f"package_model: flavor {self.flavor!r} is not a known flavor; use one of "
                    f"{sorted(FLAVORS)}, or leave it out to choose by the estimator's type."
                )
            if given[0] not in ("estimator", "estimator_path"):
                raise InvalidParameterError(
                    f"package_model: flavor only applies with estimator or estimator_path; got "
                    f"{given[0]} instead. Remove flavor, or package the estimator."
                )
        for extra, needs, value in (
            ("python_model_kwargs", "python_model", self.python_model_kwargs),
            ("artifacts", "python_model", self.artifacts),
            ("data_path", "loader_module", self.data_path),
        ):
            if value and needs not in given:
                raise InvalidParameterError(
                    f"package_model: {extra} only applies with {needs}; got {given[0]} "
                    f"instead. Remove {extra} or package the model with {needs}."
                )

    def model_forms(self) -> list[str]:
        """The model forms given (exactly one is valid)."""
        forms = (
            ("python_model", self.python_model),
            ("loader_module", self.loader_module),
            ("estimator_path", self.estimator_path),
            ("estimator", self.estimator is not None),
        )
        return [name for name, value in forms if value]


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
    module = import_named_module(
        f"python_model {path!r}",
        module_name,
        "install it on the worker or put its folder on sys.path (and in code_paths).",
    )
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, PythonModel)):
        found = "nothing" if cls is None else f"a {type(cls).__name__}"
        raise InvalidParameterError(
            f"python_model {path!r}: expected a PythonModel subclass named {class_name!r} in "
            f"{module_name}, found {found}."
        )
    try:
        return cls(**dict(kwargs or {}))
    except TypeError as exc:
        raise InvalidParameterError(
            f"python_model {path!r}: cannot create {class_name} with python_model_kwargs "
            f"{sorted(dict(kwargs or {}))} ({exc}); pass the keyword arguments its "
            "__init__ takes."
        ) from exc


def _native_reader(path: str, flavor: str | None) -> tuple[str, Callable[[Path], Any]] | None:
    """(suffix, reader) of the flavor module that reads ``path``'s framework file, if any."""
    specs = [FLAVORS[flavor]] if flavor else list(flavor_specs())
    for spec in specs:
        module = import_flavor(spec)
        for suffix in getattr(module, "NATIVE_SUFFIXES", ()):
            if str(path).lower().endswith(suffix):
                return suffix, module.read_native
    return None


def load_estimator_file(
    path: str, skops_trusted_types: Sequence[str] | None = None, flavor: str | None = None
) -> Any:
    """Read a fitted estimator from a ``.skops``, pickle or joblib file (any fsspec URL),
    or from a framework's own model file that a flavor module reads (``NATIVE_SUFFIXES``).

    skops files are read safely: types skops does not trust by default must be listed in
    ``skops_trusted_types``. Pickle and joblib files run code when read; only use files
    your own pipeline wrote.
    """

    suffix = next((s for s in _ESTIMATOR_SUFFIXES if str(path).lower().endswith(s)), None)
    native = _native_reader(path, flavor) if suffix is None else None
    if suffix is None and native is None:
        known = sorted(
            {
                *_ESTIMATOR_SUFFIXES,
                *(s for spec in flavor_specs() for s in _suffixes_of(spec.name)),
            }
        )
        raise InvalidParameterError(
            f"estimator file {path!r}: expected a name ending in one of {known} (skops, "
            "pickle, joblib, or a framework's own model file)."
        )
    fs, fs_path = existing_file(path, "estimator file", "the training task's output")
    with tempfile.TemporaryDirectory(prefix="pyfunc-ops-estimator-") as tmp:
        local = Path(tmp) / f"estimator{suffix or native[0]}"  # type: ignore[index]
        fs.get(fs_path, str(local))
        if native is not None:
            return native[1](local)
        assert suffix is not None
        if suffix == ".skops":
            return _load_skops(local, path, skops_trusted_types)
        return _load_pickled(local, path, suffix)


def _load_pickled(local: Path, shown: str, suffix: str) -> Any:
    """A pickle or joblib file; what unpickling raises becomes one of our errors."""
    try:
        if suffix == ".joblib":
            import joblib

            return joblib.load(local)
        with open(local, "rb") as fh:
            return pickle.load(fh)
    except ImportError as exc:
        raise LoaderError(
            f"estimator file {shown!r} needs a module this worker cannot import ({exc}); "
            "install the libraries the training task used."
        ) from exc
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError) as exc:
        raise SerializationError(
            f"estimator file {shown!r} is not a readable {suffix[1:]} file "
            f"({type(exc).__name__}: {exc}); check that the training task wrote it completely "
            "and with the same library versions."
        ) from exc


def _load_skops(local: Path, shown: str, trusted: Sequence[str] | None) -> Any:
    from pyfunc_ops.pyfunc.flavor_support import import_skops_io, skops_load

    skops_io = import_skops_io()
    try:
        needed = skops_io.get_untrusted_types(file=local)
    except Exception as exc:  # not a zip, truncated, a damaged schema: many types
        raise SerializationError(
            f"estimator file {shown!r} is not a readable skops file ({type(exc).__name__}: "
            f"{exc}); check that the training task wrote it completely."
        ) from exc
    untrusted = sorted(set(needed) - set(trusted or []))
    if untrusted:
        raise SerializationError(
            f"estimator file {shown!r} contains types skops does not trust by default: "
            f"{untrusted}. If you trust the file, pass skops_trusted_types={untrusted!r}."
        )
    return skops_load(local, list(trusted or []), "estimator")


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
                model_uri=models_uri(registered_model_name, mv.version),
                run_id=run_id,
                artifact_uri=mv.source,
                name=registered_model_name,
                version=int(mv.version),
                reused=True,
            )
    return None


def package_model(**options: Any) -> PackagedModel:
    """Log the model (one of the three forms) under a new run and optionally register it.

    ``options`` are the fields of :class:`PackageRequest`, with its defaults; any other
    keyword (``code_path``/``code_paths``, ``pip_requirements``, ``signature``,
    ``input_example``, ...) goes to the flavor's ``save_model``, like ``save_kwargs``.
    """
    names = set(field_names(PackageRequest))
    extra = {k: v for k, v in options.items() if k not in names}
    known = {k: v for k, v in options.items() if k in names}
    if extra:
        known["save_kwargs"] = {**dict(known.get("save_kwargs") or {}), **extra}
    return run_package(make_request(PackageRequest, "package_model", known))


@with_settings
def run_package(request: PackageRequest) -> PackagedModel:
    """Run the job ``request`` describes (see :func:`package_model`)."""
    from pyfunc_ops import tracking

    client = tracking.TrackingClient()
    key = request.idempotency_key
    name = request.registered_model_name
    if key:
        for run in client.search_runs(tags={IDEMPOTENCY_TAG: key}):
            earlier = _reusable(client, run, name)
            if earlier is not None:
                logger.info(
                    "idempotency key %r already produced %s (run %s): reusing it",
                    key,
                    earlier.model_uri,
                    earlier.run_id,
                )
                return earlier
    run_tags = dict(request.tags or {})
    if key:
        run_tags[IDEMPOTENCY_TAG] = key
    nested = tracking.active_run() is not None
    with tracking.start_run(run_name=request.run_name, tags=run_tags, nested=nested) as run:
        info = _log(request)
        version = info.registered_model_version
        model_uri = models_uri(name, version) if name and version is not None else info.model_uri
        result_tags = {MODEL_URI_TAG: model_uri, ARTIFACT_URI_TAG: info.artifact_uri}
        if name and version is not None:
            result_tags[REGISTERED_NAME_TAG] = name
            result_tags[REGISTERED_VERSION_TAG] = str(version)
        tracking.set_tags(result_tags)
        return PackagedModel(
            model_uri=model_uri,
            run_id=run.info.run_id,
            artifact_uri=info.artifact_uri,
            name=name if version is not None else None,
            version=version,
        )


# Rows of an input example file kept in the model: enough to show the columns and types.
EXAMPLE_ROWS = 5


def read_input_example(url: str) -> Any:
    """The first :data:`EXAMPLE_ROWS` rows of a Parquet or CSV file (any fsspec URL), as a
    pandas DataFrame: the model's input example."""

    lower = str(url).lower()
    fmt = "csv" if lower.endswith((".csv", ".csv.gz")) else "parquet"
    if not lower.endswith((".csv", ".csv.gz", ".parquet", ".pq")):
        raise InvalidParameterError(
            f"input_example {url!r}: expected the path of a Parquet (.parquet/.pq) or CSV "
            "(.csv) sample of the model's input; give such a file, or pass signature instead."
        )
    fs, fs_path = existing_file(url, "input_example", "a sample the training task wrote")
    import pandas as pd

    try:
        with fs.open(fs_path, "rb", compression="infer" if fmt == "csv" else None) as fh:
            if fmt == "csv":
                return pd.read_csv(fh, nrows=EXAMPLE_ROWS)
            import pyarrow.parquet as pq

            return pq.ParquetFile(fh).read_row_group(0).slice(0, EXAMPLE_ROWS).to_pandas()
    except (ValueError, OSError) as exc:
        raise SerializationError(
            f"input_example {url!r} is not a readable {fmt} file ({type(exc).__name__}: "
            f"{exc}); check that it was written completely."
        ) from exc


def signature_value(signature: Any) -> Any:
    """``signature`` as a ``ModelSignature``: given as one, or in its MLmodel form (a
    mapping whose ``inputs``/``outputs`` are JSON strings or lists of column specs), the
    form a templated operator argument has."""
    import json

    from pyfunc_ops.models.signature import ModelSignature

    if signature is None or isinstance(signature, ModelSignature):
        return signature
    if isinstance(signature, str):
        try:
            signature = json.loads(signature)
        except ValueError as exc:
            raise InvalidParameterError(
                f"signature {signature[:80]!r} is not JSON; give a mapping such as "
                '{"inputs": [{"name": "f0", "type": "double"}]}.'
            ) from exc
    if isinstance(signature, Mapping):
        signature = {
            key: json.dumps(value) if isinstance(value, (list, tuple)) else value
            for key, value in signature.items()
        }
    try:
        return ModelSignature.from_dict(signature, source="signature")
    except PyfuncOpsError as exc:
        raise InvalidParameterError(
            f"{exc} Give a ModelSignature or a mapping such as "
            '{"inputs": [{"name": "f0", "type": "double"}]}.'
        ) from exc


def _suffixes_of(flavor: str) -> tuple[str, ...]:
    return tuple(getattr(import_flavor(FLAVORS[flavor]), "NATIVE_SUFFIXES", ()))


def flavor_for(estimator: Any, flavor: str | None = None) -> FlavorSpec:
    """The flavor that saves ``estimator``: the one named, else the one its type belongs to."""
    if flavor is not None:
        return FLAVORS[flavor]
    spec = spec_for_object(estimator)
    if spec is None:
        raise InvalidParameterError(
            f"package_model: no flavor saves a {type(estimator).__module__}."
            f"{type(estimator).__qualname__}; pass flavor= one of {sorted(FLAVORS)}, or wrap "
            "it in a PythonModel."
        )
    return spec


def _log(request: PackageRequest) -> Any:
    save_kwargs = dict(request.save_kwargs or {})
    if request.input_example is not None:
        save_kwargs["input_example"] = read_input_example(request.input_example)
    if request.signature is not None:
        save_kwargs["signature"] = signature_value(request.signature)
    name = request.registered_model_name
    if request.estimator_path or request.estimator is not None:
        trusted = request.skops_trusted_types
        estimator = (
            request.estimator
            if request.estimator is not None
            else load_estimator_file(request.estimator_path or "", trusted, request.flavor)
        )
        spec = flavor_for(estimator, request.flavor)
        if spec.name == "sklearn":
            save_kwargs.setdefault("serialization_format", request.serialization_format)
            save_kwargs.setdefault("skops_trusted_types", list(trusted) if trusted else None)
        return import_flavor(spec).log_model(
            estimator, request.artifact_path, registered_model_name=name, **save_kwargs
        )
    from pyfunc_ops.pyfunc.log import log_model

    if request.python_model:
        return log_model(
            request.artifact_path,
            python_model=import_python_model(request.python_model, request.python_model_kwargs),
            artifacts=dict(request.artifacts) if request.artifacts else None,
            registered_model_name=name,
            **save_kwargs,
        )
    return log_model(
        request.artifact_path,
        loader_module=request.loader_module,
        data_path=request.data_path,
        registered_model_name=name,
        **save_kwargs,
    )


__all__ = [
    "IDEMPOTENCY_TAG",
    "PackageRequest",
    "PackagedModel",
    "flavor_for",
    "import_python_model",
    "load_estimator_file",
    "package_model",
    "read_input_example",
    "run_package",
]
