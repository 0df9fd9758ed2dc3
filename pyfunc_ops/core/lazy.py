"""Package attributes imported on first use (PEP 562), one way for every package.

Importing ``pyfunc_ops.storage`` or ``pyfunc_ops.tracking`` must stay cheap (the Airflow
connection form and the DAG parser import them), while their public names live in
submodules that pull in fsspec or SQLAlchemy. A package lists where each name lives and
takes the module-level ``__getattr__`` and ``__dir__`` built here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(
    package: str, homes: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: a name in ``homes`` is imported from
    ``package.<home>`` when first asked for and kept in ``namespace`` (the package's
    globals), so the second access is a plain lookup."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *homes})

    return __getattr__, __dir__
