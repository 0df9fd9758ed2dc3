"""Operating-system failures (full disk, read-only or unwritable folder) as our errors.

A full disk during a save surfaces from ``shutil`` as ``shutil.Error`` (a list of
per-file failures) or as a bare ``OSError``; a scheduled job's operator needs instead one
line naming the file and what to do. :func:`os_error` builds that error:
a :class:`~pyfunc_ops.errors.StorageError` (an ``OSError``, with the original ``errno``
kept) or, for a permission problem, a
:class:`~pyfunc_ops.errors.StoragePermissionError` (also a ``PermissionError``).
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

from pyfunc_ops.errors import PyfuncOpsError, StorageError, StoragePermissionError

__all__ = ["os_error", "os_errors"]

_HINTS = {
    errno.ENOSPC: "the device is full: free space there or choose another location",
    errno.EDQUOT: "the disk quota is exhausted: free space or choose another location",
    errno.EROFS: "the filesystem is read-only: choose a writable location",
    errno.EACCES: "permission denied: check the owner and mode of the folder, or choose "
    "another location",
    errno.EPERM: "operation not permitted: check the owner and mode of the folder",
    errno.EIO: "the device reported an I/O error: check the disk or the network mount",
}


def _first(exc: BaseException) -> BaseException:
    """The first per-file failure inside a ``shutil.Error``, else ``exc`` itself."""
    if isinstance(exc, shutil.Error) and exc.args and isinstance(exc.args[0], list):
        for item in exc.args[0]:
            if isinstance(item, tuple) and len(item) == 3:
                source, _dest, why = item
                return OSError(f"{why} (copying {source!r})")
    return exc


def os_error(exc: OSError, action: str, target: str | os.PathLike[str]) -> StorageError:
    """Our error for ``exc``, raised while ``action`` (``"save the model to"``) ``target``."""
    inner = _first(exc)
    code = getattr(inner, "errno", None) or getattr(exc, "errno", None)
    if code is None and "No space left" in str(inner):
        code = errno.ENOSPC
    hint = _HINTS.get(code or -1, "check the location and retry")
    where = getattr(inner, "filename", None)
    detail = getattr(inner, "strerror", None) or str(inner)
    named = f" ({where})" if where else ""
    message = f"Could not {action} {str(target)!r}: {detail}{named}; {hint}."
    cls = StoragePermissionError if code in (errno.EACCES, errno.EPERM) else StorageError
    error = cls(message)
    error.errno = code
    return error


@contextmanager
def os_errors(action: str, target: str | os.PathLike[str]) -> Iterator[None]:
    """Translate any ``OSError`` (``shutil.Error`` included) in the block with
    :func:`os_error`; our own errors pass unchanged."""
    try:
        yield
    except PyfuncOpsError:
        raise
    except OSError as exc:
        raise os_error(exc, action, target) from exc
