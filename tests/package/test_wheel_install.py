"""The README's wheel install works: build the wheel, install it with its airflow extra
into a fresh virtual environment, and use it there as a user would.

uv builds and installs; with a warm uv cache the install is tried offline first (no
registry round trips, ~10-30 s for Airflow's dependency tree) and online only when the
cache lacks something.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pyfunc_ops

ROOT = Path(__file__).resolve().parents[2]
_TIMEOUT = 600

pytestmark = pytest.mark.slow


def _uv() -> str:
    uv = shutil.which("uv")
    if uv is None:  # scripts/test.sh installs uv first; a bare pytest run may lack it
        pytest.fail("uv is not on PATH; run the suite with scripts/test.sh, which installs it")
    return uv


def _run(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
        check=False,
    )


def _ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, f"{done.args} exited with {done.returncode}:\n{done.stderr}"
    return done


def test_built_wheel_installs_with_airflow_extra_and_runs(tmp_path: Path) -> None:
    uv = _uv()
    dist = tmp_path / "dist"
    _ok(_run(uv, "build", "--wheel", "--out-dir", dist, ROOT))
    wheel = dist / f"pyfunc_ops-{pyfunc_ops.__version__}-py3-none-any.whl"
    assert wheel.is_file(), sorted(p.name for p in dist.iterdir())
    readme = (ROOT / "README.md").read_text()
    assert f'pip install "dist/{wheel.name}[airflow]"' in readme, "README's Install names it"
    assert 'uv pip install -e ".[airflow]"' in readme

    venv = tmp_path / "venv"
    _ok(_run(uv, "venv", "-q", "--python", sys.executable, venv))
    python = venv / "bin" / "python"
    requirement = f"{wheel}[airflow]"
    offline = _run(uv, "pip", "install", "-q", "--offline", "--python", python, requirement)
    if offline.returncode != 0:  # the cache lacks a package: fetch it
        _ok(_run(uv, "pip", "install", "-q", "--python", python, requirement))

    # The installed package, not this checkout (cwd outside the repository).
    probe = (
        "import json, pyfunc_ops\n"
        "from pyfunc_ops.airflow.get_provider_info import get_provider_info\n"
        "info = get_provider_info()\n"
        "print(json.dumps({'file': pyfunc_ops.__file__, 'package': info['package-name'],"
        " 'versions': info['versions'], 'conn': info['connection-types']}))\n"
    )
    info = json.loads(_ok(_run(python, "-c", probe, cwd=tmp_path)).stdout)
    assert Path(info["file"]).is_relative_to(venv), info["file"]
    assert info["package"] == "pyfunc-ops"
    assert info["versions"] == [pyfunc_ops.__version__]
    assert any(c["connection-type"] == "pyfunc_ops" for c in info["conn"]), info["conn"]

    cli = venv / "bin" / "pyfunc-ops"
    usage = _ok(_run(cli, "--help", cwd=tmp_path)).stdout
    assert "predict" in usage
    assert "--version" in usage
    version = _ok(_run(cli, "--version", cwd=tmp_path))
    assert pyfunc_ops.__version__ in version.stdout + version.stderr
