"""Reading a model's environment, building it, caching it, and the errors on the way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from env_helpers import PINNED_SIX, save_version_model

import pyfunc_ops
from pyfunc_ops.envs import builder
from pyfunc_ops.envs.spec import read_env_spec
from pyfunc_ops.errors import InvalidParameterError, ModelEnvironmentError
from pyfunc_ops.pyfunc import load_model


def _set_python(model: Path, version: str) -> None:
    env = yaml.safe_load((model / "python_env.yaml").read_text())
    env["python"] = version
    (model / "python_env.yaml").write_text(yaml.safe_dump(env))


def test_spec_serves_pyfunc_ops_and_mlflow_locally_and_adds_worker_needs(tmp_path: Path) -> None:
    model = save_version_model(
        tmp_path / "m", ["pyfunc-ops==0.1.0", "mlflow==2.9.0", "pyfunc_ops", f"six=={PINNED_SIX}"]
    )
    spec = read_env_spec(model)
    assert spec.requirements == (f"six=={PINNED_SIX}", "pyarrow", "pandas")
    assert spec.python == "{}.{}.{}".format(*sys.version_info[:3])
    assert spec.source == "python_env.yaml"


def test_spec_keeps_the_models_own_pandas_and_pyarrow(tmp_path: Path) -> None:
    model = save_version_model(tmp_path / "m", ["pandas==2.2.3", "pyarrow>=15"])
    assert read_env_spec(model).requirements == ("pandas==2.2.3", "pyarrow>=15")


def test_conda_only_model_uses_python_and_pip_section(tmp_path: Path) -> None:
    model = save_version_model(tmp_path / "m", [f"six=={PINNED_SIX}"])
    reference_key = read_env_spec(model).cache_key("virtualenv")
    (model / "python_env.yaml").unlink()
    (model / "requirements.txt").unlink()
    running = "{}.{}.{}".format(*sys.version_info[:3])
    conda = {
        "dependencies": [
            f"python={running}",
            "pip",
            "cudatoolkit=11.8",
            {"pip": [f"six=={PINNED_SIX}"]},
        ]
    }
    (model / "conda.yaml").write_text(yaml.safe_dump(conda))
    with pytest.warns(UserWarning, match="conda-only dependencies cudatoolkit=11.8"):
        spec = read_env_spec(model)
    assert spec.source == "conda.yaml"
    assert spec.python == running
    assert spec.requirements == (f"six=={PINNED_SIX}", "pyarrow", "pandas")
    assert spec.cache_key("virtualenv") == reference_key  # same request, same environment


def test_each_checkout_gets_its_own_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An environment holds an editable install of one checkout; another clone of the
    project must not reuse it (it would run the first clone's code), and a checkout whose
    dependencies changed needs a new one."""
    from pyfunc_ops.envs import spec as spec_module

    model = save_version_model(tmp_path / "m", [f"six=={PINNED_SIX}"])
    here = read_env_spec(model).cache_key("virtualenv")
    assert read_env_spec(model).cache_key("virtualenv") == here
    ours = spec_module.source_root()
    assert ours is not None
    other = tmp_path / "other-clone"
    other.mkdir()
    (other / "pyproject.toml").write_bytes((ours / "pyproject.toml").read_bytes())
    monkeypatch.setattr(spec_module, "source_root", lambda: other)
    elsewhere = read_env_spec(model).cache_key("virtualenv")
    assert elsewhere != here
    with open(other / "pyproject.toml", "a") as fh:
        fh.write("# a changed dependency list\n")
    assert read_env_spec(model).cache_key("virtualenv") not in (here, elsewhere)


def test_missing_included_requirements_file(tmp_path: Path) -> None:
    model = save_version_model(tmp_path / "m", ["six"])
    (model / "requirements.txt").unlink()
    with pytest.raises(ModelEnvironmentError, match=r"includes '-r requirements.txt'.*not exist"):
        read_env_spec(model)


