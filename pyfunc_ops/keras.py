"""The Keras 3 flavor: save, log and load a ``keras.Model``; a pyfunc ``loader_module``.

The layout is what ``mlflow.keras`` 3.18 writes for Keras 3: ``data/model.keras`` (Keras'
own zip of a JSON config and HDF5 weights) and ``data/keras_module.txt``, a ``keras``
section with ``data``, ``keras_version``, ``keras_backend`` and ``save_exported_model``,
and python_function with ``loader_module: mlflow.keras`` and no ``data`` key (the loader
is handed the model folder).

Keras is served here with its **torch** backend (no TensorFlow): when ``KERAS_BACKEND`` is
unset before Keras is first imported it is set to ``torch``; a backend configured otherwise
is used when its package is installed, and named in the error when it is not.

A ``.keras`` file is read in Keras' safe mode: the config builds Keras' own classes only
(Keras 3.9+ imports modules of Keras packages only, and safe mode refuses serialized
lambdas), so it may load from an untrusted place. Turning safe mode off (``safe_mode=False``)
runs code the file brings and needs trust, as a pickle does. Keras releases before 3.11 had
safe-mode bypasses (a config downloading files or re-enabling unsafe deserialization), so
from an untrusted place an older Keras is refused too.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyfunc_ops.errors import InvalidParameterError, LoaderError, SerializationError
from pyfunc_ops.pyfunc.flavor_support import (
    FlavorFiles,
    OpenedFlavor,
    add_sections,
    open_for_load,
    open_for_pyfunc,
    saves_model,
    type_name,
)
from pyfunc_ops.pyfunc.log import log_model_with

if TYPE_CHECKING:
    from pyfunc_ops.models.mlmodel import Model
    from pyfunc_ops.pyfunc.save import StagedModel
    from pyfunc_ops.pyfunc.trust import TrustDecision

log = logging.getLogger(__name__)

FLAVOR_NAME = "keras"
#: The backend pyfunc_ops serves Keras with (set when nothing else is configured).
BACKEND = "torch"
#: What ``read_native`` (``package_model(estimator_path=...)``) takes as a Keras file.
NATIVE_SUFFIXES: tuple[str, ...] = (".keras",)

_DATA = "data"
_MODEL_FILE = "model.keras"
_MODULE_FILE = "keras_module.txt"
#: The oldest Keras whose safe mode we rely on for an untrusted file (see the docstring).
_SAFE_FROM = (3, 11)
_BACKEND_PACKAGES = {"torch": "torch", "tensorflow": "tensorflow", "jax": "jax", "numpy": "numpy"}


def _keras() -> Any:
    """``keras``, imported with a backend this process can run (see the module docstring).
    A missing keras, or a missing backend package, raises :class:`LoaderError` naming it."""
    from pyfunc_ops.models.flavors import import_framework

    if "keras" not in sys.modules:
        if not os.environ.get("KERAS_BACKEND"):
            os.environ["KERAS_BACKEND"] = BACKEND
        backend = os.environ["KERAS_BACKEND"]
        package = _BACKEND_PACKAGES.get(backend, backend)
        if _installed("keras") and not _installed(package):
            other = (
                f"pyfunc_ops serves Keras with the torch backend: set KERAS_BACKEND=torch (or "
                f"unset it), or install {package!r}: "
                if backend != BACKEND
                else ""
            )
            raise LoaderError(
                f"Keras is configured with the {backend!r} backend (KERAS_BACKEND), whose "
                f"package {package!r} is not installed here. {other}pip install {package}"
            )
    return import_framework(FLAVOR_NAME)


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # ValueError: sys.modules[name] is None
        return False


def _backend_requirement() -> list[str]:
    """The backend package a restored environment needs beside keras (torch here)."""
    import importlib.metadata

    keras = sys.modules.get("keras")
    backend = keras.backend.backend() if keras is not None else BACKEND
    dist = _BACKEND_PACKAGES.get(backend)
    if dist is None or dist == "numpy":
        return []
    try:
        return [f"{dist}=={importlib.metadata.version(dist).split('+')[0]}"]
    except importlib.metadata.PackageNotFoundError:
        return [dist]


def get_default_pip_requirements() -> list[str]:
    """What a saved model's ``requirements.txt`` lists by default: MLflow's pin, keras and
    the backend it runs on (MLflow infers the backend from what loading imports)."""
    from pyfunc_ops.models import env as env_files

    return [*env_files.default_pip_requirements(), env_files.pinned("keras")] + (
        _backend_requirement()
    )


def code_reason(flavors: dict[str, Any]) -> str | None:
    """``None``: a ``.keras`` file is read in safe mode, building Keras' own classes only."""
    return None


