"""What every flavor module (``pyfunc_ops.xgboost``, ``pyfunc_ops.onnx``, ...) shares.

A flavor module validates its arguments and writes or reads its framework's files; the
rest lives here once: running the save pipeline with the arguments every ``save_model``
takes (:func:`saves_model`), opening a model for ``load_model`` (resolve the URI, decide
trust, check the folder, find the flavor section), finding the model folder and file from
the path the format hands ``_load_pyfunc``, checking a class name an MLmodel records,
reading a pickle only when trusted, and adding the two MLmodel sections with MLflow's
loader name.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import pickle
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec

from pyfunc_ops.config import with_settings
from pyfunc_ops.core.paths import confine
from pyfunc_ops.errors import (
    InvalidParameterError,
    LoaderError,
    ModelFormatError,
    PyfuncOpsError,
    SerializationError,
)
from pyfunc_ops.models import env as env_files
from pyfunc_ops.models.flavors import FLAVORS, framework_version
from pyfunc_ops.models.mlmodel import MLMODEL_FILE_NAME, PYFUNC_FLAVOR, Model
from pyfunc_ops.pyfunc.trust import TRUSTED_LOCAL, TrustDecision

if TYPE_CHECKING:
    from pyfunc_ops.pyfunc.save import StagedModel

P = ParamSpec("P")
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")


@dataclass(frozen=True)
class OpenedFlavor:
    """A model folder opened for one flavor: its MLmodel, the flavor's section, the trust."""

    path: Path
    model: Model
    conf: dict[str, Any]
    pyfunc_conf: dict[str, Any]
    trust: TrustDecision
    flavor: str

    def data_file(self, default: str | None = None) -> Path:
        """The model file the flavor section's ``data`` names. With ``default`` (the
        flavor's own file name), that file when the section records no ``data``; without,
        python_function's ``data`` (older MLmodels)."""
        key = f"{self.flavor}.data"
        if default is not None:
            return self.file(self.conf.get("data", default), key)
        if self.conf.get("data") is not None:
            return self.file(self.conf["data"], key)
        return self.file(self.pyfunc_conf.get("data"), f"{PYFUNC_FLAVOR}.data")

    def given_file(self, path: str | os.PathLike[str], default: str) -> Path:
        """For ``_load_pyfunc(path)``: ``path`` itself when it is the file (python_function's
        ``data``), else the file the flavor section names (see :meth:`data_file`)."""
        target = Path(path)
        return self.data_file(default) if target.is_dir() else target

    def file(self, relative: object, key: str) -> Path:
        """``relative`` (an MLmodel value under ``key``) inside the folder, which must exist."""
        if not isinstance(relative, str) or not relative:
            raise ModelFormatError(
                f"{self.path / MLMODEL_FILE_NAME}: {key} must name a file of the model, found "
                f"{relative!r}. Save the model again."
            )
        target = confine(self.path, relative, key=key)
        if not target.exists():
            raise ModelFormatError(
                f"{self.path / MLMODEL_FILE_NAME}: {key} names {relative!r}, but {target} does "
                "not exist. Restore the file, or save the model again."
            )
        return target


@with_settings
def open_for_load(
    model_uri: str | os.PathLike[str], flavor: str, trust_remote_code: bool | None = None
) -> OpenedFlavor:
    """For a flavor's ``load_model(model_uri)``: resolve, decide trust, check the folder."""
    from pyfunc_ops.pyfunc.confinement import check_model_folder
    from pyfunc_ops.pyfunc.localize import resolve_model
    from pyfunc_ops.pyfunc.trust import check_trust_parameter, decide_for

    check_trust_parameter(trust_remote_code)
    resolved = resolve_model(model_uri)
    trust = decide_for(resolved, trust_remote_code, str(model_uri))
    model = Model.load(resolved.path)
    conf = model.flavors.get(flavor)
    if not isinstance(conf, dict):
        raise InvalidParameterError(
            f"Model at {str(model_uri)!r} has no {flavor!r} flavor (it has "
            f"{sorted(model.flavors)}); load it with pyfunc_ops.pyfunc.load_model instead."
        )
    check_model_folder(resolved.path, model, walked=resolved.verified)
    pyfunc_conf = model.flavors.get(PYFUNC_FLAVOR) or {}
    return OpenedFlavor(resolved.path, model, conf, pyfunc_conf, trust, flavor)


