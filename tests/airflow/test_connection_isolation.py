"""Two connections used at once in one process never see each other's settings.

Each worker reads its own Airflow connection (its own SQLite registry and artifact root)
through its own hook, applies it with ``use_settings`` and, overlapping with the other
(a barrier holds both inside their scopes), logs, registers and loads a model and lists
the registered models. Run with two threads, and with two asyncio tasks.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pyfunc_ops import pyfunc
from pyfunc_ops.airflow.hooks import PyfuncOpsHook
from pyfunc_ops.config import current_settings, use_settings
from pyfunc_ops.tracking import TrackingClient

pytestmark = pytest.mark.airflow

TEAMS = {"team_a": 2.0, "team_b": 3.0}


class Scale(pyfunc.PythonModel):
    def __init__(self, factor: float) -> None:
        self.factor = factor

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        return model_input["x"].to_numpy() * self.factor


@pytest.fixture
def connections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """One Airflow connection per team, each with its own registry and artifact root."""
    roots = {}
    for team in TEAMS:
        root = tmp_path / team
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{team.upper()}",
            json.dumps(
                {
                    "conn_type": "pyfunc_ops",
                    "extra": {
                        "tracking_uri": str(root / "registry.db"),
                        "artifact_root": str(root / "artifacts"),
                    },
                }
            ),
        )
        roots[team] = root
    return roots


def _use_registry(team: str, rendezvous: threading.Barrier | None) -> dict[str, Any]:
    """Log, register, load and list with the current settings (the team's scope)."""
    name = f"{team}_model"
    info = pyfunc.log_model("model", python_model=Scale(TEAMS[team]), registered_model_name=name)
    if rendezvous is not None:
        rendezvous.wait()  # both have registered before either one lists
    loaded = pyfunc.load_model(f"models:/{name}/1")
    return {
        "settings": current_settings(),
        "artifact_uri": info.artifact_uri,
        "version": info.registered_model_version,
        "prediction": loaded.predict(pd.DataFrame({"x": [1.0, 2.0]})).tolist(),
        "listed": sorted(m.name for m in TrackingClient().search_registered_models()),
    }


def _check(results: dict[str, dict[str, Any]], roots: dict[str, Path]) -> None:
    for team, result in results.items():
        root = roots[team]
        assert result["settings"].tracking_uri == str(root / "registry.db")
        assert result["listed"] == [f"{team}_model"], result
        assert result["version"] == 1
        assert Path(result["artifact_uri"]).is_relative_to(root / "artifacts")
        assert result["prediction"] == [TEAMS[team], 2 * TEAMS[team]]
        # The registry each hook opens holds only its own model, too.
        listed = PyfuncOpsHook(team).get_client().search_registered_models()
        assert [m.name for m in listed] == [f"{team}_model"]
    # Nothing reached the default store or the environment.
    assert TrackingClient().search_registered_models() == []
    assert not any(key.startswith("PYFUNC_OPS_TRACKING") for key in os.environ)


def test_two_threads_with_two_connections(connections: dict[str, Path]) -> None:
    barrier = threading.Barrier(len(TEAMS), timeout=120)

    def worker(team: str) -> dict[str, Any]:
        with use_settings(PyfuncOpsHook(team).get_settings()):
            barrier.wait()  # both scopes are open at once
            return _use_registry(team, barrier)

    with ThreadPoolExecutor(max_workers=len(TEAMS)) as pool:
        futures = {team: pool.submit(worker, team) for team in TEAMS}
        results = {team: future.result(timeout=300) for team, future in futures.items()}

    _check(results, connections)


def test_two_asyncio_tasks_with_two_connections(connections: dict[str, Path]) -> None:
    # Tasks share one thread: the scope is per task (contextvars), and asyncio.to_thread
    # carries it into the worker thread that does the blocking work.
    async def scenario() -> dict[str, dict[str, Any]]:
        both_open = asyncio.Barrier(len(TEAMS))
        both_registered = threading.Barrier(len(TEAMS), timeout=120)

        async def task(team: str) -> dict[str, Any]:
            settings = await asyncio.to_thread(PyfuncOpsHook(team).get_settings)
            with use_settings(settings):
                await both_open.wait()
                result = await asyncio.to_thread(_use_registry, team, both_registered)
                assert current_settings() is settings  # the other task's scope never leaked
                return result

        done = await asyncio.gather(*(task(team) for team in TEAMS))
        return dict(zip(TEAMS, done, strict=True))

    _check(asyncio.run(scenario()), connections)
