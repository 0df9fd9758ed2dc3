"""Configuration read from the environment, with the embedded defaults.

Everything lives under one local store folder unless told otherwise, so a fresh machine
works without any set-up: ``PYFUNC_OPS_HOME`` (default ``~/.pyfunc_ops``) holds the SQLite
registry, the artifact root, the download cache and restored environments.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The local store folder (``PYFUNC_OPS_HOME``, default ``~/.pyfunc_ops``)."""
    return Path(os.environ.get("PYFUNC_OPS_HOME") or Path.home() / ".pyfunc_ops").absolute()


def tracking_uri() -> str:
    """SQLAlchemy URL of the tracking store (``PYFUNC_OPS_TRACKING_URI``)."""
    return os.environ.get("PYFUNC_OPS_TRACKING_URI") or f"sqlite:///{home() / 'tracking.db'}"


def artifact_root() -> str:
    """fsspec URL under which runs store artifacts (``PYFUNC_OPS_ARTIFACT_ROOT``)."""
    return os.environ.get("PYFUNC_OPS_ARTIFACT_ROOT") or str(home() / "artifacts")


def cache_dir() -> Path:
    """Folder of the content-addressed download cache (``PYFUNC_OPS_CACHE_DIR``)."""
    value = os.environ.get("PYFUNC_OPS_CACHE_DIR")
    return Path(value).absolute() if value else home() / "cache"


def env_dir() -> Path:
    """Folder of restored model environments (``PYFUNC_OPS_ENV_DIR``)."""
    value = os.environ.get("PYFUNC_OPS_ENV_DIR")
    return Path(value).absolute() if value else home() / "envs"
