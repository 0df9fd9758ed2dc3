"""The files of a saved PyTorch model (see ``pyfunc_ops.pytorch``): their names, the
formats, torch imported on first use, and MLflow's pickle module shim, which both the save
and the load side need.
"""

from __future__ import annotations

import pickle
import types
from typing import Any

FLAVOR_NAME = "pytorch"
SERIALIZATION_FORMATS = ("pt2", "pickle")
DEFAULT_SERIALIZATION_FORMAT = "pt2"
#: What ``read_native`` (``package_model(estimator_path=...)``) takes as a PyTorch file.
NATIVE_SUFFIXES: tuple[str, ...] = (".pt2", ".pth", ".pt")

DATA_DIR = "data"
PT2_FILE = "model.pt2"
PTH_FILE = "model.pth"
PICKLE_INFO_FILE = "pickle_module_info.txt"
#: The pickle module MLflow saves with (cloudpickle behind torch.save's interface); a model
#: we write names it too, so stock MLflow unpickles it with its own module.
MLFLOW_PICKLE_MODULE = "mlflow.pytorch.pickle_module"
#: Pickle modules a ``pickle_module_info.txt`` may name (the name is imported at load).
PICKLE_MODULES = (MLFLOW_PICKLE_MODULE, "pickle", "cloudpickle", "dill")


def torch_module() -> Any:
    """``torch``, imported on first use (a missing one names the package to install)."""
    from pyfunc_ops.models.flavors import import_framework

    return import_framework(FLAVOR_NAME)


def pickle_module_shim() -> types.ModuleType:
    """cloudpickle behind ``torch.save``'s ``pickle_module`` interface, under MLflow's name
    (torch.save takes ``Pickler`` from it; cloudpickle's own ``Pickler`` is the plain one)."""
    import cloudpickle

    shim = types.ModuleType(MLFLOW_PICKLE_MODULE)
    shim.__dict__.update({k: v for k, v in vars(cloudpickle).items() if not k.startswith("__")})
    shim.Pickler = cloudpickle.CloudPickler  # type: ignore[attr-defined]
    shim.Unpickler = pickle.Unpickler  # type: ignore[attr-defined]
    shim.load = pickle.load  # type: ignore[attr-defined]
    shim.loads = pickle.loads  # type: ignore[attr-defined]
    return shim


__all__ = [
    "DATA_DIR",
    "DEFAULT_SERIALIZATION_FORMAT",
    "FLAVOR_NAME",
    "MLFLOW_PICKLE_MODULE",
    "NATIVE_SUFFIXES",
    "PICKLE_INFO_FILE",
    "PICKLE_MODULES",
    "PT2_FILE",
    "PTH_FILE",
    "SERIALIZATION_FORMATS",
    "pickle_module_shim",
    "torch_module",
]
