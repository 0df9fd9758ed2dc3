"""What environment a model asks for: its Python version and its pip requirements.

The model's files are read in the format's order of preference: ``python_env.yaml`` (with
the ``requirements.txt`` it points to), else the Python version and pip section of
``conda.yaml``, else a bare ``requirements.txt`` with the Python version from ``MLmodel``.
The result is normalised so that two models asking for the same thing share one cached
environment, whatever file it was written in.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyfunc_ops.core.versions import SERVED_LOCALLY, package_version, python_version
from pyfunc_ops.models import env as env_files
from pyfunc_ops.models.mlmodel import Model

log = logging.getLogger(__name__)

# What the worker itself needs inside the environment.
WORKER_REQUIREMENTS = ("pyarrow", "pandas")


@dataclass(frozen=True)
class EnvSpec:
    """A model's environment, normalised: what the cache key is computed from."""

    python: str
    requirements: tuple[str, ...]
    source: str
    conda_env: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def python_minor(self) -> str:
        return ".".join(self.python.split(".")[:2])

    def cache_key(self, manager: str) -> str:
        """sha256 of (manager, Python major.minor, sorted requirements, pyfunc_ops version
        and, for a source checkout, its folder and its pyproject.toml).

        An environment built from a checkout holds an editable install that points into that
        checkout; keying on the folder keeps a second checkout (another clone, a CI workspace)
        from reusing it and running the first checkout's code, and keying on pyproject.toml
        rebuilds it when the checkout's own dependencies change."""
        root = source_root()
        source = None
        if root is not None:
            pyproject = (root / "pyproject.toml").read_bytes()
            source = f"{root}#{hashlib.sha256(pyproject).hexdigest()[:16]}"
        payload = {
            "manager": manager,
            "python": self.python_minor,
            "requirements": sorted(self.requirements),
            "pyfunc_ops": package_version(),
            "source": source,
        }
        if manager == "conda":
            payload["conda"] = conda_only(self.conda_env or {})
        raw = json.dumps(payload, sort_keys=True).encode()
        return hashlib.sha256(raw).hexdigest()[:24]


def source_root() -> Path | None:
    """The checkout pyfunc_ops is imported from, when it is one (has our pyproject.toml)."""
    import pyfunc_ops

    root = Path(pyfunc_ops.__file__).resolve().parent.parent
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "pyfunc-ops"' in pyproject.read_text():
        return root
    return None


def conda_only(conda_env: dict[str, Any]) -> list[str]:
    return sorted(env_files.conda_only_dependencies(conda_env))


def _canonical(name: str) -> str:
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))


def _expand(lines: list[str], model_dir: Path, source: str) -> list[str]:
    """Requirement lines with ``-r`` includes expanded (confined to the model folder, see
    :func:`pyfunc_ops.models.env.expand_requirements`); other options are dropped."""
    return env_files.expand_requirements(model_dir, lines, source)


def finish_requirements(lines: list[str]) -> tuple[str, ...]:
    """Drop what the local pyfunc_ops install serves; add what the worker needs."""
    kept, names = [], set()
    for line in lines:
        name = env_files.requirement_name(line)
        if name is None:
            continue
        if _canonical(name) in SERVED_LOCALLY:
            log.info("Requirement %r is served by the local pyfunc_ops install", line)
            continue
        names.add(_canonical(name))
        if line not in kept:
            kept.append(line)
    for extra in WORKER_REQUIREMENTS:
        if extra not in names:
            log.info("Adding %s to the environment: the scoring worker needs it", extra)
            kept.append(extra)
    return tuple(kept)


def read_env_spec(model_dir: Path, model: Model | None = None) -> EnvSpec:
    """Read the environment the model in ``model_dir`` asks for (``model``: its MLmodel,
    when the caller has read it already)."""
    if model is None:
        model = Model.load(model_dir)
    python_env = env_files.read_python_env(model_dir)
    conda_path = model_dir / env_files.CONDA_FILE
    conda_env = env_files.read_conda_env(conda_path) if conda_path.is_file() else None
    saved_python = model.python_version
    if python_env is not None:
        deps = list(python_env.get("dependencies") or [])
        python = str(python_env.get("python") or saved_python or "")
        source = env_files.PYTHON_ENV_FILE
        lines = _expand(deps, model_dir, source)
    elif conda_env is not None:
        python = env_files.python_of_conda_env(conda_env) or saved_python or ""
        source = env_files.CONDA_FILE
        lines = _expand(env_files.pip_section(conda_env), model_dir, source)
        extra = conda_only(conda_env)
        if extra:
            message = (
                f"The model at {model_dir} has only a conda.yaml; its conda-only dependencies "
                f"{', '.join(extra)} cannot be installed into a virtualenv and are skipped. "
                "Use env_manager='conda' if the model needs them."
            )
            log.warning(message)
            warnings.warn(message, UserWarning, stacklevel=3)
    else:
        python = saved_python or ""
        lines, source = env_files.read_requirements(model_dir), env_files.REQUIREMENTS_FILE
    if not python:
        python = python_version()
        log.warning(
            "The model at %s does not state its Python version; using this interpreter's %s",
            model_dir,
            python,
        )
    return EnvSpec(
        python=python.strip(),
        requirements=finish_requirements(lines),
        source=source,
        conda_env=conda_env,
    )
