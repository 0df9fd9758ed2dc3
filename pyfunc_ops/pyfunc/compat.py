"""Compatibility with models written by MLflow, without MLflow installed.

Two mappings make MLflow's models load here:

* loader module names: ``mlflow.<flavor>`` is served by the module the flavor registry
  (:mod:`pyfunc_ops.models.flavors`) names for it (``mlflow.xgboost`` by
  ``pyfunc_ops.xgboost``, ...) and ``mlflow.pyfunc.model`` by ``pyfunc_ops.pyfunc.model``;
  any other ``mlflow.*`` loader is imported for real when MLflow is installed, else a
  :class:`LoaderError` names what to install;
* while unpickling a custom model, MLflow's base classes (``PythonModel``,
  ``PythonModelContext``) and the per-instance state MLflow's base class attaches to every
  subclass (``_TypeHints``) resolve to ours. Only those names are mapped: any other MLflow
  object in a pickle fails with a :class:`LoaderError` naming it, never silently.

A custom model class may live in a module that itself runs ``from mlflow.pyfunc import
PythonModel`` (a ``code_paths`` module), and cloudpickle records the MLflow submodules a
pickled function touched. So during unpickling only, and only when MLflow is not
installed, ``mlflow`` and its submodules import as empty stand-ins that expose exactly the
mapped names; any other attribute raises an error naming it. The stand-ins are removed
from ``sys.modules`` afterwards so that later code never mistakes them for MLflow.

Models from code: :func:`run_model_code` executes the model's file with the same kind of
stand-ins (:data:`CODE_ALIASES`: ``mlflow.models.set_model`` is :func:`set_model`, and
``mlflow.pyfunc.PythonModel`` wraps a type-hinted ``predict`` as MLflow 3 does), only for
the duration of that run and never in place of an installed MLflow.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import pickle
import sys
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import IO, Any

from pyfunc_ops.errors import InvalidParameterError, LoaderError, PyfuncOpsError
from pyfunc_ops.models.flavors import FLAVORS, loader_target

# Re-exported: a pickle made by an earlier pyfunc_ops may name compat.TypeHints.
from pyfunc_ops.pyfunc.type_hints import PICKLE_NAMES
from pyfunc_ops.pyfunc.type_hints import TypeHints as TypeHints

_OURS = "pyfunc_ops.pyfunc.python_model"
_COMPAT = "pyfunc_ops.pyfunc.compat"
# (module, name) of MLflow base classes -> (module, name) of ours, used while unpickling.
CLASS_ALIASES: dict[tuple[str, str], tuple[str, str]] = {
    ("mlflow.pyfunc.model", "PythonModel"): (_OURS, "PythonModel"),
    ("mlflow.pyfunc", "PythonModel"): (_OURS, "PythonModel"),
    ("mlflow.pyfunc.model", "PythonModelContext"): (_OURS, "PythonModelContext"),
    ("mlflow.pyfunc", "PythonModelContext"): (_OURS, "PythonModelContext"),
    # MLflow 3's PythonModel stores the predict type hints of each instance in one of these.
    ("mlflow.models.signature", "_TypeHints"): (_COMPAT, "TypeHints"),
    # MLflow 3 wraps a type-hinted predict; the pickled wrapper calls these (type_hints.py).
    **PICKLE_NAMES,
}
_CODE = "pyfunc_ops.pyfunc.python_model"
# While a models-from-code file runs: set_model, and a PythonModel that wraps a
# type-hinted predict as MLflow's does.
CODE_ALIASES: dict[tuple[str, str], tuple[str, str]] = {
    **CLASS_ALIASES,
    ("mlflow.pyfunc", "PythonModel"): (_CODE, "CodePythonModel"),
    ("mlflow.pyfunc.model", "PythonModel"): (_CODE, "CodePythonModel"),
    ("mlflow.models", "set_model"): (_COMPAT, "set_model"),
    ("mlflow.models.model", "set_model"): (_COMPAT, "set_model"),
}


def _with_parents(names: set[str]) -> frozenset[str]:
    return frozenset(
        ".".join(n.split(".")[: i + 1]) for n in names for i in range(n.count(".") + 1)
    )


# The modules the stand-ins provide: those holding a mapped name and their parents, plus
# ``mlflow.pyfunc.utils``, which cloudpickle records (and never uses) for every
# PythonModel subclass MLflow 3 saved from ``__main__`` (its predict wrapper lives there).
_STAND_IN_MODULES = _with_parents(
    {m for m, _ in CODE_ALIASES} | {"mlflow.pyfunc.utils", "mlflow.pyfunc.utils.data_validation"}
)


def _is_mlflow(module: str) -> bool:
    return module == "mlflow" or module.startswith("mlflow.")


def import_loader(name: str) -> ModuleType:
    """Import a model's loader module, serving MLflow's names with ours where we can."""
    target = loader_target(name)
    try:
        module = importlib.import_module(target)
    except ImportError as exc:
        if isinstance(exc, LoaderError):
            raise  # a flavor module naming the framework to install
        if _is_mlflow(name):
            flavor = name.split(".")[1] if "." in name else name
            hint = (
                f"pyfunc_ops does not implement the MLflow flavor {flavor!r} (it implements "
                f"{sorted(FLAVORS)} and mlflow.pyfunc.model). Load it where MLflow and that "
                "flavor's library are installed."
            )
        else:
            hint = (
                f"Install the package that provides {name!r}, or save the model with "
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


# -- stand-ins for MLflow's modules while unpickling --------------------------------------
def _mapped_names(aliases: dict[tuple[str, str], tuple[str, str]] = CLASS_ALIASES) -> str:
    return ", ".join(sorted({f"{m}.{n}" for m, n in aliases}))


class _StandInModule(ModuleType):
    """An empty ``mlflow.*`` module exposing only the mapped names (and its stand-in
    submodules, so ``import mlflow; mlflow.models.set_model`` works); anything else errors."""

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        child = f"{self.__name__}.{attr}"
        if child in _STAND_IN_MODULES:
            return importlib.import_module(child)
        raise AttributeError(
            f"{self.__name__}.{attr} is part of MLflow, which is not installed; pyfunc_ops "
            f"stands in only for {_mapped_names()}. Install mlflow to load this model."
        )


class _StandInFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Last on ``sys.meta_path``: answers for ``mlflow*`` only when MLflow is not installed."""

    def __init__(self, aliases: dict[tuple[str, str], tuple[str, str]] = CLASS_ALIASES) -> None:
        self.aliases = aliases

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _STAND_IN_MODULES:
            return None
        if fullname != "mlflow" and not isinstance(sys.modules.get("mlflow"), _StandInModule):
            return None  # a submodule missing from a real MLflow install stays missing
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = _StandInModule(spec.name)
        module.__path__ = []
        for (mod, name), (our_mod, our_name) in self.aliases.items():
            if mod == spec.name:
                setattr(module, name, getattr(importlib.import_module(our_mod), our_name))
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module's content was set in ``create_module``."""


