"""The PyTorch flavor: save, log and load a ``torch.nn.Module``; a pyfunc ``loader_module``.

Two formats, as MLflow 3.18 writes them under ``data/``:

- ``pt2`` (the default outside Databricks, as in MLflow): ``torch.export`` traces the module
  with the ``input_example`` into an ``ExportedProgram`` saved by ``torch.export.save`` as
  ``data/model.pt2``. The archive is a graph (JSON) plus raw tensor bytes, so it can load
  from an untrusted place. ``torch.export.load`` itself is not so careful (it unpickles
  some records with ``weights_only=False``, loads compiled AOTInductor libraries, and hands
  shape expressions to ``sympy.sympify``, an ``eval``), so before an untrusted archive is
  handed to it every record is checked to be one of what a plain export writes: JSON with
  operator names under ``torch.ops`` and shape expressions from a small grammar, raw tensor
  bytes, short text, or a ``torch.save`` file whose pickle references tensor-building
  globals only (read with ``pickletools``, never unpickled). Anything else needs trust.
- ``pickle`` (``serialization_format="pickle"``): ``torch.save`` of the whole module as
  ``data/model.pth`` with the pickle module named in ``data/pickle_module_info.txt``
  (MLflow's cloudpickle shim by default). Unpickling runs code, so it needs trust.

MLflow's MLmodel does not record which of the two a model is (the ``pytorch`` section and
python_function look the same); we add ``serialization_format`` to the ``pytorch`` section
of what we write (stock MLflow ignores it) so ``code_reason`` can tell from the MLmodel
alone, and the loaders decide from the files for models MLflow wrote.

The pyfunc wrapper predicts as MLflow's: a DataFrame becomes a float32 tensor and the
result a DataFrame on the input's index; an ndarray goes in as it is and comes back as an
ndarray; the model must return one tensor.
"""

from __future__ import annotations

from typing import Any

from pyfunc_ops.pytorch.files import (
    DEFAULT_SERIALIZATION_FORMAT,
    FLAVOR_NAME,
    MLFLOW_PICKLE_MODULE,
    NATIVE_SUFFIXES,
    PTH_FILE,
    SERIALIZATION_FORMATS,
)
from pyfunc_ops.pytorch.loading import _load_pyfunc, _PyTorchWrapper, load_model, read_native
from pyfunc_ops.pytorch.pt2_check import pt2_code_reason
from pyfunc_ops.pytorch.saving import get_default_pip_requirements, log_model, save_model


def code_reason(flavors: dict[str, Any]) -> str | None:
    """A ``pickle`` model runs code when loaded. MLflow records no format: such a model is
    judged where its file is opened (``model.pth`` is a pickle; see the module docstring)."""
    conf = flavors.get(FLAVOR_NAME) or {}
    if conf.get("serialization_format") == "pickle":
        return f"its PyTorch model is a pickle file ({PTH_FILE}), and unpickling runs code"
    return None


__all__ = [
    "DEFAULT_SERIALIZATION_FORMAT",
    "FLAVOR_NAME",
    "MLFLOW_PICKLE_MODULE",
    "NATIVE_SUFFIXES",
    "SERIALIZATION_FORMATS",
    "_PyTorchWrapper",
    "_load_pyfunc",
    "code_reason",
    "get_default_pip_requirements",
    "load_model",
    "log_model",
    "pt2_code_reason",
    "read_native",
    "save_model",
]
