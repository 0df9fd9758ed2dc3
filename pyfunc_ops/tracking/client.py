"""``TrackingClient``: the explicit, store-addressed API over runs and the model registry.

The client is cheap to build (engines are cached per URL) and holds no state besides the
URL, so operators and hooks can create one per call. The URL's scheme picks the backend
(:func:`pyfunc_ops.tracking.backends.open_store`: SQLite, PostgreSQL, an MLflow tracking
server, or any registered one); every backend's stores derive from the store base
(:mod:`pyfunc_ops.tracking.store`), so every call works the same against each. Most calls
are the stores' own, forwarded as they are (:func:`_via`); the client adds what spans both
stores or reads a filter string: resolving a ``runs:/`` or ``models:/`` source,
``register_model``, the MLflow-style search keywords, the single-value logging helpers.
The fluent functions (``start_run``, ``log_param``...) are a thin layer over one of these.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

from pyfunc_ops import config
from pyfunc_ops.config import with_settings
from pyfunc_ops.core.names import validate_model_name
from pyfunc_ops.core.redact import redact
from pyfunc_ops.core.uri import (
    ModelURI,
    canonical_location,
    is_registry_uri,
    local_path,
    models_uri,
    parse_model_uri,
)
from pyfunc_ops.errors import InvalidParameterError, ModelNotFoundError, ResourceExistsError
from pyfunc_ops.tracking import locate
from pyfunc_ops.tracking.backends import open_store
from pyfunc_ops.tracking.entities import Metric, ModelVersion, RegisteredModel, Run
from pyfunc_ops.tracking.filters import Condition, parse_filter
from pyfunc_ops.tracking.integrity import source_digest
from pyfunc_ops.tracking.locate import ModelTarget, locate_target
from pyfunc_ops.tracking.sqlutil import now_ms
from pyfunc_ops.tracking.store import RegistryStoreBase, RunStoreBase
from pyfunc_ops.tracking.uri import get_tracking_uri, normalize_tracking_uri
from pyfunc_ops.tracking.validation import (
    validate_filter,
    validate_max_results,
    validate_tags,
    validate_text,
)

logger = logging.getLogger(__name__)

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _via(
    store: str, method: Callable[Concatenate[Any, _P], _R]
) -> Callable[Concatenate[TrackingClient, _P], _R]:
    """The client method that calls ``method`` on the client's ``store`` (``"runs"`` or
    ``"registry"``), with the store method's name, signature and docstring."""
    name = method.__name__

    @functools.wraps(method)
    def call(self: TrackingClient, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        result: _R = getattr(getattr(self, store), name)(*args, **kwargs)
        return result

    return call


class TrackingClient:
    """Runs and the model registry in the store at ``tracking_uri`` (default: the current
    tracking URI, see :func:`~pyfunc_ops.tracking.get_tracking_uri`).

    ``artifact_root`` overrides ``PYFUNC_OPS_ARTIFACT_ROOT`` for runs this client creates.
    """

    @with_settings
    def __init__(self, tracking_uri: str | None = None, artifact_root: str | None = None):
        self.tracking_uri = (
            normalize_tracking_uri(tracking_uri) if tracking_uri else get_tracking_uri()
        )
        self.artifact_root = artifact_root

    def __repr__(self) -> str:
        return f"TrackingClient({redact(self.tracking_uri)!r})"

    # The store is opened on first use, not in __init__, so building a client (for example
    # in an Airflow operator's constructor at DAG parse time) never connects.
    @property
    def runs(self) -> RunStoreBase:
        """The run store behind this client."""
        return open_store(self.tracking_uri).runs

    @property
    def registry(self) -> RegistryStoreBase:
        """The registry store behind this client."""
        return open_store(self.tracking_uri).registry

    # -- runs -----------------------------------------------------------------------------

    def create_run(
        self,
        run_name: str | None = None,
        tags: Mapping[str, Any] | None = None,
        start_time: int | None = None,
    ) -> Run:
        """A new RUNNING run; its artifact URI is ``<artifact root>/<run_id>/artifacts``."""
        run = self.runs.create_run(run_name, tags, start_time, self.artifact_root)
        logger.info("created run %s (%s)", run.info.run_id, run.info.run_name)
        return run

    get_run = _via("runs", RunStoreBase.get_run)
    search_runs = _via("runs", RunStoreBase.search_runs)

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        self.runs.update_run(run_id, status=status, run_name=name)

    def set_terminated(
        self, run_id: str, status: str = "FINISHED", end_time: int | None = None
    ) -> None:
        """End a run as FINISHED (or FAILED / KILLED)."""
        self.runs.update_run(run_id, status=status, end_time=end_time or now_ms())

    def log_param(self, run_id: str, key: str, value: Any) -> None:
        self.runs.log_batch(run_id, params_={key: value})

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        timestamp: int | None = None,
        step: int | None = None,
    ) -> None:
        self.runs.log_batch(run_id, metrics_=[Metric(key, value, step or 0, timestamp or 0)])

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self.runs.log_batch(run_id, tags={key: value})

    delete_tag = _via("runs", RunStoreBase.delete_tag)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        """Log metrics, params and tags in one transaction."""
        self.runs.log_batch(run_id, metrics, params, tags)

    get_metric_history = _via("runs", RunStoreBase.get_metric_history)

    # -- registered models ----------------------------------------------------------------

    create_registered_model = _via("registry", RegistryStoreBase.create_registered_model)
    get_registered_model = _via("registry", RegistryStoreBase.get_registered_model)

    def search_registered_models(
        self, filter_string: str | None = None, max_results: int | None = None
    ) -> list[RegisteredModel]:
        """Registered models by name; ``filter_string`` may use ``name`` conditions only,
        e.g. ``"name LIKE 'churn%'"``."""
        filter_string = validate_filter(filter_string, "search_registered_models")
        max_results = validate_max_results(max_results, "search_registered_models")
        return self.registry.search_registered_models(parse_filter(filter_string), max_results)

    update_registered_model = _via("registry", RegistryStoreBase.update_registered_model)
    set_registered_model_tag = _via("registry", RegistryStoreBase.set_registered_model_tag)
    delete_registered_model = _via("registry", RegistryStoreBase.delete_registered_model)
    rename_registered_model = _via("registry", RegistryStoreBase.rename_registered_model)
    delete_registered_model_tag = _via("registry", RegistryStoreBase.delete_registered_model_tag)

    # -- model versions -------------------------------------------------------------------

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
        description: str | None = None,
        digest: str | None = None,
    ) -> ModelVersion:
        """Version ``max + 1`` of an existing registered model. ``source`` may be an artifact
        URL/path or a ``runs:/`` / ``models:/`` URI, which is resolved to the artifact URL it
        names (and a ``runs:/`` URI fills in ``run_id``).

        ``digest`` pins the version's content (see :mod:`pyfunc_ops.tracking.integrity`);
        when not given it is the digest recorded for a ``runs:/`` or ``models:/`` source,
        else the one of the manifest found at the source (``None`` if it has none)."""
        validate_model_name(name)
        validate_tags(tags, "create_model_version")
        source, run_id, digest = self._resolve_source(name, source, run_id, digest)
        return self.registry.create_model_version(name, source, run_id, tags, description, digest)

    def register_model(
        self,
        source: str,
        name: str,
        run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
        description: str | None = None,
        digest: str | None = None,
    ) -> ModelVersion:
        """Like :meth:`create_model_version`, creating the registered model first if it does
        not exist (safe when several processes register the same new name at once).

        Everything is checked before anything is created (the name, the tags, the source and
        what it resolves to), so a refused call leaves no empty registered model behind."""
        validate_model_name(name)
        validate_tags(tags, "register_model")
        validate_text(description, "description", "register_model")
        source, run_id, digest = self._resolve_source(name, source, run_id, digest)
        with contextlib.suppress(ResourceExistsError):  # exists already, or a racer made it
            self.registry.create_registered_model(name)
        return self.registry.create_model_version(name, source, run_id, tags, description, digest)

    def _resolve_source(
        self, name: str, source: str, run_id: str | None, digest: str | None
    ) -> tuple[str, str | None, str | None]:
        """The artifact location ``source`` names and its digest, checked before anything
        is written.

        A local source (a path or ``file://``) must be a folder holding an ``MLmodel`` file
        when it exists on this machine; a remote one is checked for its form only (looking
        would need the object store, which ``log_model`` has just written to anyway). The
        digest is the caller's, else the one recorded for a ``runs:/`` or ``models:/``
        source, else the one of the manifest found at the source.
        """
        if not isinstance(source, str) or not source.strip():
            raise InvalidParameterError(
                f"the source of a new version of registered model {name!r} must be a "
                f"non-empty string (a model folder, URL, runs:/ or models:/ URI); got {source!r}"
            )
        validate_text(run_id, "run_id", "register_model")
        parsed = parse_model_uri(source)  # grammar: NUL, 's3:/x' and friends are refused
        source = canonical_location(source)  # MLflow's mlflow-artifacts:/x, as a URL
        if is_registry_uri(parsed):
            if parsed.scheme == "runs" and run_id is None:
                run_id = parsed.run_id
            target = locate_target(parsed, self.runs, self.registry)
            source = target.location
            digest = digest or target.digest
        folder = local_path(source) if parsed.scheme != "fsspec" else None
        if (
            folder is not None
            and os.path.exists(folder)
            and not os.path.isfile(os.path.join(folder, "MLmodel"))
        ):
            raise ModelNotFoundError(
                f"cannot register {redact(source)!r}: it holds no model (no 'MLmodel' file "
                "there); save or log a model to it first"
            )
        if digest is None:
            digest = self._read_digest(source)
        return source, run_id, digest

    def _read_digest(self, source: str) -> str | None:
        """The manifest digest at ``source``; an ``mlflow-artifacts`` location is read
        through this client's server, whatever tracking URI is configured elsewhere."""
        here = dataclasses.replace(config.current_settings(), tracking_uri=self.tracking_uri)
        with config.use_settings(here):
            return source_digest(source)

    get_model_version = _via("registry", RegistryStoreBase.get_model_version)
    update_model_version = _via("registry", RegistryStoreBase.update_model_version)
    delete_model_version = _via("registry", RegistryStoreBase.delete_model_version)

    def get_latest_versions(
        self, name: str, stages: Iterable[str] | None = None
    ) -> list[ModelVersion]:
        """The newest version in each of ``stages`` (any casing) that has one; with
        ``stages=None``, in every stage present."""
        if isinstance(stages, str):
            stages = [stages]
        return self.registry.get_latest_versions(name, stages)

    transition_model_version_stage = _via(
        "registry", RegistryStoreBase.transition_model_version_stage
    )
    set_model_version_tag = _via("registry", RegistryStoreBase.set_model_version_tag)
    delete_model_version_tag = _via("registry", RegistryStoreBase.delete_model_version_tag)
    get_model_version_download_uri = _via(
        "registry", RegistryStoreBase.get_model_version_download_uri
    )

    def search_model_versions(
        self,
        filter_string: str | None = None,
        name: str | None = None,
        run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
        stage: str | None = None,
        max_results: int | None = None,
    ) -> list[ModelVersion]:
        """Versions matching ``filter_string`` (MLflow syntax, e.g. ``"name='churn'"``) and
        every keyword given; by name, newest version first."""
        filter_string = validate_filter(filter_string, "search_model_versions")
        max_results = validate_max_results(max_results, "search_model_versions")
        tags = validate_tags(tags, "search_model_versions")
        if name is not None:
            validate_model_name(name)
        conditions = list(parse_filter(filter_string))
        if name is not None:
            conditions.append(Condition("name", "=", name))
        if run_id is not None:
            conditions.append(Condition("run_id", "=", run_id))
        if stage is not None:
            conditions.append(Condition("current_stage", "=", stage))
        for key, value in (tags or {}).items():
            conditions.append(Condition(f"tag:{key}", "=", str(value)))
        return self.registry.search_model_versions(conditions, max_results)

    # -- aliases --------------------------------------------------------------------------

    set_registered_model_alias = _via("registry", RegistryStoreBase.set_registered_model_alias)
    delete_registered_model_alias = _via(
        "registry", RegistryStoreBase.delete_registered_model_alias
    )
    get_model_version_by_alias = _via("registry", RegistryStoreBase.get_model_version_by_alias)