_STAND_IN_LOCK = threading.RLock()


@contextmanager
def _mlflow_stand_ins(
    aliases: dict[tuple[str, str], tuple[str, str]] = CLASS_ALIASES,
) -> Iterator[None]:
    """Let ``import mlflow.pyfunc`` succeed (with stand-ins) for the duration of the block."""
    finder = _StandInFinder(aliases)
    with _STAND_IN_LOCK:
        sys.meta_path.append(finder)
        try:
            yield
        finally:
            sys.meta_path.remove(finder)
            for name, module in list(sys.modules.items()):
                if isinstance(module, _StandInModule):
                    del sys.modules[name]


class _CompatUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        alias = CLASS_ALIASES.get((module, name))
        if alias is not None:
            module, name = alias
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError) as exc:
            if _is_mlflow(module):
                raise LoaderError(
                    f"The pickled model refers to {module}.{name}, an MLflow object that "
                    f"pyfunc_ops does not provide (it maps only {_mapped_names()}). Load this "
                    "model where mlflow is installed (pip install mlflow), or re-save it "
                    "without that dependency."
                ) from exc
            hint = (
                " The module imports MLflow, of which pyfunc_ops provides only "
                f"{_mapped_names()}; install mlflow, or import only those."
                if "mlflow" in str(exc)
                else " Save the model with code_path=[...] holding that module, or install "
                "the package that provides it."
            )
            raise LoaderError(
                f"The pickled model needs {module}.{name}, which cannot be loaded ({exc}).{hint}"
            ) from exc


def load_pickle(fh: IO[bytes]) -> Any:
    """Unpickle (cloudpickle-compatible), mapping MLflow's base classes to ours."""
    with _mlflow_stand_ins():
        try:
            return _CompatUnpickler(fh).load()
        except ModuleNotFoundError as exc:  # cloudpickle imports modules outside find_class
            if not _is_mlflow(exc.name or ""):
                raise LoaderError(
                    f"The pickled model needs the module {exc.name!r}, which is not installed "
                    f"({exc}). Install the package that provides it (e.g. pip install "
                    f"{(exc.name or '').split('.')[0]}), or save the model with code_path=[...] "
                    "holding that module."
                ) from exc
            raise LoaderError(
                f"The pickled model imports the MLflow module {exc.name!r}, which pyfunc_ops "
                f"does not provide (it maps only {_mapped_names()}). Load this model where "
                "mlflow is installed (pip install mlflow)."
            ) from exc


# -- writing pickles that name MLflow's classes -------------------------------------------
# Our class -> MLflow's (module, name): what a saved PythonModel pickle refers to, so that
# stock MLflow unpickles it with its own classes and we, through CLASS_ALIASES, with ours.
_WRITTEN_AS: tuple[tuple[str, str, str], ...] = (
    ("PythonModel", "mlflow.pyfunc.model", "PythonModel"),
    ("PythonModelContext", "mlflow.pyfunc.model", "PythonModelContext"),
)


