"""Building and caching a model's environment.

One environment per cache key (see :meth:`EnvSpec.cache_key`) in ``PYFUNC_OPS_ENV_DIR``.
Builders that race for a key (two Spark Python workers, two Airflow tasks) take a file
lock, so the environment is built once and the others reuse it. A build happens in a
``.tmp-`` folder that is renamed into place only after a completion marker is written:
whatever a failed or killed build leaves behind never looks usable, and the next builder
removes it.

pyfunc_ops itself is installed from the local code that is running (it is not on the
package index): from a source checkout as an editable install, so the worker always runs
the same code as the caller; otherwise from a source tree rebuilt from the installed
distribution.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

from pyfunc_ops import config
from pyfunc_ops.core.locks import held
from pyfunc_ops.core.versions import package_version
from pyfunc_ops.envs.interpreters import find_python
from pyfunc_ops.envs.spec import (
    EnvSpec,
    conda_only,
    read_env_spec,
    source_root,
)
from pyfunc_ops.errors import ModelEnvironmentError
from pyfunc_ops.models.mlmodel import Model
from pyfunc_ops.storage.cache import mark_used

log = logging.getLogger(__name__)
MARKER = "pyfunc_ops_env.json"
BUILD_LOG = "builds.jsonl"
CONDA_TOOLS = ("micromamba", "mamba", "conda")


def find_uv() -> list[str] | None:
    """The command that runs uv: ``uv`` on PATH, else ``python -m uv``; None without uv."""
    exe = shutil.which("uv")
    if exe:
        return [exe]
    if importlib.util.find_spec("uv") is not None:
        return [sys.executable, "-m", "uv"]
    return None


def find_conda() -> str | None:
    for tool in CONDA_TOOLS:
        exe = shutil.which(tool)
        if exe:
            return exe
    return None


def env_python(env: Path) -> Path:
    return env / "bin" / "python"


def _run(cmd: list[str], what: str, model_dir: Path, env: dict[str, str] | None = None) -> None:
    log.debug("Running %s", " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        output = (proc.stderr.strip() or proc.stdout.strip())[-4000:]
        raise ModelEnvironmentError(
            f"Building the environment of the model at {model_dir} failed: {what} exited with "
            f"code {proc.returncode}:\n{output}\nFix the model's requirements (requirements.txt "
            "or python_env.yaml) or score with env_manager='local'."
        )


def _uv_env() -> dict[str, str]:
    return {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}


def local_source_tree() -> Path:
    """A source tree of the running pyfunc_ops, made once from the installed distribution
    when it is not a checkout (its files plus a pyproject.toml from its metadata)."""
    import pyfunc_ops

    version = package_version()
    target = config.env_dir() / f"pyfunc_ops-src-{version}"
    if (target / "pyproject.toml").is_file():
        return target
    try:
        requires = importlib.metadata.requires("pyfunc-ops") or []
    except importlib.metadata.PackageNotFoundError:
        requires = []
    deps = [r for r in requires if "extra ==" not in r]
    staging = Path(tempfile.mkdtemp(prefix=".tmp-src-", dir=config.env_dir()))
    try:
        shutil.copytree(
            Path(pyfunc_ops.__file__).parent,
            staging / "pyfunc_ops",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        (staging / "pyproject.toml").write_text(
            '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n'
            f'[project]\nname = "pyfunc-ops"\nversion = "{version}"\n'
            f"dependencies = {json.dumps(deps)}\n\n"
            '[tool.hatch.build.targets.wheel]\npackages = ["pyfunc_ops"]\n'
        )
        staging.rename(target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not (target / "pyproject.toml").is_file():
            raise
    return target


def pyfunc_ops_install_args() -> list[str]:
    root = source_root()
    return ["-e", str(root)] if root is not None else [str(local_source_tree())]


def _install(python: Path, requirements: list[str], model_dir: Path, uv: list[str] | None) -> None:
    args = pyfunc_ops_install_args() + requirements
    if uv is not None:
        cmd = [*uv, "pip", "install", "--quiet", "--python", str(python), *args]
        _run(cmd, "uv pip install", model_dir, _uv_env())
    else:
        cmd = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args]
        _run(cmd, "pip install", model_dir)


def _build_virtualenv(spec: EnvSpec, staging: Path, model_dir: Path) -> None:
    uv = find_uv()
    interpreter = find_python(spec.python, uv)
    if uv is not None:
        cmd = [*uv, "venv", "--quiet", "--relocatable", "--python", str(interpreter)]
        _run([*cmd, str(staging)], "uv venv", model_dir, _uv_env())
    else:
        log.info("uv is not installed; building with python -m venv and pip (slower)")
        _run([str(interpreter), "-m", "venv", str(staging)], "python -m venv", model_dir)
    _install(env_python(staging), list(spec.requirements), model_dir, uv)


def _build_conda(spec: EnvSpec, staging: Path, model_dir: Path, tool: str) -> None:
    """conda installs Python and the conda-only packages; pip requirements follow with uv
    (or pip), so a ``pyfunc-ops`` pin never reaches the package index."""
    conda_env = spec.conda_env or {}
    deps = [f"python={spec.python}", "pip", *conda_only(conda_env)]
    channels = conda_env.get("channels") or ["conda-forge"]
    conda_file = staging.parent / f"{staging.name}.conda.yaml"
    conda_file.write_text(yaml.safe_dump({"channels": channels, "dependencies": deps}))
    try:
        if Path(tool).name == "micromamba":
            cmd = [tool, "create", "--yes", "--prefix", str(staging), "--file", str(conda_file)]
        else:
            cmd = [tool, "env", "create", "--prefix", str(staging), "--file", str(conda_file)]
        _run(cmd, f"{Path(tool).name} create", model_dir)
    finally:
        conda_file.unlink(missing_ok=True)
    _install(env_python(staging), list(spec.requirements), model_dir, find_uv())


def _check_python_supported(spec: EnvSpec, model_dir: Path) -> None:
    """Fail early, and clearly, when the model's Python cannot run pyfunc_ops at all."""
    from packaging.specifiers import SpecifierSet

    try:
        requires = importlib.metadata.metadata("pyfunc-ops")["Requires-Python"]
    except importlib.metadata.PackageNotFoundError:
        return
    if requires and not SpecifierSet(requires).contains(spec.python_minor + ".0"):
        raise ModelEnvironmentError(
            f"The model at {model_dir} asks for Python {spec.python}, but pyfunc_ops needs "
            f"Python {requires} to run its scoring worker. Re-save the model with a newer "
            "Python, or score it with env_manager='local'."
        )


