"""One local Spark session for every Spark test of the session (starting one costs seconds)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from spark_session import local_spark


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """``local[2]`` SparkSession with few shuffle partitions; its Python workers run this
    interpreter, so they import the same pyfunc_ops and pandas as the test."""
    conf = {"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"}
    with local_spark("pyfunc_ops-tests", conf=conf) as session:
        yield session
