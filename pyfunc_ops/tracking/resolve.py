"""From ``runs:/`` and ``models:/`` URIs to the artifact URL they stand for.

Parsing belongs to :mod:`pyfunc_ops.core.uri` (the one grammar of model URIs) and the
lookups to :mod:`pyfunc_ops.tracking.locate`; these are the public functions over them,
with the configured store when no client is given. A ``runs:/<id>/<path>`` URI becomes
``<run's artifact_uri>/<path>``; a ``models:/`` URI becomes the ``source`` of the version it
selects (by number, stage, ``latest`` or alias). Local paths and fsspec URLs come back as
they are. Pass the :class:`~pyfunc_ops.core.uri.ModelURI` when the caller has parsed
the URI already: it is used as it is, not parsed again.
"""

from __future__ import annotations

import os

from pyfunc_ops.core.uri import ModelURI, parse_model_uri
from pyfunc_ops.tracking import locate
from pyfunc_ops.tracking.client import TrackingClient
from pyfunc_ops.tracking.entities import ModelVersion
from pyfunc_ops.tracking.locate import ModelTarget


def _parsed(uri: str | os.PathLike[str] | ModelURI) -> ModelURI:
    return uri if isinstance(uri, ModelURI) else parse_model_uri(uri)


def resolve_model_version(
    uri: str | os.PathLike[str] | ModelURI, client: TrackingClient | None = None
) -> ModelVersion | None:
    """The registered version a ``models:/`` URI selects; ``None`` for any other URI."""
    parsed = _parsed(uri)
    if parsed.scheme != "models":
        return None
    return locate.model_version(parsed, (client or TrackingClient()).registry)


def resolve_model_uri(
    uri: str | os.PathLike[str] | ModelURI, client: TrackingClient | None = None
) -> str:
    """The artifact URL (fsspec URL or local path) that ``uri`` refers to."""
    parsed = _parsed(uri)
    if parsed.scheme not in ("runs", "models"):
        return str(parsed.path)
    tracking = client or TrackingClient()
    return locate.artifact_location(parsed, tracking.runs, tracking.registry)


def resolve_model_target(
    uri: str | os.PathLike[str] | ModelURI, client: TrackingClient | None = None
) -> ModelTarget:
    """The artifact location of ``uri`` with the digest recorded for it (``None`` for
    local paths, fsspec URLs and models registered without a manifest)."""
    parsed = _parsed(uri)
    if parsed.scheme not in ("runs", "models"):
        return ModelTarget(str(parsed.path))
    tracking = client or TrackingClient()
    return locate.locate_target(parsed, tracking.runs, tracking.registry)
