"""Saving a ``torch.nn.Module`` as MLflow 3.18 does (see ``pyfunc_ops.pytorch``): a pt2
archive traced by ``torch.export`` with the input example, or a ``torch.save`` pickle.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyfunc_ops.errors import InvalidParameterError, SerializationError
from pyfunc_ops.pyfunc.flavor_support import FlavorFiles, add_sections, saves_model, type_name
from pyfunc_ops.pyfunc.log import log_model_with
from pyfunc_ops.pytorch.files import (
    DATA_DIR,
    DEFAULT_SERIALIZATION_FORMAT,
    FLAVOR_NAME,
    MLFLOW_PICKLE_MODULE,
    PICKLE_INFO_FILE,
    PT2_FILE,
    PTH_FILE,
    SERIALIZATION_FORMATS,
    pickle_module_shim,
    torch_module,
)

if TYPE_CHECKING:
    from pyfunc_ops.models.mlmodel import Model
    from pyfunc_ops.pyfunc.save import StagedModel


def _pin(dist: str) -> str:
    """``dist==<installed version>`` without a local label (``2.5.0``, not ``2.5.0+cu121``:
    what an index serves, as MLflow pins it)."""
    import importlib.metadata

    try:
        return f"{dist}=={importlib.metadata.version(dist).split('+')[0]}"
    except importlib.metadata.PackageNotFoundError:
        return dist


def get_default_pip_requirements() -> list[str]:
    """What a saved model's ``requirements.txt`` lists by default: MLflow's pin,
    cloudpickle (MLflow's pickle module uses it) and torch."""
    from pyfunc_ops.models import env as env_files

    return [*env_files.default_pip_requirements(), _pin("torch")]


def _example_tensors(torch: Any, input_example: Any) -> tuple[list[Any], bool]:
    """The example as a list of tensors, and whether it is a single ndarray (the one case
    MLflow writes a python_function flavor and an input example for)."""
    import numpy as np

    items = (
        [input_example]
        if isinstance(input_example, (np.ndarray, torch.Tensor))
        else list(input_example)
        if isinstance(input_example, (list, tuple))
        else None
    )
    if not items or not all(isinstance(v, (np.ndarray, torch.Tensor)) for v in items):
        raise InvalidParameterError(
            "serialization_format='pt2' needs input_example: a numpy array or torch tensor, or "
            "a list/tuple of them (torch.export traces the model by running forward on it), "
            f"got {type(input_example).__name__}. Pass one, or save with "
            "serialization_format='pickle'."
        )
    tensors = [torch.from_numpy(v) if isinstance(v, np.ndarray) else v for v in items]
    single_array = len(items) == 1 and isinstance(items[0], np.ndarray)
    return tensors, single_array


def _pt2_signature(
    torch: Any, model: Any, tensors: list[Any], signature: Any, single_array: bool
) -> Any:
    """The signature a pt2 save records: the caller's, else (a single ndarray example, as
    MLflow infers it) tensor specs of the example and of the model's output on it."""
    from pyfunc_ops.models.signature import ModelSignature, infer_signature

    if signature is None and single_array:
        with torch.no_grad():
            out = model(tensors[0])
        output = out.detach().cpu().numpy() if isinstance(out, torch.Tensor) else None
        signature = infer_signature(tensors[0].numpy(), output)
    inputs = signature.inputs if isinstance(signature, ModelSignature) else None
    if inputs is None or not inputs.inputs or not inputs.is_tensor:
        raise InvalidParameterError(
            "serialization_format='pt2' needs a signature whose inputs are tensor specs (one "
            "per example tensor), or a single numpy array as input_example to infer it from; "
            f"got {signature!r}. Pass signature=..., or save with serialization_format='pickle'."
        )
    if len(inputs.inputs) != len(tensors):
        raise InvalidParameterError(
            f"The signature declares {len(inputs.inputs)} input tensor(s) but input_example "
            f"has {len(tensors)}; give one example tensor per signature input."
        )
    return signature


def _export(torch: Any, model: Any, tensors: list[Any], specs: Sequence[Any], dest: Path) -> None:
    """``torch.export`` the module with a free dimension wherever the signature has -1."""
    from torch.export import Dim

    dynamic: list[dict[int, Any] | None] = []
    for spec, tensor in zip(specs, tensors, strict=True):
        dims: dict[int, Any] = {}
        for i, size in enumerate(spec.shape):
            if size != -1:
                continue
            if hasattr(Dim, "AUTO"):
                dims[i] = Dim.AUTO  # the exporter specializes a size-1 example dimension
            elif tensor.shape[i] > 1:
                dims[i] = Dim(f"dim_{i}")
        dynamic.append(dims or None)
    try:
        program = torch.export.export(model, tuple(tensors), dynamic_shapes=dynamic)
    except Exception as exc:  # torch.export raises many types for untraceable code
        raise SerializationError(
            f"torch.export cannot trace the {type(model).__name__} with the input example "
            f"({type(exc).__name__}: {str(exc).strip()[:500]}). Fix the model or the example, "
            "or save with serialization_format='pickle'."
        ) from exc
    torch.export.save(program, str(dest))


@saves_model
def save_model(
    pytorch_model: Any,
    path: str | os.PathLike[str],
    conda_env: Any = None,
    mlflow_model: Model | None = None,
    code_paths: list[str | os.PathLike[str]] | None = None,
    pickle_module: Any = None,
    signature: Any = None,
    input_example: Any = None,
    extra_files: Any = None,
    pip_requirements: Any = None,
    extra_pip_requirements: Any = None,
    metadata: dict[str, Any] | None = None,
    export_model: bool = False,
    serialization_format: str | None = None,
    **kwargs: Any,
) -> FlavorFiles:
    """Save a ``torch.nn.Module`` to the local folder ``path`` in MLflow 3.18's layout.

    ``serialization_format``: ``"pt2"`` (the default; needs ``input_example``, a numpy array
    or tensor or a list of them, and a tensor signature, inferred from a single array) or
    ``"pickle"`` (``torch.save`` of the module with ``pickle_module``, MLflow's cloudpickle
    shim by default; ``kwargs`` go to ``torch.save``). ``export_model=True`` is MLflow's
    older spelling of ``"pt2"``. ``metadata`` goes to the MLmodel's ``metadata``.
    ``extra_files`` is not supported (MLflow's ``requirements_file`` sections are
    deprecated); pass files with ``code_paths``.
    """
    torch = torch_module()
    fmt = serialization_format or DEFAULT_SERIALIZATION_FORMAT
    if export_model and serialization_format == "pickle":
        raise InvalidParameterError(
            "export_model=True and serialization_format='pickle' contradict each other; pass "
            "serialization_format only ('pt2' or 'pickle')."
        )
    if fmt not in SERIALIZATION_FORMATS:
        raise InvalidParameterError(
            f"serialization_format {fmt!r} is not supported; use 'pt2' (the default, safe to "
            "load from untrusted places) or 'pickle'."
        )
    if not isinstance(pytorch_model, torch.nn.Module):
        raise InvalidParameterError(
            f"pytorch.save_model takes a torch.nn.Module, got {type_name(pytorch_model)}."
        )
    if extra_files:
        raise InvalidParameterError(
            "extra_files is not supported by pyfunc_ops.pytorch; ship files with code_paths."
        )
    example_to_save = input_example
    pyfunc = True
    if fmt == "pt2":
        if isinstance(pytorch_model, torch.jit.ScriptModule):
            raise InvalidParameterError(
                "A TorchScript module cannot be exported as pt2; save it with "
                "serialization_format='pickle'."
            )
        tensors, single_array = _example_tensors(torch, input_example)
        signature = _pt2_signature(torch, pytorch_model, tensors, signature, single_array)
        # As MLflow: a tensor or several example tensors give no python_function flavor
        # (pyfunc feeds one array), and such an example is not written as input example.
        pyfunc = single_array
        example_to_save = input_example if single_array else None
    elif pickle_module is not None and not isinstance(
        getattr(pickle_module, "__name__", None), str
    ):
        raise InvalidParameterError(
            f"pickle_module must be a module (such as cloudpickle), got {pickle_module!r}."
        )

    def write_pytorch(staged: StagedModel) -> None:
        data = staged.path / DATA_DIR
        data.mkdir()
        module_name = getattr(pickle_module, "__name__", None) or MLFLOW_PICKLE_MODULE
        if fmt == "pt2":
            _export(torch, pytorch_model, tensors, signature.inputs.inputs, data / PT2_FILE)
        else:
            (data / PICKLE_INFO_FILE).write_text(module_name)
            target = str(data / PTH_FILE)
            if isinstance(pytorch_model, torch.jit.ScriptModule):
                torch.jit.save(pytorch_model, target)
            else:
                torch.save(
                    pytorch_model,
                    target,
                    pickle_module=pickle_module or pickle_module_shim(),
                    **kwargs,
                )
        if pyfunc:
            add_sections(
                staged,
                FLAVOR_NAME,
                DATA_DIR,
                {"pickle_module_name": module_name, "config": {"device": None}},
            )
        staged.model.add_flavor(
            FLAVOR_NAME,
            model_data=DATA_DIR,
            pytorch_version=str(torch.__version__),
            code=staged.code,
            serialization_format=fmt,
        )

    return FlavorFiles(
        write_pytorch,
        get_default_pip_requirements(),
        signature=signature,
        input_example=example_to_save,
    )


def log_model(
    pytorch_model: Any,
    artifact_path: str,
    registered_model_name: str | None = None,
    **kwargs: Any,
) -> Any:
    """Log a module under the active run (started if needed); optionally register it.
    ``kwargs`` are :func:`save_model`'s."""
    return log_model_with(
        save_model, artifact_path, registered_model_name, pytorch_model=pytorch_model, **kwargs
    )


__all__ = ["get_default_pip_requirements", "log_model", "save_model"]
