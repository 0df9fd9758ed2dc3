"""Airflow test environment: a private AIRFLOW_HOME with a SQLite metadata database.

Airflow reads its configuration when it is first imported, so the environment is set here
at conftest import time, before any test module of this folder imports Airflow. The
database is migrated once per session (``airflow_db``); the migrated file is cached per
Airflow version under ``~/.cache/pyfunc_ops`` because migrating takes ~10 s.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

TEST_DAGS = Path(__file__).parent / "dags"
REPO_DAGS = Path(__file__).parents[2] / "dags"
_LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"
_HOME = Path(tempfile.mkdtemp(prefix="pyfunc-ops-airflow-"))
_DB = _HOME / "airflow.db"
AIRFLOW_ENV = {
    "AIRFLOW_HOME": str(_HOME),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_DB}",
    "AIRFLOW__CORE__DAGS_FOLDER": str(TEST_DAGS),
    # dag.test() in Airflow 3.3 runs a DAG only once it is serialized from a bundle: the
    # test DAGs (parameterised through params/conf) and the repository's example DAGs.
    "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(
        [
            {"name": name, "classpath": _LOCAL_BUNDLE, "kwargs": {"path": str(path)}}
            for name, path in (("test-dags", TEST_DAGS), ("example-dags", REPO_DAGS))
        ]
    ),
}
os.environ.update(AIRFLOW_ENV)
# py4j logs from a __del__ at interpreter exit, after pytest closed its streams.
logging.getLogger("py4j").setLevel(logging.WARNING)
if "airflow" in sys.modules:  # pragma: no cover - a guard, not a code path
    raise RuntimeError(
        "airflow was imported before tests/airflow/conftest.py set AIRFLOW_HOME; "
        "import airflow only inside tests/airflow"
    )


def _cached_db() -> Path:
    from importlib.metadata import version

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pyfunc_ops"
    return cache / f"airflow-{version('apache-airflow')}-test.db"


def _migrate() -> None:
    cached = _cached_db()
    if cached.is_file():
        shutil.copyfile(cached, _DB)
        return
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        env={**os.environ, **AIRFLOW_ENV},
        capture_output=True,
    )
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp")
    shutil.copyfile(_DB, tmp)
    tmp.replace(cached)


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[Path]:
    """A migrated Airflow metadata database; yields AIRFLOW_HOME."""
    _migrate()
    yield _HOME
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def migrated_db(airflow_db: Path) -> Path:
    """The freshly migrated metadata database file (the cached copy, which no test writes
    to), for tests that start Airflow processes on a private copy of it."""
    return _cached_db()


@pytest.fixture
def airflow_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The Airflow variables, for tests that start ``airflow`` in a subprocess."""
    for key, value in AIRFLOW_ENV.items():
        monkeypatch.setenv(key, value)
    return dict(os.environ)