def _clean_stale(root: Path, key: str) -> None:
    for stale in root.glob(f".tmp-{key}-*"):
        log.info("Removing %s, left by an interrupted build", stale)
        shutil.rmtree(stale, ignore_errors=True)


def get_environment(model_dir: Path, manager: str, model: Model | None = None) -> Path:
    """The environment for the model in ``model_dir`` (built when not cached); returns the
    environment's folder. ``model`` is its MLmodel, when the caller has read it already."""
    conda_tool = None
    if manager == "conda":
        conda_tool = find_conda()
        if conda_tool is None:
            raise ModelEnvironmentError(
                "env_manager='conda' needs conda, mamba or micromamba on PATH, and none was "
                "found. Install one of them, or use env_manager='virtualenv', which builds the "
                "environment from python_env.yaml / requirements.txt with uv."
            )
    spec = read_env_spec(model_dir, model)
    key = spec.cache_key(manager)
    root = config.env_dir()
    final = root / key
    if (final / MARKER).is_file():
        mark_used(final)  # the last use orders `pyfunc-ops env prune`
        return final
    _check_python_supported(spec, model_dir)
    root.mkdir(parents=True, exist_ok=True)
    # Bounded: a build that hangs in another process is reported (its pid, host and
    # start), not waited for forever (PYFUNC_OPS_LOCK_TIMEOUT).
    with held(
        root / f"{key}.lock",
        f"the {manager} environment {key}",
        config.current_settings().lock_timeout,
        "PYFUNC_OPS_LOCK_TIMEOUT",
        log,
    ):
        if (final / MARKER).is_file():
            log.debug("Environment %s was built by another process", final)
            mark_used(final)
            return final
        _clean_stale(root, key)
        if final.exists():  # an entry without its marker is not usable: rebuild it
            shutil.rmtree(final)
        staging = root / f".tmp-{key}-{uuid.uuid4().hex[:8]}"
        started = time.monotonic()
        log.info(
            "Building the %s environment %s for the model at %s (Python %s, %d requirements)",
            manager,
            key,
            model_dir,
            spec.python,
            len(spec.requirements),
        )
        try:
            if conda_tool is not None:
                _build_conda(spec, staging, model_dir, conda_tool)
            else:
                _build_virtualenv(spec, staging, model_dir)
            seconds = round(time.monotonic() - started, 2)
            record = {
                "key": key,
                "manager": manager,
                "python": spec.python,
                "requirements": list(spec.requirements),
                "pyfunc_ops": package_version(),
                "seconds": seconds,
                "pid": os.getpid(),
                "built_at": time.time(),
            }
            (staging / MARKER).write_text(json.dumps(record, indent=2))
            staging.rename(final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        with open(root / BUILD_LOG, "a") as fh:
            fh.write(json.dumps(record) + "\n")
        mark_used(final)
        log.info("Built environment %s in %.1f s", final, seconds)
    return final