@with_settings
def open_for_pyfunc(path: str | os.PathLike[str], flavor: str) -> OpenedFlavor:
    """For ``_load_pyfunc(path)``: the format hands over the model folder or the path its
    ``data`` key names (a file or a folder inside the model); find the model folder."""
    from pyfunc_ops.pyfunc.load import load_trust, model_metadata

    target = Path(path).absolute()
    folder = next((p for p in (target, *target.parents) if (p / MLMODEL_FILE_NAME).is_file()), None)
    if folder is None:
        raise ModelFormatError(
            f"{target}: no {MLMODEL_FILE_NAME} file in it or above it; the {flavor} loader "
            "needs the model folder (as saved by save_model)."
        )
    model = model_metadata(folder)
    conf = model.flavors.get(flavor)
    if not isinstance(conf, dict):
        raise ModelFormatError(
            f"{folder / MLMODEL_FILE_NAME}: no {flavor!r} flavor section; the model was not "
            f"saved by the {flavor} flavor. Load it with the loader it names."
        )
    pyfunc_conf = model.flavors.get(PYFUNC_FLAVOR) or {}
    return OpenedFlavor(folder, model, conf, pyfunc_conf, load_trust(folder), flavor)


def recorded_class(
    value: object, allowed: Sequence[str], where: Path, key: str, base: type | None = None
) -> type:
    """The class an MLmodel records (``model_class``, ...), imported only when its module is
    one of the framework's (``allowed`` prefixes) and, with ``base``, a subclass of it.

    Whatever the trust: a recorded name decides what gets imported and built, so an MLmodel
    naming ``os.system`` or a class of another package is refused before any import.
    """
    shown = f"{where / MLMODEL_FILE_NAME}: {key}"
    if not isinstance(value, str) or not _DOTTED.match(value):
        raise ModelFormatError(f"{shown} must be a dotted class name, found {value!r}.")
    module, _, name = value.rpartition(".")
    if not any(module == p or module.startswith(p + ".") for p in allowed):
        raise ModelFormatError(
            f"{shown} is {value!r}, which is not a class of {', '.join(allowed)}; refusing to "
            "import it. Save the model again with the flavor's own save_model."
        )
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ModelFormatError(
            f"{shown} is {value!r}, which cannot be imported here ({exc}). Install the "
            "framework version the model was saved with."
        ) from exc
    if not isinstance(cls, type) or (base is not None and not issubclass(cls, base)):
        expected = f"a subclass of {base.__module__}.{base.__qualname__}" if base else "a class"
        raise ModelFormatError(f"{shown} is {value!r}, which is not {expected}.")
    return cls


def read_pickle(path: Path, trust: TrustDecision, what: str) -> Any:
    """Unpickle ``path`` only when the load may run code (``what`` names the object)."""
    trust.require(f"its {what} is a pickle file ({path.name}), and unpickling runs code")
    return unpickle_file(path, what)


def unpickle_file(path: Path, what: str) -> Any:
    """Unpickle ``path`` (the caller decided trust); a damaged or truncated file is a
    :class:`SerializationError` naming it."""
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh)
    except (pickle.UnpicklingError, EOFError, ValueError, IndexError) as exc:
        raise SerializationError(
            f"{path}: not a readable pickle of the {what} ({type(exc).__name__}: {exc}). "
            "Restore the file, or save the model again."
        ) from exc


