"""Checks a save runs before anything is written.

A save that fails half-way leaves nothing (the folder is staged), but a save that
*succeeds* with a bad argument leaves an ``MLmodel`` nobody can load back: a relative
loader module, a configuration that is not a mapping, a signature that is not a schema.
So every argument that ends up in ``MLmodel`` or an environment file is checked here,
first, and refused with an :class:`~pyfunc_ops.errors.InvalidParameterError` (or
:class:`~pyfunc_ops.errors.SerializationError`) that names it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from pyfunc_ops.errors import InvalidParameterError, SerializationError
from pyfunc_ops.models.mlmodel import is_module_name

#: python_function keys a save writes itself; a flavor keyword argument may not set them.
RESERVED_PYFUNC_KEYS = frozenset(
    {
        "loader_module",
        "code",
        "data",
        "env",
        "python_version",
        "python_model",
        "model_code_path",
        "artifacts",
        "cloudpickle_version",
        "streamable",
    }
)


def check_loader_module(name: object, where: str = "save_model") -> str:
    """``name`` if it is an absolute dotted module name, else :class:`InvalidParameterError`."""
    if not is_module_name(name):
        raise InvalidParameterError(
            f"{where}: loader_module must be a dotted module name, got {name!r}: an absolute "
            "name of letters, digits and '_' separated by '.', e.g. 'my_pkg.loader' (never "
            "relative like '.x' or a path like '../x'). Ship the module with code_path=[...] "
            "and name it by its module name."
        )
    assert isinstance(name, str)
    return name


def check_flavor_kwargs(kwargs: Iterable[str], where: str = "save_model") -> None:
    """Refuse extra keyword arguments that would overwrite what the save itself writes."""
    clash = sorted(set(kwargs) & RESERVED_PYFUNC_KEYS)
    if clash:
        raise InvalidParameterError(
            f"{where}: the keyword argument(s) {clash} would overwrite python_function keys "
            "the save writes itself. Use the matching parameter (loader_module=, code_path=, "
            "data_path=, conda_env=, python_model=, artifacts=) or another key name."
        )


def check_model_config(config: object, where: str = "save_model") -> None:
    """A flavor ``config`` must be a mapping with string keys (what a load reads back)."""
    if config is not None and not (
        isinstance(config, dict) and all(isinstance(k, str) for k in config)
    ):
        raise InvalidParameterError(
            f"{where}: config must be a mapping with string keys, found "
            f"{type(config).__name__} {str(config)[:80]!r}. Pass e.g. {{'temperature': 0.2}}."
        )


def check_destination(path: str | os.PathLike[str], where: str = "save_model") -> None:
    """Refuse a destination below something that is not a folder (a file on the way)."""
    target = Path(os.path.abspath(os.fspath(path)))
    for ancestor in target.parents:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise InvalidParameterError(
                    f"{where}: cannot save to {str(target)!r}: {str(ancestor)!r} on the way "
                    "is a file, not a folder. Choose another destination or move that file."
                )
            return


def check_yaml_value(value: Any, name: str, where: str = "save_model") -> None:
    """Refuse a value that must be written as YAML but cannot be (before anything is)."""
    if value is None or isinstance(value, (str, os.PathLike)):
        return  # a file name: read and checked where it is used
    try:
        yaml.safe_dump(value)
    except yaml.YAMLError as exc:
        raise SerializationError(
            f"{where}: {name} cannot be written as YAML ({str(exc).splitlines()[0]}); use "
            "plain strings, numbers, booleans and lists or dicts of them."
        ) from None


def check_signature(signature: Any, where: str = "save_model") -> Any:
    """The signature to record: a ``ModelSignature`` (or its dict form) that reads back.

    Returns a :class:`~pyfunc_ops.models.signature.ModelSignature`; anything else, or one
    whose written form would not load, is :class:`InvalidParameterError`.
    """
    if signature is None:
        return None
    from pyfunc_ops.errors import PyfuncOpsError
    from pyfunc_ops.models.signature import ModelSignature

    try:
        if isinstance(signature, ModelSignature):
            ModelSignature.from_dict(signature.to_dict(), source="signature")
            return signature
        if isinstance(signature, dict):
            return ModelSignature.from_dict(dict(signature), source="signature")
    except (PyfuncOpsError, ValueError, TypeError, KeyError) as exc:
        raise InvalidParameterError(
            f"{where}: the signature is not a valid schema ({exc}). Build one with "
            "infer_signature(...) or ModelSignature(inputs=Schema([...]))."
        ) from None
    raise InvalidParameterError(
        f"{where}: signature must be a ModelSignature (e.g. from infer_signature(...)) or "
        f"its dict form, found {type(signature).__name__}."
    )


def check_metadata(metadata: object) -> None:
    """MLflow's ``metadata=``: ``None`` or a dict of YAML values (checked before any work)."""
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise InvalidParameterError(
            f"metadata must be a dict of YAML-serializable values, got {type(metadata).__name__}."
        )
    check_yaml_value(metadata, "metadata")
