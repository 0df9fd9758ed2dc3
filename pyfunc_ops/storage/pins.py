"""Pins: which digest and source a ``models:/<name>/<version>`` of one registry had when
it was last loaded here, so that version still loads from the cache while its registry is
down. Kept beside the cache (under ``<cache>/pins/``), written atomically, and ignored
with a warning (never trusted) when unreadable or not what this code wrote.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from pyfunc_ops import config
from pyfunc_ops.core.redact import redact
from pyfunc_ops.core.staging import replace_text
from pyfunc_ops.core.uri import SCHEME, is_remote, is_url
from pyfunc_ops.models.manifest import validate_digest

# One logger for the whole cache (its users configure "pyfunc_ops.storage.cache").
log = logging.getLogger("pyfunc_ops.storage.cache")


@dataclass(frozen=True)
class Pin:
    """What ``models:/<name>/<version>`` of one registry resolved to when it was last
    loaded here, so that it loads again while that registry is down.

    ``digest`` is the one the registry recorded, or, for a version registered without
    one (MLflow registered it), the digest of what was downloaded the first time it was
    loaded here (``first_use``: trust on first use, never a trust root). ``None`` for a
    local source without a recorded digest (its files are used in place). ``registry``
    is the registry's identity: its tracking URI without credentials.
    """

    name: str
    version: int
    digest: str | None
    source: str
    registry: str = ""
    first_use: bool = False


_USERINFO = re.compile(rf"^(?P<scheme>{SCHEME}://)[^/@?#]*@")


def registry_identity(tracking_uri: str) -> str:
    """``tracking_uri`` without credentials (user, password, secrets in the query): the
    identity of a registry, for keying its pins. Two registries (dev and prod) with the
    same model name and version never share a pin."""
    return redact(_USERINFO.sub(r"\g<scheme>", tracking_uri.strip()))


def _pin_path(registry: str, name: str, version: int, cache_root: Path | None) -> Path:
    root = Path(cache_root) if cache_root is not None else config.cache_dir()
    # A hash, not the name: registered model names need not be valid file names.
    key = f"{registry}\n{name}" if registry else name
    folder = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return root / "pins" / f"{folder}-{int(version)}.json"


def write_pin(pin: Pin, *, cache_root: Path | None = None) -> bool:
    """Record ``pin`` (atomically; a version's digest never changes, so rewriting is safe).

    A cache that cannot be written (read-only, full) keeps serving: the pin is then not
    recorded, with a warning, and ``False`` is returned."""
    path = _pin_path(pin.registry, pin.name, pin.version, cache_root)
    payload = json.dumps(
        {
            "name": pin.name,
            "version": pin.version,
            "digest": pin.digest,
            "source": pin.source,
            "registry": pin.registry,
            "first_use": pin.first_use,
        },
        sort_keys=True,
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_text(path, payload)
    except OSError as exc:
        log.warning(
            "Could not record the pin of %s version %s in %s (%s): it will not load from "
            "this cache while its registry is down",
            pin.name,
            pin.version,
            path.parent,
            exc,
        )
        return False
    return True


def read_pin(
    name: str, version: int, *, registry: str = "", cache_root: Path | None = None
) -> Pin | None:
    """The pin of ``name`` version ``version`` in ``registry``, or ``None`` if there is
    none (or it is not a pin this code wrote: then it is ignored with a warning, never
    trusted)."""
    path = _pin_path(registry, name, version, cache_root)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        raw_digest = data["digest"]
        pin = Pin(
            name=str(data["name"]),
            version=int(data["version"]),
            digest=None if raw_digest is None else validate_digest(raw_digest),
            source=str(data["source"]),
            registry=str(data.get("registry", "")),
            first_use=bool(data.get("first_use", False)),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("Ignoring the unreadable pin %s: %s", path, exc)
        return None
    if (pin.name, pin.version, pin.registry) != (name, int(version), registry):
        log.warning(
            "Ignoring the pin %s: it names %s version %s of %r",
            path,
            pin.name,
            pin.version,
            pin.registry,
        )
        return None
    if pin.digest is None and is_url(pin.source) and is_remote(pin.source):
        log.warning("Ignoring the pin %s: a remote source without a digest", path)
        return None
    return pin


__all__ = ["Pin", "read_pin", "registry_identity", "write_pin"]
