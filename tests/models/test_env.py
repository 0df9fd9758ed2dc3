"""Environment definitions: defaults, resolution of the caller's arguments, mismatches."""

from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from pyfunc_ops.errors import InvalidParameterError, ModelFormatError
from pyfunc_ops.models import env as env_files


def test_default_conda_env() -> None:
    conda = env_files.get_default_conda_env()
    python = "{}.{}.{}".format(*sys.version_info[:3])
    assert conda["dependencies"][:2] == [f"python={python}", "pip"]
    assert env_files.pip_section(conda) == [
        # MLflow's pin, as MLflow's writer puts it there; never pyfunc-ops (on no index).
        f"mlflow=={env_files.MLFLOW_FORMAT_VERSION}",
        f"cloudpickle=={version('cloudpickle')}",
    ]
    assert env_files.python_of_conda_env(conda) == python


def test_pinned_unknown_package_is_left_bare() -> None:
    assert env_files.pinned("surely-not-installed-pkg") == "surely-not-installed-pkg"


def test_conda_only_dependencies() -> None:
    conda = {"dependencies": ["python=3.11", "pip", "cudatoolkit=11.8", {"pip": ["x"]}]}
    assert env_files.conda_only_dependencies(conda) == ["cudatoolkit=11.8"]


def test_write_and_read_env_files(tmp_path: Path) -> None:
    conda = env_files.conda_env_from_pip(["numpy==1.26.4"])
    assert env_files.write_env_files(tmp_path, conda, env_files.pip_section(conda)) == {
        "conda": "conda.yaml",
        "virtualenv": "python_env.yaml",
    }
    # Written by another tool: option lines and comments are skipped when reading.
    with open(tmp_path / "requirements.txt", "a") as fh:
        fh.write("--extra-index-url https://x\n# c\n")
    assert env_files.read_requirements(tmp_path) == ["numpy==1.26.4"]
    python_env = env_files.read_python_env(tmp_path)
    assert python_env is not None
    assert python_env["dependencies"] == ["-r requirements.txt"]
    assert env_files.read_requirements(tmp_path / "nowhere") == []
    assert env_files.read_python_env(tmp_path / "nowhere") is None


def test_python_env_that_is_not_a_mapping(tmp_path: Path) -> None:
    (tmp_path / "python_env.yaml").write_text("- 3.11\n")
    with pytest.raises(ModelFormatError, match=r"python_env.yaml: expected a mapping"):
        env_files.read_python_env(tmp_path)


def test_version_mismatches() -> None:
    installed = version("pyyaml")
    assert env_files.version_mismatches([f"pyyaml=={installed}", "pyyaml>=1", "not a req !!"]) == []
    assert env_files.version_mismatches(["PyYAML==0.1"]) == [
        f"PyYAML==0.1 (installed: {installed})"
    ]
    assert env_files.version_mismatches(["mlflow==2.0"], ignore=("mlflow",)) == []


def test_write_env_files_refuses_option_lines(tmp_path: Path) -> None:
    conda = env_files.conda_env_from_pip(["numpy==1.26.4", "--extra-index-url https://x"])
    with pytest.raises(InvalidParameterError, match=r"'--extra-index-url https://x' is a pip"):
        env_files.write_env_files(tmp_path, conda, env_files.pip_section(conda))
    assert not (tmp_path / "requirements.txt").exists()


@pytest.mark.parametrize(
    "text",
    [
        "scikit-learn==1.5.2",
        "pyfunc-ops==0.1.0",
        "numpy",
        "a",
        "zope.interface==5",
        "uvicorn[standard]==0.30.1",
        "apache-airflow[amazon,postgres]",
        "pkg_name==2024.10.01",
    ],
)
def test_plain_requirements_skip_packaging_and_packaging_agrees(text: str) -> None:
    """The fast path accepts only what packaging accepts too, unchanged."""
    from packaging.requirements import Requirement

    from pyfunc_ops.models.env import _PLAIN_REQUIREMENT, check_requirement

    assert _PLAIN_REQUIREMENT.match(text)
    assert check_requirement(text, "test") == text
    assert Requirement(text).name  # packaging parses it as well (raises otherwise)


@pytest.mark.parametrize(
    "text", ["-e .", "name==", "name==1.", "-name", "na me", "name[", "name==1.0 ; x"]
)
def test_other_strings_go_to_packaging(text: str) -> None:
    from pyfunc_ops.models.env import _PLAIN_REQUIREMENT

    assert not _PLAIN_REQUIREMENT.match(text)
