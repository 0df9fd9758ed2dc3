"""Confinement: confine, iter_tree and safe_extract_zip against hostile names and links."""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyfunc_ops.core.paths import confine, iter_tree, safe_extract_zip
from pyfunc_ops.errors import ModelFormatError, ModelNotFoundError


def _snapshot(folder: Path) -> set[str]:
    """Every entry under ``folder`` (links not followed)."""
    return {
        str(Path(dirpath, name).relative_to(folder))
        for dirpath, dirnames, filenames in os.walk(folder)
        for name in dirnames + filenames
    }


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Path]:
    """A model folder deep inside tmp_path, and a check that nothing appears beside it.

    Everything outside ``tmp_path/outer/inner/model`` that exists when the test starts is
    recorded; the test fails if anything was created outside the model folder, or if one of
    the escape file names used below appears beside tmp_path.
    """
    model = tmp_path / "outer" / "inner" / "model"
    model.mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("top secret")
    before = {p for p in _snapshot(tmp_path) if not p.startswith("outer/inner/model")}
    yield model
    after = {p for p in _snapshot(tmp_path) if not p.startswith("outer/inner/model")}
    assert after == before, f"created outside the model folder: {sorted(after - before)}"
    for name in ("escaped.txt", "abs_escape.txt"):
        assert not (tmp_path.parent / name).exists()


# --------------------------------------------------------------------------- confine


def test_confine_resolves_inside(sandbox: Path) -> None:
    (sandbox / "data").mkdir()
    (sandbox / "data" / "model.pkl").write_bytes(b"x")
    assert confine(sandbox, "data/model.pkl", key="pickled_model") == (
        sandbox.resolve() / "data" / "model.pkl"
    )
    # a ".." that stays inside, a missing file (the caller checks existence) and "."
    assert (
        confine(sandbox, "data/../data/model.pkl", key="k") == sandbox.resolve() / "data/model.pkl"
    )
    assert confine(sandbox, "not/there.txt", key="k") == sandbox.resolve() / "not/there.txt"
    assert confine(sandbox, ".", key="code") == sandbox.resolve()


def test_confine_follows_symlinks_that_stay_inside(sandbox: Path) -> None:
    (sandbox / "real").mkdir()
    (sandbox / "real" / "f.txt").write_text("ok")
    (sandbox / "alias").symlink_to("real", target_is_directory=True)
    assert confine(sandbox, "alias/f.txt", key="data") == sandbox.resolve() / "real" / "f.txt"


def test_confine_resolves_the_root_itself(sandbox: Path, tmp_path: Path) -> None:
    link = tmp_path / "root_link"
    link.symlink_to(sandbox, target_is_directory=True)
    try:
        assert confine(link, "x", key="data") == sandbox.resolve() / "x"
    finally:
        link.unlink()


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("/etc/passwd", "is an absolute path"),
        ("../secret.txt", "leaves the model folder"),
        ("../../../secret.txt", "leaves the model folder"),
        ("data/../../x", "leaves the model folder"),
        ("..", "leaves the model folder"),
        ("C:\\Windows\\system.ini", "is an absolute path"),
        ("\\\\server\\share\\x", "is an absolute path"),
        ("data\0.pkl", "contains a NUL byte"),
        ("", "is empty"),
        ("   ", "is empty"),
        (3, "is a int, not a relative path string"),
        (None, "is a NoneType"),
        (["data"], "is a list"),
        ({"path": "x"}, "is a dict"),
        (Path("data"), "is a PosixPath"),
    ],
)
def test_confine_refuses(sandbox: Path, value: object, problem: str) -> None:
    with pytest.raises(ModelFormatError, match=problem) as info:
        confine(sandbox, value, key="python_function.data")
    message = str(info.value)
    assert "key 'python_function.data'" in message
    assert repr(value)[:20] in message
    assert str(sandbox.resolve()) in message
    assert "fix the model" in message


def test_confine_refuses_a_symlink_leaving_the_folder(sandbox: Path, tmp_path: Path) -> None:
    (sandbox / "data").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(
        ModelFormatError, match=r"leaves the model folder \(it resolves to .*secret\.txt\)"
    ):
        confine(sandbox, "data", key="python_function.data")
    (sandbox / "dir").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(ModelFormatError, match=r"key 'artifacts\.vocab\.path'"):
        confine(sandbox, "dir/secret.txt", key="artifacts.vocab.path")


def test_confine_refuses_a_link_cycle(sandbox: Path) -> None:
    (sandbox / "a").symlink_to("b")
    (sandbox / "b").symlink_to("a")
    with pytest.raises(ModelFormatError, match=r"cannot be resolved .*symlink cycle"):
        confine(sandbox, "a", key="data")


