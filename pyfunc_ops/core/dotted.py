"""Importing the module of something a user names by dotted path, one way everywhere.

Custom metrics (``package.module:function``) and ``python_model`` classes
(``package.module:Class``) are imported where a job runs, which is often not where it was
written; a failed import says what was asked for, what failed and what to do there.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from pyfunc_ops.errors import LoaderError

__all__ = ["import_named_module"]


def import_named_module(what: str, module_name: str, remedy: str) -> ModuleType:
    """``module_name`` imported; a :class:`LoaderError` naming ``what`` (e.g.
    ``"custom metric 'm:f'"``) and ``remedy`` if it cannot be."""
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise LoaderError(
            f"{what}: cannot import module {module_name!r} ({exc}); {remedy}"
        ) from exc
