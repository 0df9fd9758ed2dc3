"""What a parsed ``runs:/`` or ``models:/`` URI points at, looked up in the stores.

This sits below :class:`~pyfunc_ops.tracking.client.TrackingClient` (which resolves a
``runs:/`` source given to ``create_model_version`` with it) and works on the run and
registry stores directly, so :class:`TrackingClient` and the public functions beside it
(``resolve_model_uri``, ``resolve_model_version``, with a default client) build on it.
It takes the :class:`~pyfunc_ops.core.uri.ModelURI` already parsed: a URI is parsed
once per call chain, never again here (a version whose *source* is itself a ``runs:/`` or
``models:/`` URI, as MLflow 3 registers them, is the one exception: that source is parsed
and followed). Every failed lookup says what does exist.

It works on the store interface (:mod:`pyfunc_ops.tracking.store`), so SQL and REST stores
resolve alike; MLflow 3 logged models (``models:/m-...``, and ``runs:/<run_id>/<name>``
for a model logged that way) need a run store that is also a
:class:`~pyfunc_ops.tracking.store.LoggedModelStore`, i.e. an MLflow tracking server.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyfunc_ops.core.uri import ModelURI, is_registry_uri, join, parse_model_uri
from pyfunc_ops.errors import InvalidURIError, ResourceNotFoundError
from pyfunc_ops.tracking.entities import ModelVersion
from pyfunc_ops.tracking.integrity import run_digest_tag
from pyfunc_ops.tracking.store import (
    LoggedModelStore,
    RegistryStoreBase,
    RunStoreBase,
    describe_stages,
)

# How many registry-URI sources are followed (a version whose source is models:/m-...).
_MAX_HOPS = 3


def model_version(parsed: ModelURI, registry: RegistryStoreBase) -> ModelVersion | None:
    """The registered version a ``models:/`` URI selects; ``None`` for any other URI
    (a logged model id, ``models:/m-...``, selects no registered version)."""
    if parsed.scheme != "models" or parsed.model_id:
        return None
    name = parsed.name
    if not name:
        raise InvalidURIError(f"model URI {parsed.raw!r} has no registered model name")
    if parsed.alias:
        return registry.get_model_version_by_alias(name, parsed.alias)
    if parsed.version is not None:
        return registry.get_model_version(name, parsed.version)
    if parsed.stage:
        found = registry.get_latest_versions(name, [parsed.stage])
        if found:
            return found[0]
        present = sorted(registry.get_latest_versions(name), key=lambda v: v.version, reverse=True)
        raise ResourceNotFoundError(
            f"registered model {name!r} has no version in stage {parsed.stage!r} "
            f"(from {parsed.raw!r}); stages present: {describe_stages(present)}. Move a "
            "version there with transition_model_version_stage, or use another stage, a "
            "version number, an alias or 'latest'"
        )
    if parsed.latest:
        versions = registry.get_latest_versions(name)
        if not versions:
            raise ResourceNotFoundError(
                f"registered model {name!r} has no versions, so {parsed.raw!r} selects "
                "nothing; register one with create_model_version or log_model("
                "registered_model_name=...)"
            )
        return max(versions, key=lambda v: v.version)
    raise InvalidURIError(
        f"model URI {parsed.raw!r} names registered model {name!r} but no version, stage, "
        f"alias or 'latest'; expected models:/{name}/<version>, models:/{name}/<stage>, "
        f"models:/{name}/latest or models:/{name}@<alias>"
    )


@dataclass(frozen=True)
class ModelTarget:
    """What a ``runs:/`` or ``models:/`` URI stands for: the artifact ``location``, the
    ``digest`` recorded for it (``None``: none was), and the registered ``version``
    (``None`` for ``runs:/``)."""

    location: str
    digest: str | None = None
    version: ModelVersion | None = None


def _logged_models(runs: RunStoreBase, parsed: ModelURI) -> LoggedModelStore:
    if not isinstance(runs, LoggedModelStore):
        raise InvalidURIError(
            f"model URI {parsed.raw!r} names an MLflow 3 logged model ({parsed.model_id}); "
            "only an MLflow tracking server keeps logged models. Set the tracking URI to "
            "the server's http(s) URL, or use models:/<name>/<version> or runs:/<run_id>/<path>"
        )
    return runs


def locate_target(
    parsed: ModelURI,
    runs: RunStoreBase,
    registry: RegistryStoreBase,
    _hops: int = 0,
) -> ModelTarget:
    """The location and recorded digest of ``parsed`` (see
    :mod:`pyfunc_ops.tracking.integrity` for where digests are recorded)."""
    if parsed.scheme == "runs":
        if not parsed.run_id:
            raise InvalidURIError(f"model URI {parsed.raw!r} has no run id")
        artifact_path = (parsed.artifact_path or "").strip("/")
        if artifact_path and isinstance(runs, LoggedModelStore):
            # MLflow 3 keeps a model logged with log_model(name=...) outside the run's
            # artifacts; runs:/<run_id>/<name>[/<path>] still names it.
            name, _, rest = artifact_path.partition("/")
            found = runs.run_logged_model_location(parsed.run_id, name)
            if found is not None:
                return ModelTarget(join(found, rest))
        run = runs.get_run(parsed.run_id)
        digest = run.data.tags.get(run_digest_tag(artifact_path)) if artifact_path else None
        return ModelTarget(join(run.info.artifact_uri, artifact_path), digest)
    if parsed.scheme == "models":
        if parsed.model_id:
            return ModelTarget(_logged_models(runs, parsed).logged_model_location(parsed.model_id))
        version = model_version(parsed, registry)
        assert version is not None
        source = version.source
        if is_registry_uri(source) and _hops < _MAX_HOPS:
            inner = locate_target(parse_model_uri(source), runs, registry, _hops + 1)
            return ModelTarget(inner.location, version.digest or inner.digest, version)
        return ModelTarget(source, version.digest, version)
    return ModelTarget(str(parsed.path))


def artifact_location(parsed: ModelURI, runs: RunStoreBase, registry: RegistryStoreBase) -> str:
    """The artifact URL (fsspec URL or local path) that ``parsed`` refers to."""
    return locate_target(parsed, runs, registry).location
