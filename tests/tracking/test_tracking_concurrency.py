"""Concurrent registrations from separate processes get distinct, gap-free versions.

Real processes, not threads: the guarantee needed is across Airflow workers, each with its
own connection pool, on SQLite (file locks) and PostgreSQL (row locks).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pyfunc_ops.tracking import TrackingClient

WORKER = Path(__file__).with_name("registry_worker.py")
PROCESSES = 8


def _run_workers(uri: str, name: str, count: int, mode: str) -> list[int]:
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), uri, name, str(count), mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    try:
        # Wait until every worker has opened the store, then release them all at once.
        for worker in workers:
            assert worker.stdout is not None
            line = worker.stdout.readline().strip()
            if line != "ready":
                _, err = worker.communicate(timeout=60)
                pytest.fail(f"worker did not start: {line!r}\n{err}")
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        versions: list[int] = []
        for worker in workers:
            out, err = worker.communicate(timeout=240)
            assert worker.returncode == 0, err
            versions.extend(json.loads(out.strip().splitlines()[-1]))
        return versions
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()


@pytest.mark.slow
def test_eight_processes_get_versions_one_to_eight(tracking_uri: str) -> None:
    client = TrackingClient(tracking_uri)
    client.create_registered_model("shared")
    versions = _run_workers(tracking_uri, "shared", 1, "create")
    assert sorted(versions) == list(range(1, PROCESSES + 1))
    stored = [v.version for v in client.search_model_versions(name="shared")]
    assert sorted(stored) == list(range(1, PROCESSES + 1))


@pytest.mark.slow
def test_concurrent_register_model_on_a_fresh_store(tracking_uri: str) -> None:
    # Nothing exists yet: the processes also race to create the schema and the model.
    per_worker = 3
    versions = _run_workers(tracking_uri, "fresh", per_worker, "register")
    total = PROCESSES * per_worker
    assert sorted(versions) == list(range(1, total + 1))
    client = TrackingClient(tracking_uri)
    assert [m.name for m in client.search_registered_models()] == ["fresh"]
    stored = sorted(v.version for v in client.search_model_versions(name="fresh"))
    assert stored == list(range(1, total + 1))
