"""scripts/postgres.sh: one ``export`` line on stdout, quick when a server is up."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

POSTGRES_ENV = "PYFUNC_OPS_TEST_POSTGRES_URL"
SCRIPT = Path(__file__).parents[2] / "scripts" / "postgres.sh"


@pytest.mark.postgres
def test_reachable_server_is_reused() -> None:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is unset; run 'eval \"$(bash scripts/postgres.sh)\"'")
    done = subprocess.run(
        ["bash", str(SCRIPT)], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout == f"export {POSTGRES_ENV}={url}\n"
    assert "nothing to do" in done.stderr
