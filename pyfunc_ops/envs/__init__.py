"""Restoring a model's own environment and scoring in it."""

from __future__ import annotations

from pyfunc_ops.errors import InvalidParameterError

ENV_MANAGERS = {"local": "local", "virtualenv": "virtualenv", "uv": "virtualenv", "conda": "conda"}


def check_env_manager(env_manager: str) -> str:
    """Normalise an ``env_manager`` value (``uv`` is a spelling of ``virtualenv``)."""
    try:
        return ENV_MANAGERS[env_manager]
    except (KeyError, TypeError):
        raise InvalidParameterError(
            f"env_manager {env_manager!r} is not supported; use one of "
            f"{sorted(ENV_MANAGERS)} ('local' scores in this interpreter)."
        ) from None
