"""From any model URI to a local folder: the one place that knows every URI form.

Local paths are used in place. ``runs:/`` and ``models:/`` are first turned into the
artifact URL they stand for (through the registry), with the digest recorded for them;
a model with a recorded digest is verified against it and served from the cache entry of
that digest (no request to the object store on a hit). Other remote URLs are fetched
into the listing-keyed cache, so loading the same unchanged model again costs one listing.
The URI is parsed once, here (or by the caller, who may pass the parsed
:class:`~pyfunc_ops.core.uri.ModelURI`), and the parsed form is what the registry
lookup receives.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from pyfunc_ops.core.redact import redact
from pyfunc_ops.core.uri import (
    ModelURI,
    canonical_location,
    is_registry_uri,
    is_remote,
    local_path,
    parse_model_uri,
)
from pyfunc_ops.errors import ModelNotFoundError, PyfuncOpsError, TrackingStoreError
from pyfunc_ops.models.manifest import verify
from pyfunc_ops.models.mlmodel import MLMODEL_FILE_NAME

log = logging.getLogger(__name__)


def resolve_uri(uri: str | os.PathLike[str] | ModelURI) -> str:
    """The artifact location (local path or fsspec URL) that ``uri`` refers to."""
    parsed = uri if isinstance(uri, ModelURI) else parse_model_uri(uri)
    if is_registry_uri(parsed):
        from pyfunc_ops.tracking.client import resolve_model_uri

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


@dataclass(frozen=True)
class _Target:
    """Where a registry URI led: ``first_use`` says ``digest`` is a first-use pin's, not
    one the registry recorded (so it never makes the model trusted)."""

    location: str
    digest: str | None
    first_use: bool = False
    pin_key: tuple[str, str, int] | None = None  # (registry, name, version) to pin later


def _registry_target(parsed: ModelURI) -> _Target:
    """The location and recorded digest of a ``runs:/`` or ``models:/`` URI.

    With the registry down, a ``models:/<name>/<version>`` loaded here before comes from
    its pin (a version's source and digest never change), whoever registered it; aliases,
    stages and ``latest`` can change at any moment, so they always need the registry and
    fail with :class:`TrackingStoreError`. Pins are kept per registry (its tracking URI
    without credentials).
    """
    from pyfunc_ops.storage.cache import Pin, read_pin, registry_identity, write_pin
    from pyfunc_ops.tracking.client import resolve_model_target
    from pyfunc_ops.tracking.uri import get_tracking_uri

    name, number = parsed.name, parsed.version
    by_number = parsed.scheme == "models" and bool(name) and number is not None
    registry = registry_identity(get_tracking_uri())
    try:
        target = resolve_model_target(parsed)
    except TrackingStoreError as exc:
        pin = read_pin(str(name), int(number or 0), registry=registry) if by_number else None
        if pin is None:
            hint = (
                " It was never loaded on this machine, so no pin can stand in."
                if by_number
                else " Aliases, stages and 'latest' always need the registry; a "
                "models:/<name>/<version> loaded here before loads from its local pin."
            )
            raise TrackingStoreError(
                f"Cannot resolve {parsed.raw!r}: the registry is unavailable ({exc}).{hint}"
            ) from exc
        log.warning(
            "The registry is unavailable (%s); loading %s from its local pin (digest %s%s, "
            "source %s)",
            type(exc).__name__,
            parsed.raw,
            pin.digest,
            ", trusted on first use" if pin.first_use else "",
            redact(pin.source),
        )
        return _Target(pin.source, pin.digest, first_use=pin.first_use)
    if not by_number:
        return _Target(target.location, target.digest)
    key = (registry, str(name), int(number or 0))
    if target.digest is not None:
        write_pin(Pin(key[1], key[2], target.digest, target.location, registry))
        return _Target(target.location, target.digest)
    known = read_pin(key[1], key[2], registry=registry)
    return _Target(target.location, None, pin_key=None if known is not None else key)


def _pin_first_use(key: tuple[str, str, int], location: str, path: Path) -> None:
    """Pin a version registered without a digest to what was just loaded (trust on
    first use): a remote model's files are adopted into the cache under their own
    digest, so the version loads again with its registry and store down."""
    from pyfunc_ops.storage.cache import Pin, adopt, write_pin

    registry, name, version = key
    try:
        digest = adopt(path) if is_remote(location) else None
    except PyfuncOpsError as exc:  # a read-only or full cache still serves this load
        log.warning(
            "Could not pin %s version %d on first use (%s); it will not load while its "
            "registry is down",
            name,
            version,
            exc,
        )
        return
    if write_pin(Pin(name, version, digest, location, registry, first_use=True)):
        log.info(
            "Pinned %s version %d of %s on first use (no digest was recorded for it): "
            "digest %s of what was downloaded, source %s",
            name,
            version,
            registry,
            digest or "none (a local folder)",
            redact(location),
        )


def _verified_local(location: str, digest: str) -> Path:
    """The local folder ``location``, after a full check of its files against ``digest``."""
    path = Path(local_path(location)).absolute()
    if path.is_dir():  # a missing folder is reported by the caller, as for any URI
        verify(path, digest, full_hash=True)
    return path


def resolve_model(uri: str | os.PathLike[str] | ModelURI) -> ResolvedModel:
    """Resolve ``uri`` to a local folder holding its model (fetched into the cache if
    remote), with what the trust decision needs.

    A ``runs:/`` or ``models:/`` URI whose digest the registry recorded is verified: a
    remote model is served from the cache entry of that digest (no request to the object
    store on a hit), a local one is hashed in place; any modified, missing or extra file is
    :class:`IntegrityError` and nothing is returned. Without a recorded digest (MLflow
    wrote the model) it loads as before, ``verified=False``.
    """
    parsed = uri if isinstance(uri, ModelURI) else parse_model_uri(uri)
    via_registry = is_registry_uri(parsed)
    digest: str | None = None
    target = None
    if via_registry:
        target = _registry_target(parsed)
        location, digest = target.location, target.digest
    else:
        assert parsed.path is not None
        location = parsed.path
    location = canonical_location(location)  # MLflow records mlflow-artifacts:/<path>
    if digest is not None and is_remote(location):
        from pyfunc_ops.storage.cache import fetch_verified

        path = Path(fetch_verified(location, digest))
    elif digest is not None:
        path = _verified_local(location, digest)
    elif is_remote(location):
        from pyfunc_ops.storage.cache import fetch

        path = Path(fetch(location))
    else:
        path = Path(local_path(location)).absolute()
    if not (path / MLMODEL_FILE_NAME).is_file():
        raise ModelNotFoundError(
            f"No model at {str(uri)!r}: expected an {MLMODEL_FILE_NAME} file in "
            f"{str(path)!r}. Check the URI, or save or log a model there first."
        )
    if target is not None and target.pin_key is not None:
        _pin_first_use(target.pin_key, location, path)
    first_use = target is not None and target.first_use
    return ResolvedModel(
        uri=parsed,
        path=path,
        source=location,
        via_registry=via_registry,
        digest=digest,
        verified=digest is not None and not first_use,
    )


def artifact_name(location: str) -> str:
    """The file or folder name an artifact at ``location`` (already resolved) is copied as."""
    return Path(location.rstrip("/").split("/")[-1] or "artifact").name
