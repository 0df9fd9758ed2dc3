"""Finding an installed Python interpreter of the version a model asks for.

Only interpreters already on the machine are used: the running one, pyenv's versions, and
what ``uv python list --only-installed`` reports (with downloads disabled). An environment
is never given an interpreter fetched from outside the package registry.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

from pyfunc_ops.core.versions import python_version
from pyfunc_ops.errors import ModelEnvironmentError

log = logging.getLogger(__name__)
_VERSION_RE = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


def _version_key(version: str) -> tuple[int, int, int]:
    m = _VERSION_RE.match(version)
    if not m:
        return (0, 0, 0)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))


def _pyenv_pythons() -> dict[str, Path]:
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    found: dict[str, Path] = {}
    if not root.is_dir():
        return found
    for entry in root.iterdir():
        exe = entry / "bin" / "python3"
        if re.fullmatch(r"\d+\.\d+\.\d+", entry.name) and exe.is_file():
            found[entry.name] = exe
    return found


def _uv_pythons(uv: list[str] | None) -> dict[str, Path]:
    if uv is None:
        return {}
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    try:
        out = subprocess.run(
            [*uv, "python", "list", "--only-installed", "--output-format", "json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=True,
        ).stdout
        entries = json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        log.debug("uv python list failed: %s", exc)
        return {}
    found: dict[str, Path] = {}
    for item in entries:
        if item.get("implementation", "cpython") == "cpython" and item.get("path"):
            found.setdefault(str(item["version"]), Path(item["path"]))
    return found


def installed_pythons(uv: list[str] | None = None, ask_uv: bool = True) -> dict[str, Path]:
    """Installed CPython interpreters: full version -> executable. Asking uv is the slow
    part (it inspects every interpreter on PATH), so callers may skip it."""
    running = python_version()
    found = {running: Path(getattr(sys, "_base_executable", "") or sys.executable)}
    for source in (_pyenv_pythons(), _uv_pythons(uv) if ask_uv else {}):
        for version, path in source.items():
            found.setdefault(version, path)
    return found


def _same_minor(installed: dict[str, Path], wanted: tuple[int, int, int]) -> list[str]:
    return sorted((v for v in installed if _version_key(v)[:2] == wanted[:2]), key=_version_key)


def find_python(version: str, uv: list[str] | None = None) -> Path:
    """The interpreter for ``version``: same major.minor, the exact micro when installed."""
    wanted = _version_key(version)
    if wanted == (0, 0, 0):
        raise ModelEnvironmentError(
            f"The model asks for Python {version!r}, which is not a version number; fix "
            "python_env.yaml (e.g. 'python: 3.11.7')."
        )
    installed = installed_pythons(uv, ask_uv=False)
    same_minor = _same_minor(installed, wanted)
    if not same_minor:
        installed = installed_pythons(uv)
        same_minor = _same_minor(installed, wanted)
    if not same_minor:
        listing = ", ".join(sorted(installed, key=_version_key)) or "none"
        raise ModelEnvironmentError(
            f"The model asks for Python {version}, but no Python {wanted[0]}.{wanted[1]} "
            f"interpreter is installed on this machine (installed: {listing}). Install Python "
            f"{wanted[0]}.{wanted[1]} (pyenv or 'uv python install'), or score with "
            "env_manager='local'."
        )
    exact = [v for v in same_minor if _version_key(v) == wanted]
    chosen = exact[0] if exact else same_minor[-1]
    if not exact:
        log.info("The model asks for Python %s; using the installed %s", version, chosen)
    return installed[chosen]
