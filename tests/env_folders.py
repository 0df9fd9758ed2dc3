"""A restored model environment as the environment builder leaves it (its interpreter, its
marker record and its last-use time), made without building one: for the tests of listing
and pruning environments."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pyfunc_ops import config
from pyfunc_ops.envs.builder import MARKER


def built_env(key: str, used: float, size: int = 2000) -> Path:
    folder = config.env_dir() / key
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "python").write_bytes(b"#" * size)
    record = {"key": key, "manager": "virtualenv", "python": "3.11.7", "requirements": ["a"]}
    (folder / MARKER).write_text(json.dumps({**record, "built_at": 1_700_000_000.0}))
    marker = config.env_dir() / f"{key}.used"
    marker.touch()
    os.utime(marker, (used, used))
    return folder
