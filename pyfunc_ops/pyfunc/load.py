"""``load_model``: any model URI to a ready ``PyFuncModel``."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyfunc_ops.core.callables import accepts_parameter
from pyfunc_ops.core.versions import SUBSTITUTED_PACKAGES, python_version
from pyfunc_ops.errors import ModelFormatError
from pyfunc_ops.models import env as env_files
from pyfunc_ops.models.model import MLMODEL_FILE_NAME, PYFUNC_FLAVOR, Model
from pyfunc_ops.pyfunc.compat import import_loader
from pyfunc_ops.pyfunc.pyfunc_model import PyFuncModel
from pyfunc_ops.pyfunc.resolve import local_model_path

if TYPE_CHECKING:
    from pyfunc_ops.core.uri import ModelURI

log = logging.getLogger(__name__)
#: The program a scoring worker runs in the model's environment (``python -m``); envs
#: starts it by this name and never imports it (see :mod:`pyfunc_ops.pyfunc.worker_main`).
WORKER_MODULE = "pyfunc_ops.pyfunc.worker_main"
# The folder and MLmodel of the model a load_local call is loading, for the loader modules
# it calls: the format hands them a path only, and they would otherwise read it again.
_LOADING: contextvars.ContextVar[tuple[str, Model] | None] = contextvars.ContextVar(
    "pyfunc_ops_loading", default=None
)


def _folder_key(path: str | os.PathLike[str]) -> str:
    return os.path.normpath(os.path.abspath(path))


@contextlib.contextmanager
def _loading(model_dir: Path, model: Model) -> Iterator[None]:
    token = _LOADING.set((_folder_key(model_dir), model))
    try:
        yield
    finally:
        _LOADING.reset(token)


def model_metadata(model_dir: str | os.PathLike[str]) -> Model:
    """The MLmodel of the model in ``model_dir``, for a loader module.

    While ``load_model`` is loading that model it is the ``Model`` it has already read
    (one read per load); otherwise (a loader called directly) it is read now.
    """
    current = _LOADING.get()
    if current is not None and current[0] == _folder_key(model_dir):
        return current[1]
    return Model.load(model_dir)


def add_code_to_sys_path(model_dir: Path, conf: dict[str, Any]) -> None:
    """Put the model's ``code`` folder (and its sub-folders, as the format's writers expect)
    at the front of ``sys.path`` so the loader module and its imports are found."""
    code = conf.get("code")
    if not code:
        return
    root = (model_dir / code).absolute()
    if not root.is_dir():
        raise ModelFormatError(
            f"{model_dir / MLMODEL_FILE_NAME}: python_function 'code' names the folder {code!r}, "
            f"but {str(root)!r} is not a folder. Restore it, or remove the 'code' key if the "
            "loader module is installed."
        )
    paths = [str(root)] + sorted(
        str(p) for p in root.iterdir() if p.is_dir() and p.name != "__pycache__"
    )
    for p in reversed(paths):
        if p not in sys.path:
            sys.path.insert(0, p)


def _warn_environment(model: Model, model_dir: Path) -> None:
    saved = model.python_version
    running = python_version(2)
    if saved and ".".join(saved.split(".")[:2]) != running:
        warnings.warn(
            f"The model was saved with Python {saved} and is loaded with Python "
            f"{sys.version.split()[0]}; it may not load or predict correctly. Use "
            "env_manager='virtualenv' to score it in its own environment.",
            UserWarning,
            stacklevel=3,
        )
    mismatches = env_files.version_mismatches(
        env_files.read_requirements(model_dir), ignore=SUBSTITUTED_PACKAGES
    )
    if mismatches:
        warnings.warn(
            f"Installed packages differ from the model's requirements.txt: "
            f"{', '.join(mismatches)}. Predictions may differ; install those versions or use "
            "env_manager='virtualenv'.",
            UserWarning,
            stacklevel=3,
        )


def _model_config(conf: dict[str, Any], override: Any) -> dict[str, Any] | None:
    """The saved ``config`` of the flavor with the load-time ``model_config`` keys on top.

    MLflow hands its loaders the same merge (and the saved config when nothing is
    overridden), so a loader module sees the same configuration under both tools.
    """
    merged = {**(conf.get("config") or {}), **(override or {})}
    return merged or None


def load_local(
    model_dir: Path,
    suppress_warnings: bool = True,
    model_config: Any = None,
    model: Model | None = None,
) -> PyFuncModel:
    """Load the model in the local folder ``model_dir`` into this interpreter.

    ``model`` is its MLmodel when the caller has read it already (it is not read again).
    """
    if model is None:
        model = Model.load(model_dir)
    conf = model.get_flavor(PYFUNC_FLAVOR)
    if not suppress_warnings:
        _warn_environment(model, model_dir)
    add_code_to_sys_path(model_dir, conf)
    loader = import_loader(conf["loader_module"])
    data_path = str(model_dir / conf["data"]) if conf.get("data") else str(model_dir)
    load = loader._load_pyfunc
    takes_config = accepts_parameter(load, "model_config")
    with _loading(model_dir, model):
        impl = (
            load(data_path, _model_config(conf, model_config)) if takes_config else load(data_path)
        )
    log.debug("Loaded model %s with %s", model_dir, conf["loader_module"])
    return PyFuncModel(model, impl, model_dir)


def load_model(
    model_uri: str | os.PathLike[str] | ModelURI,
    suppress_warnings: bool = True,
    env_manager: str = "local",
    model_config: dict[str, Any] | None = None,
) -> PyFuncModel:
    """Load a pyfunc model from any URI (path, ``file://``, fsspec URL, runs:/, models:/).

    ``env_manager="local"`` (the default) loads it into this interpreter; ``"virtualenv"``
    (or ``"uv"``) and ``"conda"`` restore the model's own environment and predict in a
    worker process there.

    One pass: the URI is parsed once and the MLmodel read once, and both are handed down
    (to the registry lookup, the environment builder, the loader module).
    """
    from pyfunc_ops.envs import check_env_manager

    manager = check_env_manager(env_manager)
    model_dir = local_model_path(model_uri)
    model = Model.load(model_dir)
    if manager != "local":
        from pyfunc_ops.envs.worker import load_in_environment

        remote = load_in_environment(model_dir, manager, WORKER_MODULE, model)
        return PyFuncModel(model, remote, remote.worker.model_dir)
    return load_local(model_dir, suppress_warnings, model_config, model)


def load_pyfunc(model_uri: str | os.PathLike[str], suppress_warnings: bool = False) -> PyFuncModel:
    """Deprecated alias of :func:`load_model` (kept for models and code of the 1.x era)."""
    warnings.warn(
        "pyfunc_ops.pyfunc.load_pyfunc is deprecated; use pyfunc_ops.pyfunc.load_model.",
        DeprecationWarning,
        stacklevel=2,
    )
    return load_model(model_uri, suppress_warnings=suppress_warnings)
