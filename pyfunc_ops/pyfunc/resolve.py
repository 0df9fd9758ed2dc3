"""From any model URI to a local folder: the one place that knows every URI form.

Local paths are used in place. ``runs:/`` and ``models:/`` are first turned into the
artifact URL they stand for (through the registry); remote URLs are then fetched into the
content-addressed cache, so loading the same unchanged model again costs one listing.
The URI is parsed once, here (or by the caller, who may pass the parsed
:class:`~pyfunc_ops.core.uri.ModelURI`), and the parsed form is what the registry
lookup receives.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pyfunc_ops.core.uri import ModelURI, is_remote, local_path, parse_model_uri
from pyfunc_ops.errors import ModelNotFoundError
from pyfunc_ops.models.model import MLMODEL_FILE_NAME


def resolve_uri(uri: str | os.PathLike[str] | ModelURI) -> str:
    """The artifact location (local path or fsspec URL) that ``uri`` refers to."""
    parsed = uri if isinstance(uri, ModelURI) else parse_model_uri(uri)
    if parsed.scheme in ("runs", "models"):
        from pyfunc_ops.tracking.resolve import resolve_model_uri

        return resolve_model_uri(parsed)
    assert parsed.path is not None
    return parsed.path


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model URI led: the local folder to load, and what the trust policy needs.

    ``source`` is the artifact location the URI stands for (a local path or a URL);
    ``via_registry`` says it was reached through ``runs:/`` or ``models:/``; ``digest`` is
    the digest the registry recorded for it (``None`` when it recorded none), and
    ``verified`` says the local files were checked against that digest. ``trusted`` is the
    trust root's verdict (see docs/security.md): a local path, or a registry-reached model
    whose files matched its recorded digest.
    """

    uri: ModelURI
    path: Path
    source: str
    via_registry: bool
    digest: str | None = None
    verified: bool = False

    @property
    def trusted(self) -> bool:
        """Whether the model comes from a trust root (loading it may run its code)."""
        return not is_remote(self.source) or (self.via_registry and self.verified)


def resolve_model(uri: str | os.PathLike[str] | ModelURI) -> ResolvedModel:
    """Resolve ``uri`` to a local folder holding its model (fetched into the cache if
    remote), with what the trust decision needs."""
    parsed = uri if isinstance(uri, ModelURI) else parse_model_uri(uri)
    location = resolve_uri(parsed)
    if is_remote(location):
        from pyfunc_ops.storage.cache import fetch

        path = Path(fetch(location))
    else:
        path = Path(local_path(location)).absolute()
    if not (path / MLMODEL_FILE_NAME).is_file():
        raise ModelNotFoundError(
            f"No model at {str(uri)!r}: expected an {MLMODEL_FILE_NAME} file in "
            f"{str(path)!r}. Check the URI, or save or log a model there first."
        )
    return ResolvedModel(
        uri=parsed,
        path=path,
        source=location,
        via_registry=parsed.scheme in ("runs", "models"),
    )


def local_model_path(uri: str | os.PathLike[str] | ModelURI) -> Path:
    """A local folder holding the model at ``uri`` (downloaded into the cache if remote)."""
    return resolve_model(uri).path


def artifact_name(location: str) -> str:
    """The file or folder name an artifact at ``location`` (already resolved) is copied as."""
    return Path(location.rstrip("/").split("/")[-1] or "artifact").name