# From runs:/ and models:/ URIs to what they stand for, with the configured store when no
# client is given (the lookups themselves are tracking.locate's).


def _parsed(uri: str | os.PathLike[str] | ModelURI) -> ModelURI:
    return uri if isinstance(uri, ModelURI) else parse_model_uri(uri)


@with_settings
def resolve_model_version(
    uri: str | os.PathLike[str] | ModelURI, client: TrackingClient | None = None
) -> ModelVersion | None:
    """The registered version a ``models:/`` URI selects; ``None`` for any other URI."""
    parsed = _parsed(uri)
    if parsed.scheme != "models":
        return None
    return locate.model_version(parsed, (client or TrackingClient()).registry)


def pin_model_uri(
    uri: str | os.PathLike[str] | ModelURI, client: TrackingClient | None = None
) -> tuple[str, ModelVersion | None]:
    """``(uri, version)``: a ``models:/`` URI (an alias, a stage, ``latest`` or a number)
    as ``models:/<name>/<version>`` of the version it selects now, with that version; any
    other URI as it is, with ``None``. A caller that looks at a model more than once uses
    the pinned URI, so a promotion in between cannot mix two versions in one answer."""
    version = resolve_model_version(uri, client)
    if version is None:
        return str(uri), None
    return models_uri(version.name, version.version), version


@with_settings
def resolve_model_uri(
    uri: str | os.PathLike[str] | ModelURI, client: TrackingClient | None = None
) -> str:
    """The artifact URL (fsspec URL or local path) that ``uri`` refers to."""
    parsed = _parsed(uri)
    if not is_registry_uri(parsed):
        return str(parsed.path)
    tracking = client or TrackingClient()
    return locate.artifact_location(parsed, tracking.runs, tracking.registry)


@with_settings
def resolve_model_target(
    uri: str | os.PathLike[str] | ModelURI, client: TrackingClient | None = None
) -> ModelTarget:
    """The artifact location of ``uri`` with the digest recorded for it (``None`` for
    local paths, fsspec URLs and models registered without a manifest)."""
    parsed = _parsed(uri)
    if not is_registry_uri(parsed):
        return ModelTarget(str(parsed.path))
    tracking = client or TrackingClient()
    return locate.locate_target(parsed, tracking.runs, tracking.registry)
