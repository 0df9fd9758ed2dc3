"""Environment definitions stored with a model: conda.yaml, python_env.yaml, requirements.txt.

The three files describe one environment. ``conda.yaml`` is the format's original
definition; ``python_env.yaml`` + ``requirements.txt`` let a plain virtualenv restore the
model without conda. We always write all three, derived from one list of pip requirements,
so they never disagree.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
from pathlib import Path
from typing import Any

import yaml

from pyfunc_ops.core.versions import python_version
from pyfunc_ops.errors import InvalidParameterError, ModelFormatError

CONDA_FILE = "conda.yaml"
PYTHON_ENV_FILE = "python_env.yaml"
REQUIREMENTS_FILE = "requirements.txt"
_NAME_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def pinned(package: str, dist: str | None = None) -> str:
    """``package==<installed version>``; the bare name when it is not installed."""
    try:
        return f"{package}=={importlib.metadata.version(dist or package)}"
    except importlib.metadata.PackageNotFoundError:
        return package


def default_pip_requirements() -> list[str]:
    """What every pyfunc model written by us needs at load time."""
    return [pinned("pyfunc-ops", "pyfunc-ops"), pinned("cloudpickle")]


def conda_env_from_pip(pip_requirements: list[str]) -> dict[str, Any]:
    """A conda environment holding the running Python and the given pip requirements."""
    return {
        "name": "pyfunc-ops-env",
        "channels": ["conda-forge"],
        "dependencies": [f"python={python_version()}", "pip", {"pip": list(pip_requirements)}],
    }


def get_default_conda_env() -> dict[str, Any]:
    """The default conda environment: this Python, pinned cloudpickle and pyfunc-ops."""
    return conda_env_from_pip(default_pip_requirements())


def pip_section(conda_env: dict[str, Any]) -> list[str]:
    """The pip requirements listed inside a conda environment."""
    for dep in conda_env.get("dependencies") or []:
        if isinstance(dep, dict) and "pip" in dep:
            return [str(r) for r in dep["pip"] or []]
    return []


def conda_only_dependencies(conda_env: dict[str, Any]) -> list[str]:
    """Conda packages other than python and pip (a virtualenv cannot install these)."""
    out = []
    for dep in conda_env.get("dependencies") or []:
        if isinstance(dep, str):
            name = re.split(r"[=<> ]", dep, maxsplit=1)[0]
            if name not in ("python", "pip"):
                out.append(dep)
    return out


def python_of_conda_env(conda_env: dict[str, Any]) -> str | None:
    for dep in conda_env.get("dependencies") or []:
        if isinstance(dep, str) and re.match(r"^python\s*[=<>]", dep):
            return re.sub(r"^python\s*=*", "", dep).strip() or None
    return None


def read_conda_env(conda_env: dict[str, Any] | str | os.PathLike[str]) -> dict[str, Any]:
    """Accept a conda environment as a dict or a path to its YAML file."""
    if isinstance(conda_env, dict):
        return conda_env
    path = Path(conda_env)
    if not path.is_file():
        raise InvalidParameterError(
            f"conda_env: {str(path)!r} is not a file. Pass a dict or the path of a conda YAML file."
        )
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise InvalidParameterError(
            f"conda_env: {str(path)!r} does not hold a YAML mapping with 'dependencies'."
        )
    return data


def resolve_requirements(
    conda_env: dict[str, Any] | str | os.PathLike[str] | None = None,
    pip_requirements: list[str] | str | os.PathLike[str] | None = None,
    extra_pip_requirements: list[str] | str | os.PathLike[str] | None = None,
    default: list[str] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Decide the model's environment from the caller's arguments.

    Returns the conda environment and the pip requirements; at most one of the three
    arguments may be given, the defaults apply otherwise.
    """
    given = [
        n
        for n, v in (
            ("conda_env", conda_env),
            ("pip_requirements", pip_requirements),
            ("extra_pip_requirements", extra_pip_requirements),
        )
        if v is not None
    ]
    if len(given) > 1:
        raise InvalidParameterError(
            f"Only one of conda_env, pip_requirements and extra_pip_requirements may be given, "
            f"got {', '.join(given)}. Use extra_pip_requirements to add to the defaults."
        )
    base = default if default is not None else default_pip_requirements()
    if conda_env is not None:
        env = read_conda_env(conda_env)
        return env, pip_section(env)
    if pip_requirements is not None:
        reqs = _as_list(pip_requirements, "pip_requirements")
    elif extra_pip_requirements is not None:
        extra = _as_list(extra_pip_requirements, "extra_pip_requirements")
        reqs = base + [r for r in extra if r not in base]
    else:
        reqs = list(base)
    return conda_env_from_pip(reqs), reqs


def _as_list(value: list[str] | str | os.PathLike[str], what: str) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    path = Path(value)
    if not path.is_file():
        raise InvalidParameterError(
            f"{what}: {str(path)!r} is not a requirements file. Pass a list of requirement "
            "strings or the path of a requirements.txt."
        )
    return [
        ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")
    ]


def write_env_files(
    model_dir: Path, conda_env: dict[str, Any], pip_reqs: list[str]
) -> dict[str, str]:
    """Write the three environment files; return the ``env`` mapping for the flavor."""
    (model_dir / CONDA_FILE).write_text(yaml.safe_dump(conda_env, sort_keys=False))
    python = python_of_conda_env(conda_env) or python_version()
    python_env = {
        "python": python,
        "build_dependencies": ["pip", "setuptools", "wheel"],
        "dependencies": [f"-r {REQUIREMENTS_FILE}"],
    }
    (model_dir / PYTHON_ENV_FILE).write_text(yaml.safe_dump(python_env, sort_keys=False))
    (model_dir / REQUIREMENTS_FILE).write_text("".join(f"{r}\n" for r in pip_reqs))
    return {"conda": CONDA_FILE, "virtualenv": PYTHON_ENV_FILE}


def requirement_name(line: str) -> str | None:
    """Distribution name of a requirement line (None for options and comments)."""
    line = line.strip()
    if not line or line.startswith(("#", "-")):
        return None
    m = _NAME_RE.match(line)
    return m.group(1) if m else None


def read_requirements(model_dir: Path) -> list[str]:
    path = model_dir / REQUIREMENTS_FILE
    if not path.is_file():
        return []
    return [ln.strip() for ln in path.read_text().splitlines() if requirement_name(ln)]


def read_python_env(model_dir: Path) -> dict[str, Any] | None:
    path = model_dir / PYTHON_ENV_FILE
    if not path.is_file():
        return None
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ModelFormatError(f"{path}: expected a mapping with 'python' and 'dependencies'.")
    return data


def version_mismatches(requirements: list[str], ignore: tuple[str, ...] = ()) -> list[str]:
    """Describe pinned (``==``) requirements whose installed version differs or is absent."""
    from packaging.requirements import InvalidRequirement, Requirement

    out = []
    for line in requirements:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.name.lower() in ignore:
            continue
        pins = [s.version for s in req.specifier if s.operator == "=="]
        if not pins:
            continue
        try:
            installed = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            out.append(f"{req.name}=={pins[0]} (not installed)")
            continue
        if installed not in req.specifier:
            out.append(f"{req.name}=={pins[0]} (installed: {installed})")
    return out
