"""Model manifests and digests: what a model folder held when it was saved.

A manifest lists every file of a model folder (relative POSIX path -> sha256 and size),
except itself. It is stored in the folder as :data:`MANIFEST_FILE_NAME`, a name no MLflow
version writes (MLflow writes ``MLmodel``, ``conda.yaml``, ``python_env.yaml``,
``requirements.txt``, ``input_example.json``, ``serving_input_example.json``,
``registered_model_meta``, ``metadata/``, ``code/``, ``data/``, ``artifacts/`` and flavor
files), so models round-trip through MLflow tools and MLflow-written models simply have
none (:func:`read_manifest` returns ``None``).

The digest (``"sha256:<hex>"``) is the sha256 of the manifest's canonical bytes (sorted
keys, no whitespace, ASCII). The file is written in exactly those bytes, so
``sha256sum pyfunc_ops_manifest.json`` prints the digest. Recording the digest elsewhere
(the registry's model version) pins the content of every file: :func:`verify` checks a
folder against it and names the first file that was modified, is missing or was added.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pyfunc_ops.core.paths import iter_tree
from pyfunc_ops.errors import IntegrityError, InvalidParameterError, ModelFormatError

__all__ = [
    "MANIFEST_FILE_NAME",
    "FileEntry",
    "Manifest",
    "build_manifest",
    "hash_file",
    "parse_manifest",
    "read_manifest",
    "validate_digest",
    "verify",
    "write_manifest",
]

MANIFEST_FILE_NAME = "pyfunc_ops_manifest.json"
MANIFEST_VERSION = 1
ALGORITHM = "sha256"
DIGEST_PREFIX = "sha256:"

_CHUNK = 1 << 20  # 1 MiB reads: hashlib releases the GIL on them, so threads overlap
_MAX_WORKERS = 4
_HEX64 = re.compile(r"[0-9a-f]{64}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class FileEntry:
    """One file of a manifest: its sha256 (lowercase hex) and its size in bytes."""

    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """Every file of a model folder, by relative POSIX path. Immutable.

    Build it with :func:`build_manifest` or :func:`read_manifest`; equal file sets give
    equal manifests and equal digests, whatever the order they were listed in.
    """

    files: Mapping[str, FileEntry] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "files", MappingProxyType({k: self.files[k] for k in sorted(self.files)})
        )

    def to_bytes(self) -> bytes:
        """The canonical bytes: the digest is their sha256, and the file holds them."""
        payload = {
            "algorithm": ALGORITHM,
            "files": {
                name: {"sha256": entry.sha256, "size": entry.size}
                for name, entry in self.files.items()
            },
            "version": MANIFEST_VERSION,
        }
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode(
            "ascii"
        )

    @cached_property
    def digest(self) -> str:
        """``"sha256:<hex>"`` over :meth:`to_bytes`."""
        return DIGEST_PREFIX + hashlib.sha256(self.to_bytes()).hexdigest()

    @property
    def total_size(self) -> int:
        """The sum of all file sizes, in bytes."""
        return sum(entry.size for entry in self.files.values())


def hash_file(path: str | os.PathLike[str]) -> FileEntry:
    """The sha256 and size of the file at ``path``, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as fh:
        while True:
            count = fh.readinto(view)
            if not count:
                break
            digest.update(view[:count])
            size += count
    return FileEntry(digest.hexdigest(), size)


def _hash_all(folder: Path, names: Iterable[str], max_workers: int) -> dict[str, FileEntry]:
    names = list(names)
    if max_workers <= 1 or len(names) <= 1:
        return {name: hash_file(folder / name) for name in names}
    with ThreadPoolExecutor(max_workers=min(max_workers, len(names))) as pool:
        entries = pool.map(lambda name: hash_file(folder / name), names)
        return dict(zip(names, entries, strict=True))


def _model_files(folder: Path) -> list[str]:
    return [name for name in iter_tree(folder) if name != MANIFEST_FILE_NAME]


def build_manifest(folder: str | os.PathLike[str], *, max_workers: int = _MAX_WORKERS) -> Manifest:
    """The manifest of ``folder`` as it is now (its own manifest file excluded).

    Files are listed with :func:`~pyfunc_ops.core.paths.iter_tree`, so a symlink leaving
    the folder, a link cycle or a special file is refused with ``ModelFormatError``.
    """
    root = Path(folder)
    return Manifest(_hash_all(root, _model_files(root), max_workers))