def test_confine_names_the_mlmodel_file(sandbox: Path) -> None:
    with pytest.raises(ModelFormatError, match=r"^/elsewhere/requirements\.txt: key '-r'"):
        confine(sandbox, "../x.txt", key="-r", mlmodel_path="/elsewhere/requirements.txt")
    with pytest.raises(ModelFormatError, match=r"model[/\\]MLmodel: key 'code'"):
        confine(sandbox, "/x", key="code")


def test_confine_shortens_huge_values(sandbox: Path) -> None:
    with pytest.raises(ModelFormatError) as info:
        confine(sandbox, "/" + "a" * 5000, key="data")
    assert len(str(info.value)) < 1000


# --------------------------------------------------------------------------- iter_tree


def _model_tree(model: Path) -> None:
    (model / "MLmodel").write_text("flavors: {}\n")
    (model / "data").mkdir()
    (model / "data" / "b.bin").write_bytes(b"b")
    (model / "data" / "a.bin").write_bytes(b"a")
    (model / "code" / "pkg").mkdir(parents=True)
    (model / "code" / "pkg" / "__init__.py").write_text("")
    (model / "empty_dir").mkdir()
    (model / "a-b.txt").write_text("sorts before a/ as a string")


def test_iter_tree_lists_files_sorted(sandbox: Path) -> None:
    _model_tree(sandbox)
    assert iter_tree(sandbox) == [
        "MLmodel",
        "a-b.txt",
        "code/pkg/__init__.py",
        "data/a.bin",
        "data/b.bin",
    ]
    assert iter_tree(str(sandbox)) == iter_tree(sandbox)


def test_iter_tree_follows_links_inside(sandbox: Path) -> None:
    _model_tree(sandbox)
    (sandbox / "data_alias").symlink_to("data", target_is_directory=True)
    (sandbox / "code" / "model_link").symlink_to("../MLmodel")
    # a link to a sibling folder is visited twice, which is not a cycle
    (sandbox / "data" / "code_again").symlink_to("../code", target_is_directory=True)
    files = iter_tree(sandbox)
    assert "data_alias/a.bin" in files
    assert "code/model_link" in files
    assert "data/code_again/pkg/__init__.py" in files
    assert "data_alias/code_again/pkg/__init__.py" in files


def test_iter_tree_through_a_linked_root(sandbox: Path, tmp_path: Path) -> None:
    _model_tree(sandbox)
    link = tmp_path / "root_link"
    link.symlink_to(sandbox, target_is_directory=True)
    try:
        assert iter_tree(link) == iter_tree(sandbox)
    finally:
        link.unlink()


def test_iter_tree_refuses_a_file_link_leaving(sandbox: Path, tmp_path: Path) -> None:
    _model_tree(sandbox)
    (sandbox / "data" / "passwd").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(
        ModelFormatError,
        match=r"the symlink 'data/passwd' points to '.*secret\.txt' .*outside the folder",
    ):
        iter_tree(sandbox)


def test_iter_tree_refuses_a_folder_link_leaving(sandbox: Path) -> None:
    _model_tree(sandbox)
    (sandbox / "code" / "up").symlink_to("../../..", target_is_directory=True)
    with pytest.raises(ModelFormatError, match=r"the symlink 'code/up' points to '\.\./\.\./\.\.'"):
        iter_tree(sandbox)


def test_iter_tree_refuses_absolute_link(sandbox: Path) -> None:
    (sandbox / "etc").symlink_to("/etc", target_is_directory=True)
    with pytest.raises(ModelFormatError, match="'etc' points to '/etc'"):
        iter_tree(sandbox)


def test_iter_tree_ends_a_cycle_to_an_ancestor(sandbox: Path) -> None:
    _model_tree(sandbox)
    (sandbox / "data" / "loop").symlink_to("..", target_is_directory=True)
    with pytest.raises(
        ModelFormatError, match=r"'data/loop' links back to its own parent folder .*link cycle"
    ):
        iter_tree(sandbox)


def test_iter_tree_ends_a_cycle_to_itself(sandbox: Path) -> None:
    (sandbox / "self").symlink_to(".", target_is_directory=True)
    with pytest.raises(ModelFormatError, match="link cycle"):
        iter_tree(sandbox)


def test_iter_tree_ends_a_link_loop(sandbox: Path) -> None:
    (sandbox / "a").symlink_to("b")
    (sandbox / "b").symlink_to("a")
    with pytest.raises(ModelFormatError, match=r"the symlink 'a' -> 'b' is part of a link cycle"):
        iter_tree(sandbox)


def test_iter_tree_refuses_a_dangling_link(sandbox: Path) -> None:
    (sandbox / "gone").symlink_to("missing.bin")
    with pytest.raises(
        ModelFormatError, match=r"'gone' points to 'missing\.bin', which does not exist"
    ):
        iter_tree(sandbox)


def test_iter_tree_refuses_a_fifo(sandbox: Path) -> None:
    os.mkfifo(sandbox / "pipe")
    with pytest.raises(ModelFormatError, match="'pipe' is neither a file nor a folder"):
        iter_tree(sandbox)