def skops_load(path: Path, trusted: Sequence[str], what: str) -> Any:
    """Load a skops file allowing ``trusted`` beyond skops' safe types. A file skops cannot
    read (not a zip, truncated, a damaged schema) is a :class:`SerializationError` naming it;
    a type outside the allowed ones says how to allow it."""
    skops_io = import_skops_io()
    try:
        return skops_io.load(path, trusted=list(trusted) or None)
    except skops_io.exceptions.UntrustedTypesFoundException as exc:
        raise SerializationError(
            f"{path}: refusing to load types not recorded as trusted by the caller "
            f"({exc}). If loading them is safe, pass them as skops_trusted_types=[...] "
            "when loading; an untrusted model file cannot widen what skops builds."
        ) from None
    except PyfuncOpsError:
        raise
    except Exception as exc:  # a damaged zip or schema: skops raises many types
        raise SerializationError(
            f"{path}: not a readable skops file of the {what} ({type(exc).__name__}: "
            f"{exc}). Restore the file, or save the model again."
        ) from exc


def import_skops_io(needed_by: str = "a model saved with skops") -> Any:
    """``skops.io``, imported with Airflow's deprecation shims kept quiet; a missing skops
    raises a :class:`LoaderError` naming what to install.

    At import, skops looks through every module already loaded. Inside an Airflow 3 task
    that touches each of Airflow's deprecated-import shims, and each one warns (an
    ``airflow.utils.deprecation_tools.DeprecatedImportWarning``, a ``FutureWarning``):
    about 1,160 warnings per task log, and seconds of import time. Only that one import
    ignores only ``FutureWarning``; everything later warns as usual.

    scikit-learn is imported first: imported the other way round (skops pulling in
    scikit-learn and SciPy while it sets itself up) the same modules took about 0.5 s more
    (tens of thousands of extra mmap/munmap calls), a fifth of a cold skops load.
    """
    if sys.modules.get("skops.io") is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            try:
                import sklearn  # noqa: F401
                import skops.io  # noqa: F401
            except ImportError as exc:
                raise LoaderError(
                    f"{needed_by} needs the Python packages 'scikit-learn' and 'skops' "
                    f"({exc}). Install them: pip install scikit-learn skops"
                ) from exc
    return sys.modules["skops.io"]


def skops_types(
    conf: dict[str, Any],
    caller: Sequence[str],
    trust: TrustDecision,
    builtin: Iterable[str] = (),
) -> list[str]:
    """The types skops may build: the flavor's ``builtin`` ones, the caller's, and the
    ``skops_trusted_types`` the flavor section records when the source is trusted (a local
    path, a registry version matching its digest: such a source may run a pickle anyway).
    From an untrusted source the model file cannot widen what skops builds."""
    recorded = conf.get("skops_trusted_types") or []
    types = {*builtin, *caller}
    if trust.trusted and isinstance(recorded, list):
        types.update(t for t in recorded if isinstance(t, str))
    return sorted(types)


def flavor_requirements(flavor: str, *extra: str) -> list[str]:
    """A flavor's default pip requirements: cloudpickle, the pinned framework, ``extra``."""
    spec = FLAVORS[flavor]
    packages = [spec.distribution, *spec.install.split()[1:], *extra]
    return [*env_files.default_pip_requirements(), *(env_files.pinned(p) for p in packages)]


def add_sections(
    staged: Any,
    flavor: str,
    pyfunc_data: str | None,
    pyfunc_keys: dict[str, Any] | None = None,
    **flavor_keys: Any,
) -> None:
    """Add python_function (MLflow's loader name for ``flavor``, ``pyfunc_data`` its
    ``data``) and the flavor section (``flavor_keys``, which may hold a ``data`` key of its
    own) to the staged model. ``None`` values are left out of the flavor section."""
    from pyfunc_ops.pyfunc.save import add_to_model

    spec = FLAVORS[flavor]
    add_to_model(
        staged.model,
        loader_module=spec.mlflow_loader,
        data=pyfunc_data,
        code=staged.code,
        env=staged.env,
        **(pyfunc_keys or {}),
    )
    keys = {k: v for k, v in flavor_keys.items() if v is not None}
    staged.model.add_flavor(flavor, **keys, code=staged.code)


def framework_version_of(flavor: str) -> str | None:
    """The installed version of ``flavor``'s framework (recorded in its section)."""
    return framework_version(FLAVORS[flavor])


