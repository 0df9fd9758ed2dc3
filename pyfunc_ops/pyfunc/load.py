"""``load_model``: any model URI to a ready ``PyFuncModel``."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyfunc_ops.config import with_settings
from pyfunc_ops.core.callables import accepts_parameter
from pyfunc_ops.core.paths import confine
from pyfunc_ops.core.versions import SUBSTITUTED_PACKAGES, python_version
from pyfunc_ops.core.yamltext import load_yaml
from pyfunc_ops.errors import InvalidParameterError, ModelFormatError
from pyfunc_ops.models import env as env_files
from pyfunc_ops.models.mlmodel import MLMODEL_FILE_NAME, PYFUNC_FLAVOR, Model
from pyfunc_ops.pyfunc.compat import import_loader
from pyfunc_ops.pyfunc.confinement import check_model_folder
from pyfunc_ops.pyfunc.isolation import CodeScope, isolate_predict
from pyfunc_ops.pyfunc.loaded_model import PyFuncModel
from pyfunc_ops.pyfunc.localize import resolve_model
from pyfunc_ops.pyfunc.trust import (
    TRUSTED_LOCAL,
    TrustDecision,
    check_trust_parameter,
    code_reason,
    decide_for,
)

if TYPE_CHECKING:
    from pyfunc_ops.core.uri import ModelURI

log = logging.getLogger(__name__)
#: The program a scoring worker runs in the model's environment (``python -m``); envs
#: starts it by this name and never imports it (see :mod:`pyfunc_ops.pyfunc.worker_main`).
WORKER_MODULE = "pyfunc_ops.pyfunc.worker_main"


@dataclass(frozen=True)
class LoadScope:
    """What a load_local call hands the loader modules it calls (the format hands them a
    path only): the MLmodel already read, the caller's trust decision and the extra skops
    types the caller (never the model file) trusts."""

    folder: str
    model: Model
    trust: TrustDecision
    skops_trusted_types: tuple[str, ...] = ()


_LOADING: contextvars.ContextVar[LoadScope | None] = contextvars.ContextVar(
    "pyfunc_ops_loading", default=None
)


def _folder_key(path: str | os.PathLike[str]) -> str:
    return os.path.normpath(os.path.abspath(path))


@contextlib.contextmanager
def _loading(
    model_dir: Path,
    model: Model,
    trust: TrustDecision = TRUSTED_LOCAL,
    skops_trusted_types: Sequence[str] = (),
) -> Iterator[None]:
    scope = LoadScope(_folder_key(model_dir), model, trust, tuple(skops_trusted_types))
    token = _LOADING.set(scope)
    try:
        yield
    finally:
        _LOADING.reset(token)


def _scope_for(model_dir: str | os.PathLike[str]) -> LoadScope | None:
    current = _LOADING.get()
    if current is not None and current.folder == _folder_key(model_dir):
        return current
    return None


def load_trust(model_dir: str | os.PathLike[str]) -> TrustDecision:
    """The trust decision of the load of ``model_dir`` in progress, for a loader module.

    A loader called directly on a folder (not through ``load_model``) was handed a local
    path: a trust root.
    """
    scope = _scope_for(model_dir)
    return scope.trust if scope is not None else TRUSTED_LOCAL


def caller_skops_types(model_dir: str | os.PathLike[str]) -> tuple[str, ...]:
    """The extra skops types the caller of the load in progress trusts (never the file's)."""
    scope = _scope_for(model_dir)
    return scope.skops_trusted_types if scope is not None else ()


def check_skops_types(value: object) -> tuple[str, ...]:
    """``skops_trusted_types`` as a tuple of type names; else an error naming it."""
    if value is None:
        return ()
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):  # type: ignore[attr-defined]
        raise InvalidParameterError(
            f"skops_trusted_types must be a list of fully qualified type names such as "
            f"['numpy.float64'], got {value!r}."
        )
    return tuple(value)  # type: ignore[arg-type]


def model_metadata(model_dir: str | os.PathLike[str]) -> Model:
    """The MLmodel of the model in ``model_dir``, for a loader module.

    While ``load_model`` is loading that model it is the ``Model`` it has already read
    (one read per load); otherwise (a loader called directly) it is read now.
    """
    scope = _scope_for(model_dir)
    return scope.model if scope is not None else Model.load(model_dir)


@contextlib.contextmanager
def _no_bytecode() -> Iterator[None]:
    """Import without writing ``__pycache__`` into the model folder.

    A verified model folder (in the cache or a registered local version) must stay as its
    manifest lists it: bytecode written while importing its ``code/`` would be an extra
    file at the next check and force a refetch (or an IntegrityError) on every load.
    """
    previous = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    try:
        yield
    finally:
        sys.dont_write_bytecode = previous