def test_iter_tree_missing_or_file_root(sandbox: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"No model folder at .*nope: it does not exist"):
        iter_tree(sandbox / "nope")
    (sandbox / "f").write_text("x")
    with pytest.raises(ModelFormatError, match=r"Expected a model folder at .*f, found a file"):
        iter_tree(sandbox / "f")


# --------------------------------------------------------------------------- safe_extract_zip


def _zip(path: Path, entries: dict[str, bytes], *, links: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path


def test_extract_unpacks(sandbox: Path) -> None:
    archive = _zip(
        sandbox / "m.zip",
        {"MLmodel": b"flavors: {}\n", "data/x.bin": b"x", "code/": b"", "code/a.py": b""},
    )
    target = sandbox / "unpacked" / "m"
    assert safe_extract_zip(archive, target) == target
    assert iter_tree(target) == ["MLmodel", "code/a.py", "data/x.bin"]
    assert (target / "data" / "x.bin").read_bytes() == b"x"


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("../escaped.txt", "contains a '..' component"),
        ("../../../../escaped.txt", "contains a '..' component"),
        ("data/../../escaped.txt", "contains a '..' component"),
        ("..\\escaped.txt", "contains a '..' component"),
        ("/tmp/abs_escape.txt", "is an absolute path"),
        ("\\abs_escape.txt", "is an absolute path"),
        ("C:/abs_escape.txt", "is an absolute path"),
    ],
)
def test_extract_refuses_escaping_entries(sandbox: Path, entry: str, problem: str) -> None:
    archive = _zip(sandbox / "bad.zip", {"MLmodel": b"m", entry: b"evil"})
    target = sandbox / "t"
    with pytest.raises(ModelFormatError, match=problem) as info:
        safe_extract_zip(archive, target)
    assert repr(entry) in str(info.value)
    assert "nothing was unpacked" in str(info.value)
    assert not target.exists()  # checked before anything is written


def test_extract_refuses_absolute_entry_into_tmp(sandbox: Path, tmp_path: Path) -> None:
    # zipfile would strip the leading "/" silently; we refuse instead
    escape = tmp_path / "abs_escape.txt"
    archive = _zip(sandbox / "bad.zip", {str(escape): b"evil"})
    with pytest.raises(ModelFormatError, match="is an absolute path"):
        safe_extract_zip(archive, sandbox / "t")
    assert not escape.exists()
    assert not Path("/tmp/abs_escape.txt").exists()


def test_extract_refuses_symlink_entries(sandbox: Path) -> None:
    archive = _zip(sandbox / "link.zip", {"MLmodel": b"m"}, links={"data": "/etc"})
    with pytest.raises(ModelFormatError, match="the entry 'data' is a symlink"):
        safe_extract_zip(archive, sandbox / "t")
    assert not (sandbox / "t").exists()


def test_extract_refuses_duplicates(sandbox: Path) -> None:
    with zipfile.ZipFile(sandbox / "dup.zip", "w") as zf:
        zf.writestr("MLmodel", b"one")
        with pytest.warns(UserWarning, match="Duplicate name"):
            zf.writestr("MLmodel", b"two")
    with pytest.raises(ModelFormatError, match="'MLmodel' appears twice"):
        safe_extract_zip(sandbox / "dup.zip", sandbox / "t")
    assert not (sandbox / "t").exists()


def test_extract_refuses_a_link_cycle_in_target(sandbox: Path) -> None:
    target = sandbox / "t"
    target.mkdir()
    (target / "a").symlink_to("b")
    (target / "b").symlink_to("a")
    archive = _zip(sandbox / "m.zip", {"a/x": b"x"})
    with pytest.raises(ModelFormatError, match="the entry 'a/x' cannot be resolved"):
        safe_extract_zip(archive, target)


def test_extract_refuses_existing_symlinks_in_target(sandbox: Path, tmp_path: Path) -> None:
    target = sandbox / "t"
    target.mkdir()
    (target / "data").symlink_to(tmp_path, target_is_directory=True)  # a stale, planted link
    archive = _zip(sandbox / "m.zip", {"MLmodel": b"m", "data/escaped.txt": b"evil"})
    with pytest.raises(
        ModelFormatError, match=r"'data/escaped\.txt' resolves to .* through a symlink"
    ):
        safe_extract_zip(archive, target)
    assert not (tmp_path / "escaped.txt").exists()
    assert not (target / "MLmodel").exists()


def test_extract_refuses_non_zip(sandbox: Path) -> None:
    (sandbox / "not.zip").write_bytes(b"PK but not really")
    with pytest.raises(ModelFormatError, match=r"not\.zip: it is not a readable zip archive"):
        safe_extract_zip(sandbox / "not.zip", sandbox / "t")
    with pytest.raises(ModelFormatError, match=r"missing\.zip: it is not a readable zip archive"):
        safe_extract_zip(sandbox / "missing.zip", sandbox / "t")
