"""The one way the tests start Spark: ``local[2]``, no UI, Arrow on, our interpreter in the
Python workers, and the environment variables put back afterwards."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest
from env_vars import environ


@contextmanager
def local_spark(
    app_name: str, env: Mapping[str, str] | None = None, conf: Mapping[str, str] | None = None
) -> Iterator[Any]:
    """A fresh ``local[2]`` SparkSession; ``env`` is set before the JVM starts, so the
    Python workers inherit it, and ``conf`` is added to the common settings. Tables go to a
    temporary warehouse, removed afterwards, never to ``spark-warehouse`` in the checkout."""
    pytest.importorskip("pyspark")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java (java on PATH or JAVA_HOME)")
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:  # a session started with other settings would be reused
        active.stop()
    variables = {"PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    variables.update(env or {})
    warehouse = tempfile.mkdtemp(prefix="pyfunc-ops-spark-warehouse-")
    with environ(variables):
        builder = (
            SparkSession.builder.master("local[2]")
            .appName(app_name)
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.sql.warehouse.dir", warehouse)
        )
        for key, value in (conf or {}).items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
        try:
            yield session
        finally:
            session.stop()
            shutil.rmtree(warehouse, ignore_errors=True)
