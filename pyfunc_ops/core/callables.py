"""Whether a user's callable takes an optional parameter, asked one way everywhere.

Loader modules, ``PythonModel`` subclasses and loaded models come in several generations:
``predict(model_input)`` or ``predict(model_input, params)``, ``_load_pyfunc(path)`` or
``_load_pyfunc(path, model_config)``. The caller passes the newer argument only when the
callable names it; builtins and C extensions without a readable signature get the older
call.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["accepts_parameter"]


def accepts_parameter(func: Callable[..., Any], name: str) -> bool:
    """Whether ``func``'s signature has a parameter called ``name`` (``False`` when the
    signature cannot be read)."""
    try:
        return name in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
