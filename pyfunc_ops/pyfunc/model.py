"""The ``loader_module`` that workflow-1 models name: ``pyfunc_ops.pyfunc.model``.

Its path is written into every saved ``PythonModel`` model (and into pickles made before
the classes moved), so it stays importable; the code lives in
:mod:`pyfunc_ops.pyfunc.python_model`.
"""

from __future__ import annotations

from pyfunc_ops.pyfunc.python_model import (
    ARTIFACTS_DIR,
    PYTHON_MODEL_FILE,
    PythonModel,
    PythonModelContext,
    _load_pyfunc,
)

__all__ = [
    "ARTIFACTS_DIR",
    "PYTHON_MODEL_FILE",
    "PythonModel",
    "PythonModelContext",
    "_load_pyfunc",
]
