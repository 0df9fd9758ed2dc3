"""End to end on S3 (s3fs against moto's server on 127.0.0.1): log and register two
versions, promote them, then load by alias and by stage in fresh processes that share
only the environment; the second process is served from the cache by digest, a
registered version cannot be overwritten, and one tampered with on S3 is never served."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

import pyfunc_ops.sklearn as pyfunc_sklearn
from pyfunc_ops import tracking
from pyfunc_ops.errors import IntegrityError, ModelExistsError
from pyfunc_ops.storage.filesystem import get_filesystem
from pyfunc_ops.storage.transfer import upload_tree

HELPER = Path(__file__).parent / "e2e_helpers" / "load_models.py"
TRAIN = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0, 5.0], "b": [0.0, 1.0, 0.0, 1.0, 1.0]})
# The frame the helper predicts on.
FRAME = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.0, 1.0, 0.0]})
CHAMPION = "models:/churn@champion"
PRODUCTION = "models:/churn/Production"
_ENV_VARS = (
    "PYFUNC_OPS_TRACKING_URI",
    "PYFUNC_OPS_ARTIFACT_ROOT",
    "PYFUNC_OPS_CACHE_DIR",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
)


def _estimator(scale: float) -> LinearRegression:
    """Learns y = scale * a + b exactly."""
    return LinearRegression().fit(TRAIN, scale * TRAIN["a"] + TRAIN["b"])


def _expected(scale: float) -> list[float]:
    return list(scale * FRAME["a"] + FRAME["b"])


def _fresh_process(tmp_path: Path, *uris: str) -> dict[str, Any]:
    """Load ``uris`` in a new interpreter that sees only the configuration variables."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    env.update({name: os.environ[name] for name in _ENV_VARS})
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    # No PYFUNC_OPS_HOME: the child must find everything through the variables above.
    done = subprocess.run(
        [sys.executable, str(HELPER), *uris],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _cache_snapshot(cache_dir: Path) -> dict[str, int]:
    """{file path: mtime_ns} of every file in the cache (lock files and the last-use
    markers, which a hit touches on purpose, excluded)."""
    return {
        str(p.relative_to(cache_dir)): p.stat().st_mtime_ns
        for p in cache_dir.rglob("*")
        if p.is_file() and not p.name.endswith((".lock", ".used"))
    }


def _entries(cache_dir: Path) -> set[str]:
    return {p.name for p in cache_dir.glob("*/*") if p.is_dir()}


@pytest.fixture
def s3_registry(s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Registry on a SQLite file, artifacts on S3: 'churn' v1 (Production), v2 (champion)."""
    monkeypatch.setenv("PYFUNC_OPS_TRACKING_URI", f"sqlite:///{tmp_path / 'registry.db'}")
    monkeypatch.setenv("PYFUNC_OPS_ARTIFACT_ROOT", f"{s3_bucket}/artifacts")
    monkeypatch.setenv("PYFUNC_OPS_CACHE_DIR", str(tmp_path / "cache"))

    with tracking.start_run(run_name="train-v1"):
        v1 = pyfunc_sklearn.log_model(_estimator(1), "model", registered_model_name="churn")
    with tracking.start_run(run_name="train-v2"):
        v2 = pyfunc_sklearn.log_model(_estimator(2), "model", registered_model_name="churn")

    client = tracking.TrackingClient()
    client.transition_model_version_stage("churn", 1, "Production")
    client.set_registered_model_alias("churn", "champion", 2)
    return {"v1": v1, "v2": v2, "client": client, "cache": tmp_path / "cache"}


def test_log_register_promote_load_in_fresh_processes(
    s3_registry: dict[str, Any], s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1, v2, client = s3_registry["v1"], s3_registry["v2"], s3_registry["client"]
    cache_dir: Path = s3_registry["cache"]

    # Logged to S3 under the artifact root, registered as versions 1 and 2.
    assert (v1.registered_model_version, v2.registered_model_version) == (1, 2)
    for info in (v1, v2):
        assert info.artifact_uri == f"{s3_bucket}/artifacts/{info.run_id}/artifacts/model"
        assert info.model_uri == f"runs:/{info.run_id}/model"
        fs, path = get_filesystem(info.artifact_uri)
        assert fs.isfile(f"{path}/MLmodel") and fs.isfile(f"{path}/model.skops")
    assert client.get_model_version("churn", 2).source == v2.artifact_uri
    assert client.get_model_version_by_alias("churn", "champion").version == 2
    assert [v.version for v in client.get_latest_versions("churn", ["Production"])] == [1]
    assert not cache_dir.exists()  # logging does not fill the cache

    first = _fresh_process(tmp_path, CHAMPION, PRODUCTION)
    np.testing.assert_allclose(first["models"][CHAMPION]["predictions"], _expected(2))
    np.testing.assert_allclose(first["models"][PRODUCTION]["predictions"], _expected(1))
    assert (first["hits"], first["misses"]) == (0, 2)
    assert sum("cache miss" in line for line in first["cache_log"]) == 2
    assert len(_entries(cache_dir)) == 2
    for uri in (CHAMPION, PRODUCTION):
        assert Path(first["models"][uri]["path"]).parent.parent == cache_dir
    before = _cache_snapshot(cache_dir)

    second = _fresh_process(tmp_path, CHAMPION, PRODUCTION)
    assert (second["hits"], second["misses"]) == (2, 0)
    assert sum("cache hit" in line for line in second["cache_log"]) == 2
    assert not any("miss" in line for line in second["cache_log"])
    for uri in (CHAMPION, PRODUCTION):
        assert second["models"][uri] == first["models"][uri]
    # Nothing was downloaded again: no new entry, every cached file untouched.
    assert _cache_snapshot(cache_dir) == before

    # A registered version never changes: uploading over it is refused.
    with tempfile.TemporaryDirectory() as tmp:
        pyfunc_sklearn.save_model(_estimator(3), Path(tmp) / "model")
        with pytest.raises(ModelExistsError, match="already holds files"):
            upload_tree(Path(tmp) / "model", s3_registry["v2"].artifact_uri)
    # Tampering with its files on S3 behind the library's back: the cached, verified copy
    # is still what loads (a hit makes no request to S3) ...
    fs, path = get_filesystem(v2.artifact_uri)
    fs.pipe_file(f"{path}/model.skops", b"tampered")
    fs.invalidate_cache()
    again = _fresh_process(tmp_path, CHAMPION, PRODUCTION)
    np.testing.assert_allclose(again["models"][CHAMPION]["predictions"], _expected(2))
    assert (again["hits"], again["misses"]) == (2, 0)
    # ... and with an empty cache the tampered files are refused, naming the file.
    monkeypatch.setenv("PYFUNC_OPS_CACHE_DIR", str(tmp_path / "empty-cache"))
    with pytest.raises(IntegrityError, match=r"model\.skops"):
        pyfunc_sklearn.load_model(CHAMPION)
    assert not any((tmp_path / "empty-cache").glob("*/*/MLmodel"))