class _ModuleRef:
    """A module to import at unpickling time (pickled as ``importlib.import_module(name)``)."""

    def __init__(self, name: str) -> None:
        self.name = name


def dump_pickle(obj: Any, fh: IO[bytes]) -> None:
    """cloudpickle ``obj`` with our base classes written as MLflow's.

    A class pickled by value (defined in ``__main__`` or registered by value) carries its
    bases; ours are written as ``getattr(importlib.import_module("mlflow.pyfunc.model"),
    "PythonModel")``: MLflow resolves that to its class, and :func:`load_pickle` to ours (the
    stand-in module serves it while unpickling, when MLflow is not installed).
    """
    import cloudpickle

    ours = importlib.import_module(_OURS)
    written = {getattr(ours, our): (module, name) for our, module, name in _WRITTEN_AS}

    class _Pickler(cloudpickle.Pickler):
        def reducer_override(self, value: Any) -> Any:
            if isinstance(value, type) and value in written:
                module, name = written[value]
                return getattr, (_ModuleRef(module), name)
            if isinstance(value, _ModuleRef):
                return importlib.import_module, (value.name,)
            return super().reducer_override(value)

    _Pickler(fh).dump(obj)


# -- models from code ---------------------------------------------------------------------
class _Registration:
    """Where :func:`set_model` puts the model while a models-from-code file runs."""

    def __init__(self) -> None:
        self.model: Any = None


_REGISTRATION: contextvars.ContextVar[_Registration | None] = contextvars.ContextVar(
    "pyfunc_ops_set_model", default=None
)
_LAST_SET: list[Any] = [None]  # set_model called outside a load (the file run as a script)


def set_model(model: Any) -> None:
    """Register the model a models-from-code file defines (``mlflow.models.set_model``).

    The file saved with ``save_model(path, python_model="model.py")`` ends with
    ``set_model(MyModel())``; loading the model runs the file and takes what it
    registered. ``model`` is a ``PythonModel`` instance or a callable
    ``predict(model_input)``.
    """
    if isinstance(model, str) or not (hasattr(model, "predict") or callable(model)):
        raise InvalidParameterError(
            f"set_model: expected a PythonModel instance or a callable predict function, got "
            f"{type(model).__name__} {model!r}."
        )
    slot = _REGISTRATION.get()
    if slot is not None:
        slot.model = model
    else:
        _LAST_SET[0] = model
    real = sys.modules.get("mlflow.models.model")
    if real is not None and not isinstance(real, _StandInModule):
        # Stock MLflow is running this file (our models name its loader, and a file may
        # import our set_model): hand it the model where its own set_model puts it.
        real.__mlflow_model__ = model  # type: ignore[attr-defined]


@contextlib.contextmanager
def registering() -> Iterator[_Registration]:
    """A fresh :func:`set_model` slot for the block (one models-from-code file run)."""
    slot = _Registration()
    token = _REGISTRATION.set(slot)
    try:
        yield slot
    finally:
        _REGISTRATION.reset(token)


def run_model_code(path: str | os.PathLike[str]) -> Any:
    """Execute a models-from-code file and return the model it registered with
    ``set_model`` (ours, or MLflow's ``mlflow.models.set_model`` served by a stand-in).

    While the file runs, and only when MLflow is not installed, ``mlflow``,
    ``mlflow.models`` and ``mlflow.pyfunc`` import as stand-ins that serve ``set_model``,
    ``PythonModel`` and ``PythonModelContext`` only. A real MLflow is never shadowed: the
    file then uses it, and the model it registered there is taken.
    """
    file = os.fspath(path)
    name = f"_pyfunc_ops_model_code_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise LoaderError(
            f"The model code file {file!r} cannot be imported as Python; it must be a .py file."
        )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # objects the file defines name it as their module
    before = _real_mlflow_model()
    with registering() as slot, _mlflow_stand_ins(CODE_ALIASES):
        try:
            spec.loader.exec_module(module)
        except PyfuncOpsError:
            raise
        except Exception as exc:
            hint = (
                f" pyfunc_ops stands in for {_mapped_names(CODE_ALIASES)} only; install "
                "mlflow for anything else."
                if "mlflow" in str(exc)
                else ""
            )
            raise LoaderError(
                f"Running the model code file {file!r} failed ({type(exc).__name__}: {exc})."
                f"{hint} Fix the file so that it runs and calls set_model(model)."
            ) from exc
    model = slot.model
    after = _real_mlflow_model()
    if model is None and after is not None and after is not before:
        model = after
    if model is None:
        raise LoaderError(
            f"The model code file {file!r} ran but registered no model. It must end with "
            "set_model(model) (from pyfunc_ops.pyfunc import set_model, or "
            "from mlflow.models import set_model)."
        )
    return model


def _real_mlflow_model() -> Any:
    """What a real, installed MLflow's ``set_model`` registered (``None`` without one)."""
    module = sys.modules.get("mlflow.models.model")
    if module is None or isinstance(module, _StandInModule):
        return None
    return getattr(module, "__mlflow_model__", None)
