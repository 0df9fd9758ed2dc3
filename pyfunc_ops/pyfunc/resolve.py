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


def local_model_path(uri: str | os.PathLike[str] | ModelURI) -> Path:
    """A local folder holding the model at ``uri`` (downloaded into the cache if remote)."""
    location = resolve_uri(uri)
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
    return path


def artifact_name(location: str) -> str:
    """The file or folder name an artifact at ``location`` (already resolved) is copied as."""
    return Path(location.rstrip("/").split("/")[-1] or "artifact").name
