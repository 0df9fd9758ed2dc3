"""``save_model`` and ``add_to_model``: write a pyfunc model folder (both workflows).

Every flavor saves through :func:`write_model`, the one save pipeline: a staged folder,
then ``code/``, then the metadata and environment files, then the flavor's own files and
MLmodel sections, then the MLmodel file, then the manifest (sha256 and size of every
other file, ``MLmodel`` included, see :mod:`pyfunc_ops.models.manifest`), then the folder
is published (renamed into place). A flavor module only validates its arguments and
writes its part.

The manifest covers ``MLmodel`` on purpose: the ``MLmodel`` decides what code runs (loader
module, ``python_model``, ``code``), so an edited ``MLmodel`` must fail verification like
any other file. Written inside the staged folder after ``MLmodel``, it is still complete
before anything is published.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyfunc_ops.config import with_settings
from pyfunc_ops.core.versions import python_version
from pyfunc_ops.errors import InvalidParameterError, SerializationError
from pyfunc_ops.models import env as env_files
from pyfunc_ops.models.flavors import PYTHON_MODEL_LOADER
from pyfunc_ops.models.manifest import write_manifest
from pyfunc_ops.models.mlmodel import PYFUNC_FLAVOR, Model
from pyfunc_ops.models.writer import copy_into, staged_directory
from pyfunc_ops.pyfunc.python_model import (
    ARTIFACTS_DIR,
    PYTHON_MODEL_FILE,
    PythonModel,
    PythonModelContext,
)
from pyfunc_ops.pyfunc.validate import (
    check_destination,
    check_flavor_kwargs,
    check_loader_module,
    check_metadata,
    check_model_config,
    check_signature,
    check_yaml_value,
)

CODE_DIR = "code"
# An artifact name becomes a folder name inside the model: one safe path component.
_ARTIFACT_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
DATA_DIR = "data"


def add_to_model(
    model: Model,
    loader_module: str,
    data: str | None = None,
    code: str | None = None,
    env: str | dict[str, str] | None = None,
    **kwargs: Any,
) -> Model:
    """Add the python_function flavor to ``model``; paths are relative to the model root."""
    check_loader_module(loader_module, "add_to_model")
    params: dict[str, Any] = {"loader_module": loader_module}
    if code is not None:
        params["code"] = code
    if data is not None:
        params["data"] = data
    if env is not None:
        params["env"] = env
    params.setdefault("python_version", python_version())
    params.update(kwargs)
    return model.add_flavor(PYFUNC_FLAVOR, **params)


def copy_code(code_path: list[str | os.PathLike[str]] | None, model_dir: Path) -> str | None:
    """Copy code files/folders under ``code/``; return the flavor's ``code`` value."""
    if not code_path:
        return None
    if isinstance(code_path, (str, os.PathLike)):
        raise InvalidParameterError(
            f"code_path must be a list of files or folders, got the single path {code_path!r}; "
            "wrap it in a list."
        )
    target = model_dir / CODE_DIR
    target.mkdir()
    for item in code_path:
        if not Path(item).exists():
            raise InvalidParameterError(f"code_path: {str(item)!r} does not exist.")
        copy_into(item, target)
    return CODE_DIR


@dataclass(frozen=True)
class StagedModel:
    """The model folder being written, as a flavor's writer sees it."""

    path: Path  # the staged folder (renamed into place when the save succeeds)
    model: Model  # the MLmodel being built; the writer adds its flavor sections
    code: str | None  # the flavors' ``code`` value (None: no code_path)
    env: dict[str, str]  # the python_function ``env`` mapping of the written env files


