"""spark_udf with env_manager="virtualenv": built once, one worker per Python worker."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from env_helpers import PINNED_SIX, save_version_model
from spark_session import local_spark

# Its own session (its workers need PYFUNC_OPS_ENV_DIR): run before the shared one starts.
pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.own_spark]
pyspark = pytest.importorskip("pyspark")


@pytest.fixture(scope="module")
def spark_env_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh environment cache for the Spark Python workers (they race to build it)."""
    return tmp_path_factory.mktemp("spark-envs")


@pytest.fixture(scope="module")
def spark(spark_env_dir: Path) -> Iterator[object]:
    """local[2] whose Python workers see ``spark_env_dir`` as their environment cache (set
    before the JVM starts, so they inherit it)."""
    env = {"PYFUNC_OPS_ENV_DIR": str(spark_env_dir)}
    conf = {
        "spark.python.worker.reuse": "true",
        "spark.executorEnv.PYFUNC_OPS_ENV_DIR": str(spark_env_dir),
    }
    with local_spark("pyfunc_ops-envs-test", env=env, conf=conf) as session:
        yield session


def test_spark_udf_scores_in_the_restored_environment(
    spark: object, spark_env_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyspark.sql import functions as F

    from pyfunc_ops.envs.builder import BUILD_LOG
    from pyfunc_ops.pyfunc import spark_udf

    env_dir = spark_env_dir
    monkeypatch.setenv("PYFUNC_OPS_ENV_DIR", str(env_dir))
    model = save_version_model(tmp_path / "model", [f"six=={PINNED_SIX}"])
    udf = spark_udf(spark, str(model), result_type="string", env_manager="virtualenv")
    df = spark.range(0, 1600, numPartitions=16)  # type: ignore[attr-defined]
    rows = df.select(udf(F.struct(F.col("id").alias("tag"))).alias("out")).collect()
    assert len(rows) == 1600
    versions = {r.out.split("@")[0] for r in rows}
    worker_pids = {r.out.split("@")[1] for r in rows}
    assert versions == {PINNED_SIX}
    # local[2]: two Python worker processes, each with its one scoring worker, reused by
    # all 16 tasks.
    assert 1 <= len(worker_pids) <= 2
    builds = [json.loads(line) for line in (env_dir / BUILD_LOG).read_text().splitlines()]
    assert len(builds) == 1
    assert builds[0]["pid"] != os.getpid()  # built inside a Spark Python worker