@saves_model
def save_model(
    model: Any,
    path: str | os.PathLike[str],
    save_exported_model: bool = False,
    conda_env: Any = None,
    mlflow_model: Model | None = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: Any = None,
    extra_pip_requirements: Any = None,
    save_model_kwargs: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    code_paths: list[str | os.PathLike[str]] | None = None,
) -> FlavorFiles:
    """Save a ``keras.Model`` to the local folder ``path`` as ``data/model.keras``.

    ``signature`` must have tensor inputs with a free first (batch) dimension, as MLflow
    requires. ``save_model_kwargs`` go to ``keras.Model.save``. ``save_exported_model=True``
    (a TensorFlow SavedModel) is not supported: it needs TensorFlow, which this flavor does
    not use. ``metadata`` goes to the MLmodel's ``metadata``.
    """
    if save_exported_model:
        raise InvalidParameterError(
            "save_exported_model=True writes a TensorFlow SavedModel, which needs TensorFlow; "
            "pyfunc_ops saves Keras 3 models as .keras files (save_exported_model=False)."
        )
    keras = _keras()
    if not isinstance(model, keras.Model):
        raise InvalidParameterError(
            f"keras.save_model takes a keras.Model, got {type_name(model)}."
        )
    _check_signature(signature)
    if save_model_kwargs is not None and not isinstance(save_model_kwargs, dict):
        raise InvalidParameterError(
            f"save_model_kwargs must be a dict of keras.Model.save arguments, got "
            f"{type(save_model_kwargs).__name__}."
        )
    if signature is None:
        log.warning("Saving a Keras model without a signature: its input is not checked.")

    def write_keras(staged: StagedModel) -> None:
        data = staged.path / _DATA
        data.mkdir()
        (data / _MODULE_FILE).write_text("keras")
        try:
            model.save(str(data / _MODEL_FILE), **(save_model_kwargs or {}))
        except (TypeError, ValueError, NotImplementedError) as exc:
            raise SerializationError(
                f"Keras cannot save the {type(model).__name__} as a .keras file ({exc}). "
                "Custom layers need get_config() and keras.saving.register_keras_serializable."
            ) from exc
        add_sections(staged, FLAVOR_NAME, None)
        staged.model.add_flavor(
            FLAVOR_NAME,
            data=_DATA,
            keras_version=keras.__version__,
            keras_backend=keras.backend.backend(),
            save_exported_model=False,
        )

    return FlavorFiles(write_keras, get_default_pip_requirements())


def _check_signature(signature: Any) -> None:
    if signature is None:
        return
    inputs = getattr(signature, "inputs", None)
    if inputs is None or not inputs.inputs:
        raise InvalidParameterError(
            "The Keras model's signature needs at least one input tensor spec."
        )
    if not inputs.is_tensor:
        raise InvalidParameterError(
            "The Keras model's signature inputs must be tensor specs (TensorSpec), as MLflow "
            "requires; infer one from a numpy input example."
        )
    for spec in inputs.inputs:
        if not spec.shape or spec.shape[0] != -1:
            raise InvalidParameterError(
                f"The Keras signature input {spec.name or 'tensor'} has shape "
                f"{list(spec.shape)}; its first dimension must be -1 (the batch dimension)."
            )


def log_model(
    model: Any,
    artifact_path: str,
    registered_model_name: str | None = None,
    **kwargs: Any,
) -> Any:
    """Log a model under the active run (started if needed); optionally register it.
    ``kwargs`` are :func:`save_model`'s."""
    return log_model_with(save_model, artifact_path, registered_model_name, model=model, **kwargs)


def _version(text: str) -> tuple[int, ...]:
    import re

    return tuple(int(p) for p in re.findall(r"\d+", text)[:2])


def _model_file(opened: OpenedFlavor) -> Path:
    """``<data>/model.keras`` (MLflow's ``data`` names the folder; older: the file stem)."""
    if opened.conf.get("save_exported_model"):
        raise LoaderError(
            f"{opened.path / 'MLmodel'}: the Keras model was saved as a TensorFlow SavedModel "
            "(save_exported_model: true), which needs TensorFlow: load it with "
            "pip install tensorflow and mlflow.keras. pyfunc_ops reads .keras files."
        )
    data = opened.conf.get("data", "model")
    base = opened.path / str(data)
    relative = f"{data}/model.keras" if base.is_dir() else f"{data}.keras"
    file: Path = opened.file(relative, f"{FLAVOR_NAME}.data")
    return file


