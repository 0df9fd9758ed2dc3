"""Manifests and digests: building, storing, reading and verifying model folders."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyfunc_ops.errors import IntegrityError, InvalidParameterError, ModelFormatError
from pyfunc_ops.models.manifest import (
    MANIFEST_FILE_NAME,
    FileEntry,
    Manifest,
    build_manifest,
    hash_file,
    parse_manifest,
    read_manifest,
    validate_digest,
    verify,
    write_manifest,
)

EMPTY_SHA = hashlib.sha256(b"").hexdigest()


def _model(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "MLmodel").write_text("flavors:\n  python_function: {}\n")
    (folder / "requirements.txt").write_text("pandas\n")
    (folder / "data").mkdir(exist_ok=True)
    (folder / "data" / "weights.bin").write_bytes(os.urandom(3000))
    (folder / "data" / "empty").write_bytes(b"")
    (folder / "code" / "pkg").mkdir(parents=True, exist_ok=True)
    (folder / "code" / "pkg" / "mod.py").write_text("X = 1\n")
    return folder


def test_mlflow_file_names_do_not_clash() -> None:
    mlflow_names = {
        "MLmodel",
        "conda.yaml",
        "python_env.yaml",
        "requirements.txt",
        "input_example.json",
        "serving_input_example.json",
        "registered_model_meta",
        "metadata",
        "code",
        "data",
        "artifacts",
        "python_model.pkl",
        "model.pkl",
        "model.skops",
    }
    assert MANIFEST_FILE_NAME not in mlflow_names
    assert MANIFEST_FILE_NAME.startswith("pyfunc_ops")


def test_build_lists_every_file(tmp_path: Path) -> None:
    folder = _model(tmp_path / "m")
    manifest = build_manifest(folder)
    assert list(manifest.files) == [
        "MLmodel",
        "code/pkg/mod.py",
        "data/empty",
        "data/weights.bin",
        "requirements.txt",
    ]
    weights = (folder / "data" / "weights.bin").read_bytes()
    assert manifest.files["data/weights.bin"] == FileEntry(
        hashlib.sha256(weights).hexdigest(), 3000
    )
    assert manifest.files["data/empty"] == FileEntry(EMPTY_SHA, 0)
    assert manifest.total_size == sum(e.size for e in manifest.files.values())
    assert manifest.digest.startswith("sha256:") and len(manifest.digest) == 7 + 64


def test_write_then_read(tmp_path: Path) -> None:
    folder = _model(tmp_path / "m")
    digest = write_manifest(folder)
    stored = read_manifest(folder)
    assert stored is not None
    assert stored.digest == digest == build_manifest(folder).digest  # excludes itself
    assert MANIFEST_FILE_NAME not in stored.files
    # the digest is the sha256 of the file as stored (sha256sum prints it)
    raw = (folder / MANIFEST_FILE_NAME).read_bytes()
    assert digest == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert sorted(os.listdir(folder)) == sorted(
        ["MLmodel", "requirements.txt", "data", "code", MANIFEST_FILE_NAME]
    )  # no temporary file left behind
    assert verify(folder, digest) == stored
    assert verify(folder, stored) == stored


def test_rewriting_gives_the_same_digest(tmp_path: Path) -> None:
    folder = _model(tmp_path / "m")
    assert write_manifest(folder) == write_manifest(folder)


def test_digest_is_stable_across_order_and_folders(tmp_path: Path) -> None:
    one = tmp_path / "one"
    two = tmp_path / "two"
    names = ["b.txt", "a/z.txt", "a/b.txt", "c"]
    for folder, order in ((one, names), (two, list(reversed(names)))):
        for name in order:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(f"content of {name}")
    assert build_manifest(one) == build_manifest(two)
    assert build_manifest(one).digest == build_manifest(two).digest
    entries = dict(build_manifest(one).files)
    shuffled = Manifest(dict(reversed(list(entries.items()))))
    assert shuffled.digest == build_manifest(one).digest
    assert list(shuffled.files) == sorted(entries)


def test_digest_is_stable_across_processes(tmp_path: Path) -> None:
    folder = _model(tmp_path / "m")
    digest = write_manifest(folder)
    code = (
        "import sys; from pyfunc_ops.models.manifest import build_manifest; "
        "print(build_manifest(sys.argv[1]).digest)"
    )
    other = subprocess.run(
        [sys.executable, "-c", code, str(folder)], capture_output=True, text=True, check=True
    )
    assert other.stdout.strip() == digest


def test_digest_of_known_content_is_fixed(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "MLmodel").write_bytes(b"")
    manifest = build_manifest(tmp_path / "m")
    assert manifest.to_bytes() == (
        b'{"algorithm":"sha256","files":{"MLmodel":{"sha256":"'
        + EMPTY_SHA.encode()
        + b'","size":0}},"version":1}'
    )
    # pins the canonical form: changing it changes every recorded digest
    assert manifest.digest == "sha256:" + hashlib.sha256(manifest.to_bytes()).hexdigest()


def test_parallel_and_serial_hashing_agree(tmp_path: Path) -> None:
    folder = _model(tmp_path / "m")
    assert build_manifest(folder, max_workers=1) == build_manifest(folder, max_workers=8)


def test_manifest_is_immutable(tmp_path: Path) -> None:
    manifest = build_manifest(_model(tmp_path / "m"))
    with pytest.raises(TypeError):
        manifest.files["x"] = FileEntry(EMPTY_SHA, 0)  # type: ignore[index]


def test_hash_file_large(tmp_path: Path) -> None:
    # Speed is measured in benchmarks/, not here: this checks a file much larger than one
    # read chunk hashes to the same digest as hashing it whole.
    big = tmp_path / "big.bin"
    chunk = os.urandom(1 << 20)
    with open(big, "wb") as fh:
        for _ in range(100):
            fh.write(chunk)
    entry = hash_file(big)
    assert entry.size == 100 << 20
    assert entry.sha256 == hashlib.sha256(chunk * 100).hexdigest()


# --------------------------------------------------------------------------- verify


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, str]:
    folder = _model(tmp_path / "m")
    return folder, write_manifest(folder)


def test_verify_finds_a_modified_file(saved: tuple[Path, str]) -> None:
    folder, digest = saved
    weights = folder / "data" / "weights.bin"
    data = bytearray(weights.read_bytes())
    data[10] ^= 0xFF  # same size, other content
    weights.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"the file 'data/weights\.bin' was modified \(sha256"):
        verify(folder, digest)
    # sizes only: a same-size edit is not seen (that is what full_hash is for)
    assert verify(folder, digest, full_hash=False).digest == digest


def test_verify_finds_a_size_change(saved: tuple[Path, str]) -> None:
    folder, digest = saved
    (folder / "requirements.txt").write_text("pandas\nevil-package\n")
    for full_hash in (True, False):
        with pytest.raises(
            IntegrityError,
            match=r"the file 'requirements\.txt' was modified \(size 20 bytes, expected 7\)",
        ):
            verify(folder, digest, full_hash=full_hash)


def test_verify_finds_a_missing_file(saved: tuple[Path, str]) -> None:
    folder, digest = saved
    (folder / "code" / "pkg" / "mod.py").unlink()
    for full_hash in (True, False):
        with pytest.raises(IntegrityError, match=r"the file 'code/pkg/mod\.py' is missing"):
            verify(folder, digest, full_hash=full_hash)


def test_verify_finds_an_extra_file(saved: tuple[Path, str]) -> None:
    folder, digest = saved
    (folder / "code" / "pkg" / "sitecustomize.py").write_text("import os\n")
    for full_hash in (True, False):
        with pytest.raises(
            IntegrityError, match=r"the file 'code/pkg/sitecustomize\.py' is extra"
        ) as info:
            verify(folder, digest, full_hash=full_hash)
    assert str(folder) in str(info.value)
    assert digest in str(info.value)
    assert "fetch the model again" in str(info.value)


def test_verify_names_the_first_and_counts_the_rest(saved: tuple[Path, str]) -> None:
    folder, digest = saved
    (folder / "MLmodel").unlink()
    (folder / "zz_extra").write_text("x")
    (folder / "requirements.txt").write_text("other\n")
    with pytest.raises(
        IntegrityError, match=r"the file 'MLmodel' is missing \(2 other file\(s\) differ too\)"
    ):
        verify(folder, digest)


def test_verify_against_a_manifest_object(saved: tuple[Path, str]) -> None:
    folder, _ = saved
    expected = build_manifest(folder)
    (folder / MANIFEST_FILE_NAME).unlink()  # not needed when the manifest is given
    assert verify(folder, expected) is expected
    (folder / "data" / "empty").write_text("now full")
    with pytest.raises(IntegrityError, match=r"'data/empty' was modified \(size 8 bytes"):
        verify(folder, expected, full_hash=False)


def test_verify_refuses_a_changed_manifest(saved: tuple[Path, str]) -> None:
    folder, digest = saved
    # an attacker rewrites a file and the manifest to match: the recorded digest catches it
    (folder / "data" / "weights.bin").write_bytes(b"evil")
    forged = write_manifest(folder)
    assert forged != digest
    with pytest.raises(IntegrityError, match=rf"was changed \(digest {forged}\)"):
        verify(folder, digest)


def test_verify_without_a_manifest(tmp_path: Path) -> None:
    folder = _model(tmp_path / "m")
    with pytest.raises(IntegrityError, match=rf"it has no {MANIFEST_FILE_NAME}"):
        verify(folder, "sha256:" + "0" * 64)


@pytest.mark.parametrize(
    "digest", ["", "sha256:", "md5:" + "0" * 32, "sha256:" + "A" * 64, "0" * 64, None, 5]
)
def test_verify_refuses_a_malformed_digest(saved: tuple[Path, str], digest: object) -> None:
    folder, _ = saved
    with pytest.raises(InvalidParameterError, match="Expected a model digest of the form"):
        verify(folder, digest)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="sha256:<64 lowercase hex digits>"):
        validate_digest(digest)


def test_verify_refuses_escaping_symlinks(saved: tuple[Path, str], tmp_path: Path) -> None:
    folder, digest = saved
    (tmp_path / "outside.txt").write_text("x")
    (folder / "data" / "link").symlink_to(tmp_path / "outside.txt")
    with pytest.raises(ModelFormatError, match=r"the symlink 'data/link' points to .*outside"):
        verify(folder, digest)
    with pytest.raises(ModelFormatError, match=r"the symlink 'data/link'"):
        build_manifest(folder)


def test_links_inside_are_hashed_under_their_name(tmp_path: Path) -> None:
    folder = _model(tmp_path / "m")
    (folder / "data" / "alias.bin").symlink_to("weights.bin")
    manifest = build_manifest(folder)
    assert manifest.files["data/alias.bin"] == manifest.files["data/weights.bin"]


# --------------------------------------------------------------------------- reading


def test_read_without_a_manifest_is_none(tmp_path: Path) -> None:
    assert read_manifest(_model(tmp_path / "m")) is None


def _valid() -> dict[str, object]:
    return {
        "algorithm": "sha256",
        "files": {"MLmodel": {"sha256": EMPTY_SHA, "size": 0}},
        "version": 1,
    }


def _with(**changes: object) -> bytes:
    payload = _valid()
    payload.update(changes)
    return json.dumps(payload).encode()


MALFORMED = [
    (b"\xff\xfe binary", "it is not UTF-8 text"),
    (b"{not json", "it is not JSON"),
    (b"", "it is not JSON"),
    (b"[1, 2]", "expected a JSON object, found list"),
    (b"null", "expected a JSON object, found NoneType"),
    (json.dumps({"files": {}}).encode(), "expected exactly the keys"),
    (_with(extra=1), "expected exactly the keys"),
    (_with(version=2), "version 2 is not 1 .*upgrade pyfunc_ops"),
    (_with(version=True), "version True is not 1"),
    (_with(version="1"), "version '1' is not 1"),
    (_with(algorithm="md5"), "algorithm 'md5' is not 'sha256'"),
    (_with(files=[]), "'files' is not a JSON object"),
    (_with(files={"MLmodel": "abc"}), "the entry of 'MLmodel' must be"),
    (_with(files={"MLmodel": {"sha256": EMPTY_SHA}}), "the entry of 'MLmodel' must be"),
    (_with(files={"MLmodel": {"sha256": "xyz", "size": 0}}), "the sha256 of 'MLmodel' is not 64"),
    (
        _with(files={"MLmodel": {"sha256": EMPTY_SHA.upper(), "size": 0}}),
        "the sha256 of 'MLmodel' is not 64",
    ),
    (_with(files={"MLmodel": {"sha256": EMPTY_SHA, "size": -1}}), "the size of 'MLmodel'"),
    (_with(files={"MLmodel": {"sha256": EMPTY_SHA, "size": "0"}}), "the size of 'MLmodel'"),
    (_with(files={"MLmodel": {"sha256": EMPTY_SHA, "size": True}}), "the size of 'MLmodel'"),
    (_with(files={"MLmodel": {"sha256": EMPTY_SHA, "size": 1.5}}), "the size of 'MLmodel'"),
    (_with(files={"": {"sha256": EMPTY_SHA, "size": 0}}), "the file name '' is not"),
    (_with(files={"../x": {"sha256": EMPTY_SHA, "size": 0}}), "'../x' is not a plain relative"),
    (_with(files={"/etc/passwd": {"sha256": EMPTY_SHA, "size": 0}}), "is not a plain relative"),
    (_with(files={"a//b": {"sha256": EMPTY_SHA, "size": 0}}), "'a//b' is not a plain relative"),
    (_with(files={"./a": {"sha256": EMPTY_SHA, "size": 0}}), "'./a' is not a plain relative"),
    (_with(files={"a/": {"sha256": EMPTY_SHA, "size": 0}}), "'a/' is not a plain relative"),
    (_with(files={"a\\b": {"sha256": EMPTY_SHA, "size": 0}}), "is not a plain relative"),
    (_with(files={"a\u0000b": {"sha256": EMPTY_SHA, "size": 0}}), "is not a plain relative"),
    (_with(files={MANIFEST_FILE_NAME: {"sha256": EMPTY_SHA, "size": 0}}), "it lists itself"),
]


@pytest.mark.parametrize(("data", "problem"), MALFORMED)
def test_read_refuses_a_malformed_manifest(tmp_path: Path, data: bytes, problem: str) -> None:
    folder = _model(tmp_path / "m")
    (folder / MANIFEST_FILE_NAME).write_bytes(data)
    with pytest.raises(ModelFormatError, match=problem) as info:
        read_manifest(folder)
    assert f"The manifest {folder / MANIFEST_FILE_NAME} is malformed" in str(info.value)
    assert "save it again" in str(info.value)
    # a digest check on such a folder fails the same way, never with a raw exception
    with pytest.raises(ModelFormatError, match=problem):
        verify(folder, "sha256:" + "0" * 64)


def test_parse_accepts_pretty_printed_manifests(tmp_path: Path) -> None:
    pretty = json.dumps(_valid(), indent=2).encode()
    manifest = parse_manifest(pretty)
    assert manifest.to_bytes() != pretty
    assert manifest == parse_manifest(manifest.to_bytes())


def test_read_refuses_a_manifest_symlink_or_folder(tmp_path: Path) -> None:
    folder = _model(tmp_path / "m")
    (tmp_path / "elsewhere.json").write_bytes(json.dumps(_valid()).encode())
    (folder / MANIFEST_FILE_NAME).symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(ModelFormatError, match="it is a symlink"):
        read_manifest(folder)
    (folder / MANIFEST_FILE_NAME).unlink()
    (folder / MANIFEST_FILE_NAME).mkdir()
    with pytest.raises(ModelFormatError, match="it is not a regular file"):
        read_manifest(folder)


def test_write_refuses_escaping_links_and_leaves_nothing(tmp_path: Path) -> None:
    folder = _model(tmp_path / "m")
    (folder / "etc").symlink_to("/etc", target_is_directory=True)
    with pytest.raises(ModelFormatError, match="'etc' points to '/etc'"):
        write_manifest(folder)
    assert not (folder / MANIFEST_FILE_NAME).exists()
    assert not [p for p in os.listdir(folder) if p.endswith(".tmp")]