def write_model(
    path: str | os.PathLike[str],
    write_flavor: Callable[[StagedModel], None],
    mlflow_model: Model | None = None,
    code_path: list[str | os.PathLike[str]] | None = None,
    signature: Any = None,
    input_example: Any = None,
    conda_env: Any = None,
    pip_requirements: Any = None,
    extra_pip_requirements: Any = None,
    default_requirements: list[str] | None = None,
    *,
    metadata: dict[str, Any] | None = None,
    infer_signature: bool = True,
) -> Model:
    """Save a model to the local folder ``path`` (refused if it exists, non-empty).

    The save pipeline every flavor shares: ``write_flavor`` writes the flavor's files into
    the staged folder and adds its sections (python_function included) to the model.
    ``metadata`` (MLflow's ``metadata=``: a dict of YAML values) goes into the MLmodel.
    Without a ``signature``, one is inferred from ``input_example`` unless
    ``infer_signature`` is false.
    Nothing appears at ``path`` unless every step succeeds.
    """
    from pyfunc_ops.models.example import save_input_example

    refuse_remote_destination(path)  # every flavor's save, not only pyfunc's
    # Checked before anything is written: a bad value must not become an unloadable MLmodel.
    check_destination(path)
    signature = check_signature(signature)
    check_yaml_value(conda_env, "conda_env")
    model = mlflow_model if mlflow_model is not None else Model()
    check_metadata(metadata)
    if metadata is not None:
        model.extra["metadata"] = dict(metadata)
    with staged_directory(path) as tmp:
        code = copy_code(code_path, tmp)
        if input_example is not None:
            info, frame = save_input_example(tmp, input_example)
            model.saved_input_example_info = info
            if signature is None and infer_signature:
                from pyfunc_ops.models.signature import infer_signature as infer

                signature = infer(frame)
        if signature is not None:
            model.signature = signature
        conda, reqs = env_files.resolve_requirements(
            conda_env, pip_requirements, extra_pip_requirements, default_requirements
        )
        env = env_files.write_env_files(tmp, conda, reqs)
        write_flavor(StagedModel(tmp, model, code, env))
        model.save(tmp)
        write_manifest(tmp)
    return model


def refuse_remote_destination(path: object) -> None:
    """Raise :class:`InvalidParameterError` when ``path`` is a remote URL, not a folder."""
    from pyfunc_ops.core.redact import redact
    from pyfunc_ops.core.uri import is_remote

    text = os.fspath(path) if isinstance(path, (str, os.PathLike)) else None
    if not isinstance(text, str):
        raise InvalidParameterError(
            f"save_model: path must be a local folder (str or path-like), got "
            f"{type(path).__name__} {path!r}."
        )
    if "\x00" in text:
        raise InvalidParameterError(f"save_model: path {text!r} contains a NUL character.")
    if is_remote(text, any_scheme=True):
        raise InvalidParameterError(
            f"save_model: {redact(text)!r} is a remote URL; save_model writes a local folder "
            "only. Use log_model(...) to publish a model to the artifact store "
            "(PYFUNC_OPS_ARTIFACT_ROOT, e.g. s3://...), or save to a local folder and upload it."
        )


