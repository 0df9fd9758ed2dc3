"""Fixtures for the storage tests: sample model trees and clean global fsspec state.

fsspec's memory filesystem, fsspec's instance cache and the cache counters are
process-wide, so each test gets them back as it found them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fsspec.implementations.memory import MemoryFileSystem

from pyfunc_ops.storage import cache


def make_model_tree(root: Path, n_extra: int = 20) -> dict[str, bytes]:
    """Write a model-like folder under ``root``; return {relative path: content}."""
    files: dict[str, bytes] = {
        "MLmodel": b"flavors:\n  python_function:\n    loader_module: mymod\n",
        "conda.yaml": b"name: env\ndependencies: [python=3.11]\n",
        "requirements.txt": b"scikit-learn\n",
        "data/model.pkl": bytes(range(256)) * 40,
        "code/mymod.py": b"def _load_pyfunc(path):\n    return None\n",
        "nested/a/b/deep.txt": b"deep",
        "empty.bin": b"",
    }
    for i in range(n_extra):
        files[f"artifacts/part-{i:03d}.txt"] = f"part {i}\n".encode() * (i + 1)
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return files


def read_tree(root: Path) -> dict[str, bytes]:
    """{relative posix path: content} of every file under ``root``."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    make_model_tree(folder)
    return folder


@pytest.fixture(autouse=True)
def clean_storage_state() -> Iterator[None]:
    """Reset the cache counters around every test."""
    cache.stats.reset()
    yield
    cache.stats.reset()


@pytest.fixture
def memory_url() -> Iterator[str]:
    """A fresh ``memory://`` prefix, removed from the process-wide store afterwards."""
    prefix = f"/test-{uuid.uuid4().hex[:12]}"
    yield f"memory://{prefix}"
    for store in (MemoryFileSystem.store,):
        for key in [k for k in store if k.startswith(prefix)]:
            del store[key]
    MemoryFileSystem.pseudo_dirs[:] = [
        d for d in MemoryFileSystem.pseudo_dirs if not d.startswith(prefix)
    ]
