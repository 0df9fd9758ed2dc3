"""Copies of a model: into a local folder (``download_model``), or to another registry or
storage location (``copy_model``), the digest preserved and checked.

A model moves between environments (a laptop's SQLite registry, the team's PostgreSQL or
MLflow server, an archive bucket) byte for byte, so the digest its manifest records stays
valid and the copy can be verified against it. ``pyfunc-ops models download`` and
``models copy`` call these; so can an operator.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from pyfunc_ops.core.crashpoints import crash_point
from pyfunc_ops.core.redact import redact
from pyfunc_ops.errors import IntegrityError, InvalidParameterError, ModelExistsError
from pyfunc_ops.models.writer import staged_directory
from pyfunc_ops.tracking.backends import is_tracking_uri

__all__ = ["copy_model", "download_model"]


def download_model(model_uri: str, dest: str | os.PathLike[str]) -> tuple[Path, str | None]:
    """Copy the files of ``model_uri`` (verified against its digest when it has one) into
    the new or empty local folder ``dest``; returns the folder and the digest."""
    from pyfunc_ops.pyfunc.localize import resolve_model

    target = Path(dest)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ModelExistsError(
            f"Cannot download {model_uri!r} into {str(target)!r}: it is a file or a folder "
            "that is not empty. Name a new or empty folder."
        )
    resolved = resolve_model(model_uri)
    # Staged: copied under a hidden name beside ``dest`` and renamed when complete, so a
    # killed download leaves no half a model there (and its leftover is removed next time).
    with staged_directory(target, "download the model into") as tmp:
        shutil.copytree(resolved.path, tmp, dirs_exist_ok=True, copy_function=_copy_file)
    return target, resolved.digest


def _copy_file(source: str, dest: str) -> Any:
    result = shutil.copy2(source, dest)
    crash_point("download.mid_copy")
    return result


def copy_model(
    model_uri: str, to: str, *, name: str | None = None, artifact_root: str | None = None
) -> dict[str, Any]:
    """Copy ``model_uri`` to another registry (``to`` is a tracking URI: logged there in a
    new run and registered under the same name, or ``name``) or to a plain storage
    location (``to`` is a folder or fsspec URL). The files are copied byte for byte, so
    the digest stays the same; the copy is checked against it before this returns.

    Returns ``{"to", "digest"}`` for a storage location, plus ``"name"``, ``"version"``
    and ``"source"`` (where the registry keeps the files) for a registry."""
    from pyfunc_ops.config import current_settings, use_settings
    from pyfunc_ops.pyfunc.localize import resolve_model
    from pyfunc_ops.tracking.client import pin_model_uri

    pinned, version = pin_model_uri(model_uri)
    to_registry = is_tracking_uri(to)
    if not to_registry and name is not None:
        raise InvalidParameterError(
            f"--name names the registered model in the target registry, but {to!r} is a "
            "storage location. Pass a tracking URI (sqlite:///..., postgresql://..., "
            "http(s)://...) to register the copy, or leave --name out."
        )
    target_name = name or (version.name if version is not None else None)
    if to_registry and target_name is None:
        raise InvalidParameterError(
            f"copying {model_uri!r} to the registry at {redact(to)!r} needs a registered model "
            "name: pass --name, or copy a models:/ URI (its name is kept)"
        )
    resolved = resolve_model(pinned)
    digest = resolved.digest
    if not to_registry:
        return {"to": _copy_to_url(resolved.path, to, digest), "digest": digest}
    assert target_name is not None
    changes: dict[str, Any] = {"tracking_uri": to}
    if artifact_root is not None:
        changes["artifact_root"] = artifact_root
    with use_settings(current_settings().with_changes(**changes)):
        copied = _log_copy(resolved.path, target_name, version)
        if digest is not None and copied.digest == digest:
            # Read back what landed (not the local cache, which holds the same digest).
            _check_copy(copied.source, digest)
    if digest is not None and copied.digest != digest:
        raise IntegrityError(
            f"the copy of {model_uri!r} registered as {copied.name} version {copied.version} "
            f"has digest {copied.digest}, not {digest}; delete that version and copy again"
        )
    return {
        "to": to,
        "name": copied.name,
        "version": copied.version,
        "source": copied.source,
        "digest": copied.digest,
    }


def _check_copy(url: str, digest: str) -> None:
    """Download what landed at ``url`` and hash every file against ``digest``."""
    from pyfunc_ops.models.manifest import verify
    from pyfunc_ops.storage.transfer import download_tree

    with tempfile.TemporaryDirectory(prefix="pyfunc-ops-copy-check-") as tmp:
        download_tree(url, tmp)
        verify(tmp, digest, full_hash=True)


def _copy_to_url(local: Path, url: str, digest: str | None) -> str:
    """Upload ``local`` to the empty location ``url`` and check what landed there."""
    from pyfunc_ops.storage.transfer import upload_tree

    upload_tree(local, url)  # refuses a location that holds anything
    if digest is not None:
        _check_copy(url, digest)
    return url


def _log_copy(folder: Path, name: str, version: Any) -> Any:
    """Log ``folder`` unchanged as the ``model`` artifact of a new run in the current
    store and register it as a new version of ``name``, with the source version's tags."""
    from pyfunc_ops.models.mlmodel import Model
    from pyfunc_ops.pyfunc.log import log_model_with
    from pyfunc_ops.tracking import TrackingClient

    def copy_files(path: Path, mlflow_model: Any = None, **_: Any) -> Model:
        # Byte for byte (the MLmodel keeps the source's run id): that is what keeps the
        # manifest, and so the digest, the same.
        shutil.copytree(folder, path)
        return Model.load(path)

    info = log_model_with(copy_files, "model", registered_model_name=name)
    client = TrackingClient()
    number = info.registered_model_version
    assert number is not None  # registered_model_name was given
    if version is not None:
        for key, value in version.tags.items():
            client.set_model_version_tag(name, number, key, value)
        if version.description:
            client.update_model_version(name, number, version.description)
    return client.get_model_version(name, number)
