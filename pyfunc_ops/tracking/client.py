"""``TrackingClient``: the explicit, store-addressed API over runs and the model registry.

The client is cheap to build (engines are cached per URL) and holds no state besides the
URL, so operators and hooks can create one per call. The URL picks the store: an
``http(s)://`` URL means an MLflow tracking server (the REST store,
:mod:`pyfunc_ops.tracking.rest`), anything else the SQL store; both satisfy
:mod:`pyfunc_ops.tracking.store`, so every call below works the same against either.
The fluent functions (``start_run``, ``log_param``...) are a thin layer over one of these.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pyfunc_ops.core.names import validate_model_name
from pyfunc_ops.core.redact import redact
from pyfunc_ops.core.uri import canonical_location, local_path, parse_model_uri
from pyfunc_ops.errors import InvalidParameterError, ModelNotFoundError, ResourceExistsError
from pyfunc_ops.tracking.engine import get_engine
from pyfunc_ops.tracking.entities import Metric, ModelVersion, RegisteredModel, Run
from pyfunc_ops.tracking.filters import Condition, parse_filter
from pyfunc_ops.tracking.integrity import source_digest
from pyfunc_ops.tracking.locate import locate_target
from pyfunc_ops.tracking.registry import RegistryStore
from pyfunc_ops.tracking.runs import RunStore, canonical_status
from pyfunc_ops.tracking.sqlutil import now_ms
from pyfunc_ops.tracking.store import RegistryStoreProtocol, RunStoreProtocol
from pyfunc_ops.tracking.uri import get_tracking_uri, is_server_uri, normalize_tracking_uri
from pyfunc_ops.tracking.validation import (
    validate_filter,
    validate_max_results,
    validate_tags,
    validate_text,
)

logger = logging.getLogger(__name__)


class TrackingClient:
    """Runs and the model registry in the store at ``tracking_uri`` (default: the current
    tracking URI, see :func:`~pyfunc_ops.tracking.get_tracking_uri`).

    ``artifact_root`` overrides ``PYFUNC_OPS_ARTIFACT_ROOT`` for runs this client creates.
    """

    def __init__(self, tracking_uri: str | None = None, artifact_root: str | None = None):
        self.tracking_uri = (
            normalize_tracking_uri(tracking_uri) if tracking_uri else get_tracking_uri()
        )
        self.artifact_root = artifact_root

    def __repr__(self) -> str:
        return f"TrackingClient({redact(self.tracking_uri)!r})"

    # The database is opened on first use, not in __init__, so building a client (for
    # example in an Airflow operator's constructor at DAG parse time) never connects. The
    # engine is looked up on every call (a dict lookup) rather than kept, so a client never
    # holds an engine the cache has disposed of, nor one inherited across a fork.
    @property
    def runs(self) -> RunStoreProtocol:
        """The run store behind this client."""
        if is_server_uri(self.tracking_uri):
            from pyfunc_ops.tracking.rest import stores_for

            return stores_for(self.tracking_uri)[0]
        return RunStore(get_engine(self.tracking_uri))

    @property
    def registry(self) -> RegistryStoreProtocol:
        """The registry store behind this client."""
        if is_server_uri(self.tracking_uri):
            from pyfunc_ops.tracking.rest import stores_for

            return stores_for(self.tracking_uri)[1]
        return RegistryStore(get_engine(self.tracking_uri))

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

    def get_run(self, run_id: str) -> Run:
        return self.runs.get_run(run_id)

    def search_runs(
        self,
        status: str | Iterable[str] | None = None,
        tags: Mapping[str, str] | None = None,
        run_name: str | None = None,
        max_results: int | None = 1000,
    ) -> list[Run]:
        """Runs, newest first, optionally only those with one of ``status`` and all
        ``tags``."""
        max_results = validate_max_results(max_results, "search_runs")
        validate_tags(tags, "search_runs")
        validate_text(run_name, "run_name", "search_runs")
        return self.runs.search_runs(status, tags, run_name, max_results)

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        self.runs.update_run(run_id, status=status, run_name=name)

    def set_terminated(
        self, run_id: str, status: str = "FINISHED", end_time: int | None = None
    ) -> None:
        """End a run as FINISHED (or FAILED / KILLED)."""
        self.runs.update_run(run_id, status=canonical_status(status), end_time=end_time or now_ms())

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

    def delete_tag(self, run_id: str, key: str) -> None:
        self.runs.delete_tag(run_id, key)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        """Log metrics, params and tags in one transaction."""
        self.runs.log_batch(run_id, metrics, params, tags)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        return self.runs.get_metric_history(run_id, key)

    # -- registered models ----------------------------------------------------------------

    def create_registered_model(
        self,
        name: str,
        tags: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> RegisteredModel:
        validate_model_name(name)
        validate_tags(tags, "create_registered_model")
        validate_text(description, "description", "create_registered_model")
        return self.registry.create_registered_model(name, tags, description)

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self.registry.get_registered_model(validate_model_name(name))

    def search_registered_models(
        self, filter_string: str | None = None, max_results: int | None = None
    ) -> list[RegisteredModel]:
        """Registered models by name; ``filter_string`` may use ``name`` conditions only,
        e.g. ``"name LIKE 'churn%'"``."""
        filter_string = validate_filter(filter_string, "search_registered_models")
        max_results = validate_max_results(max_results, "search_registered_models")
        return self.registry.search_registered_models(parse_filter(filter_string), max_results)

    def update_registered_model(self, name: str, description: str | None = None) -> RegisteredModel:
        return self.registry.update_registered_model(name, description)

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        self.registry.set_registered_model_tag(name, key, value)

    def delete_registered_model(self, name: str) -> None:
        self.registry.delete_registered_model(name)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Rename a registered model; its versions, tags and aliases move with it."""
        validate_model_name(name)
        return self.registry.rename_registered_model(name, validate_model_name(new_name))

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self.registry.delete_registered_model_tag(name, key)

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
        if parsed.scheme in ("runs", "models"):
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
        if not is_server_uri(self.tracking_uri):
            return source_digest(source)
        import dataclasses

        from pyfunc_ops import config

        here = dataclasses.replace(config.current_settings(), tracking_uri=self.tracking_uri)
        with config.use_settings(here):
            return source_digest(source)

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        return self.registry.get_model_version(name, version)

    def update_model_version(
        self, name: str, version: int | str, description: str | None = None
    ) -> ModelVersion:
        return self.registry.update_model_version(name, version, description)

    def delete_model_version(self, name: str, version: int | str) -> None:
        self.registry.delete_model_version(name, version)

    def get_latest_versions(
        self, name: str, stages: Iterable[str] | None = None
    ) -> list[ModelVersion]:
        """The newest version in each of ``stages`` (any casing) that has one; with
        ``stages=None``, in every stage present."""
        if isinstance(stages, str):
            stages = [stages]
        return self.registry.get_latest_versions(name, stages)

    def transition_model_version_stage(
        self,
        name: str,
        version: int | str,
        stage: str,
        archive_existing_versions: bool = False,
    ) -> ModelVersion:
        """Move a version to ``stage``; with ``archive_existing_versions``, the versions
        already in that stage (Staging or Production) move to Archived."""
        return self.registry.transition_model_version_stage(
            name, version, stage, archive_existing_versions
        )

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: Any) -> None:
        self.registry.set_model_version_tag(name, version, key, value)

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        self.registry.delete_model_version_tag(name, version, key)

    def get_model_version_download_uri(self, name: str, version: int | str) -> str:
        """The artifact URL of a version (its ``source``)."""
        return self.registry.get_model_version(name, version).source

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

    def set_registered_model_alias(
        self,
        name: str,
        alias: str,
        version: int | str,
        expected_version: int | str | None = None,
    ) -> None:
        """Point ``alias`` at ``version`` (moving it from any other version).

        ``expected_version`` makes it a compare-and-set: ``None`` (default) moves the alias
        whatever it points at; ``0`` requires that the alias does not exist yet; a number
        requires that it points at that version now. When someone else moved (or created)
        it first, :class:`~pyfunc_ops.errors.AliasConflictError` names the expected and the
        found version and nothing changes; an alias already at ``version`` counts as done
        (a retried promotion succeeds). Atomic on the SQL stores (SQLite, PostgreSQL); a
        read-compare-write, not atomic, on an MLflow server (its API has no conditional
        update).
        """
        self.registry.set_registered_model_alias(name, alias, version, expected_version)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self.registry.delete_registered_model_alias(name, alias)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self.registry.get_model_version_by_alias(name, alias)