def write_manifest(folder: str | os.PathLike[str], *, max_workers: int = _MAX_WORKERS) -> str:
    """Build the manifest of ``folder``, store it there (atomically) and return its digest.

    Call it last, once every other file of the model is in place.
    """
    root = Path(folder)
    manifest = build_manifest(root, max_workers=max_workers)
    fd, temporary = tempfile.mkstemp(dir=root, prefix=f".{MANIFEST_FILE_NAME}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(manifest.to_bytes())
        os.replace(temporary, root / MANIFEST_FILE_NAME)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return manifest.digest


def _malformed(path: Path, problem: str) -> ModelFormatError:
    return ModelFormatError(
        f"The manifest {path} is malformed: {problem}. It was not written by pyfunc_ops or "
        "was edited; fetch the model again, or save it again to write a new manifest."
    )


def _check_name(path: Path, name: object) -> str:
    if not isinstance(name, str) or not name:
        raise _malformed(path, f"the file name {name!r} is not a non-empty string")
    # Plain string checks (this runs for every file on every cache hit): no leading '/',
    # no empty, '.' or '..' component (which also rules out '//' and a trailing '/').
    if (
        "\0" in name
        or "\\" in name
        or name.startswith("/")
        or any(part in ("", ".", "..") for part in name.split("/"))
    ):
        raise _malformed(path, f"the file name {name!r} is not a plain relative POSIX path")
    if name == MANIFEST_FILE_NAME:
        raise _malformed(path, "it lists itself")
    return name


def _check_entry(path: Path, name: str, value: object) -> FileEntry:
    if not isinstance(value, dict) or set(value) != {"sha256", "size"}:
        raise _malformed(path, f"the entry of {name!r} must be {{'sha256': ..., 'size': ...}}")
    sha, size = value["sha256"], value["size"]
    if not isinstance(sha, str) or not _HEX64.fullmatch(sha):
        raise _malformed(path, f"the sha256 of {name!r} is not 64 lowercase hex digits")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _malformed(path, f"the size of {name!r} is not a non-negative integer")
    return FileEntry(sha, size)


def parse_manifest(data: bytes, *, source: str | os.PathLike[str] = MANIFEST_FILE_NAME) -> Manifest:
    """The manifest held in ``data`` (the bytes of a manifest file); ``source`` names it."""
    path = Path(source)
    try:
        payload: Any = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _malformed(path, f"it is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise _malformed(path, f"it is not JSON ({exc.msg}, line {exc.lineno})") from exc
    if not isinstance(payload, dict):
        raise _malformed(path, f"expected a JSON object, found {type(payload).__name__}")
    if set(payload) != {"algorithm", "files", "version"}:
        raise _malformed(
            path,
            f"expected exactly the keys 'algorithm', 'files' and 'version', found "
            f"{sorted(map(str, payload))}",
        )
    if payload["version"] != MANIFEST_VERSION or isinstance(payload["version"], bool):
        raise _malformed(
            path,
            f"version {payload['version']!r} is not {MANIFEST_VERSION} (a newer pyfunc_ops "
            "may have written it; upgrade pyfunc_ops)",
        )
    if payload["algorithm"] != ALGORITHM:
        raise _malformed(path, f"algorithm {payload['algorithm']!r} is not {ALGORITHM!r}")
    files = payload["files"]
    if not isinstance(files, dict):
        raise _malformed(path, "'files' is not a JSON object")
    return Manifest(
        {_check_name(path, name): _check_entry(path, name, value) for name, value in files.items()}
    )


def read_manifest(folder: str | os.PathLike[str]) -> Manifest | None:
    """The manifest stored in ``folder``, or ``None`` if it has none (e.g. MLflow wrote it).

    A manifest that is a symlink, not a regular file, or not a valid manifest is
    :class:`ModelFormatError`.
    """
    path = Path(folder) / MANIFEST_FILE_NAME
    if path.is_symlink():
        raise _malformed(path, "it is a symlink; a manifest must be a regular file")
    if not path.exists():
        return None
    if not path.is_file():
        raise _malformed(path, "it is not a regular file")
    return parse_manifest(path.read_bytes(), source=path)


def validate_digest(digest: object) -> str:
    """``digest`` if it is a ``"sha256:<64 hex>"`` string, else ``InvalidParameterError``."""
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise InvalidParameterError(
            f"Expected a model digest of the form 'sha256:<64 lowercase hex digits>', found "
            f"{digest!r}."
        )
    return digest


def _fail(folder: Path, digest: str, problem: str, others: int) -> IntegrityError:
    more = f" ({others} other file(s) differ too)" if others else ""
    return IntegrityError(
        f"Model folder {folder} does not match its manifest {digest}: {problem}{more}. Do "
        "not use it: fetch the model again from where it was published; if the change is "
        "intended, save it as a new model (a published version never changes)."
    )


def verify(
    folder: str | os.PathLike[str],
    manifest_or_digest: Manifest | str,
    *,
    full_hash: bool = True,
    max_workers: int = _MAX_WORKERS,
) -> Manifest:
    """Check that ``folder`` holds exactly the files of a manifest; return that manifest.

    ``manifest_or_digest`` is a :class:`Manifest`, or a digest recorded for the folder
    (then the folder's own manifest file must exist and have that digest). Compared: the
    set of files (a missing or an extra one fails), every size, and with ``full_hash``
    (default) every sha256; ``full_hash=False`` checks names and sizes only (stat calls,
    for a fast check of a cache entry that was fully verified before).

    Raises :class:`IntegrityError` naming the first file (in sorted order) that is missing,
    extra, or modified, and how many others differ.
    """
    root = Path(folder)
    if isinstance(manifest_or_digest, Manifest):
        expected = manifest_or_digest
    else:
        digest = validate_digest(manifest_or_digest)
        stored = read_manifest(root)
        if stored is None:
            raise _fail(root, digest, f"it has no {MANIFEST_FILE_NAME}", 0)
        if stored.digest != digest:
            raise _fail(
                root, digest, f"its {MANIFEST_FILE_NAME} was changed (digest {stored.digest})", 0
            )
        expected = stored
    actual = _model_files(root)
    problems: list[str] = []
    present = set(actual)
    base = os.fspath(root)
    for name in sorted(present | set(expected.files)):
        entry = expected.files.get(name)
        if entry is None:
            problems.append(f"the file {name!r} is extra (not in the manifest)")
        elif name not in present:
            problems.append(f"the file {name!r} is missing")
        else:
            size = os.stat(os.path.join(base, name)).st_size
            if size != entry.size:
                problems.append(
                    f"the file {name!r} was modified (size {size} bytes, expected {entry.size})"
                )
    if not problems and full_hash:
        hashed = _hash_all(root, actual, max_workers)
        for name in actual:
            found = hashed[name].sha256
            if found != expected.files[name].sha256:
                problems.append(
                    f"the file {name!r} was modified (sha256 {found[:12]}..., expected "
                    f"{expected.files[name].sha256[:12]}...)"
                )
    if problems:
        raise _fail(root, expected.digest, problems[0], len(problems) - 1)
    return expected