# --------------------------------------------------------------------------- saving

#: In :class:`FlavorFiles`: record what the caller passed (the signature, the example).
AS_GIVEN: Any = object()


@dataclass(frozen=True)
class FlavorFiles:
    """What a flavor's checks hand the save pipeline (see :func:`saves_model`): ``write``
    writes the flavor's files and MLmodel sections into the staged folder, with
    ``default_requirements``; ``signature`` and ``input_example`` replace the caller's
    where the flavor settled them itself (inferred, or left out as MLflow does);
    ``infer_signature=False`` records no signature inferred from the input example (the
    flavors whose MLflow counterpart infers none)."""

    write: Callable[[StagedModel], None]
    default_requirements: list[str]
    signature: Any = AS_GIVEN
    input_example: Any = AS_GIVEN
    infer_signature: bool = True


def saves_model(check: Callable[P, FlavorFiles]) -> Callable[P, Model]:
    """A flavor's ``save_model`` from ``check``, a function with the flavor's public
    (MLflow) parameters that validates them and returns its :class:`FlavorFiles`.

    The arguments every ``save_model`` takes (``path``, ``mlflow_model``, ``code_paths``,
    ``signature``, ``input_example``, ``conda_env``, ``pip_requirements``,
    ``extra_pip_requirements`` and, where the flavor has it, ``metadata``) then go to
    ``pyfunc.save.write_model``, the save pipeline every flavor shares: the flavor keeps
    only its own steps. ``metadata`` is checked before ``check`` runs, so a bad value
    fails before a flavor's own work (an export, a serialization) starts.
    """
    parameters = inspect.signature(check)

    @functools.wraps(check)
    @with_settings
    def save_model(*args: P.args, **kwargs: P.kwargs) -> Model:
        from pyfunc_ops.pyfunc.save import write_model
        from pyfunc_ops.pyfunc.validate import check_metadata

        bound = parameters.bind(*args, **kwargs)
        bound.apply_defaults()
        given = bound.arguments
        check_metadata(given.get("metadata"))
        files = check(*args, **kwargs)
        signature = given["signature"] if files.signature is AS_GIVEN else files.signature
        example = given["input_example"]
        return write_model(
            given["path"],
            files.write,
            given["mlflow_model"],
            given["code_paths"],
            signature,
            example if files.input_example is AS_GIVEN else files.input_example,
            given["conda_env"],
            given["pip_requirements"],
            given["extra_pip_requirements"],
            files.default_requirements,
            metadata=given.get("metadata"),
            infer_signature=files.infer_signature,
        )

    # help() and inspect show the flavor's parameters and what the caller gets back.
    save_model.__signature__ = parameters.replace(return_annotation="Model")  # type: ignore[attr-defined]
    return save_model


def check_save_options(
    flavor: str, options: dict[str, Any], known: Sequence[str], taker: str
) -> None:
    """Refuse keyword options ``taker`` (the framework's save function) does not take."""
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise InvalidParameterError(
            f"{flavor} save_model: unknown options {unknown}; the options {taker} takes are "
            f"{list(known)}."
        )


def check_flag(value: object, name: str) -> None:
    """Refuse a ``name`` argument that is not ``True`` or ``False``."""
    if not isinstance(value, bool):
        raise InvalidParameterError(f"{name} must be True or False, got {value!r}.")


def type_name(obj: object) -> str:
    """``module.QualifiedName`` of ``obj``'s class, as error messages and MLmodels name it."""
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


__all__ = [
    "AS_GIVEN",
    "TRUSTED_LOCAL",
    "FlavorFiles",
    "OpenedFlavor",
    "add_sections",
    "check_flag",
    "check_save_options",
    "flavor_requirements",
    "framework_version_of",
    "import_skops_io",
    "open_for_load",
    "open_for_pyfunc",
    "read_pickle",
    "recorded_class",
    "saves_model",
    "skops_load",
    "skops_types",
    "type_name",
    "unpickle_file",
]
