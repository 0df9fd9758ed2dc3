"""kill -9 at named points (``PYFUNC_OPS_TEST_CRASH_AT``) of the commands a scheduled job
runs: nothing half-written is visible where users look, the leftover is recognised as a
killed run's, and the plain rerun succeeds without any manual cleanup."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pyfunc_ops import pyfunc
from pyfunc_ops.core.crashpoints import CRASH_ENV
from pyfunc_ops.errors import ModelExistsError
from pyfunc_ops.storage.transfer import upload_tree

from .models import save_tiny_model

X = pd.DataFrame({"x": [1, 2]})


def _cli(
    *args: str, crash_at: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop(CRASH_ENV, None)
    if crash_at:
        env[CRASH_ENV] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "pyfunc_ops.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def _killed(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == -signal.SIGKILL, (result.returncode, result.stderr)


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_killed_download_leaves_no_folder_and_the_rerun_succeeds(tmp_path: Path) -> None:
    model = save_tiny_model(tmp_path / "src", extra_files=6)
    dest = tmp_path / "out" / "model"
    dest.parent.mkdir()
    _killed(_cli("models", "download", str(model), str(dest), crash_at="download.mid_copy"))
    assert not dest.exists()  # no half a model under the name users look at
    leftovers = _hidden(dest.parent)
    assert len(leftovers) == 1 and leftovers[0].startswith(".model.tmp-")
    done = _cli("models", "download", str(model), str(dest))
    assert done.returncode == 0, done.stderr
    assert _hidden(dest.parent) == []  # the killed run's leftover was removed
    assert list(pyfunc.load_model(str(dest)).predict(X)) == [2, 4]


def test_a_killed_save_leaves_nothing_and_the_rerun_succeeds(tmp_path: Path) -> None:
    code = (
        "import sys; sys.path.insert(0, sys.argv[2]);"
        "from faults.models import save_tiny_model; from pathlib import Path;"
        "save_tiny_model(Path(sys.argv[1]))"
    )
    tests_dir = str(Path(__file__).parent.parent)
    env = {**os.environ, CRASH_ENV: "save.before_publish"}
    args = [sys.executable, "-c", code, str(tmp_path / "m"), tests_dir]
    _killed(subprocess.run(args, env=env, capture_output=True, text=True, timeout=120))
    assert not (tmp_path / "m").exists()
    assert [n for n in _hidden(tmp_path) if n.startswith(".m.tmp-")]
    env.pop(CRASH_ENV)
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert not [n for n in _hidden(tmp_path) if n.startswith(".m.tmp-")]
    assert list(pyfunc.load_model(str(tmp_path / "m")).predict(X)) == [2, 4]


def test_a_killed_copy_to_s3_is_replaced_by_the_rerun(tmp_path: Path, s3_bucket: str) -> None:
    import s3fs

    model = save_tiny_model(tmp_path / "src", extra_files=6)
    url = f"{s3_bucket}/archive/tiny"
    _killed(_cli("models", "copy", str(model), "--to", url, crash_at="upload.before_mlmodel"))
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    landed = [p.rsplit("/", 1)[-1] for p in fs.find(url)]
    assert "MLmodel" not in landed and ".pyfunc_ops-upload.json" in landed
    done = _cli("models", "copy", str(model), "--to", url)
    assert done.returncode == 0, done.stderr
    assert "copied" in done.stdout
    fs.invalidate_cache()
    landed = sorted(p.rsplit("/", 1)[-1] for p in fs.find(url))
    assert "MLmodel" in landed and ".pyfunc_ops-upload.json" not in landed
    again = pyfunc.load_model(url, trust_remote_code=True)
    assert list(again.predict(X)) == [2, 4]


def test_an_upload_never_replaces_a_published_model_or_foreign_files(
    tmp_path: Path, s3_bucket: str
) -> None:
    import s3fs

    model = save_tiny_model(tmp_path / "src")
    upload_tree(model, f"{s3_bucket}/published")
    with pytest.raises(ModelExistsError, match="a published model"):
        upload_tree(model, f"{s3_bucket}/published")
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    fs.pipe_file(f"{s3_bucket}/foreign/notes.txt", b"someone else's")
    result = _cli("models", "copy", str(model), "--to", f"{s3_bucket}/foreign")
    assert result.returncode == 1
    assert "no upload of pyfunc_ops wrote them" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert fs.cat_file(f"{s3_bucket}/foreign/notes.txt") == b"someone else's"


def _input(tmp_path: Path, rows: int = 40) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    pd.DataFrame({"x": range(rows)}).to_parquet(folder / "a.parquet")
    return folder


def test_a_killed_predict_leaves_no_visible_file_and_the_rerun_succeeds(tmp_path: Path) -> None:
    model = save_tiny_model(tmp_path / "m")
    inputs = _input(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    args = ("predict", "-m", str(model), "-i", str(inputs), "-o", f"{out}/")
    _killed(_cli(*args, crash_at="predict.before_publish"))
    assert [p.name for p in out.iterdir() if not p.name.startswith(".")] == []
    assert len(_hidden(out)) == 1
    # The folder still reads as a dataset: hidden files are skipped by readers.
    assert pd.read_parquet(out).empty
    done = _cli(*args)
    assert done.returncode == 0, done.stderr
    assert _hidden(out) == []
    assert list(pd.read_parquet(out / "predictions.parquet")["prediction"])[:3] == [0, 2, 4]


def test_a_killed_cache_fill_is_counted_pruned_and_refilled(tmp_path: Path, s3_bucket: str) -> None:
    url = f"{s3_bucket}/models/tiny"
    upload_tree(save_tiny_model(tmp_path / "tiny", extra_files=4), url)
    args = ("predict", "-m", url, "-i", str(_input(tmp_path)), "-o", str(tmp_path / "p.parquet"))
    _killed(_cli(*args, "--trust-remote-code", crash_at="cache.before_publish"))
    listed = _cli("cache", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    entries = json.loads(listed.stdout)
    assert [e["leftover"] for e in entries] == [True]
    assert entries[0]["size_bytes"] > 0  # counted in the cache's size (and its budget)
    assert "left by killed runs" in _cli("cache", "list").stdout
    pruned = _cli("cache", "prune", "--older-than", "3650d")
    assert pruned.returncode == 0 and "removed 1 entries" in pruned.stdout, pruned.stdout
    assert json.loads(_cli("cache", "list", "--json").stdout) == []
    done = _cli(*args, "--trust-remote-code")
    assert done.returncode == 0, done.stderr
    assert [e["leftover"] for e in json.loads(_cli("cache", "list", "--json").stdout)] == [False]


def test_a_model_error_on_batch_6_of_10_is_one_line_naming_model_batch_and_rows(
    tmp_path: Path,
) -> None:
    model = save_tiny_model(tmp_path / "m")
    folder = tmp_path / "in"
    folder.mkdir()
    values = list(range(100))
    values[57] = -666  # in batch 6 of 10 (rows 50 to 59)
    pd.DataFrame({"x": values}).to_parquet(folder / "a.parquet")
    out = tmp_path / "out.parquet"
    args = ("predict", "-m", str(model), "-i", str(folder), "-o", str(out), "--batch-size", "10")
    result = _cli(*args)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(model) in lines[0] and "ValueError: the model refuses -666" in lines[0]
    assert "batch 6 (rows 50 to 59" in lines[0] and "a.parquet" in lines[0]
    assert not out.exists()
    assert not [n for n in _hidden(tmp_path) if ".tmp-" in n]
