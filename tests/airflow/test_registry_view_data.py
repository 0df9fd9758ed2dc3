"""The registry view's content, without a browser: pages of versions, the chart's points,
who registered and who scored, DAG links filtered by permission, secrets redacted, file
verification, and the same page read from an MLflow tracking server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from benchmarks.common import mlflow_server
from pyfunc_ops.airflow.plugins import registry, registry_data
from pyfunc_ops.tracking import TrackingClient

pytestmark = [pytest.mark.airflow]

SECRET = "s3cr3t-pa55"


def _history(client: TrackingClient, name: str, versions: int) -> None:
    for number in range(1, versions + 1):
        run = client.create_run(run_name=f"train-{number}")
        client.log_batch(
            run.info.run_id,
            params={"alpha": str(number), "db": f"postgresql://etl:{SECRET}@db.internal/x"},
            tags={
                "airflow.dag_id": "retrain" if number % 2 else "private_dag",
                "airflow.run_id": f"run-{number}",
                "airflow.task_id": "package",
            },
        )
        source = f"{run.info.artifact_uri}/model"  # an MLflow server wants it in the run
        client.register_model(source, name, run_id=run.info.run_id)
        client.set_model_version_tag(name, number, "pyfunc_ops.eval.r2_score", str(number / 100))
        client.set_model_version_tag(name, number, "pyfunc_ops.eval.passed", "true")
        client.set_model_version_tag(name, number, "team", "pricing")


@pytest.fixture
def app_client() -> Iterator[TestClient]:
    """The plugin's app in process; the caller may read the DAG ``retrain`` only."""
    app = registry.create_app()

    async def readable() -> set[str]:
        return {"retrain"}

    app.dependency_overrides[registry._readable_dags] = readable
    yield TestClient(app, root_path=registry.URL_PREFIX)


def test_pages_chart_links_and_redaction(airflow_db: Path, app_client: TestClient) -> None:
    _history(TrackingClient(), "pricing", 120)
    page = registry_data.model_page(TrackingClient(), "pricing", page=2, readable={"retrain"})
    assert (page.total, page.pages, page.page) == (120, 3, 2)
    assert [row.version for row in page.rows] == list(range(70, 20, -1))
    assert page.chart_metrics == ["r2_score"] and page.metric == "r2_score"
    assert len(page.points) == 120 and page.points[0] == (1, 0.01)
    odd, even = page.rows[1], page.rows[0]  # v69 by "retrain", v70 by "private_dag"
    assert odd.registered_by == {"dag_id": "retrain", "run_id": "run-69", "task_id": "package"}
    assert even.registered_by is None  # a DAG this user may not read: no link
    assert odd.evaluation == {"r2_score": 0.69} and odd.tags == {"team": "pricing"}

    answer = app_client.get("/registry/models/pricing?page=3")
    assert answer.status_code == 200
    html = answer.text
    assert SECRET not in html and "postgresql://etl:***@db.internal/x" in html
    assert 'href="/dags/retrain/runs/run-1/tasks/package"' in html
    assert "private_dag" not in html
    assert html.count("<circle") == 120
    listing = app_client.get("/registry/")
    assert (
        listing.status_code == 200 and 'href="/pyfunc-ops/registry/models/pricing"' in listing.text
    )
    missing = app_client.get("/registry/models/nothing")
    assert missing.status_code == 404 and "nothing" in missing.text


def test_a_version_page_verifies_the_files(
    airflow_db: Path, app_client: TestClient, tmp_path: Path
) -> None:
    from sklearn.linear_model import LinearRegression

    from pyfunc_ops import sklearn

    info = sklearn.log_model(
        LinearRegression().fit([[0], [1]], [0, 1]), "model", registered_model_name="checked"
    )
    assert 'class="verified"' in app_client.get("/registry/models/checked/versions/1").text
    (Path(info.artifact_uri) / "MLmodel").write_text("tampered: true\n")
    page = app_client.get("/registry/models/checked/versions/1").text
    assert 'id="verify" class="failed"' in page and "MLmodel" in page
    TrackingClient().register_model(str(tmp_path / "no-digest"), "plain")
    assert 'class="unknown"' in app_client.get("/registry/models/plain/versions/1").text


def test_the_mlflow_server_store(
    airflow_db: Path, app_client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = os.environ.get("PYFUNC_OPS_MLFLOW_VENV")
    python = Path(venv or "/nonexistent") / "bin" / "python"
    if not python.is_file():
        pytest.skip("no MLflow venv (PYFUNC_OPS_MLFLOW_VENV); run through scripts/test.sh")
    with mlflow_server(python, tmp_path) as url:
        monkeypatch.setenv("PYFUNC_OPS_TRACKING_URI", url)
        _history(TrackingClient(url), "served", 3)
        TrackingClient(url).set_registered_model_alias("served", "champion", 3)
        page = registry_data.model_page(TrackingClient(url), "served", readable={"retrain"})
        assert [row.version for row in page.rows] == [3, 2, 1]
        assert page.rows[0].aliases == ["champion"] and page.rows[0].params["alpha"] == "3"
        assert page.points == [(1, 0.01), (2, 0.02), (3, 0.03)]
        html = app_client.get("/registry/models/served").text
        assert "@champion" in html and html.count("<circle") == 3
