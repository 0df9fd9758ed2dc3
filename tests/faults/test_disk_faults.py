"""Full, read-only and damaged files and filesystems (small tmpfs mounts): every failure
is one of our errors naming the file and what to do, and nothing half-written is left."""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from pyfunc_ops import pyfunc
from pyfunc_ops.errors import (
    PyfuncOpsError,
    SerializationError,
    StorageError,
    StoragePermissionError,
)
from pyfunc_ops.jobs.scoring import score_files

from .conftest import Mount, fill_up
from .models import save_tiny_model

X = pd.DataFrame({"x": [1, 2]})
Mounts = Callable[[str, str], Mount]


def _visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def test_a_save_onto_a_full_disk_is_a_storage_error_and_leaves_nothing(
    tmp_path: Path, mounts: Mounts
) -> None:
    disk = mounts("disk", "256k").path
    source = tmp_path / "big"
    source.mkdir()
    (source / "weights.bin").write_bytes(b"\1" * 400_000)  # more than the disk holds
    (tmp_path / "ld.py").write_text("def _load_pyfunc(p):\n    return None\n")
    with pytest.raises(StorageError, match=r"device is full") as caught:
        pyfunc.save_model(
            str(disk / "m"),
            loader_module="ld",
            code_path=[str(tmp_path / "ld.py")],
            data_path=str(source),
        )
    assert caught.value.errno == errno.ENOSPC
    assert str(disk / "m") in str(caught.value)
    assert list(disk.iterdir()) == []  # no half a model, no temporary
    (source / "weights.bin").write_bytes(b"\1" * 1000)  # the retry fits
    code = [str(tmp_path / "ld.py")]
    pyfunc.save_model(str(disk / "m"), loader_module="ld", code_path=code, data_path=str(source))
    assert (disk / "m" / "MLmodel").is_file()


def test_a_save_onto_a_read_only_disk_says_so(tmp_path: Path, mounts: Mounts) -> None:
    mount = mounts("ro", "1m")
    mount.read_only()
    with pytest.raises(StorageError, match=r"read-only") as caught:
        save_tiny_model(mount.path / "m", work=tmp_path)
    assert isinstance(caught.value, PyfuncOpsError) and isinstance(caught.value, OSError)
    assert str(mount.path / "m") in str(caught.value)


def _inputs(tmp_path: Path, rows: int = 5000) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    pd.DataFrame({"x": range(rows), "pad": ["p" * 40] * rows}).to_parquet(folder / "a.parquet")
    return folder


def test_scoring_into_a_full_disk_is_a_storage_error_and_leaves_nothing(
    tmp_path: Path, mounts: Mounts
) -> None:
    model = save_tiny_model(tmp_path / "m")
    out = mounts("out", "64k").path
    fill_up(out)
    with pytest.raises(StorageError, match=r"Could not write the predictions to .*device is full"):
        score_files(str(model), str(_inputs(tmp_path)), str(out / "p.parquet"))
    assert _visible(out) == []
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]
    (out / ".filler").unlink()
    result = score_files(str(model), str(tmp_path / "in"), str(out / "p.parquet"))
    assert result.rows_out == 5000


def test_scoring_into_a_read_only_folder_is_a_storage_error(tmp_path: Path, mounts: Mounts) -> None:
    model = save_tiny_model(tmp_path / "m")
    mount = mounts("ro_out", "1m")
    mount.read_only()
    with pytest.raises(StorageError, match=r"Could not write the predictions to .*read-only"):
        score_files(str(model), str(_inputs(tmp_path)), str(mount.path / "p.parquet"))


def test_scoring_into_a_folder_without_permission(tmp_path: Path) -> None:
    import os

    if os.geteuid() == 0:
        pytest.skip("root writes anywhere: permissions cannot be taken away here")
    model = save_tiny_model(tmp_path / "m")
    out = tmp_path / "locked"
    out.mkdir(mode=0o500)
    with pytest.raises(StoragePermissionError, match="permission denied"):
        score_files(str(model), str(_inputs(tmp_path)), str(out / "p.parquet"))


def test_a_parquet_input_corrupt_halfway_names_the_file(tmp_path: Path) -> None:
    model = save_tiny_model(tmp_path / "m")
    folder = tmp_path / "in"
    folder.mkdir()
    frame = pd.DataFrame({"x": range(20_000)})
    frame.to_parquet(folder / "a.parquet", row_group_size=2000)
    data = bytearray((folder / "a.parquet").read_bytes())
    middle = len(data) // 2
    data[middle : middle + 2000] = b"\xff" * 2000  # pages in the middle, footer intact
    (folder / "a.parquet").write_bytes(bytes(data))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(SerializationError, match=r"a\.parquet.*(damaged|Parquet)") as caught:
        score_files(str(model), str(folder), str(out / "p.parquet"), batch_size=1000)
    assert str(folder / "a.parquet") in str(caught.value)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "content", "fmt"),
    [
        ("a.csv", b"x,y\n1,2\n3\n", "CSV"),
        ("a.jsonl", b'{"x": 1}\n{"x": \n', "JSON-lines"),
        ("a.csv.gz", b"\x1f\x8b\x08\x00garbage", "CSV"),
    ],
)
def test_a_corrupt_csv_or_json_input_names_the_file(
    tmp_path: Path, name: str, content: bytes, fmt: str
) -> None:
    model = save_tiny_model(tmp_path / "m")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / name).write_bytes(content)
    with pytest.raises(SerializationError, match=rf"{name.replace('.', '[.]')}.*{fmt}"):
        score_files(str(model), str(folder), str(tmp_path / "p.parquet"))
    assert not (tmp_path / "p.parquet").exists()


def test_scoring_parts_into_a_full_disk_is_a_storage_error_and_leaves_no_temporary(
    tmp_path: Path, mounts: Mounts
) -> None:
    model = save_tiny_model(tmp_path / "m")
    out = mounts("parts", "64k").path
    fill_up(out)
    with pytest.raises(StorageError, match=r"prediction parts to .*device is full"):
        score_files(str(model), str(_inputs(tmp_path)), str(out), output_mode="parts")
    assert _visible(out) == []
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]
    (out / ".filler").unlink()
    result = score_files(str(model), str(tmp_path / "in"), str(out), output_mode="parts")
    assert result.rows_out == 5000
