"""Per-model code isolation in one Spark worker: two UDFs of two models whose ``code/``
folders hold same-named modules, evaluated in the same projection (one Python worker)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_code_isolation import save_pickled, save_workflow2

from pyfunc_ops.pyfunc import spark_udf

pytestmark = pytest.mark.spark


def test_two_models_with_same_named_modules_in_one_worker(spark: Any, tmp_path: Path) -> None:
    pickled_a = save_pickled(tmp_path, "a", factor=2, offset=0)
    pickled_b = save_pickled(tmp_path, "b", factor=10, offset=1)
    loader_a = save_workflow2(tmp_path, "a", factor=3)
    loader_b = save_workflow2(tmp_path, "b", factor=5)
    df = spark.createDataFrame([(1,), (2,), (3,)], "x long").coalesce(1)
    udfs = {
        name: spark_udf(spark, str(path), result_type="long")
        for name, path in [("pa", pickled_a), ("pb", pickled_b), ("la", loader_a), ("lb", loader_b)]
    }
    out = df.select("x", *(udf("x").alias(name) for name, udf in udfs.items()))
    rows = sorted(out.collect())
    assert [(r.x, r.pa, r.pb, r.la, r.lb) for r in rows] == [
        (1, 2, 11, 3, 5),
        (2, 4, 21, 6, 10),
        (3, 6, 31, 9, 15),
    ]
