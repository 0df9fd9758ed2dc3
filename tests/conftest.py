"""Shared fixtures: every test gets its own store folder, registry and cache.

``s3_server`` starts moto's standalone server on 127.0.0.1 (real HTTP, as s3fs's own tests
do) once per session; ``s3_bucket`` gives each test a fresh bucket on it.
"""

from __future__ import annotations

import os
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from env_vars import environ
from spark_session import local_spark

_ISOLATED_VARS = (
    "PYFUNC_OPS_TRACKING_URI",
    "PYFUNC_OPS_ARTIFACT_ROOT",
    "PYFUNC_OPS_CACHE_DIR",
    "PYFUNC_OPS_ENV_DIR",
)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh PYFUNC_OPS_HOME per test, so no test sees another's runs or models."""
    home = tmp_path / "pyfunc_ops_home"
    monkeypatch.setenv("PYFUNC_OPS_HOME", str(home))
    for var in _ISOLATED_VARS:
        monkeypatch.delenv(var, raising=False)
    # Restored environments are expensive to build: share them across tests unless a
    # test points PYFUNC_OPS_ENV_DIR elsewhere itself.
    shared_envs = os.environ.get("PYFUNC_OPS_TEST_ENV_DIR")
    if shared_envs:
        monkeypatch.setenv("PYFUNC_OPS_ENV_DIR", shared_envs)
    monkeypatch.setattr(sys, "path", list(sys.path))
    # botocore must never look for credentials on an instance-metadata address.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return home


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    credentials = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }
    try:
        with environ(credentials):
            yield endpoint
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: str) -> str:
    """A fresh, empty bucket on the moto server; yields ``s3://<bucket>``."""
    import s3fs

    name = f"test-{uuid.uuid4().hex[:12]}"
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server}, skip_instance_cache=True)
    fs.mkdir(name)
    s3fs.S3FileSystem.clear_instance_cache()
    return f"s3://{name}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``own_spark`` start a SparkSession of their own, which stops any other
    (a Python process has one SparkContext): they run first, before the shared ``spark``
    session below starts, so it is never stopped under the tests that use it."""
    own = [item for item in items if item.get_closest_marker("own_spark")]
    if own:
        items[:] = own + [item for item in items if not item.get_closest_marker("own_spark")]


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One ``local[2]`` SparkSession for every Spark test (starting one costs seconds), with
    few shuffle partitions; its Python workers run this interpreter, so they import the same
    pyfunc_ops and pandas as the test."""
    conf = {"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"}
    with local_spark("pyfunc_ops-tests", conf=conf) as session:
        yield session
