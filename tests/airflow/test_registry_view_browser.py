"""The registry view in a real browser: a headless Chromium (Debian's package) against a
real ``airflow api-server`` that loads the provider's plugin.

The data is real too: versions of ``house`` logged and evaluated with the library (their
evaluation metrics are what the chart plots), then a ``dag.test()`` run of the test DAG
``pyfunc_ops_operators_test`` that registers a version, promotes it and scores with it, so
the page has a registering task and a scoring DAG run to link to. The API server runs on
the session's metadata database (the one ``dag.test()`` wrote), with Airflow's
SimpleAuthManager (a subclass that denies DAG reads to one user, see
ui_auth_manager.py).

Checked: an anonymous request is refused; a user who may not read DAGs gets nothing; a
viewer logs in through Airflow's login page, and the model page lists the versions, links
the registering task and the scoring run, and draws the chart (the element is there and
the screenshot has content). The navigation entry shows the view inside Airflow's UI.
``PYFUNC_OPS_UPDATE_DOCS_SCREENSHOT=1`` also writes the screenshot to
``docs/images/registry-view.png``.
"""

from __future__ import annotations

import io
import json
import os
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from airflow_processes import airflow_process, tail, wait_for
from headless_chromium import CHROMIUM, chromium

pytestmark = [
    pytest.mark.airflow,
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (scripts/test.sh)"),
]

HERE = Path(__file__).parent
DOCS_SCREENSHOT = Path(__file__).parents[2] / "docs" / "images" / "registry-view.png"
MODEL = "house"
USERS = {"viewer": "viewer-pass-1", "outsider": "outsider-pass-2"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 2))
    return pd.DataFrame(x, columns=["x0", "x1"]).assign(y=3 * x[:, 0] + x[:, 1])


def _registry_with_history(work: Path) -> Any:
    """Versions 1-3 logged and evaluated here; version 4 registered, promoted and scored
    with by a DAG run; all four evaluated on one holdout."""
    from sklearn.dummy import DummyRegressor
    from sklearn.linear_model import LinearRegression, Ridge

    from pyfunc_ops import sklearn
    from pyfunc_ops.jobs.evaluation import evaluate_model

    train = _frame(200, 1)
    holdout = work / "holdout.parquet"
    _frame(100, 2).to_parquet(holdout, index=False)
    for estimator in (DummyRegressor(), Ridge(alpha=300.0), LinearRegression()):
        fitted = estimator.fit(train[["x0", "x1"]], train["y"])
        sklearn.log_model(fitted, "model", registered_model_name=MODEL)
    (work / "input").mkdir()
    frame = _frame(20, 3).drop(columns="y")
    frame.insert(0, "id", np.arange(20))
    frame.to_parquet(work / "input" / "part-0.parquet", index=False)

    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "ui_dags", HERE / "dags" / "pyfunc_ops_test_dags.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    run = module.pyfunc_ops_operators_test().test(run_conf={"work": str(work), "model_name": MODEL})
    assert run.state == "success"
    for version in (1, 2, 3, 4):
        evaluate_model(f"models:/{MODEL}/{version}", str(holdout), "y", plot=False)
    return run


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _token(base: str, user: str) -> str:
    body = json.dumps({"username": user, "password": USERS[user]}).encode()
    request = urllib.request.Request(
        f"{base}/auth/token", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return str(json.load(answer)["access_token"])


def _distinct_colours(png: bytes) -> int:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    return len(image.getcolors(maxcolors=1 << 20) or [])


def test_the_registry_view_in_a_browser(
    airflow_db: Path, airflow_env: dict[str, str], tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    dag_run = _registry_with_history(work)

    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps(USERS))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **airflow_env,
        **{k: v for k, v in os.environ.items() if k.startswith("PYFUNC_OPS_")},
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "AIRFLOW__CORE__AUTH_MANAGER": "ui_auth_manager.NoDagsForOutsiders",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "viewer:viewer,outsider:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API__BASE_URL": base,
        "AIRFLOW__API_AUTH__JWT_SECRET": "registry-view-test-secret",
        "AIRFLOW__API__SECRET_KEY": "registry-view-test-key",
    }
    log = tmp_path / "api-server.log"
    command = ["api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with airflow_process(command, env, log) as server:

        def healthy() -> bool | None:
            assert server.poll() is None, "the API server exited\n" + tail(log)
            try:
                return True if _get(f"{base}/api/v2/monitor/health")[0] == 200 else None
            except urllib.error.URLError:
                return None  # not listening yet

        wait_for(healthy, 120, lambda: "the API server never answered\n" + tail(log))
        view = f"{base}/pyfunc-ops/registry/models/{MODEL}"

        # Airflow's authentication guards the view.
        status, body = _get(view)
        assert status == 401, body
        status, body = _get(view, _token(base, "outsider"))
        assert status == 403 and "needs permission to read DAGs" in body
        assert MODEL not in body

        with chromium(tmp_path / "chromium") as page:
            # Log in as a user would: Airflow's login page, then back to the view.
            page.goto(f"{base}/auth/login?next={view}")
            page.type_into("input[name=username]", "viewer")
            page.type_into("input[name=password]", USERS["viewer"])
            page.evaluate("document.querySelector('button[type=submit]').click()")
            page.wait_for("document.querySelector('#versions') !== null", timeout=60)

            versions = page.evaluate(
                "[...document.querySelectorAll('#versions tr[data-version]')]"
                ".map(r => Number(r.dataset.version))"
            )
            assert versions == [4, 3, 2, 1]
            links = page.evaluate(
                "[...document.querySelectorAll('tr[data-version=\"4\"] a.airflow-link')]"
                ".map(a => [a.getAttribute('href'), a.target])"
            )
            registered = f"/dags/pyfunc_ops_operators_test/runs/{dag_run.run_id}/tasks/package"
            scored = f"/dags/pyfunc_ops_operators_test/runs/{dag_run.run_id}/tasks/score"
            hrefs = [urllib.request.unquote(href) for href, _ in links]
            assert hrefs == [registered, scored], links
            assert {target for _, target in links} == {"_top"}
            assert "@champion" in page.evaluate(
                "document.querySelector('tr[data-version=\"4\"]').textContent"
            )
            chart = page.evaluate(
                "(() => { const c = document.querySelector('svg#metric-chart');"
                " const box = c.getBoundingClientRect();"
                " return {metric: c.dataset.metric, dots: c.querySelectorAll('circle').length,"
                " width: box.width, height: box.height}; })()"
            )
            assert chart == {
                "metric": "root_mean_squared_error",
                "dots": 4,
                "width": 720,
                "height": 240,
            }
            png = page.screenshot()
            assert png.startswith(b"\x89PNG") and _distinct_colours(png) > 20
            (tmp_path / "registry-view.png").write_bytes(png)
            if os.environ.get("PYFUNC_OPS_UPDATE_DOCS_SCREENSHOT") == "1":
                DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                DOCS_SCREENSHOT.write_bytes(png)

            # A version's page checks its files against the recorded digest.
            page.goto(f"{view}/versions/4")
            state = page.wait_for("document.querySelector('#verify')?.textContent")
            assert state == "verified"

            # The navigation entry shows the view inside Airflow's UI.
            page.goto(f"{base}/plugin/model-registry")
            src = page.wait_for("document.querySelector('iframe')?.getAttribute('src')", timeout=60)
            assert src.rstrip("/").endswith("/pyfunc-ops/registry")
