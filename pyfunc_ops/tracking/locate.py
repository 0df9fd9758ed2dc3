"""What a parsed ``runs:/`` or ``models:/`` URI points at, looked up in the stores.

This sits below :class:`~pyfunc_ops.tracking.client.TrackingClient` (which resolves a
``runs:/`` source given to ``create_model_version`` with it) and works on the run and
registry stores directly, so the client and :mod:`pyfunc_ops.tracking.resolve` (the
public functions, with a default client) both build on it without importing each other.
It takes the :class:`~pyfunc_ops.core.uri.ModelURI` already parsed: a URI is parsed
once per call chain, never again here. Every failed lookup says what does exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyfunc_ops.core.uri import ModelURI, join
from pyfunc_ops.errors import InvalidURIError, ResourceNotFoundError
from pyfunc_ops.tracking.entities import ModelVersion
from pyfunc_ops.tracking.integrity import run_digest_tag
from pyfunc_ops.tracking.registry import RegistryStore, describe_stages
from pyfunc_ops.tracking.runs import RunStore


def model_version(parsed: ModelURI, registry: RegistryStore) -> ModelVersion | None:
    """The registered version a ``models:/`` URI selects; ``None`` for any other URI."""
    if parsed.scheme != "models":
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


def locate_target(parsed: ModelURI, runs: RunStore, registry: RegistryStore) -> ModelTarget:
    """The location and recorded digest of ``parsed`` (see
    :mod:`pyfunc_ops.tracking.integrity` for where digests are recorded)."""
    if parsed.scheme == "runs":
        if not parsed.run_id:
            raise InvalidURIError(f"model URI {parsed.raw!r} has no run id")
        run = runs.get_run(parsed.run_id)
        artifact_path = (parsed.artifact_path or "").strip("/")
        digest = run.data.tags.get(run_digest_tag(artifact_path)) if artifact_path else None
        return ModelTarget(join(run.info.artifact_uri, artifact_path), digest)
    if parsed.scheme == "models":
        version = model_version(parsed, registry)
        assert version is not None
        return ModelTarget(version.source, version.digest, version)
    return ModelTarget(str(parsed.path))


def artifact_location(parsed: ModelURI, runs: RunStore, registry: RegistryStore) -> str:
    """The artifact URL (fsspec URL or local path) that ``parsed`` refers to."""
    if parsed.scheme == "runs":
        if not parsed.run_id:
            raise InvalidURIError(f"model URI {parsed.raw!r} has no run id")
        run = runs.get_run(parsed.run_id)
        return join(run.info.artifact_uri, parsed.artifact_path or "")
    if parsed.scheme == "models":
        version = model_version(parsed, registry)
        assert version is not None
        return version.source
    return str(parsed.path)
