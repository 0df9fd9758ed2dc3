"""Compatibility with models written by MLflow, without MLflow installed.

Two mappings make MLflow's models load here: loader module names (``mlflow.sklearn`` is
served by ``pyfunc_ops.sklearn``) and, while unpickling a custom model, MLflow's own base
classes (``mlflow.pyfunc.model.PythonModel`` and friends) to ours. Only those names are
mapped; every other global resolves as usual.
"""

from __future__ import annotations

import importlib
import pickle
from types import ModuleType
from typing import IO, Any

from pyfunc_ops.errors import LoaderError

# MLflow loader module -> the module of ours that reads the same files.
LOADER_ALIASES: dict[str, str] = {
    "mlflow.sklearn": "pyfunc_ops.sklearn",
    "mlflow.pyfunc.model": "pyfunc_ops.pyfunc.model",
}

# (module, name) of MLflow base classes -> (module, name) of ours, used while unpickling.
CLASS_ALIASES: dict[tuple[str, str], tuple[str, str]] = {
    ("mlflow.pyfunc.model", "PythonModel"): ("pyfunc_ops.pyfunc.model", "PythonModel"),
    ("mlflow.pyfunc", "PythonModel"): ("pyfunc_ops.pyfunc.model", "PythonModel"),
    ("mlflow.pyfunc.model", "PythonModelContext"): (
        "pyfunc_ops.pyfunc.model",
        "PythonModelContext",
    ),
    ("mlflow.pyfunc", "PythonModelContext"): ("pyfunc_ops.pyfunc.model", "PythonModelContext"),
}


def import_loader(name: str) -> ModuleType:
    """Import a model's loader module, serving MLflow's names with ours where we can."""
    target = LOADER_ALIASES.get(name, name)
    try:
        module = importlib.import_module(target)
    except ImportError as exc:
        top = name.split(".")[0]
        hint = (
            f"This MLflow flavor is not implemented by pyfunc_ops; install the package that "
            f"provides it (pip install {top}) to load it."
            if top == "mlflow"
            else f"Install the package that provides {name!r}, or save the model with "
            "code_path=[...] so the module travels with it."
        )
        raise LoaderError(
            f"Cannot import the model's loader module {name!r} ({exc}). {hint}"
        ) from exc
    if not hasattr(module, "_load_pyfunc"):
        raise LoaderError(
            f"Loader module {name!r} has no _load_pyfunc(path) function; a pyfunc loader module "
            "must define it."
        )
    return module


class _CompatUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        alias = CLASS_ALIASES.get((module, name))
        if alias is not None:
            module, name = alias
        return super().find_class(module, name)


def load_pickle(fh: IO[bytes]) -> Any:
    """Unpickle (cloudpickle-compatible), mapping MLflow's base classes to ours."""
    return _CompatUnpickler(fh).load()
