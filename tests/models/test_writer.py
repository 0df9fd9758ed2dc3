"""Atomic model folders: complete or absent, never half-written."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyfunc_ops.errors import ModelExistsError
from pyfunc_ops.models.writer import check_destination, copy_into, staged_directory


def test_staged_directory_becomes_the_destination(tmp_path: Path) -> None:
    dest = tmp_path / "deep" / "model"
    with staged_directory(dest) as tmp:
        assert tmp.parent == dest.parent
        assert tmp.name.startswith(".model.tmp-")  # hidden, named after its writer
        assert not dest.exists()  # nothing visible until the end
        (tmp / "MLmodel").write_text("x")
    assert (dest / "MLmodel").read_text() == "x"
    assert [p.name for p in dest.parent.iterdir()] == ["model"]


def test_failure_removes_the_temporary_folder(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="disk on fire"), staged_directory(tmp_path / "m") as tmp:
        (tmp / "half.bin").write_bytes(b"x")
        raise RuntimeError("disk on fire")
    assert list(tmp_path.iterdir()) == []


def test_destination_written_meanwhile_is_not_overwritten(tmp_path: Path) -> None:
    dest = tmp_path / "m"
    with (
        pytest.raises(ModelExistsError, match=r"'.*m': it already exists"),
        staged_directory(dest) as tmp,
    ):
        (tmp / "MLmodel").write_text("ours")
        dest.mkdir()
        (dest / "MLmodel").write_text("theirs")
    assert (dest / "MLmodel").read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_check_destination(tmp_path: Path) -> None:
    assert check_destination(tmp_path / "new") == (tmp_path / "new").absolute()
    (tmp_path / "empty").mkdir()
    check_destination(tmp_path / "empty")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelExistsError, match=r"delete the existing one first"):
        check_destination(tmp_path / "file")


def test_copy_into_skips_bytecode(tmp_path: Path) -> None:
    src = tmp_path / "pkg"
    (src / "__pycache__").mkdir(parents=True)
    (src / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"")
    (src / "m.py").write_text("")
    dest = tmp_path / "out"
    dest.mkdir()
    assert copy_into(src, dest) == dest / "pkg"
    assert [p.name for p in (dest / "pkg").iterdir()] == ["m.py"]
