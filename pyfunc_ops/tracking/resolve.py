"""From ``runs:/`` and ``models:/`` URIs to the artifact URL they stand for.

Parsing belongs to :mod:`pyfunc_ops.core.uri` (the one grammar of model URIs); this
module only does the registry lookups. A ``runs:/<id>/<path>`` URI becomes
``<run's artifact_uri>/<path>``; a ``models:/`` URI becomes the ``source`` of the version it
selects (by number, stage, ``latest`` or alias). Local paths and fsspec URLs come back as
they are. Every failed lookup says what does exist.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Protocol

from pyfunc_ops.core.uri import join
from pyfunc_ops.errors import InvalidURIError, ResourceNotFoundError
from pyfunc_ops.tracking.entities import ModelVersion
from pyfunc_ops.tracking.registry import describe_stages

if TYPE_CHECKING:
    from pyfunc_ops.tracking.client import TrackingClient


class ParsedModelURI(Protocol):
    """The fields of ``pyfunc_ops.core.uri.ModelURI`` this module reads (read-only, as
    that class is frozen)."""

    @property
    def raw(self) -> str: ...

    @property
    def scheme(self) -> str: ...

    @property
    def path(self) -> str | None: ...

    @property
    def run_id(self) -> str | None: ...

    @property
    def artifact_path(self) -> str | None: ...

    @property
    def name(self) -> str | None: ...

    @property
    def version(self) -> int | None: ...

    @property
    def stage(self) -> str | None: ...

    @property
    def alias(self) -> str | None: ...

    @property
    def latest(self) -> bool: ...


def _parse(uri: str | os.PathLike[str] | ParsedModelURI) -> ParsedModelURI:
    if isinstance(uri, (str, os.PathLike)):
        from pyfunc_ops.core.uri import parse_model_uri

        parsed: ParsedModelURI = parse_model_uri(uri)
        return parsed
    return uri


def _client(client: TrackingClient | None) -> TrackingClient:
    if client is not None:
        return client
    from pyfunc_ops.tracking.client import TrackingClient

    return TrackingClient()


def resolve_model_version(
    uri: str | os.PathLike[str] | ParsedModelURI, client: TrackingClient | None = None
) -> ModelVersion | None:
    """The registered version a ``models:/`` URI selects; ``None`` for any other URI."""
    parsed = _parse(uri)
    if parsed.scheme != "models":
        return None
    name = parsed.name
    if not name:
        raise InvalidURIError(f"model URI {parsed.raw!r} has no registered model name")
    tracking = _client(client)
    if parsed.alias:
        return tracking.get_model_version_by_alias(name, parsed.alias)
    if parsed.version is not None:
        return tracking.get_model_version(name, parsed.version)
    if parsed.stage:
        found = tracking.get_latest_versions(name, [parsed.stage])
        if found:
            return found[0]
        present = sorted(tracking.get_latest_versions(name), key=lambda v: v.version, reverse=True)
        raise ResourceNotFoundError(
            f"registered model {name!r} has no version in stage {parsed.stage!r} "
            f"(from {parsed.raw!r}); stages present: {describe_stages(present)}. Move a "
            "version there with transition_model_version_stage, or use another stage, a "
            "version number, an alias or 'latest'"
        )
    if parsed.latest:
        versions = tracking.get_latest_versions(name)
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


def resolve_model_uri(
    uri: str | os.PathLike[str] | ParsedModelURI, client: TrackingClient | None = None
) -> str:
    """The artifact URL (fsspec URL or local path) that ``uri`` refers to."""
    parsed = _parse(uri)
    if parsed.scheme == "runs":
        if not parsed.run_id:
            raise InvalidURIError(f"model URI {parsed.raw!r} has no run id")
        run = _client(client).get_run(parsed.run_id)
        return join(run.info.artifact_uri, parsed.artifact_path or "")
    if parsed.scheme == "models":
        version = resolve_model_version(parsed, client)
        assert version is not None
        return version.source
    return str(parsed.path)