def _read(
    path: Path,
    trust: TrustDecision,
    *,
    safe_mode: bool = True,
    custom_objects: dict[str, Any] | None = None,
    **load_kwargs: Any,
) -> Any:
    """``keras.saving.load_model`` of ``path`` in safe mode (off only when trusted)."""
    keras = _keras()
    if safe_mode is not True:
        trust.require(
            f"loading its Keras file {path.name} with safe_mode=False deserializes Python "
            "code (lambdas) the file brings"
        )
    elif not trust.trusted and _version(keras.__version__) < _SAFE_FROM:
        trust.require(
            f"Keras {keras.__version__}'s safe mode had known bypasses (fixed in Keras "
            f"{'.'.join(map(str, _SAFE_FROM))}; upgrade keras to load untrusted models)"
        )
    try:
        return keras.saving.load_model(
            str(path), custom_objects=custom_objects, safe_mode=safe_mode, **load_kwargs
        )
    except ValueError as exc:
        if "safe_mode" in str(exc) or "lambda" in str(exc).lower():
            raise SerializationError(
                f"{path}: the Keras model holds Python code (a Lambda layer) that safe mode "
                "refuses to deserialize. If the model comes from a place you trust, load it "
                "with safe_mode=False (and trust_remote_code=True from a remote source)."
            ) from exc
        raise SerializationError(
            f"{path}: Keras {keras.__version__} cannot read this model ({exc}). Restore the "
            "file, or save the model again."
        ) from exc
    except (OSError, KeyError, TypeError) as exc:
        raise SerializationError(
            f"{path}: Keras {keras.__version__} cannot read this model ({type(exc).__name__}: "
            f"{exc}). Custom classes must be passed as custom_objects or registered with "
            "keras.saving.register_keras_serializable; else restore the file or save again."
        ) from exc


def load_model(
    model_uri: str | os.PathLike[str],
    dst_path: str | os.PathLike[str] | None = None,
    custom_objects: dict[str, Any] | None = None,
    load_model_kwargs: dict[str, Any] | None = None,
    *,
    trust_remote_code: bool | None = None,
) -> Any:
    """Load the ``keras.Model`` itself from any model URI, in Keras' safe mode.

    ``custom_objects`` and ``load_model_kwargs`` go to ``keras.saving.load_model`` (as in
    MLflow); ``load_model_kwargs={"safe_mode": False}`` deserializes lambdas and so needs
    trust (``trust_remote_code=True``) for a model from an untrusted place. ``dst_path`` is
    accepted for MLflow's signature and ignored (models are cached by pyfunc_ops).
    """
    kwargs = dict(load_model_kwargs or {})
    safe_mode = kwargs.pop("safe_mode", True)
    opened = open_for_load(model_uri, FLAVOR_NAME, trust_remote_code)
    return _read(
        _model_file(opened),
        opened.trust,
        safe_mode=safe_mode,
        custom_objects=custom_objects,
        **kwargs,
    )


def read_native(path: str | os.PathLike[str]) -> Any:
    """A ``.keras`` file as its ``keras.Model`` (safe mode). For
    ``package_model(estimator_path=...)``."""
    from pyfunc_ops.pyfunc.trust import TRUSTED_LOCAL

    target = Path(path)
    if not target.is_file():
        raise InvalidParameterError(f"{target}: no such Keras model file.")
    return _read(target, TRUSTED_LOCAL)


class _KerasModelWrapper:
    """The pyfunc inference API over a Keras model, predicting as MLflow's wrapper does: a
    DataFrame in gives a DataFrame on its index, an array (or list, tuple, dict) a numpy
    array."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def get_raw_model(self) -> Any:
        return self.model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        import numpy as np
        import pandas as pd

        if isinstance(data, pd.DataFrame):
            return pd.DataFrame(self.model.predict(data.values, verbose=0), index=data.index)
        if not isinstance(data, (np.ndarray, list, tuple, dict)):
            raise InvalidParameterError(
                f"The Keras model takes a DataFrame, ndarray, list, tuple or dict, got "
                f"{type(data).__name__}."
            )
        return _keras().ops.convert_to_numpy(self.model.predict(data, verbose=0))


def _load_pyfunc(path: str, model_config: Any = None) -> _KerasModelWrapper:
    """Loader entry point: ``path`` is the model folder (MLflow writes no
    ``python_function.data`` for Keras) or a path inside it."""
    opened = open_for_pyfunc(path, FLAVOR_NAME)
    return _KerasModelWrapper(_read(_model_file(opened), opened.trust))
