"""pyfunc_ops against a real ``mlflow server`` (SQLite backend, proxied artifacts in tmp).

The server and MLflow's client run from the MLflow venv; pyfunc_ops (here, without mlflow)
talks to the server over REST only. MLflow logs and registers, we load by alias, version,
``latest``, model id and ``runs:/``; we log, register and alias, MLflow reads and loads.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import run_in_mlflow
from sklearn.linear_model import LinearRegression

from benchmarks.common import free_port, mlflow_server
from pyfunc_ops import pyfunc, tracking
from pyfunc_ops import sklearn as our_sklearn
from pyfunc_ops.errors import ResourceNotFoundError, TrackingStoreError
from pyfunc_ops.tracking import TrackingClient

pytestmark = pytest.mark.mlflow

X = pd.DataFrame({"x": np.arange(6, dtype=float)})


@dataclass
class Server:
    url: str
    root: Path
    mlflow_python: Path
    logged: dict[str, Any]


@pytest.fixture(scope="module")
def server(mlflow_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("mlflow_server")
    with mlflow_server(mlflow_python, root) as url:
        out = root / "logged.json"
        run_in_mlflow(mlflow_python, "server_side.py", "log", url, out, cwd=root)
        yield Server(url, root, mlflow_python, json.loads(out.read_text()))


@pytest.fixture
def at_server(server: Server) -> Iterator[TrackingClient]:
    tracking.set_tracking_uri(server.url)
    try:
        yield TrackingClient()
    finally:
        tracking.set_tracking_uri(None)


def _predict(uri: str) -> list[float]:
    return np.asarray(pyfunc.load_model(uri).predict(X)).ravel().tolist()


# -- MLflow wrote, pyfunc_ops reads ---------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "which"),
    [
        ("models:/mlflow-made@champion", 0),
        ("models:/mlflow-made/2", 1),
        ("models:/mlflow-made/latest", 1),
        ("models:/mlflow-made/None", 1),
    ],
)
def test_loads_what_mlflow_registered(
    server: Server, at_server: TrackingClient, uri: str, which: int
) -> None:
    assert _predict(uri) == pytest.approx(server.logged["predictions"][which])


def test_loads_mlflow_3_logged_model_by_id_and_by_run(
    server: Server, at_server: TrackingClient
) -> None:
    model_id, run_id = server.logged["model_ids"][1], server.logged["run_ids"][1]
    expected = server.logged["predictions"][1]
    assert _predict(f"models:/{model_id}") == pytest.approx(expected)
    assert _predict(f"runs:/{run_id}/model") == pytest.approx(expected)


def test_registry_calls_see_mlflow_versions(server: Server, at_server: TrackingClient) -> None:
    client = at_server
    assert client.get_model_version_by_alias("mlflow-made", "champion").version == 1
    assert [v.version for v in client.get_latest_versions("mlflow-made")] == [2]
    assert [v.version for v in client.search_model_versions("name='mlflow-made'")] == [2, 1]
    assert "mlflow-made" in [m.name for m in client.search_registered_models("name LIKE 'mlflow%'")]
    moved = client.transition_model_version_stage("mlflow-made", 1, "staging")
    assert moved.current_stage == "Staging"
    assert client.get_latest_versions("mlflow-made", ["Staging"])[0].version == 1
    assert client.get_run(server.logged["run_ids"][0]).info.status == "FINISHED"


def test_the_cli_works_against_the_server(
    server: Server, at_server: TrackingClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same commands as against the SQL registry: list, versions, describe, predict."""
    from pyfunc_ops.cli import main

    assert main(["models", "list"]) == 0
    assert "mlflow-made" in capsys.readouterr().out
    assert main(["models", "versions", "mlflow-made"]) == 0
    listed = capsys.readouterr().out
    assert "1" in listed and "2" in listed
    assert main(["describe", "models:/mlflow-made@champion"]) == 0
    assert "mlflow-made" in capsys.readouterr().out
    (tmp_path / "in").mkdir()
    X.to_parquet(tmp_path / "in" / "x.parquet")
    out = tmp_path / "scored.parquet"
    argv = ["predict", "-m", "models:/mlflow-made/1", "-i", str(tmp_path / "in"), "-o", str(out)]
    assert main(argv) == 0
    scored = pd.read_parquet(out).iloc[:, 0].tolist()
    assert scored == pytest.approx(server.logged["predictions"][0])
    assert main(["models", "versions", "no-such-model"]) == 1
    assert "no-such-model" in capsys.readouterr().err


