"""Storage: parse model URIs, move model trees through fsspec, cache remote models locally.

Names are re-exported lazily so that ``pyfunc_ops.storage.uri`` (pure text parsing) can be
imported without fsspec, and fsspec backends such as s3fs load only when a URL needs them.

- :mod:`~pyfunc_ops.storage.uri`: :func:`parse_model_uri`, :class:`ModelURI`
- :mod:`~pyfunc_ops.storage.filesystem`: :func:`get_filesystem`, :func:`join`,
  :func:`get_storage_options` (from the settings' ``storage_options`` and ``AWS_*``)
- :mod:`~pyfunc_ops.storage.transfer`: :func:`download_tree`, :func:`upload_tree`,
  :func:`copy_artifact`
- :mod:`~pyfunc_ops.storage.cache`: :func:`fetch`
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyfunc_ops.storage.cache import fetch
    from pyfunc_ops.storage.filesystem import (
        get_filesystem,
        get_storage_options,
        join,
    )
    from pyfunc_ops.storage.transfer import copy_artifact, download_tree, upload_tree
    from pyfunc_ops.storage.uri import ACCEPTED_FORMS, ModelURI, is_local, parse_model_uri

_EXPORTS = {
    "ACCEPTED_FORMS": "uri",
    "ModelURI": "uri",
    "is_local": "uri",
    "parse_model_uri": "uri",
    "get_filesystem": "filesystem",
    "get_storage_options": "filesystem",
    "join": "filesystem",
    "copy_artifact": "transfer",
    "download_tree": "transfer",
    "upload_tree": "transfer",
    "fetch": "cache",
}

__all__ = [
    "ACCEPTED_FORMS",
    "ModelURI",
    "copy_artifact",
    "download_tree",
    "fetch",
    "get_filesystem",
    "get_storage_options",
    "is_local",
    "join",
    "parse_model_uri",
    "upload_tree",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
