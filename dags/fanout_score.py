"""Fan-out scoring: one mapped ``PyfuncPredictOperator`` task per input shard, one part file
per input file, then one check that every part is there.

For data too large for one task but too small to warrant Spark. The model is resolved
once, upstream (``resolve_model`` pins ``models:/<name>/<version>``), so every mapped task
scores the same version even if the alias moves while they run.

build_input -> list_shards -> score (PyfuncPredictOperator.partial(...).expand(input_url=
shards), output_mode="parts", all into one folder) -> check (check_parts)
resolve_model ----------------^

Input: ``<out_dir>/data/fanout/<shard>/*.parquet`` (built once by ``build_input``; file
names are unique across shards, as the parts are named after them). Output:
``<out_dir>/predictions/fanout/v<version>/`` with one part per input file and a manifest.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import AssetAlias, dag, task

from pyfunc_ops.airflow.operators import PyfuncPredictOperator
from pyfunc_ops.airflow.operators.base import OUTPUT_ASSET_ALIAS
from pyfunc_ops.core.uri import models_uri

MODEL_NAME = os.environ.get("PYFUNC_OPS_DEMO_MODEL", "demo_regressor")
FEATURES = ["f0", "f1", "f2", "f3"]
OUT_DIR = os.environ.get("PYFUNC_OPS_DEMO_DIR") or str(Path(__file__).resolve().parents[1] / "out")
PINNED = "{{ ti.xcom_pull(task_ids='resolve_model')['model_uri'] }}"
VERSION = "{{ ti.xcom_pull(task_ids='resolve_model')['version'] }}"
OUTPUT = "{{ params.out_dir }}/predictions/fanout/v" + VERSION


@dag(
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params={
        "out_dir": OUT_DIR,
        "model_name": MODEL_NAME,
        "alias": "champion",
        "shards": 4,
        "files_per_shard": 2,
        "rows_per_file": 2_500,
    },
    tags=["pyfunc_ops", "example"],
    doc_md=__doc__,
)
def fanout_score():
    @task
    def resolve_model(params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The version the alias points to now, as a pinned URI for every mapped task."""
        from pyfunc_ops.airflow.hooks import PyfuncOpsHook

        assert params is not None
        name, alias = params["model_name"], params["alias"]
        version = PyfuncOpsHook().get_client().get_model_version_by_alias(name, alias)
        return {
            "name": name,
            "alias": alias,
            "version": int(version.version),
            "digest": version.digest,
            "model_uri": models_uri(name, version.version),
        }

    @task
    def build_input(params: dict[str, Any] | None = None) -> str:
        """A fixed sharded dataset (built once): ``<shard>/<shard>-part-<n>.parquet``."""
        import numpy as np
        import pandas as pd

        assert params is not None
        shards, files = int(params["shards"]), int(params["files_per_shard"])
        rows = int(params["rows_per_file"])
        root = Path(params["out_dir"]) / "data" / "fanout" / f"{shards}x{files}x{rows}"
        rng = np.random.default_rng(7)
        for shard in range(shards):
            folder = root / f"shard-{shard:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            for part in range(files):
                path = folder / f"shard-{shard:03d}-part-{part:03d}.parquet"
                if not path.exists():
                    frame = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)
                    frame.to_parquet(path, index=False)
        return str(root)

    @task
    def list_shards(root: str) -> list[str]:
        """One input URL (a shard folder) per mapped scoring task."""
        from pyfunc_ops.storage.filesystem import get_filesystem

        fs, path = get_filesystem(root)
        names = sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(path, detail=False))
        return [f"{root.rstrip('/')}/{name}" for name in names if fs.isdir(f"{path}/{name}")]

    @task
    def check(root: str, params: dict[str, Any] | None = None, ti: Any = None) -> dict[str, Any]:
        """Every input file has its part in the output folder (raises when one is missing)."""
        from pyfunc_ops.jobs.parts import check_parts
        from pyfunc_ops.jobs.scoring import list_input_files

        pinned = ti.xcom_pull(task_ids="resolve_model")
        output = f"{params['out_dir']}/predictions/fanout/v{pinned['version']}"
        _, inputs, _ = list_input_files(root)
        return check_parts(output, expected_inputs=inputs)

    pinned = resolve_model()
    root = build_input()
    score = PyfuncPredictOperator.partial(
        task_id="score",
        model_uri=PINNED,
        output_url=OUTPUT,
        output_mode="parts",
        columns=FEATURES,
        batch_size=2_000,
        # .partial() does not run the operator's __init__, so name the outlet: each
        # mapped task attaches its event to the output folder's Asset through the alias.
        outlets=[AssetAlias(OUTPUT_ASSET_ALIAS)],
    ).expand(input_url=list_shards(root))
    pinned >> score >> check(root)


fanout_score()
