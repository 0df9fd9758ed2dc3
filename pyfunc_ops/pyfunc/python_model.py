"""Workflow 1: a user's ``PythonModel`` subclass, serialized with cloudpickle.

``PythonModel``, ``PythonModelContext`` and the loader of such models (``_load_pyfunc``)
live here. Saved models name :mod:`pyfunc_ops.pyfunc.model` as their ``loader_module``
(that path is part of every saved model, so it stays); it re-exports these names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyfunc_ops.core.callables import accepts_parameter
from pyfunc_ops.core.paths import confine
from pyfunc_ops.errors import LoaderError, ModelFormatError
from pyfunc_ops.models.model import PYFUNC_FLAVOR

PYTHON_MODEL_FILE = "python_model.pkl"
ARTIFACTS_DIR = "artifacts"


class PythonModelContext:
    """What a ``PythonModel`` may use at inference: its artifacts as absolute local paths."""

    def __init__(self, artifacts: dict[str, str], model_config: dict[str, Any] | None = None):
        self._artifacts = dict(artifacts)
        self._model_config = dict(model_config or {})

    @property
    def artifacts(self) -> dict[str, str]:
        """``{name: absolute local path}`` of every artifact saved with the model."""
        return self._artifacts

    @property
    def model_config(self) -> dict[str, Any]:
        return self._model_config

    def __repr__(self) -> str:
        return f"PythonModelContext(artifacts={self._artifacts!r})"


class PythonModel:
    """Base class of custom models: override ``predict`` and, optionally, ``load_context``.

    ``predict`` may be written ``predict(self, context, model_input)`` (the format's
    documented form) or ``predict(self, model_input, params=None)``; the loader looks at
    the signature and passes the context only when asked for.
    """

    def load_context(self, context: PythonModelContext) -> None:
        """Called once when the model is loaded, before any ``predict``."""

    def predict(self, context: PythonModelContext, model_input: Any, params: Any = None) -> Any:
        raise NotImplementedError(
            f"{type(self).__name__}.predict is not implemented: override "
            "predict(self, context, model_input) in your PythonModel subclass."
        )


class _PythonModelWrapper:
    """Adapts a loaded ``PythonModel`` to the inference API ``predict(model_input)``."""

    def __init__(self, python_model: Any, context: PythonModelContext) -> None:
        self.python_model = python_model
        self.context = context
        predict = python_model.predict
        self._with_context = accepts_parameter(predict, "context")
        self._with_params = accepts_parameter(predict, "params")

    def predict(self, model_input: Any, params: Any = None) -> Any:
        kwargs = {"params": params} if self._with_params and params is not None else {}
        if self._with_context:
            return self.python_model.predict(self.context, model_input, **kwargs)
        return self.python_model.predict(model_input, **kwargs)

    def unwrap_python_model(self) -> Any:
        return self.python_model


def _load_pyfunc(path: str, model_config: dict[str, Any] | None = None) -> _PythonModelWrapper:
    """Loader entry point: unpickle the model, resolve its artifacts, call load_context.

    Every path comes from the MLmodel and is confined to the model folder; the pickle is
    opened only when the load's trust decision allows it (unpickling runs code).
    """
    from pyfunc_ops.pyfunc.compat import load_pickle
    from pyfunc_ops.pyfunc.load import load_trust, model_metadata

    root = Path(path)
    if root.is_file():  # handed the pickle itself (a ``data:`` key pointing at it)
        root = root.parent
    conf = model_metadata(root).get_flavor(PYFUNC_FLAVOR)
    if "python_model" not in conf and conf.get("model_code_path"):
        raise LoaderError(
            f"{root}: this model was saved by MLflow 'from code' (model_code_path: "
            f"{conf['model_code_path']!r}), which runs MLflow's set_model() at load time; "
            "pyfunc_ops loads pickled PythonModel instances only. Load it with mlflow, or "
            "re-save it with python_model=<a PythonModel instance>."
        )
    name = conf.get("python_model", PYTHON_MODEL_FILE)
    pickled = confine(root, name, key="python_function.python_model")
    artifacts = {}
    specs = conf.get("artifacts") or {}
    if not isinstance(specs, dict):
        raise ModelFormatError(
            f"{root / 'MLmodel'}: python_function 'artifacts' must map artifact names to "
            f"{{path: ...}}, found {specs!r}."
        )
    for art, spec in specs.items():
        rel = spec.get("path") if isinstance(spec, dict) else spec
        artifacts[art] = str(confine(root, rel, key=f"python_function.artifacts.{art}.path"))
    if not pickled.is_file():
        raise ModelFormatError(
            f"{root / 'MLmodel'}: python_function 'python_model' names {name!r}, but "
            f"{pickled} is not a file. Restore it, or save the model again."
        )
    load_trust(root).require("its python_model is a cloudpickle file, and unpickling runs code")
    with open(pickled, "rb") as fh:
        python_model = load_pickle(fh)
    context = PythonModelContext(artifacts, model_config or conf.get("config"))
    python_model.load_context(context)
    return _PythonModelWrapper(python_model, context)
