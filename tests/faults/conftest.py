"""Fixtures of the fault suite: processes that hold locks or die at chosen points.

Every wait here is bounded (``timeout=``): a fault test that hangs is a failed test, not
a stuck CI job.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pyfunc_ops.tracking.engine import dispose_engines

# No fault case may take long: a hang is a failure, not a stuck CI job.
CASE_TIMEOUT_S = 120


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.timeout(CASE_TIMEOUT_S))


class Holder:
    """A child process that runs ``code`` and prints ``ready`` once it holds what it holds."""

    def __init__(self, code: str, *, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        import selectors

        assert self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            self.stop()
            pytest.fail(f"the holder process was not ready within {timeout} s")
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            _, err = self.proc.communicate(timeout=10)
            pytest.fail(f"the holder process failed: {line!r}\n{err}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=10)


@pytest.fixture
def holders() -> Iterator[list[Holder]]:
    """Holder processes started by a test, killed when it ends whatever happened."""
    started: list[Holder] = []
    yield started
    for holder in started:
        holder.stop()


@pytest.fixture
def sqlite_uri(tmp_path: Path) -> Iterator[str]:
    """A SQLite registry file of the test's own; its engines are dropped afterwards."""
    uri = f"sqlite:///{tmp_path / 'registry.db'}"
    yield uri
    dispose_engines(uri)


def hold_sqlite_write_lock(db_file: Path, seconds: float) -> str:
    """Code for a :class:`Holder`: a write transaction on ``db_file`` held for ``seconds``."""
    return f"""
        import sqlite3, time
        conn = sqlite3.connect({str(db_file)!r}, isolation_level=None, timeout=30)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE registered_models SET description = 'held' WHERE 0")
        conn.execute("CREATE TABLE IF NOT EXISTS lock_holder (x)")
        print("ready", flush=True)
        time.sleep({seconds})
        conn.execute("COMMIT")
    """


class Mount:
    """A small tmpfs of a test's own: full and read-only filesystems for real."""

    def __init__(self, path: Path, size: str) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0777", "tmpfs", str(path)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip() or 'no mount'})")

    def read_only(self) -> None:
        subprocess.run(["mount", "-o", "remount,ro", str(self.path)], check=True, timeout=30)

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True, timeout=30)


@pytest.fixture
def mounts(tmp_path: Path) -> Iterator[Callable[[str, str], Mount]]:
    """``mounts(name, size)`` mounts a tmpfs at ``tmp_path / name``; all are unmounted
    afterwards. Skips (with the reason) where mounting is impossible (not root, a
    container without CAP_SYS_ADMIN)."""
    made: list[Mount] = []

    def make(name: str, size: str) -> Mount:
        mount = Mount(tmp_path / name, size)
        made.append(mount)
        return mount

    yield make
    for mount in made:
        mount.unmount()


def fill_up(folder: Path) -> None:
    """Fill the filesystem holding ``folder`` to the last byte."""
    fd = os.open(folder / ".filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for size in (1 << 16, 1 << 10, 1):
            try:
                while os.write(fd, b"\0" * size):
                    pass
            except OSError:
                continue
    finally:
        os.close(fd)
