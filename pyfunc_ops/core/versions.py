"""Version strings and the packages this install stands in for, each stated once.

The package version lives in ``pyfunc_ops/__init__.py`` (``pyproject.toml`` reads it from
there), so what a saved ``MLmodel`` records, what an environment's cache key holds and what
pip reports can never disagree. The Python version is formatted here because the format
writes ``major.minor.micro`` while the load-time check compares ``major.minor``.
"""

from __future__ import annotations

import sys

import pyfunc_ops
from pyfunc_ops.errors import InvalidParameterError

__all__ = [
    "DISTRIBUTION_NAME",
    "SERVED_LOCALLY",
    "SUBSTITUTED_PACKAGES",
    "package_version",
    "python_version",
]

#: The distribution name on an index (the import package is ``pyfunc_ops``).
DISTRIBUTION_NAME = "pyfunc-ops"

#: MLflow's distributions, whose loader modules and classes pyfunc_ops stands in for: a
#: model's pin on them is neither installed into its environment nor compared with what
#: is installed here.
SUBSTITUTED_PACKAGES: tuple[str, ...] = ("mlflow", "mlflow-skinny")

#: Requirements served by the local pyfunc_ops install instead of the package index: our
#: own distribution (not on PyPI) and the substituted ones.
SERVED_LOCALLY: tuple[str, ...] = (DISTRIBUTION_NAME, *SUBSTITUTED_PACKAGES)


def package_version() -> str:
    """The version of this pyfunc_ops (``pyfunc_ops.__version__``)."""
    return pyfunc_ops.__version__


def python_version(parts: int = 3) -> str:
    """The running interpreter's version: ``major.minor.micro``, or its first ``parts``
    components (``python_version(2)`` is ``"3.11"``)."""
    if parts not in (1, 2, 3):
        raise InvalidParameterError(
            f"python_version(parts={parts!r}): expected 1, 2 or 3 version components"
        )
    return ".".join(str(n) for n in sys.version_info[:parts])
