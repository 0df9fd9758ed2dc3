"""The docker/ deployment cannot be started here (no Docker engine), so its files are
checked for what matters: the image installs extras that exist, and every service the
example DAGs need is defined and wired to the pyfunc_ops connection."""

from __future__ import annotations

import json
import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]
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