@with_settings
def save_model(
    path: str | os.PathLike[str],
    loader_module: str | None = None,
    data_path: str | os.PathLike[str] | None = None,
    code_path: list[str | os.PathLike[str]] | None = None,
    conda_env: dict[str, Any] | str | None = None,
    mlflow_model: Model | None = None,
    python_model: PythonModel | str | os.PathLike[str] | None = None,
    artifacts: dict[str, str] | None = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: list[str] | str | None = None,
    extra_pip_requirements: list[str] | str | None = None,
    **flavor_kwargs: Any,
) -> Model:
    """Save a pyfunc model to the local folder ``path`` (refused if it exists, non-empty).

    Workflow 1: ``python_model`` (+ ``artifacts``). Workflow 2: ``loader_module`` (+
    ``data_path``). The two cannot be mixed; ``code_path`` works with both.

    ``python_model`` may be the path of a Python file instead of an instance (*models
    from code*, what MLflow 3 recommends over pickles): the file is run once now (it must
    call ``set_model(model)``), copied to the model's root and named by the flavor's
    ``model_code_path``; loading runs it again. ``model_config`` (a dict, or a YAML/JSON
    file) is saved as the flavor's ``config``, the keys a load may override.

    ``path`` is a local folder (a path or ``file://``). A remote URL (``s3://``,
    ``memory://``, any ``protocol://``) is refused with a pointer to ``log_model``, which
    publishes to the artifact store (staged locally, uploaded with ``MLmodel`` last):
    one way to publish, not two, and never a local folder named ``s3:``.
    """
    refuse_remote_destination(path)
    check_destination(path)
    check_flavor_kwargs(flavor_kwargs)
    if loader_module is not None:
        check_loader_module(loader_module)
    check_model_config(flavor_kwargs.get("config"))
    first = {
        k for k, v in (("python_model", python_model), ("artifacts", artifacts)) if v is not None
    }
    second = {
        k for k, v in (("loader_module", loader_module), ("data_path", data_path)) if v is not None
    }
    if first and second:
        raise InvalidParameterError(
            f"save_model: {sorted(first)} (workflow 1, a PythonModel) cannot be combined with "
            f"{sorted(second)} (workflow 2, a loader module). Use python_model=... with "
            "artifacts=..., or loader_module=... with data_path=..., not both."
        )
    if python_model is None and loader_module is None:
        raise InvalidParameterError(
            "save_model: give python_model=<PythonModel instance> (workflow 1) or "
            "loader_module='pkg.module' with data_path=... (workflow 2)."
        )
    code_file = _model_code_file(python_model)
    if python_model is not None and code_file is None and not isinstance(python_model, PythonModel):
        raise InvalidParameterError(
            f"save_model: python_model must be an instance of a PythonModel subclass, got "
            f"{type(python_model).__name__}, or the path of a models-from-code .py file. "
            "Subclass "
            "pyfunc_ops.pyfunc.PythonModel and pass an instance, or pass 'model.py'."
        )
    if "model_config" in flavor_kwargs:
        from pyfunc_ops.pyfunc.load import read_model_config

        config = read_model_config(flavor_kwargs.pop("model_config"))
        if config:
            flavor_kwargs["config"] = config

    if data_path is not None and not Path(data_path).exists():
        raise InvalidParameterError(f"save_model: data_path {str(data_path)!r} does not exist.")

    # What predict runs on when the signature comes from its type hints (MLflow's context).
    context = PythonModelContext(
        artifacts if isinstance(artifacts, dict) else {}, flavor_kwargs.get("config")
    )
    example = (input_example, context)

    def write_pyfunc(staged: StagedModel) -> None:
        params: dict[str, Any] = dict(flavor_kwargs)
        data = None
        if code_file is not None:
            _check_model_code(
                copy_into(code_file, staged.path),
                staged,
                lambda model: _sign_from_type_hints(staged.model, model, signature, *example),
            )
            params["model_code_path"] = code_file.name
            params.update(_save_artifacts(staged.path, artifacts or {}))
            module = PYTHON_MODEL_LOADER
        elif python_model is not None:
            assert isinstance(python_model, PythonModel)
            params.update(_save_python_model(staged.path, python_model, artifacts or {}))
            # After pickling: running predict on the example must not change the pickle.
            _sign_from_type_hints(staged.model, python_model, signature, *example)
            module = PYTHON_MODEL_LOADER
        else:
            assert loader_module is not None
            module = loader_module
            if data_path is not None:
                (staged.path / DATA_DIR).mkdir()
                data = str(copy_into(data_path, staged.path / DATA_DIR).relative_to(staged.path))
        add_to_model(
            staged.model,
            loader_module=module,
            data=data,
            code=staged.code,
            env=staged.env,
            **params,
        )

    return write_model(
        path,
        write_pyfunc,
        mlflow_model,
        code_path,
        signature,
        input_example,
        conda_env,
        pip_requirements,
        extra_pip_requirements,
    )


def _model_code_file(python_model: object) -> Path | None:
    """The models-from-code file ``python_model`` names, or ``None`` for an instance."""
    if not isinstance(python_model, (str, os.PathLike)):
        return None
    file = Path(python_model)
    if file.suffix != ".py" or not file.is_file():
        raise InvalidParameterError(
            f"save_model: python_model {str(python_model)!r} is not an existing .py file. "
            "Pass the path of the Python file that defines the model and calls "
            "set_model(model), or a PythonModel instance."
        )
    return file


