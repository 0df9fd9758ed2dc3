"""Workflow 1: a user's ``PythonModel``, serialized with cloudpickle or saved *from code*.

``PythonModel``, ``PythonModelContext``, ``set_model`` and the loader of such models
(``_load_pyfunc``) live here. A model saved from code (``python_model="model.py"``) is a
Python file copied into the model folder and named by ``model_code_path``; loading runs it
and takes the model it registered with :func:`set_model`, as MLflow 3 does.
Saved models name :mod:`pyfunc_ops.pyfunc.model` as their ``loader_module``
(that path is part of every saved model, so it stays); it re-exports these names.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from pyfunc_ops.core.callables import accepts_parameter
from pyfunc_ops.core.paths import confine
from pyfunc_ops.errors import ModelFormatError, SerializationError
from pyfunc_ops.models.mlmodel import PYFUNC_FLAVOR
from pyfunc_ops.pyfunc.type_hints import TypedPythonModel, TypeHints

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

    @property
    def predict_type_hints(self) -> TypeHints:
        """The type hints of ``predict``'s model input and return value.

        Stock MLflow loads our models with its own loader (they name
        ``mlflow.pyfunc.model``), and that loader asks the model for these; a subclass of
        ours, unpickled where pyfunc_ops is installed beside MLflow, must answer too.
        """
        import typing

        from pyfunc_ops.pyfunc.type_hints import input_hint

        try:
            output = typing.get_type_hints(self.predict).get("return")
        except (NameError, TypeError, AttributeError):
            output = None
        return TypeHints(input_hint(self.predict), output)

    def load_context(self, context: PythonModelContext) -> None:
        """Called once when the model is loaded, before any ``predict``."""

    def predict(self, context: PythonModelContext, model_input: Any, params: Any = None) -> Any:
        raise NotImplementedError(
            f"{type(self).__name__}.predict is not implemented: override "
            "predict(self, context, model_input) in your PythonModel subclass."
        )


class CodePythonModel(TypedPythonModel, PythonModel):
    """``mlflow.pyfunc.PythonModel`` as a models-from-code file sees it without MLflow: a
    subclass's type-hinted ``predict`` is wrapped as MLflow 3 wraps it."""


class _FunctionModel:
    """A plain callable registered with ``set_model``, as a PythonModel (MLflow does the
    same): ``predict(model_input)`` calls it."""

    def __init__(self, func: Any) -> None:
        self.func = func

    def load_context(self, context: PythonModelContext) -> None:
        """A function has nothing to load."""

    def predict(self, model_input: Any, params: Any = None) -> Any:
        return self.func(model_input)


class _PythonModelWrapper:
    """Adapts a loaded ``PythonModel`` to the inference API ``predict(model_input)``.

    A type-hinted ``predict`` that MLflow (or a models-from-code file) wrapped gets its
    DataFrame input converted as MLflow's wrapper converts it (see ``type_hints``)."""

    def __init__(self, python_model: Any, context: PythonModelContext) -> None:
        from pyfunc_ops.pyfunc.type_hints import check_supported

        self.python_model = python_model
        self.context = context
        predict = python_model.predict
        self._with_context = accepts_parameter(predict, "context")
        self._with_params = accepts_parameter(predict, "params")
        check_supported(python_model)
        self._typed = bool(getattr(predict, "_is_pyfunc", False))

    def predict(self, model_input: Any, params: Any = None) -> Any:
        kwargs = {"params": params} if self._with_params and params is not None else {}
        if self._typed:
            from pyfunc_ops.pyfunc.type_hints import model_input_for

            model_input = model_input_for(self.python_model, model_input)
        if self._with_context:
            return self.python_model.predict(self.context, model_input, **kwargs)
        return self.python_model.predict(model_input, **kwargs)

    def unwrap_python_model(self) -> Any:
        return self.python_model


def _artifacts(root: Path, conf: dict[str, Any]) -> dict[str, str]:
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
    return artifacts


def model_code_file(root: Path, conf: dict[str, Any]) -> Path:
    """The models-from-code file inside the model folder.

    MLflow records the path the file had when it was saved (often absolute, on another
    machine) and copies the file to the model's root; it loads ``<root>/<file name>``, and
    so do we. The name is confined to the folder like every other path.
    """
    recorded = str(conf["model_code_path"])
    name = recorded.replace("\\", "/").rsplit("/", 1)[-1]
    file = confine(root, name, key="python_function.model_code_path")
    if not file.is_file():
        raise ModelFormatError(
            f"{root / 'MLmodel'}: python_function 'model_code_path' is {recorded!r}, so the "
            f"model code should be {str(file)!r}, which is not a file. Restore it, or save the "
            "model again."
        )
    return file


def _load_code_model(root: Path, conf: dict[str, Any]) -> Any:
    from pyfunc_ops.pyfunc.compat import run_model_code
    from pyfunc_ops.pyfunc.load import load_trust

    file = model_code_file(root, conf)
    load_trust(root).require(
        f"its model code file {file.name!r} (python_function 'model_code_path') would be run"
    )
    model = run_model_code(file)
    if not hasattr(model, "predict") and callable(model):
        model = _FunctionModel(model)
    return model


def _load_pyfunc(path: str, model_config: dict[str, Any] | None = None) -> _PythonModelWrapper:
    """Loader entry point: unpickle the model (or run its model code file), resolve its
    artifacts, call load_context.

    Every path comes from the MLmodel and is confined to the model folder; the pickle is
    opened (the file run) only when the load's trust decision allows it (both run code).
    """
    from pyfunc_ops.pyfunc.compat import load_pickle
    from pyfunc_ops.pyfunc.load import load_trust, model_metadata

    root = Path(path)
    if root.is_file():  # handed the pickle itself (a ``data:`` key pointing at it)
        root = root.parent
    conf = model_metadata(root).get_flavor(PYFUNC_FLAVOR)
    artifacts = _artifacts(root, conf)
    if "python_model" not in conf and conf.get("model_code_path"):
        python_model = _load_code_model(root, conf)
    else:
        name = conf.get("python_model", PYTHON_MODEL_FILE)
        pickled = confine(root, name, key="python_function.python_model")
        if not pickled.is_file():
            raise ModelFormatError(
                f"{root / 'MLmodel'}: python_function 'python_model' names {name!r}, but "
                f"{pickled} is not a file. Restore it, or save the model again."
            )
        load_trust(root).require("its python_model is a cloudpickle file, and unpickling runs code")
        with open(pickled, "rb") as fh:
            try:
                python_model = load_pickle(fh)
            except (pickle.UnpicklingError, EOFError) as exc:
                raise SerializationError(
                    f"{pickled} is not a readable pickle ({type(exc).__name__}: {exc}); the "
                    "file is truncated or is not what python_function 'python_model' says. "
                    "Restore it, or save the model again."
                ) from exc
    context = PythonModelContext(artifacts, model_config or conf.get("config"))
    python_model.load_context(context)
    return _PythonModelWrapper(python_model, context)


__all__ = [
    "ARTIFACTS_DIR",
    "PYTHON_MODEL_FILE",
    "CodePythonModel",
    "PythonModel",
    "PythonModelContext",
    "model_code_file",
]
