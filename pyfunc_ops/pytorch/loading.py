"""Loading a saved PyTorch model (see ``pyfunc_ops.pytorch``): the module itself for
``load_model``, and the pyfunc wrapper that predicts as MLflow's for ``_load_pyfunc``.
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyfunc_ops.errors import InvalidParameterError, ModelFormatError, SerializationError
from pyfunc_ops.pytorch.files import (
    DATA_DIR,
    FLAVOR_NAME,
    MLFLOW_PICKLE_MODULE,
    PICKLE_INFO_FILE,
    PICKLE_MODULES,
    PT2_FILE,
    PTH_FILE,
    pickle_module_shim,
    torch_module,
)
from pyfunc_ops.pytorch.pt2_check import pt2_code_reason

if TYPE_CHECKING:
    from pyfunc_ops.pyfunc.flavor_support import OpenedFlavor
    from pyfunc_ops.pyfunc.trust import TrustDecision


def _model_data(opened: OpenedFlavor) -> Path:
    """The folder of the model files: the flavor's ``model_data`` (``data``)."""
    folder: Path = opened.file(opened.conf.get("model_data", DATA_DIR), f"{FLAVOR_NAME}.model_data")
    if not folder.is_dir():
        raise ModelFormatError(
            f"{opened.path / 'MLmodel'}: {FLAVOR_NAME}.model_data names {folder.name!r}, "
            "which is not a folder. Save the model again."
        )
    return folder


def _pickle_module_named(name: str, where: Path) -> Any:
    """The module a pickle model names (only pickle-compatible modules are imported)."""
    import importlib

    if name not in PICKLE_MODULES:
        raise ModelFormatError(
            f"{where}: names the pickle module {name!r}; only {list(PICKLE_MODULES)} are "
            "imported to read a PyTorch model. Save the model again."
        )
    if name in (MLFLOW_PICKLE_MODULE, "cloudpickle"):
        # cloudpickle has no ``Unpickler`` (torch.load needs one); its files are pickle's.
        return pickle_module_shim()
    return importlib.import_module(name)


def _load_pickled(folder: Path, trust: TrustDecision, device: str | None) -> Any:
    torch = torch_module()
    path = folder / PTH_FILE
    trust.require(f"its PyTorch model is a pickle file ({path.name}), and unpickling runs code")
    info = folder / PICKLE_INFO_FILE
    name = info.read_text().strip() if info.is_file() else MLFLOW_PICKLE_MODULE
    module = _pickle_module_named(name, info)
    location = device or "cpu"
    try:
        model = torch.load(
            str(path), pickle_module=module, weights_only=False, map_location=location
        )
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError, IndexError) as exc:
        raise SerializationError(
            f"{path}: torch cannot read this PyTorch model ({type(exc).__name__}: "
            f"{str(exc).strip()[:300]}). Restore the file, or save the model again."
        ) from exc
    except (AttributeError, ModuleNotFoundError) as exc:
        raise SerializationError(
            f"{path}: the pickled model needs code that is not importable here ({exc}). Install "
            "the package defining the model's class, or ship it with code_paths."
        ) from exc
    model.eval()
    return model


def _load_exported(path: Path, trust: TrustDecision, device: str | None) -> Any:
    torch = torch_module()
    if not trust.trusted:
        reason = pt2_code_reason(path)
        if reason is not None:
            trust.require(f"its pt2 archive {path.name} is not a plain export ({reason})")
    try:
        program = torch.export.load(str(path))
    except Exception as exc:  # torch raises many types for a damaged archive
        raise SerializationError(
            f"{path}: torch {torch.__version__} cannot read this pt2 archive "
            f"({type(exc).__name__}: {str(exc).strip()[:300]}). Restore the file, or save the "
            "model again (pt2 archives need the torch version that wrote them, or newer)."
        ) from exc
    module = program.module()
    if device:
        target = torch.device(device).type
        for tensor in [*module.parameters(), *module.buffers()]:
            if tensor.device.type != target:
                raise InvalidParameterError(
                    f"{path}: the exported program holds tensors on {tensor.device.type!r}, "
                    f"so it cannot run on {target!r}; save the model moved to {target!r} "
                    f"(model.to({target!r})) or load it on {tensor.device.type!r}."
                )
    return module


def _load_from(folder: Path, trust: TrustDecision, device: str | None = None) -> Any:
    """The module in the ``data`` folder: ``model.pth`` (a pickle) else ``model.pt2``."""
    if (folder / PTH_FILE).exists():
        return _load_pickled(folder, trust, device)
    if (folder / PT2_FILE).is_file():
        return _load_exported(folder / PT2_FILE, trust, device)
    raise ModelFormatError(
        f"{folder}: holds neither {PT2_FILE} nor {PTH_FILE}; this is not a PyTorch model "
        "folder MLflow or pyfunc_ops wrote. Restore the files, or save the model again."
    )