def code_roots(
    model_dir: Path, conf: dict[str, Any], trust: TrustDecision = TRUSTED_LOCAL
) -> list[str]:
    """The model's ``code`` folder and its sub-folders (the format's writers expect both
    importable), for the model's private :class:`~pyfunc_ops.pyfunc.isolation.CodeScope`.

    Only for a trusted model: its modules are imported (run) while it loads. They are
    never put on ``sys.path``, so they cannot shadow another model's modules or installed
    ones outside this model's load and predict calls.
    """
    code = conf.get("code")
    if not code:
        return []
    trust.require(f"its code folder {code!r} (python_function 'code') would be imported")
    root = confine(model_dir, code, key="python_function.code")
    if not root.is_dir():
        raise ModelFormatError(
            f"{model_dir / MLMODEL_FILE_NAME}: python_function 'code' names the folder {code!r}, "
            f"but {str(root)!r} is not a folder. Restore it, or remove the 'code' key if the "
            "loader module is installed."
        )
    return [str(root)] + sorted(
        str(p) for p in root.iterdir() if p.is_dir() and p.name != "__pycache__"
    )


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
        env_files.read_requirements(model_dir, missing_ok=True), ignore=SUBSTITUTED_PACKAGES
    )
    if mismatches:
        warnings.warn(
            f"Installed packages differ from the model's requirements.txt: "
            f"{', '.join(mismatches)}. Predictions may differ; install those versions or use "
            "env_manager='virtualenv'.",
            UserWarning,
            stacklevel=3,
        )