def test_env_has_the_running_pyfunc_ops(six_model: Path) -> None:
    env = builder.get_environment(six_model, "virtualenv")
    out = subprocess.run(
        [
            str(builder.env_python(env)),
            "-I",
            "-c",
            "import pyfunc_ops, six; print(pyfunc_ops.__file__); print(six.__version__)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert Path(out[0]) == Path(pyfunc_ops.__file__).resolve()
    assert out[1] == PINNED_SIX
    record = json.loads((env / builder.MARKER).read_text())
    assert record["requirements"] == [f"six=={PINNED_SIX}", "pyarrow", "pandas"]


def test_python_version_not_installed(tmp_path: Path) -> None:
    model = save_version_model(tmp_path / "m", ["six"])
    _set_python(model, "3.99.1")
    running = "{}.{}.{}".format(*sys.version_info[:3])
    with pytest.raises(
        ModelEnvironmentError, match=rf"Python 3\.99\.1.*no Python 3\.99 .*installed: .*{running}"
    ):
        load_model(model, env_manager="virtualenv")


def test_python_too_old_for_pyfunc_ops(tmp_path: Path) -> None:
    model = save_version_model(tmp_path / "m", ["six"])
    _set_python(model, "3.8.18")
    with pytest.raises(ModelEnvironmentError, match=r"Python 3\.8\.18.*needs Python >=3\.10"):
        load_model(model, env_manager="virtualenv")


def test_failing_build_leaves_no_usable_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_dir = tmp_path / "envs"
    monkeypatch.setenv("PYFUNC_OPS_ENV_DIR", str(env_dir))
    model = save_version_model(tmp_path / "m", ["pyfunc-ops-test-no-such-dist==1.0"])
    with pytest.raises(
        ModelEnvironmentError,
        match=r"(?s)uv pip install exited with code \d+:.*pyfunc-ops-test-no-such-dist",
    ):
        load_model(model, env_manager="virtualenv")
    leftovers = [p.name for p in env_dir.iterdir() if not p.name.endswith(".lock")]
    assert leftovers == []


def test_conda_without_conda_on_path(six_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    with pytest.raises(
        ModelEnvironmentError, match=r"conda, mamba or micromamba on PATH.*env_manager='virtualenv'"
    ):
        load_model(six_model, env_manager="conda")


def test_conda_tool_failure_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in micromamba records what it is asked and fails like a real solver."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls.txt"
    bin_dir.mkdir()
    fake = bin_dir / "micromamba"
    fake.write_text(
        textwrap.dedent(
            f"""\
            #!/bin/sh
            echo "$@" > {calls}
            while [ "$#" -gt 0 ]; do
              if [ "$1" = "--file" ]; then cat "$2" >> {calls}; fi
              shift
            done
            echo "error: nothing provides cudatoolkit 11.8 needed by the model" >&2
            exit 1
            """
        )
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PYFUNC_OPS_ENV_DIR", str(tmp_path / "envs"))
    model = save_version_model(tmp_path / "m", [f"six=={PINNED_SIX}", "pyfunc-ops"])
    conda = yaml.safe_load((model / "conda.yaml").read_text())
    conda["dependencies"].insert(0, "cudatoolkit=11.8")
    (model / "conda.yaml").write_text(yaml.safe_dump(conda))
    with pytest.raises(
        ModelEnvironmentError, match=r"micromamba create exited with code 1:\nerror: nothing"
    ):
        load_model(model, env_manager="conda")
    recorded = calls.read_text()
    assert recorded.startswith("create --yes --prefix ")
    assert "cudatoolkit=11.8" in recorded
    assert "python={}.{}.{}".format(*sys.version_info[:3]) in recorded
    assert "pyfunc-ops" not in recorded  # pip requirements are installed afterwards by uv
    assert [p.name for p in (tmp_path / "envs").iterdir() if not p.name.endswith(".lock")] == []


def test_unknown_env_manager(six_model: Path) -> None:
    with pytest.raises(InvalidParameterError, match="env_manager 'docker' is not supported"):
        load_model(six_model, env_manager="docker")


def test_racing_builders_build_once_and_ignore_leftovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_dir = tmp_path / "envs"
    monkeypatch.setenv("PYFUNC_OPS_ENV_DIR", str(env_dir))
    model = save_version_model(tmp_path / "m", [f"six=={PINNED_SIX}"])
    key = read_env_spec(model).cache_key("virtualenv")
    # What a killed build leaves: a staging folder and an entry without its marker.
    (env_dir / f".tmp-{key}-dead" / "bin").mkdir(parents=True)
    (env_dir / key / "bin").mkdir(parents=True)
    script = (
        "import sys; from pathlib import Path; from pyfunc_ops.envs.builder import "
        "get_environment; print(get_environment(Path(sys.argv[1]), 'virtualenv'))"
    )
    env = {**os.environ}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(model)], stdout=subprocess.PIPE, text=True, env=env
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outputs == [str(env_dir / key)] * 2
    builds = (env_dir / builder.BUILD_LOG).read_text().splitlines()
    assert len(builds) == 1
    # Exactly these entries; sorted on both sides, since whether "builds.jsonl" sorts before
    # the hex cache key depends on the key's first digit (and so on the checkout's path).
    # (``<key>.used`` records the last use, for ``pyfunc-ops env prune``.)
    expected = [key, f"{key}.lock", f"{key}.used", builder.BUILD_LOG]
    assert sorted(p.name for p in env_dir.iterdir()) == sorted(expected)
    assert (env_dir / key / builder.MARKER).is_file()


def test_source_tree_from_an_installed_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYFUNC_OPS_ENV_DIR", str(tmp_path / "envs"))
    (tmp_path / "envs").mkdir()
    tree = builder.local_source_tree()
    assert (tree / "pyfunc_ops" / "pyfunc" / "worker_main.py").is_file()
    assert not list(tree.rglob("__pycache__"))
    text = (tree / "pyproject.toml").read_text()
    assert f'version = "{pyfunc_ops_version()}"' in text
    assert '"pyarrow>=15"' in text
    assert "s3fs" not in text  # extras are not installed
    assert builder.local_source_tree() == tree  # made once


def pyfunc_ops_version() -> str:
    from pyfunc_ops.core.versions import package_version

    return package_version()