def load_model(
    model_uri: str | os.PathLike[str],
    dst_path: str | os.PathLike[str] | None = None,
    *,
    trust_remote_code: bool | None = None,
    device: str | None = None,
) -> Any:
    """Load the ``torch.nn.Module`` itself from any model URI.

    A pt2 model loads from an untrusted place (its archive is checked first, see the module
    docstring) and comes back as ``ExportedProgram.module()``, as in MLflow; a pickled one
    needs ``trust_remote_code=True`` there. ``device``: where to put the module (a pt2
    program cannot move, so it must match). ``dst_path`` is accepted for MLflow's
    signature and ignored (models are cached by pyfunc_ops).
    """
    from pyfunc_ops.pyfunc.flavor_support import open_for_load

    opened = open_for_load(model_uri, FLAVOR_NAME, trust_remote_code)
    module = _load_from(_model_data(opened), opened.trust, device)
    if device and (_model_data(opened) / PTH_FILE).exists():
        module.to(device)
    return module


def read_native(path: str | os.PathLike[str]) -> Any:
    """A PyTorch file as its module: ``.pt2`` (``torch.export.save``) or ``.pth``/``.pt``
    (``torch.save`` of a whole module, a pickle: only for a file of your own). For
    ``package_model(estimator_path=...)``."""
    from pyfunc_ops.pyfunc.trust import TRUSTED_LOCAL

    target = Path(path)
    if not target.is_file():
        raise InvalidParameterError(f"{target}: no such PyTorch model file.")
    if target.suffix == ".pt2":
        return _load_exported(target, TRUSTED_LOCAL, None)
    torch = torch_module()
    try:
        model = torch.load(str(target), weights_only=False, map_location="cpu")
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError) as exc:
        raise SerializationError(f"{target}: torch cannot read this file ({exc}).") from exc
    if not isinstance(model, torch.nn.Module):
        raise SerializationError(
            f"{target}: holds a {type(model).__name__}, not a torch.nn.Module (a state dict "
            "needs its model class: build the module, load_state_dict, and pass the module)."
        )
    model.eval()
    return model


class _PyTorchWrapper:
    """The pyfunc inference API over a module, predicting as MLflow's wrapper does."""

    def __init__(self, pytorch_model: Any, device: str) -> None:
        self.pytorch_model = pytorch_model
        self.device = device

    def get_raw_model(self) -> Any:
        return self.pytorch_model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        import numpy as np

        # A DataFrame exists only once pandas is imported: an ndarray caller (a pt2 model's
        # usual input) does not pay pandas' import on its first call.
        pd = sys.modules.get("pandas")
        is_frame = pd is not None and isinstance(data, pd.DataFrame)
        torch = torch_module()
        if params and "device" in params:
            raise InvalidParameterError(
                "'device' is not an inference parameter; choose it at load time: "
                "pyfunc.load_model(uri, model_config={'device': 'cuda'})."
            )
        if is_frame:
            values = data.to_numpy(dtype=np.float32)
        elif isinstance(data, np.ndarray):
            values = data
        else:
            raise InvalidParameterError(
                f"The PyTorch model takes a pandas DataFrame or a numpy ndarray, got "
                f"{type(data).__name__}."
            )
        with torch.no_grad():
            preds = self.pytorch_model(torch.from_numpy(values).to(self.device), **(params or {}))
            if not isinstance(preds, torch.Tensor):
                raise InvalidParameterError(
                    f"The PyTorch model returned a {type(preds).__name__}; the pyfunc flavor "
                    "needs a model returning a single tensor."
                )
            array = preds.to("cpu").numpy()
        if pd is not None and is_frame:
            return pd.DataFrame(array, index=data.index)
        return array


def _device(model_config: Any) -> str:
    """The device to score on: the load-time ``model_config['device']``, else CUDA when
    available, else the CPU (as MLflow chooses)."""
    device = model_config.get("device") if isinstance(model_config, dict) else None
    if device is not None and not isinstance(device, str):
        raise InvalidParameterError(
            f"model_config['device'] must be a device name such as 'cpu' or 'cuda', got {device!r}."
        )
    if device:
        return device
    return "cuda" if torch_module().cuda.is_available() else "cpu"


def _load_pyfunc(path: str, model_config: Any = None) -> _PyTorchWrapper:
    """Loader entry point: ``path`` is the ``data`` folder (``python_function.data``) or the
    model folder; ``model_config`` may name the ``device``."""
    from pyfunc_ops.pyfunc.flavor_support import open_for_pyfunc

    opened = open_for_pyfunc(path, FLAVOR_NAME)
    device = _device(model_config)
    module = _load_from(_model_data(opened), opened.trust, device)
    if (_model_data(opened) / PTH_FILE).exists():
        module.to(device)
    return _PyTorchWrapper(module, device)


__all__ = ["load_model", "read_native"]