def _check_model_code(file: Path, staged: StagedModel, use: Callable[[Any], None]) -> None:
    """Run the file once, as MLflow does when saving: it must register a model, which
    ``use`` then gets. It runs from the staged model, with the model's ``code/`` importable
    as at load time (also while ``use`` runs)."""
    import contextlib

    from pyfunc_ops.pyfunc.compat import run_model_code
    from pyfunc_ops.pyfunc.isolation import CodeScope
    from pyfunc_ops.pyfunc.load import code_roots

    roots = code_roots(staged.path, {"code": staged.code})
    scope = CodeScope(roots, str(file)) if roots else None
    with scope.loading() if scope is not None else contextlib.nullcontext():
        use(run_model_code(file))


def _sign_from_type_hints(
    model: Model, python_model: Any, signature: Any, input_example: Any, context: Any
) -> None:
    """Give ``model`` the signature ``predict``'s type hints imply, as MLflow 3 does when
    saving (its loader needs it for a ``list[dict[...]]`` hint). MLflow marks such a
    signature ``is_signature_from_type_hint``: the hint, not the signature, then checks
    the input (here too, see ``PyFuncModel``). Without such hints nothing changes: the
    given signature, or the one inferred from the input example, stays.

    A given ``signature`` that differs from the hints' is kept, with a warning (MLflow
    replaces it with the hints' and warns that it will refuse the mismatch)."""
    from pyfunc_ops.pyfunc.type_hints import signature_from_hints

    inferred = signature_from_hints(python_model, input_example, context)
    if inferred is None:
        return
    if signature is not None:
        given = signature.to_dict() if hasattr(signature, "to_dict") else signature
        if given != inferred.to_dict():
            warnings.warn(
                f"save_model: the given signature differs from the one predict's type hints "
                f"imply ({inferred.to_dict()}); the given signature is saved. MLflow would "
                "save the hints' signature instead: make them agree, or drop signature=.",
                stacklevel=4,
            )
            return
    model.signature = inferred
    model.extra["is_signature_from_type_hint"] = True
    model.extra["type_hint_from_example"] = False


def _save_python_model(
    model_dir: Path, python_model: PythonModel, artifacts: dict[str, str]
) -> dict[str, Any]:
    """Pickle the instance and copy its artifacts; return the flavor keys describing them."""
    import cloudpickle

    from pyfunc_ops.pyfunc.compat import dump_pickle

    try:
        with open(model_dir / PYTHON_MODEL_FILE, "wb") as fh:
            dump_pickle(python_model, fh)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise SerializationError(
            f"python_model {type(python_model).__name__} cannot be pickled with cloudpickle "
            f"({exc}). Keep only picklable values on the instance; create connections, locks "
            "and open files in load_context instead."
        ) from exc
    out: dict[str, Any] = {
        "python_model": PYTHON_MODEL_FILE,
        "cloudpickle_version": cloudpickle.__version__,
    }
    out.update(_save_artifacts(model_dir, artifacts))
    return out


def _save_artifacts(model_dir: Path, artifacts: dict[str, str]) -> dict[str, Any]:
    """Copy the artifacts into the model; return the flavor's ``artifacts`` key (if any)."""
    from pyfunc_ops.pyfunc.localize import artifact_name, resolve_uri
    from pyfunc_ops.storage.transfer import copy_artifact

    recorded: dict[str, dict[str, str]] = {}
    if artifacts:
        if not isinstance(artifacts, dict):
            raise InvalidParameterError(
                f"artifacts must be a dict of {{name: uri}}, got {type(artifacts).__name__}."
            )
        root = model_dir / ARTIFACTS_DIR
        root.mkdir()
        for name, uri in artifacts.items():
            if not isinstance(name, str) or not _ARTIFACT_NAME.match(name) or name in (".", ".."):
                raise InvalidParameterError(
                    f"artifacts: name {name!r} must be a single path component of letters, "
                    "digits, '_', '-' and '.', e.g. 'weights' or 'vocab.txt'."
                )
            # Name clashes are decided on the resolved location: models:/m/1 and
            # runs:/<id>/model both land as 'model' and must not be merged.
            location = resolve_uri(str(uri))
            slot = root / name if (root / artifact_name(location)).exists() else root
            slot.mkdir(exist_ok=True)
            copied = copy_artifact(location, slot / artifact_name(location))
            recorded[name] = {"path": copied.relative_to(model_dir).as_posix(), "uri": str(uri)}
    return {"artifacts": recorded} if recorded else {}