def test_unknown_names_versions_and_aliases_list_what_exists(at_server: TrackingClient) -> None:
    client = at_server
    with pytest.raises(ResourceNotFoundError, match=r"'mlflow-mad' does not exist; .*mlflow-made"):
        client.get_model_version("mlflow-mad", 1)
    with pytest.raises(ResourceNotFoundError, match=r"no version 7; versions that exist: 1, 2"):
        client.get_model_version("mlflow-made", 7)
    with pytest.raises(ResourceNotFoundError, match=r"no alias 'champ'; aliases: champion -> v1"):
        client.get_model_version_by_alias("mlflow-made", "champ")
    with pytest.raises(ResourceNotFoundError, match=r"no version in stage 'Production'"):
        pyfunc.load_model("models:/mlflow-made/Production")
    with pytest.raises(ResourceNotFoundError, match=r"run 'nope' does not exist"):
        client.get_run("nope")
    with pytest.raises(ResourceNotFoundError, match=r"logged model 'm-0123456789abcdef' does not"):
        pyfunc.load_model("models:/m-0123456789abcdef")


# -- pyfunc_ops writes, MLflow reads ----------------------------------------------------------


def test_mlflow_reads_and_loads_what_we_registered(
    server: Server, at_server: TrackingClient
) -> None:
    model = LinearRegression().fit(X, 3.0 * X["x"] - 1.0)
    with tracking.start_run(run_name="ours") as run:
        tracking.log_param("alpha", 0.5)
        tracking.log_metric("rmse", 0.25)
        info = our_sklearn.log_model(
            model, "model", registered_model_name="ours-made", serialization_format="skops"
        )
    client = at_server
    client.set_registered_model_alias("ours-made", "champion", info.registered_model_version)
    client.set_model_version_tag("ours-made", 1, "team", "ml")
    assert client.get_model_version_by_alias("ours-made", "champion").aliases == ["champion"]
    stored = client.get_run(run.info.run_id)
    assert stored.data.params == {"alpha": "0.5"}
    assert stored.data.metrics == {"rmse": 0.25}
    assert stored.info.artifact_uri.startswith("mlflow-artifacts:///")
    assert _predict("models:/ours-made@champion") == pytest.approx(model.predict(X).tolist())

    out = server.root / "read.json"
    run_in_mlflow(
        server.mlflow_python,
        "server_side.py",
        "read",
        server.url,
        "ours-made",
        out,
        cwd=server.root,
    )
    seen = json.loads(out.read_text())
    assert seen["version"] == "1" and seen["aliases"] == ["champion"]
    assert seen["run_id"] == run.info.run_id
    assert seen["tags"]["team"] == "ml"
    assert seen["source"].startswith("mlflow-artifacts:/0/")  # MLflow's own form
    assert seen["sklearn"] == pytest.approx(model.predict(X).tolist())
    assert seen["pyfunc"] == pytest.approx(model.predict(X).tolist())


def test_digest_travels_as_a_version_tag(at_server: TrackingClient) -> None:
    run = at_server.create_run(run_name="digest")
    registry = at_server.registry
    registry.create_registered_model("digested")
    created = registry.create_model_version(
        "digested",
        run.info.artifact_uri + "/model",
        run_id=run.info.run_id,
        digest="sha256:abc",
    )
    assert created.digest == "sha256:abc"
    again = at_server.get_model_version("digested", created.version)
    assert again.digest == "sha256:abc"
    assert again.tags["pyfunc_ops.digest"] == "sha256:abc"


_REGISTER = """
import sys
from pyfunc_ops.tracking import TrackingClient
version = TrackingClient(sys.argv[1]).register_model(source=sys.argv[2], name="race")
print(version.version)
"""


def test_four_processes_registering_at_once_get_versions_1_to_4(server: Server) -> None:
    source = f"runs:/{server.logged['run_ids'][0]}/model"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _REGISTER, server.url, source],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [proc.communicate(timeout=120) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), [err for _, err in results]
    assert sorted(int(out.strip()) for out, _ in results) == [1, 2, 3, 4]
    version = TrackingClient(server.url).get_model_version("race", 1)
    assert version.source.startswith("mlflow-artifacts:///0/models/m-")


def test_a_server_that_is_down_names_the_url_without_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0.01")
    port = free_port()
    client = TrackingClient(f"http://alice:s3cret@127.0.0.1:{port}")
    with pytest.raises(
        TrackingStoreError, match=rf"cannot reach .* at http://127\.0\.0\.1:{port} "
    ) as err:
        client.get_model_version("m", 1)
    assert "s3cret" not in str(err.value) and "alice" not in str(err.value)
    assert "s3cret" not in repr(client)


