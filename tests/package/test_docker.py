"""The docker/ deployment cannot be started here (no Docker engine), so its files are
checked for what matters: the image installs extras that exist, and every service the
example DAGs need is defined and wired to the pyfunc_ops connection."""

from __future__ import annotations

import json
import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"


def _compose() -> dict:
    return yaml.safe_load((DOCKER / "docker-compose.yaml").read_text())


def test_dockerfile_builds_on_official_airflow_33_and_installs_existing_extras() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    assert re.search(r"^ARG AIRFLOW_VERSION=3\.3\.\d+$", text, re.M)
    assert re.search(r"^FROM apache/airflow:\$\{AIRFLOW_VERSION\}", text, re.M)
    assert "openjdk-17-jre" in text, "Spark needs a Java runtime in the image"
    extras_declared = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    )
    installed = re.findall(r"/opt/pyfunc_ops\[([a-z0-9,]+)\]", text)
    assert installed, "the Dockerfile must install pyfunc_ops with extras"
    for group in installed:
        extras = set(group.split(","))
        assert extras <= extras_declared, extras - extras_declared
        assert {"airflow", "spark", "s3", "postgres"} <= extras


def test_compose_defines_every_service_the_dags_need() -> None:
    services = _compose()["services"]
    for name in (
        "postgres",
        "minio",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
    ):
        assert name in services, name
    for name in (
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
    ):
        service = services[name]
        assert service["image"] == "pyfunc-ops-airflow:latest"
        assert "../dags:/opt/airflow/dags" in service["volumes"]
        env = service["environment"]
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
        conn = json.loads(env["AIRFLOW_CONN_PYFUNC_OPS_DEFAULT"])
        assert conn["conn_type"] == "pyfunc_ops"
        assert conn["extra"]["tracking_uri"].startswith("postgresql")
        assert conn["extra"]["artifact_root"].startswith("s3://")
        assert conn["extra"]["endpoint_url"] == "http://minio:9000"
        assert "postgres" in service["depends_on"]


def test_compose_commands_match_airflow_3_components() -> None:
    services = _compose()["services"]
    assert services["airflow-apiserver"]["command"] == "api-server"
    assert services["airflow-scheduler"]["command"] == "scheduler"
    assert services["airflow-dag-processor"]["command"] == "dag-processor"
    assert services["airflow-triggerer"]["command"] == "triggerer"
    assert "db migrate" in " ".join(services["airflow-init"]["command"])


def test_dags_folder_exists_for_the_mount() -> None:
    names = {p.name for p in (ROOT / "dags").glob("*.py")}
    assert {"retrain_and_package.py", "batch_score.py"} <= names


def _dockerfile_steps() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = (DOCKER / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def test_image_creates_the_data_folder_owned_by_airflow_as_root() -> None:
    steps = _dockerfile_steps()
    users = [i for i, step in enumerate(steps) if step.startswith("USER ")]
    made = [
        i
        for i, step in enumerate(steps)
        if re.search(r"mkdir -p /opt/airflow/data\b", step)
        and re.search(r"chown airflow(:\w+)? /opt/airflow/data\b", step)
    ]
    assert made, "the image must create /opt/airflow/data and chown it to airflow"
    # chown needs root: the last USER before that step is root.
    assert steps[max(i for i in users if i < made[0])] == "USER root"
    # ... and it is the folder the named volume is mounted on (Docker copies its owner).
    for name, service in _compose()["services"].items():
        if service.get("image") == "pyfunc-ops-airflow:latest":
            assert "airflow-data:/opt/airflow/data" in service["volumes"], name
            assert service["environment"]["PYFUNC_OPS_DEMO_DIR"] == "/opt/airflow/data"


def test_java_home_is_architecture_independent_and_created_at_build_time() -> None:
    steps = _dockerfile_steps()
    homes = [s.split("=", 1)[1] for s in steps if s.startswith("ENV JAVA_HOME=")]
    assert len(homes) == 1, homes
    home = homes[0]
    assert not re.search(r"amd64|arm64|aarch64|x86_64", home), home
    # The stable path is a symlink made from the installed java binary, then checked.
    assert any(
        re.search(rf"ln -sfn .*readlink -f .*java.* {re.escape(home)}\b", s) for s in steps
    ), f"nothing creates {home}"
    assert any(f"{home}/bin/java -version" in s for s in steps)


def test_every_image_is_pinned() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    assert re.search(r"^ARG AIRFLOW_VERSION=\d+\.\d+\.\d+$", text, re.M)
    assert re.search(r"^ARG PYTHON_VERSION=\d+\.\d+$", text, re.M)
    rules = {
        "postgres": r"postgres:\d+\.\d+",
        "minio/minio": r"minio/minio:RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ",
        "minio/mc": r"minio/mc:RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ",
        "ghcr.io/mlflow/mlflow": r"ghcr\.io/mlflow/mlflow:v\d+\.\d+\.\d+",
    }
    seen = set()
    for name, service in _compose()["services"].items():
        image = service["image"]
        if "build" in service:  # built from this checkout on the pinned base image
            continue
        repository = image.rsplit(":", 1)[0]
        assert repository in rules, f"{name}: {image} has no pinning rule"
        assert re.fullmatch(rules[repository], image), f"{name}: {image} is not pinned"
        seen.add(repository)
    assert seen == set(rules)


def test_readme_says_how_to_unpause_trigger_and_where_to_look() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Docker") : readme.index("## Command line")]
    assert "# docs-test: skip (needs Docker)" in section
    for dag_id in ("retrain_and_package", "batch_score"):
        assert f"airflow dags unpause {dag_id}" in section, dag_id
    assert "airflow dags trigger retrain_and_package" in section
    assert "/opt/airflow/logs" in section, "where the task logs are"
    assert "/opt/airflow/data" in section, "where the outputs are"
    assert "predictions/pyfunc/v<version>.parquet" in section
