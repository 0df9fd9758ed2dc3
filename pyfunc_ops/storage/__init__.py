"""Storage: move model trees through fsspec, cache remote models locally.

Names are re-exported lazily so that importing the package costs nothing, and fsspec
backends such as s3fs load only when a URL needs them. Model URI parsing, joins and the
"is it remote" question are text rules and live in :mod:`pyfunc_ops.core.uri`.

- :mod:`~pyfunc_ops.storage.filesystem`: :func:`get_filesystem`,
  :func:`get_storage_options` (from the settings' ``storage_options`` and ``AWS_*``)
- :mod:`~pyfunc_ops.storage.transfer`: :func:`download_tree`, :func:`upload_tree`
  (refuses an occupied destination: published models are immutable), :func:`copy_artifact`
- :mod:`~pyfunc_ops.storage.cache`: :func:`fetch` (keyed by listing),
  :func:`fetch_verified` (keyed by digest, no request on a hit)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyfunc_ops.core.lazy import lazy_attributes

if TYPE_CHECKING:
    from pyfunc_ops.storage.cache import fetch, fetch_verified
    from pyfunc_ops.storage.filesystem import get_filesystem, get_storage_options
    from pyfunc_ops.storage.transfer import copy_artifact, download_tree, upload_tree

_EXPORTS = {
    "get_filesystem": "filesystem",
    "get_storage_options": "filesystem",
    "copy_artifact": "transfer",
    "download_tree": "transfer",
    "upload_tree": "transfer",
    "fetch": "cache",
    "fetch_verified": "cache",
}

# Listed out (not derived) so that linters and type checkers see the re-exports.
__all__ = [
    "copy_artifact",
    "download_tree",
    "fetch",
    "fetch_verified",
    "get_filesystem",
    "get_storage_options",
    "upload_tree",
]


__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS, globals())
