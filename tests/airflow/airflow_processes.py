"""Real Airflow processes for the end-to-end tests: a private AIRFLOW_HOME on a copy of
the session's migrated metadata database, ``airflow <command>`` in its own process group
(stopped, children too, however the test ends), and polling with a reason on timeout.

Every process of one test shares one Fernet key: without it each generates its own, and
the triggerer cannot decrypt the trigger kwargs the DAG parse stored (``InvalidToken``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar

from cryptography.fernet import Fernet

T = TypeVar("T")


def tail(path: Path, lines: int = 60) -> str:
    text = path.read_text(errors="replace") if path.exists() else "(no log)"
    return f"--- tail of {path.name} ---\n" + "\n".join(text.splitlines()[-lines:])


def wait_for(found: Callable[[], T | None], timeout: float, explain: Callable[[], str]) -> T:
    """Poll ``found`` until it returns something (every 0.25 s) or fail with ``explain()``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = found()
        if result is not None:
            return result
        time.sleep(0.25)
    result = found()
    assert result is not None, explain()
    return result


def private_airflow_env(
    base: dict[str, str], home: Path, migrated_db: Path, dags: Path, **extra: str
) -> dict[str, str]:
    """The environment of Airflow processes on their own home, database copy and DAG
    folder (one local bundle), DAGs unpaused when created, one Fernet key."""
    database = home / "airflow.db"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(migrated_db, database)
    bundle = {
        "name": "e2e",
        "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": str(dags)},
    }
    return {
        **base,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{database}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps([bundle]),
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        # Watchers are registered only for active, unpaused DAGs: one parse is then enough.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__PARALLELISM": "1",  # LocalExecutor workers (2 shared cores)
        **extra,
    }


def reserialize(env: dict[str, str]) -> None:
    """``airflow dags reserialize``: parse the DAG folder into the database once."""
    parsed = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "reserialize"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert parsed.returncode == 0, parsed.stdout[-3000:] + parsed.stderr[-3000:]


@contextmanager
def airflow_process(
    args: Sequence[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """``airflow <args>`` in its own process group, stopped (the whole group: the
    triggerer runs its triggers in a child process) however the test ends."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "airflow", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(grace)
                break
            except subprocess.TimeoutExpired:
                continue
        # Children left after the leader exited (same group) get no grace.
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
