"""Fixtures for restored environments: one environment cache and one model per session.

Building an environment takes seconds, so tests share ``PYFUNC_OPS_TEST_ENV_DIR`` (when
set) or a session folder; tests of building itself point ``PYFUNC_OPS_ENV_DIR`` at a
fresh folder of their own.
"""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

import pytest
from env_helpers import PINNED_SIX, save_version_model

from pyfunc_ops.pyfunc import PyFuncModel, load_model


@pytest.fixture(scope="session")
def session_env_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shared = os.environ.get("PYFUNC_OPS_TEST_ENV_DIR")
    return Path(shared) if shared else tmp_path_factory.mktemp("envs")


@pytest.fixture(autouse=True)
def shared_env_dir(session_env_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PYFUNC_OPS_ENV_DIR", str(session_env_dir))
    return session_env_dir


@pytest.fixture(scope="session")
def six_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model pinning six==1.16.0 (and our own, unpublished, pyfunc-ops)."""
    ours = importlib.metadata.version("pyfunc-ops")
    root = tmp_path_factory.mktemp("six-model")
    return save_version_model(root / "model", [f"pyfunc-ops=={ours}", f"six=={PINNED_SIX}"])


@pytest.fixture(scope="session")
def venv_model(six_model: Path, session_env_dir: Path) -> PyFuncModel:
    """six_model loaded with env_manager="virtualenv", kept for the session so its worker
    (seconds to start) is shared by the tests that only predict."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYFUNC_OPS_ENV_DIR", str(session_env_dir))
        return load_model(six_model, env_manager="virtualenv")
