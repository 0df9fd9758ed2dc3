"""The one way the tests start a real ``mlflow server``: from the MLflow venv, on a free
port of 127.0.0.1, SQLite backend and proxied artifacts under ``root``, stopped afterwards."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests


def clean_env() -> dict[str, str]:
    """Our environment without what would redirect MLflow's interpreter or our settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYFUNC_OPS_"))}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def mlflow_server(mlflow_python: Path, root: Path) -> Iterator[str]:
    """A running server's URL; its output goes to ``root / "server.log"``."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_file = (root / "server.log").open("w")
    proc = subprocess.Popen(
        [
            str(mlflow_python.parent / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination",
            str(root / "artifacts"),
        ],
        cwd=root,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=clean_env(),
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if requests.get(f"{url}/health", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start:\n{(root / 'server.log').read_text()}")
            time.sleep(0.5)  # polling a starting server; nothing to wait on instead
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log_file.close()
