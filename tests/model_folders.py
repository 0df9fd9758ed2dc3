"""Test helpers for waiting on a model: a minimal complete model folder, and what a wait
returns for a URI that names no registered version (shared by tests/jobs and
tests/airflow)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyfunc_ops.models.mlmodel import MLMODEL_FILE_NAME, Model


def write_model(path: Path) -> Path:
    """A minimal complete pyfunc model folder: the MLmodel file written last."""
    model = Model()
    model.add_flavor("python_function", loader_module="pyfunc_ops.sklearn", python_version="3.11")
    path.mkdir(parents=True, exist_ok=True)
    (path / "model.pkl").write_bytes(b"weights")
    model.save(path)
    assert (path / MLMODEL_FILE_NAME).is_file()
    return path


def plain(uri: str) -> dict[str, Any]:
    """find_model's (and PyfuncModelSensor's) result for a URI that names no registered
    version."""
    return {
        "model_uri": uri,
        "requested_uri": uri,
        "location": uri,
        "name": None,
        "version": None,
        "digest": None,
    }