def test_mlflow_artifacts_filesystem_lists_reads_writes_and_deletes(
    at_server: TrackingClient,
) -> None:
    import fsspec

    from pyfunc_ops.errors import ModelNotFoundError
    from pyfunc_ops.storage.transfer import list_tree

    run = at_server.create_run(run_name="files")
    base = run.info.artifact_uri
    with fsspec.open(f"{base}/notes/a.txt", "wb") as out:
        out.write(b"hello")
    fs, path = fsspec.core.url_to_fs(f"{base}/notes")
    fs.pipe_file(f"{path}/b.txt", b"world!")
    assert sorted(fs.ls(path, detail=False)) == [f"{path}/a.txt", f"{path}/b.txt"]
    assert fs.info(f"{path}/b.txt")["size"] == 6
    assert fs.cat_file(f"{path}/a.txt") == b"hello"
    assert list(list_tree(f"{base}/notes").files) == ["a.txt", "b.txt"]
    fs.rm_file(f"{path}/a.txt")
    assert not fs.exists(f"{path}/a.txt")
    with pytest.raises(ModelNotFoundError, match=r"Nothing found at .*missing"):
        list_tree(f"{base}/missing")
    with pytest.raises(ModelNotFoundError, match=r"expected an MLmodel file"):
        pyfunc.load_model(f"runs:/{run.info.run_id}/notes")


def test_sensor_conditions_see_versions_mlflow_registered(at_server: TrackingClient) -> None:
    from pyfunc_ops.jobs.conditions import find_model_version

    found = find_model_version(at_server, "mlflow-made", alias="champion")
    assert found is not None and found.version == 1
    newest = find_model_version(at_server, "mlflow-made", min_version=1)
    assert newest is not None and newest.version == 2
    assert find_model_version(at_server, "mlflow-made", min_version=2) is None
    assert find_model_version(at_server, "mlflow-made", alias="not-yet") is None
    assert find_model_version(at_server, "not-registered-yet") is None


def test_packaging_twice_with_one_idempotency_key_registers_once(
    at_server: TrackingClient, tmp_path: Path
) -> None:
    """A retried packaging task finds its earlier run by the key tag (runs/search with
    ``tags.`pyfunc_ops.idempotency_key` = '...'``) and registers nothing new."""
    from pyfunc_ops.jobs.packaging import IDEMPOTENCY_TAG, package_model
    from pyfunc_ops.sklearn import import_skops_io

    estimator = tmp_path / "model.skops"
    import_skops_io().dump(LinearRegression().fit(X, 2.0 * X["x"]), estimator)
    options = {"estimator_path": str(estimator), "registered_model_name": "packaged-once"}
    first = package_model(idempotency_key="dag.task.2026-12-01", **options)
    again = package_model(idempotency_key="dag.task.2026-12-01", **options)
    assert not first.reused and first.version == 1
    assert again.reused and (again.run_id, again.version) == (first.run_id, 1)
    assert again.model_uri == "models:/packaged-once/1"
    other = package_model(idempotency_key="dag.task.2026-12-02", **options)
    assert not other.reused and other.version == 2
    found = at_server.search_runs(tags={IDEMPOTENCY_TAG: "dag.task.2026-12-01"})
    assert [r.info.run_id for r in found] == [first.run_id]
    assert [v.version for v in at_server.search_model_versions("name='packaged-once'")] == [2, 1]
    assert _predict(again.model_uri) == pytest.approx((2.0 * X["x"]).tolist())


def test_a_retry_after_a_crash_between_register_and_bookkeeping_reuses_the_version(
    at_server: TrackingClient, tmp_path: Path
) -> None:
    """The first try registered but died before tagging its run with the result: the
    version whose run_id is that run is found (model-versions/search) and reused."""
    from pyfunc_ops.jobs.packaging import IDEMPOTENCY_TAG, package_model
    from pyfunc_ops.sklearn import import_skops_io

    fitted = LinearRegression().fit(X, X["x"] + 1.0)
    estimator = tmp_path / "model.skops"
    import_skops_io().dump(fitted, estimator)
    with tracking.start_run(tags={IDEMPOTENCY_TAG: "crashed-key"}) as run:
        our_sklearn.log_model(fitted, "model", registered_model_name="packaged-crash")
    again = package_model(
        estimator_path=str(estimator),
        registered_model_name="packaged-crash",
        idempotency_key="crashed-key",
    )
    assert again.reused and (again.run_id, again.version) == (run.info.run_id, 1)
    assert len(at_server.search_model_versions("name='packaged-crash'")) == 1
