"""``pyfunc-ops cache list|prune`` and ``env list|prune|build`` (without building a real
environment: the folders here are what a build leaves, marker included)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cli_run import run_cli
from env_folders import built_env

from pyfunc_ops import config
from pyfunc_ops.envs.manage import list_environments
from pyfunc_ops.storage.cache import fetch, list_entries


@pytest.fixture(autouse=True)
def own_env_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never the shared PYFUNC_OPS_TEST_ENV_DIR: these tests prune what they find."""
    folder = tmp_path / "envs"
    monkeypatch.setenv("PYFUNC_OPS_ENV_DIR", str(folder))
    return folder


def _fill_cache(tmp_path: Path, count: int) -> list[Path]:
    entries = []
    for i in range(count):
        src = tmp_path / f"src-{i}"
        src.mkdir()
        (src / "MLmodel").write_text("flavors: {}\n")
        (src / "data.bin").write_bytes(b"x" * 1000 * (i + 1))
        entry = fetch(str(src))
        os.utime(entry.parent / f"{entry.name}.used", (1_000 + i, 1_000 + i))
        entries.append(entry)
    return entries


def test_cache_list_and_prune(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run_cli(capsys, "cache", "list")
    assert code == 0 and out == f"the download cache at {config.cache_dir()} is empty\n"
    entries = _fill_cache(tmp_path, 3)
    code, out, _ = run_cli(capsys, "cache", "list")
    lines = out.splitlines()
    assert lines[0].split() == ["ENTRY", "SIZE", "LAST", "USED"]
    assert [line.split()[0] for line in lines[1:4]] == [e.name[:16] for e in reversed(entries)]
    assert lines[-1].startswith("3 entries") and "budget none" in lines[-1]
    listed = json.loads(run_cli(capsys, "cache", "list", "--json")[1])
    assert [item["path"] for item in listed] == [str(e) for e in reversed(entries)]

    size = listed[0]["size_bytes"]
    code, out, _ = run_cli(capsys, "cache", "prune", "--max-size", str(size), "--dry-run")
    assert code == 0 and out.startswith("would remove 2 entries")
    assert len(list_entries()) == 3
    code, out, _ = run_cli(capsys, "cache", "prune", "--max-size", str(size))
    assert out.startswith("removed 2 entries")
    assert [e.path for e in list_entries()] == [entries[2]]
    code, out, _ = run_cli(capsys, "cache", "prune", "--older-than", "1d")
    assert out.startswith("removed 1 entries") and list_entries() == []


def test_env_list_prune(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "env", "list")[1] == f"no environments in {config.env_dir()}\n"
    old = built_env("a" * 16, used=1_000)
    new = built_env("b" * 16, used=2_000)
    (config.env_dir() / ".tmp-cccc-1234").mkdir()  # an interrupted build: not listed
    (config.env_dir() / "dddd").mkdir()  # no marker: not usable, not listed
    code, out, _ = run_cli(capsys, "env", "list")
    rows = [line.split() for line in out.splitlines()]
    assert rows[0] == ["ENV", "SIZE", "LAST", "USED", "MANAGER", "PYTHON", "REQS", "BUILT"]
    assert [r[0] for r in rows[1:]] == [new.name, old.name]
    assert rows[1][4:7] == ["virtualenv", "3.11.7", "1"]
    listed = json.loads(run_cli(capsys, "env", "list", "--json")[1])
    assert [e["key"] for e in listed] == [new.name, old.name]
    code, out, _ = run_cli(capsys, "env", "prune", "--older-than", "1d", "--dry-run")
    assert out.startswith("would remove 2 entries") and old.is_dir()
    code, out, _ = run_cli(capsys, "env", "prune", "--max-size", str(listed[0]["size_bytes"]))
    assert code == 0 and out.startswith("removed 1 entries")
    assert [e.entry.path for e in list_environments()] == [new]
    assert not old.exists() and (config.env_dir() / "dddd").is_dir()


def test_env_build_of_a_missing_model_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "env", "build", "/no/such/model")
    assert (code, out) == (1, "")
    assert err.startswith("pyfunc-ops: error: No model at '/no/such/model'")