def read_model_config(value: Any) -> dict[str, Any] | None:
    """The load-time ``model_config`` as a dict: a dict as given, or the YAML/JSON file a
    path names (JSON is YAML). ``None`` or empty: nothing to override."""
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)):
        import yaml

        path = Path(value).expanduser().absolute()
        if not path.is_file():
            raise InvalidParameterError(
                f"model_config: {str(path)!r} is not a file. Pass a dict, or the path of an "
                "existing YAML or JSON file holding a mapping of config keys."
            )
        try:
            value = load_yaml(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise InvalidParameterError(
                f"model_config: {str(path)!r} is not valid YAML or JSON ({exc}). Fix the file "
                "or pass a dict."
            ) from exc
        if value is None:
            return None
        where = f"the file {str(path)!r}"
    else:
        where = "model_config"
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise InvalidParameterError(
            f"model_config: {where} must hold a mapping with string keys, found "
            f"{type(value).__name__} {value!r}. Pass e.g. {{'temperature': 0.2}}."
        )
    return value


def merged_model_config(conf: dict[str, Any], override: Any) -> dict[str, Any] | None:
    """The saved ``config`` of the flavor, with the load-time ``model_config`` applied as
    MLflow 3 applies it, so a loader module sees the same configuration under both tools.

    Only keys the saved config already has are overridden (the saved config declares what
    the model accepts); other keys are dropped with a warning, and with no saved config at
    all every override is dropped. Nothing overridden: the saved config as it is.
    """
    saved = conf.get("config") or None
    overrides = read_model_config(override)
    if not overrides:
        return saved
    if not saved:
        log.warning(
            "model_config keys %s were ignored: the model saved no 'config' in its "
            "python_function flavor, so it accepts none. Save it with config={...} (or "
            "model_config) naming the keys to override.",
            sorted(overrides),
        )
        return None
    ignored = sorted(set(overrides) - set(saved))
    if ignored:
        log.warning(
            "model_config keys %s were ignored: they are not keys of the model's saved "
            "config (which has %s). Save the model with those keys to allow them.",
            ignored,
            sorted(saved),
        )
    return {**saved, **{k: v for k, v in overrides.items() if k in saved}}


def _check_loader_location(module: Any, model_dir: Path, trust: TrustDecision) -> None:
    """An untrusted model's loader module must be installed, not a file of the model."""
    file = getattr(module, "__file__", None)
    if trust.trusted or not file:
        return
    if Path(file).resolve().is_relative_to(model_dir.resolve()):
        trust.require(f"its loader module {module.__name__!r} is a file of the model ({file})")


def load_local(
    model_dir: Path,
    suppress_warnings: bool = True,
    model_config: Any = None,
    model: Model | None = None,
    *,
    trust: TrustDecision = TRUSTED_LOCAL,
    skops_trusted_types: Sequence[str] = (),
) -> PyFuncModel:
    """Load the model in the local folder ``model_dir`` into this interpreter.

    ``model`` is its MLmodel when the caller has read it already (it is not read again).
    ``trust`` is the caller's decision (a folder handed over directly is a local path,
    trusted); the loader modules find it, with ``skops_trusted_types``, through
    :func:`load_trust` and :func:`caller_skops_types`.
    """
    if model is None:
        model = Model.load(model_dir)
    conf = model.get_flavor(PYFUNC_FLAVOR)
    if not suppress_warnings:
        _warn_environment(model, model_dir)
    config = merged_model_config(conf, model_config)
    roots = code_roots(model_dir, conf, trust)
    scope = CodeScope(roots, str(model_dir)) if roots else None
    with _no_bytecode(), scope.loading() if scope is not None else contextlib.nullcontext():
        loader = import_loader(conf["loader_module"])
        _check_loader_location(loader, model_dir, trust)
        data = conf.get("data")
        data_path = (
            str(confine(model_dir, data, key="python_function.data")) if data else str(model_dir)
        )
        load = loader._load_pyfunc
        takes_config = accepts_parameter(load, "model_config")
        with _loading(model_dir, model, trust, skops_trusted_types):
            impl = load(data_path, config) if takes_config and config else load(data_path)
    if scope is not None:
        impl = isolate_predict(impl, scope)
    log.debug("Loaded model %s with %s", model_dir, conf["loader_module"])
    return PyFuncModel(model, impl, model_dir)


def prepare_load(
    model_dir: Path, model: Model, trust: TrustDecision, *, walked: bool = False
) -> None:
    """The checks of every load, before anything is built, imported or shipped: every path
    stays inside the folder, and an untrusted model brings no code that would run.
    ``walked``: the folder was just verified (walked) against its manifest."""
    check_model_folder(model_dir, model, walked=walked)
    reason = code_reason(model.flavors)
    if reason is not None:
        trust.require(reason)


def load_decided(
    model_dir: Path,
    trust: TrustDecision,
    *,
    env_manager: str = "local",
    suppress_warnings: bool = True,
    model_config: Any = None,
    model: Model | None = None,
    skops_trusted_types: Sequence[str] = (),
    walked: bool = False,
) -> PyFuncModel:
    """Load the model in the local folder ``model_dir`` with a trust decision taken by the
    caller (``load_model``; a Spark worker obeying its driver). Never decides again.
    ``walked``: the folder was just verified against its manifest (see prepare_load)."""
    from pyfunc_ops.envs import check_env_manager

    manager = check_env_manager(env_manager)
    if model is None:
        model = Model.load(model_dir)
    prepare_load(model_dir, model, trust, walked=walked)
    if manager != "local":
        from pyfunc_ops.envs.worker import load_in_environment

        args = (trust.as_flag(), *skops_trusted_types)
        remote = load_in_environment(model_dir, manager, WORKER_MODULE, model, args)
        return PyFuncModel(model, remote, remote.worker.model_dir)
    return load_local(
        model_dir,
        suppress_warnings,
        model_config,
        model,
        trust=trust,
        skops_trusted_types=skops_trusted_types,
    )


@with_settings
def load_model(
    model_uri: str | os.PathLike[str] | ModelURI,
    suppress_warnings: bool = True,
    env_manager: str = "local",
    model_config: dict[str, Any] | str | os.PathLike[str] | None = None,
    *,
    trust_remote_code: bool | None = None,
    skops_trusted_types: Sequence[str] | None = None,
) -> PyFuncModel:
    """Load a pyfunc model from any URI (path, ``file://``, fsspec URL, runs:/, models:/).

    ``env_manager="local"`` (the default) loads it into this interpreter; ``"virtualenv"``
    (or ``"uv"``) and ``"conda"`` restore the model's own environment and predict in a
    worker process there (which obeys the trust decision taken here).

    Trust (docs/security.md): a local path, or a registry model whose files match its
    recorded digest, may run the code it brings (pickles, its ``code/`` folder). Any other
    remote model loads only when that runs no code of its own (skops, an installed loader
    module); else :class:`~pyfunc_ops.errors.UntrustedModelError`. ``trust_remote_code``
    ``True`` opts in, ``False`` refuses, ``None`` (default) uses the settings
    (``PYFUNC_OPS_TRUST_REMOTE_CODE``, the Airflow connection's extra). ``skops_trusted_types``
    are extra types skops may build; an untrusted model file cannot widen them (a trusted
    one's recorded list counts too, see :mod:`pyfunc_ops.sklearn`).

    One pass: the URI is parsed once and the MLmodel read once, and both are handed down
    (to the registry lookup, the environment builder, the loader module).
    """
    from pyfunc_ops.envs import check_env_manager

    check_env_manager(env_manager)
    check_trust_parameter(trust_remote_code)
    types = check_skops_types(skops_trusted_types)
    resolved = resolve_model(model_uri)
    trust = decide_for(resolved, trust_remote_code, str(model_uri))
    return load_decided(
        resolved.path,
        trust,
        env_manager=env_manager,
        suppress_warnings=suppress_warnings,
        model_config=model_config,
        skops_trusted_types=types,
        walked=resolved.verified,
    )


def load_pyfunc(model_uri: str | os.PathLike[str], suppress_warnings: bool = False) -> PyFuncModel:
    """Deprecated alias of :func:`load_model` (kept for models and code of the 1.x era)."""
    warnings.warn(
        "pyfunc_ops.pyfunc.load_pyfunc is deprecated; use pyfunc_ops.pyfunc.load_model.",
        DeprecationWarning,
        stacklevel=2,
    )
    return load_model(model_uri, suppress_warnings=suppress_warnings)
