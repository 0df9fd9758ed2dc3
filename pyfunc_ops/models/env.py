"""Environment definitions stored with a model: conda.yaml, python_env.yaml, requirements.txt.

The three files describe one environment. ``conda.yaml`` is the format's original
definition; ``python_env.yaml`` + ``requirements.txt`` let a plain virtualenv restore the
model without conda. We always write all three, derived from one list of pip requirements,
so they never disagree.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import re
from pathlib import Path
from typing import Any

import yaml

from pyfunc_ops.core.paths import confine
from pyfunc_ops.core.versions import python_version
from pyfunc_ops.core.yamltext import load_yaml
from pyfunc_ops.errors import InvalidParameterError, ModelEnvironmentError, ModelFormatError

log = logging.getLogger(__name__)

CONDA_FILE = "conda.yaml"
PYTHON_ENV_FILE = "python_env.yaml"
REQUIREMENTS_FILE = "requirements.txt"
_NAME_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
# pip's include options: -r/--requirement (more requirements), -c/--constraint (pins).
_INCLUDE_RE = re.compile(r"^(-r|--requirement|-c|--constraint)(?:\s*=\s*|\s+|(?<=^-[rc]))(\S.*)$")


# A bare name, optional extras and an optional exact numeric pin ("scikit-learn==1.5.2"):
# what save_model writes and nearly every model carries. A subset of PEP 508 that packaging
# always accepts, checked without importing packaging (~50 ms of every cold load);
# everything else goes to packaging.
_PLAIN_REQUIREMENT = re.compile(
    r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
    r"(?:\[[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?(?:,[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)*\])?"
    r"(?:==[0-9]+(?:\.[0-9]+)*)?$"
)


def _show(value: object, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "...'"


def check_requirement(
    value: object, where: str, error: type[Exception] = InvalidParameterError
) -> str:
    """``value`` if it is one valid requirement string (PEP 508, as ``packaging`` reads it).

    Refused: non-strings, strings holding a line break (each line of requirements.txt is
    one requirement, so a newline would smuggle a pip option such as ``--index-url`` or
    ``-r /etc/passwd`` in), option lines (``-...``) and anything ``packaging`` cannot parse.
    ``where`` names the argument or file (and line) for the message; ``error`` is the
    error type (:class:`InvalidParameterError` for a caller's argument,
    :class:`ModelFormatError` for a model's file).
    """
    if not isinstance(value, str):
        raise error(
            f"{where}: requirement {_show(value)} is a {type(value).__name__}, not a string; "
            "give requirement strings such as 'scikit-learn==1.5.2'."
        )
    if "\n" in value or "\r" in value:
        raise error(
            f"{where}: requirement {_show(value)} contains a line break, which would add "
            "another line (a pip option) to requirements.txt; give one requirement per string."
        )
    text = value.strip()
    if text.startswith("-"):
        raise error(
            f"{where}: {_show(value)} is a pip option, not a requirement; pyfunc_ops writes "
            "requirements only (install from another index with pip's own configuration)."
        )
    if _PLAIN_REQUIREMENT.match(text):
        return text  # what our writers produce; packaging accepts it (test), so skip it
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        Requirement(text)
    except InvalidRequirement as exc:
        raise error(
            f"{where}: {_show(value)} is not a valid requirement ({exc}); use the form "
            "'name', 'name==1.2' or 'name @ https://...'."
        ) from None
    return text


def pinned(package: str, dist: str | None = None) -> str:
    """``package==<installed version>``; the bare name when it is not installed."""
    try:
        return f"{package}=={importlib.metadata.version(dist or package)}"
    except importlib.metadata.PackageNotFoundError:
        return package


#: The MLflow release whose on-disk format we write. Its pin goes into every model's
#: requirements, as MLflow's own writer puts it there: a stock MLflow restoring the model's
#: environment (``mlflow models predict --env-manager uv``, ``spark_udf(env_manager=...)``)
#: then finds itself in it. pyfunc_ops' own environments serve ``mlflow`` from the local
#: pyfunc_ops install instead (see ``core.versions.SUBSTITUTED_PACKAGES``), so it is never
#: installed by us; pyfunc-ops itself is on no index and is never listed.
MLFLOW_FORMAT_VERSION = "3.18.0"


def default_pip_requirements() -> list[str]:
    """What every pyfunc model written by us lists: MLflow's pin and cloudpickle."""
    return [f"mlflow=={MLFLOW_FORMAT_VERSION}", pinned("cloudpickle")]


def conda_env_from_pip(pip_requirements: list[str]) -> dict[str, Any]:
    """A conda environment holding the running Python and the given pip requirements."""
    return {
        "name": "pyfunc-ops-env",
        "channels": ["conda-forge"],
        "dependencies": [f"python={python_version()}", "pip", {"pip": list(pip_requirements)}],
    }


def get_default_conda_env() -> dict[str, Any]:
    """The default conda environment: this Python, pinned cloudpickle and MLflow's pin."""
    return conda_env_from_pip(default_pip_requirements())


def pip_section(conda_env: dict[str, Any]) -> list[str]:
    """The pip requirements listed inside a conda environment."""
    deps = conda_env.get("dependencies") or []
    if not isinstance(deps, list):
        raise ModelFormatError(
            f"conda environment: 'dependencies' must be a list, found {_show(deps)}."
        )
    for dep in deps:
        if isinstance(dep, dict) and "pip" in dep:
            pip = dep["pip"] or []
            if not isinstance(pip, list):
                raise ModelFormatError(
                    f"conda environment: the 'pip' entry must be a list of requirement "
                    f"strings, found {_show(pip)}."
                )
            return [str(r) if isinstance(r, (int, float)) else r for r in pip]
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
    data = _load_yaml(path, InvalidParameterError, "conda_env")
    if not isinstance(data, dict):
        raise InvalidParameterError(
            f"conda_env: {str(path)!r} does not hold a YAML mapping with 'dependencies'."
        )
    return data


def _load_yaml(path: Path, error: type[Exception], what: str) -> Any:
    """Parsed YAML of ``path``; binary, non-UTF-8 or invalid YAML raise ``error``."""
    try:
        return load_yaml(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise error(f"{what}: {path} is not UTF-8 text; expected a YAML file.") from None
    except yaml.YAMLError as exc:
        raise error(f"{what}: {path} is not valid YAML ({exc}).") from None


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
        try:
            pip = pip_section(env)
        except ModelFormatError as exc:
            raise InvalidParameterError(f"conda_env: {exc}") from None
        return env, [check_requirement(r, "conda_env pip section") for r in pip]
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
        return [check_requirement(v, what) for v in value]
    if not isinstance(value, (str, os.PathLike)):
        raise InvalidParameterError(
            f"{what}: expected a list of requirement strings or the path of a "
            f"requirements.txt, got a {type(value).__name__}."
        )
    path = Path(value)
    if not path.is_file():
        raise InvalidParameterError(
            f"{what}: {str(path)!r} is not a requirements file. Pass a list of requirement "
            "strings or the path of a requirements.txt."
        )
    lines = path.read_text().splitlines()
    return [
        check_requirement(ln, f"{what} {path} line {number}")
        for number, ln in enumerate(lines, 1)
        if ln.strip() and not ln.lstrip().startswith("#")
    ]


def write_env_files(
    model_dir: Path, conda_env: dict[str, Any], pip_reqs: list[str]
) -> dict[str, str]:
    """Write the three environment files; return the ``env`` mapping for the flavor.

    Every requirement is checked first (:func:`check_requirement`), so nothing but
    requirements reaches ``requirements.txt``, whoever built the list.
    """
    lines = [check_requirement(r, "pip requirements") for r in pip_reqs]
    (model_dir / CONDA_FILE).write_text(yaml.safe_dump(conda_env, sort_keys=False))
    python = python_of_conda_env(conda_env) or python_version()
    python_env = {
        "python": python,
        "build_dependencies": ["pip", "setuptools", "wheel"],
        "dependencies": [f"-r {REQUIREMENTS_FILE}"],
    }
    (model_dir / PYTHON_ENV_FILE).write_text(yaml.safe_dump(python_env, sort_keys=False))
    (model_dir / REQUIREMENTS_FILE).write_text("".join(f"{r}\n" for r in lines))
    return {"conda": CONDA_FILE, "virtualenv": PYTHON_ENV_FILE}


def requirement_name(line: str) -> str | None:
    """Distribution name of a requirement line (None for options and comments)."""
    line = line.strip()
    if not line or line.startswith(("#", "-")):
        return None
    m = _NAME_RE.match(line)
    return m.group(1) if m else None


def _include(line: str) -> tuple[str, str] | None:
    """``(option, file)`` of a ``-r``/``-c`` include line, else ``None``."""
    m = _INCLUDE_RE.match(line)
    return (m.group(1), m.group(2).strip()) if m else None


def expand_requirements(
    model_dir: Path,
    lines: list[Any],
    source: str,
    _seen: set[Path] | None = None,
    *,
    missing_ok: bool = False,
) -> list[str]:
    """The requirement lines of a model's environment file, with includes expanded.

    ``lines`` come from the file ``source`` (relative to ``model_dir``, for messages and
    includes). ``-r``/``-c`` includes are resolved with :func:`confine`: one that leaves the
    model folder is refused before the file is opened, so no file outside the model is
    ever read (nor echoed by pip). Constraint files are checked, then dropped (the
    environment installs requirements only); other option lines are dropped with a
    warning. Every other line must be a valid requirement string
    (:func:`check_requirement`), refused with :class:`ModelFormatError` naming the file
    and line otherwise. A missing included file is a :class:`ModelEnvironmentError`
    (the environment cannot be built), or skipped with ``missing_ok`` (a load into this
    interpreter, which does not install them, only checks what is there).
    """
    seen = _seen if _seen is not None else set()
    out: list[str] = []
    for number, raw in enumerate(lines, 1):
        where = f"{model_dir / source} line {number}"
        if not isinstance(raw, str):
            check_requirement(raw, where, ModelFormatError)
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        include = _include(line)
        if include is not None:
            option, name = include
            key = f"{source} {option} include"
            base = (model_dir / source).parent
            rel = os.path.relpath(base / name, model_dir) if not os.path.isabs(name) else name
            path = confine(model_dir, rel, key=key, mlmodel_path=model_dir / source)
            if option in ("-c", "--constraint"):
                continue
            if path in seen:
                continue
            seen.add(path)
            if not path.is_file():
                if missing_ok:
                    continue
                raise ModelEnvironmentError(
                    f"{where}: the environment includes {line!r}, but {path} does not exist. "
                    "Restore the file or list the requirements directly."
                )
            included = path.read_text(encoding="utf-8", errors="replace").splitlines()
            rel = path.relative_to(model_dir).as_posix()
            out += expand_requirements(model_dir, included, rel, seen, missing_ok=missing_ok)
        elif line.startswith("-"):
            log.warning("Ignoring the pip option line %r of %s", line[:80], where)
        else:
            out.append(check_requirement(line, where, ModelFormatError))
    return out


def read_requirements(model_dir: Path, *, missing_ok: bool = False) -> list[str]:
    """The requirements of the model's ``requirements.txt`` (includes expanded)."""
    path = model_dir / REQUIREMENTS_FILE
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return expand_requirements(model_dir, lines, REQUIREMENTS_FILE, missing_ok=missing_ok)


def read_python_env(model_dir: Path) -> dict[str, Any] | None:
    """The model's ``python_env.yaml``, checked: a mapping whose ``python`` is a version
    and whose ``build_dependencies``/``dependencies`` are lists of strings."""
    path = model_dir / PYTHON_ENV_FILE
    if not path.is_file():
        return None
    data = _load_yaml(path, ModelFormatError, "python_env.yaml")
    if not isinstance(data, dict):
        raise ModelFormatError(
            f"{path}: expected a mapping with 'python' and 'dependencies', found "
            f"{type(data).__name__}."
        )
    python = data.get("python")
    if python is not None and not isinstance(python, (str, int, float)):
        raise ModelFormatError(
            f"{path}: 'python' must be a version such as '3.11.9', found {_show(python)}."
        )
    for key in ("build_dependencies", "dependencies"):
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ModelFormatError(
                f"{path}: {key!r} must be a list of requirement strings, found {_show(value)}."
            )
        if any("\n" in v or "\r" in v for v in value):
            raise ModelFormatError(
                f"{path}: an entry of {key!r} contains a line break; give one requirement "
                "per entry."
            )
    return data


def check_env_files(model_dir: Path) -> None:
    """Check the model's environment files as a load would read them: valid YAML of the
    right shape, requirement strings only, and includes that stay inside the folder."""
    python_env = read_python_env(model_dir)
    if python_env is not None:
        deps = python_env.get("dependencies") or []
        expand_requirements(model_dir, deps, PYTHON_ENV_FILE, missing_ok=True)
    conda_path = model_dir / CONDA_FILE
    if conda_path.is_file():
        conda_env = _load_yaml(conda_path, ModelFormatError, CONDA_FILE)
        if not isinstance(conda_env, dict):
            raise ModelFormatError(
                f"{conda_path}: expected a mapping with 'dependencies', found "
                f"{type(conda_env).__name__}."
            )
        expand_requirements(model_dir, pip_section(conda_env), CONDA_FILE, missing_ok=True)
    read_requirements(model_dir, missing_ok=True)


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
