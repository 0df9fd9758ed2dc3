"""Copy model trees between local folders and any fsspec location, many files at a time.

Model folders hold many small files, so per-file latency dominates, not bandwidth. For
asynchronous backends (s3fs, gcsfs, http) one bulk ``fs.get``/``fs.put`` call lets the
backend run all requests concurrently on its event loop; for synchronous backends (local,
memory, sftp) a thread pool does the same. Both paths share the planning code below and
report progress to one :mod:`pyfunc_ops.core.progress` (a bar on a terminal, INFO lines
in a task log).

Uploads write the ``MLmodel`` file last, after every other file has completed: readers
(``load_model``, the Airflow sensor) treat the presence of ``MLmodel`` as "the model is
there", so they must never see it next to a half-written tree. A destination that holds
anything already is refused (published models are immutable), so no reader ever sees
an old ``MLmodel`` next to a half-replaced tree either.
"""

from __future__ import annotations

import contextvars
import errno
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fsspec
from fsspec.asyn import AsyncFileSystem
from fsspec.callbacks import Callback

from pyfunc_ops.config import current_settings, with_settings
from pyfunc_ops.core.crashpoints import crash_point
from pyfunc_ops.core.oserrors import os_error
from pyfunc_ops.core.paths import iter_tree
from pyfunc_ops.core.progress import Progress, progress
from pyfunc_ops.core.redact import redact
from pyfunc_ops.core.staging import FOREIGN_STALE_AFTER_S, process_alive, this_host
from pyfunc_ops.core.uri import is_registry_uri, is_url, parse_model_uri
from pyfunc_ops.errors import (
    ArtifactNotFoundError,
    InvalidParameterError,
    InvalidURIError,
    ModelExistsError,
    ModelNotFoundError,
    PyfuncOpsError,
    StorageError,
)
from pyfunc_ops.models.mlmodel import MLMODEL_FILE_NAME
from pyfunc_ops.storage.filesystem import get_filesystem

__all__ = [
    "RemoteTree",
    "copy_artifact",
    "download_listed",
    "download_tree",
    "list_tree",
    "read_file",
    "upload_tree",
]

log = logging.getLogger(__name__)

_ACCESS_HINT = (
    "Check that the location exists and that the endpoint and credentials "
    "(AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ... or the Airflow connection) allow access."
)


@contextmanager
def _storage_errors(
    url: str, action: str, fs: fsspec.AbstractFileSystem | None = None
) -> Iterator[None]:
    """Turn backend exceptions into ours, naming the URL; keep the original as cause.

    Backends raise a zoo of types (OSError subclasses, botocore and aiohttp errors), so
    everything but our own errors is wrapped; ``BaseException`` (Ctrl-C) passes through.
    """
    try:
        yield
    except PyfuncOpsError:
        raise
    except FileNotFoundError as exc:
        raise ModelNotFoundError(
            f"Could not {action} {url!r}: nothing exists there ({exc}). {_ACCESS_HINT}"
        ) from exc
    except OSError as exc:
        if exc.errno in _LOCAL_DISK_ERRORS:
            # The local side failed (the cache or destination disk), not the store.
            raise os_error(exc, action, url) from exc
        raise _wrapped(url, action, exc, fs) from exc
    except Exception as exc:
        raise _wrapped(url, action, exc, fs) from exc


_LOCAL_DISK_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


def _wrapped(
    url: str, action: str, exc: Exception, fs: fsspec.AbstractFileSystem | None
) -> StorageError:
    if _timed_out(exc):
        return _timeout_error(url, action, exc, fs)
    return StorageError(f"Could not {action} {url!r}: {type(exc).__name__}: {exc}. {_ACCESS_HINT}")


def _timed_out(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a timeout of any backend's kind."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TimeoutError) or "Timeout" in type(current).__name__:
            return True
        current = current.__cause__ or current.__context__
    return False


def _endpoint(fs: fsspec.AbstractFileSystem | None) -> str:
    """The endpoint a filesystem talks to, for messages (never with credentials)."""
    kwargs = getattr(fs, "client_kwargs", None)
    endpoint = kwargs.get("endpoint_url") if isinstance(kwargs, dict) else None
    return redact(str(endpoint)) if endpoint else "the store's default endpoint"


def _timeout_error(
    url: str, action: str, exc: BaseException, fs: fsspec.AbstractFileSystem | None
) -> StorageError:
    settings = current_settings()
    return StorageError(
        f"Could not {action} {url!r}: the endpoint {_endpoint(fs)} did not answer in time "
        f"({type(exc).__name__}; connect timeout {settings.connect_timeout:g} s, read "
        f"timeout {settings.read_timeout:g} s, {settings.max_retries + 1} attempts). Check "
        "that the endpoint is up and reachable; the limits are PYFUNC_OPS_CONNECT_TIMEOUT, "
        "PYFUNC_OPS_READ_TIMEOUT and PYFUNC_OPS_MAX_RETRIES."
    )


@dataclass(frozen=True)
class RemoteTree:
    """One listing of a file or folder tree: what to download and how to version it.

    ``files`` maps each file's path relative to ``root`` (``/``-separated) to the info
    dict fsspec returned for it (size, ETag, mtime, ... depending on the backend). For a
    single file, ``is_file`` is true and ``files`` has one entry, keyed by its base name.
    """

    url: str
    fs: fsspec.AbstractFileSystem = field(repr=False)
    root: str
    is_file: bool
    files: dict[str, dict[str, Any]]

    @property
    def total_size(self) -> int:
        return sum(int(info.get("size") or 0) for info in self.files.values())

    def remote_path(self, relative: str) -> str:
        return self.root if self.is_file else f"{self.root.rstrip('/')}/{relative}"


def _relative(root: str, name: str, url: str) -> str | None:
    """``name`` relative to ``root``; None for the root itself and folder placeholders."""
    prefix = root.rstrip("/") + "/"
    if not name.startswith(prefix):
        return None
    relative = name[len(prefix) :]
    if not relative or relative.endswith("/"):
        return None
    if any(part in ("", ".", "..") for part in relative.split("/")):
        raise StorageError(
            f"Refusing to copy {url!r}: it holds an object named {name!r} whose path "
            "would leave the destination folder. Rename or remove that object."
        )
    return relative


def list_tree(url: str) -> RemoteTree:
    """List the file or folder at ``url`` with one fresh ``find`` call.

    Cached listings are dropped first: s3fs keeps them per instance, and a stale one would
    make a changed remote model look unchanged.
    """
    fs, root = get_filesystem(url)
    root = root.rstrip("/") or root
    with _storage_errors(url, "list", fs):
        fs.invalidate_cache(root)
        found = fs.find(root, detail=True, withdirs=False)
        infos = list(found.values()) if isinstance(found, dict) else []
        if len(infos) == 1 and infos[0]["name"].rstrip("/") == root:
            if infos[0].get("type", "file") == "directory":
                return RemoteTree(url=url, fs=fs, root=root, is_file=False, files={})
            name = root.rsplit("/", 1)[-1]
            return RemoteTree(url=url, fs=fs, root=root, is_file=True, files={name: infos[0]})
        files: dict[str, dict[str, Any]] = {}
        for info in infos:
            if info.get("type", "file") != "file":
                continue
            relative = _relative(root, info["name"], url)
            if relative is not None:
                files[relative] = info
        if not files and not fs.isdir(root):
            raise ModelNotFoundError(
                f"Nothing found at {url!r}: expected a file or a folder there, found neither. "
                "Check the URL (bucket, prefix, spelling) and that it was uploaded."
            )
    return RemoteTree(url=url, fs=fs, root=root, is_file=False, files=dict(sorted(files.items())))


class _FileProgress(Callback):  # type: ignore[misc]
    """fsspec's transfer callback, shown through :mod:`pyfunc_ops.core.progress`: a bar on a
    terminal, periodic INFO lines in a task log (a tqdm bar there arrives as ERROR lines)."""

    def __init__(self, description: str) -> None:
        super().__init__()
        self._description = description
        self._progress: Progress | None = None

    def call(self, *args: Any, **kwargs: Any) -> None:
        if self._progress is None:
            self._progress = progress(self.size, self._description, "file", log)
        elif self.size is not None and self._progress.total is None:
            self._progress.total = self.size
        delta = int(self.value) - self._progress.n
        if delta > 0:
            self._progress.update(delta)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.close()


def _progress(description: str) -> _FileProgress:
    return _FileProgress(description)


def _transfer(
    fs: fsspec.AbstractFileSystem,
    direction: str,
    sources: Sequence[str],
    targets: Sequence[str],
    *,
    max_workers: int,
    description: str,
) -> None:
    """Copy ``sources[i]`` to ``targets[i]`` for all i, concurrently ("get" or "put").

    ``fs`` is built by the caller, with the caller's settings; each pooled copy still runs
    in a copy of the caller's context, so anything it resolves lazily (a backend opening a
    nested filesystem) sees the caller's :func:`~pyfunc_ops.config.use_settings` scope.
    """
    if not sources:
        return
    with _progress(description) as callback:
        if isinstance(fs, AsyncFileSystem):
            bulk = fs.get if direction == "get" else fs.put
            bulk(list(sources), list(targets), callback=callback, batch_size=max_workers)
            return
        single = fs.get_file if direction == "get" else fs.put_file
        callback.set_size(len(sources))
        with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(sources)))) as pool:
            futures: list[Future[Any]] = [
                # One context copy per job: a Context cannot be entered by two threads.
                pool.submit(contextvars.copy_context().run, single, src, dst)
                for src, dst in zip(sources, targets, strict=True)
            ]
            try:
                for future in as_completed(futures):
                    future.result()
                    callback.relative_update(1)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise


def download_listed(tree: RemoteTree, local_dir: str | Path, *, max_workers: int = 16) -> Path:
    """Download exactly the files of ``tree`` into ``local_dir``; return ``local_dir``.

    A folder's files keep their relative paths; a single file lands as
    ``local_dir/<its name>``. Used by the cache, which lists once to compute its key.
    """
    local_dir = Path(local_dir)
    local_dir.mkdir(parents=True, exist_ok=True)
    relatives = list(tree.files)
    targets = [local_dir / relative for relative in relatives]
    for parent in {target.parent for target in targets}:
        parent.mkdir(parents=True, exist_ok=True)
    with _storage_errors(tree.url, "download", tree.fs):
        _transfer(
            tree.fs,
            "get",
            [tree.remote_path(relative) for relative in relatives],
            [str(target) for target in targets],
            max_workers=max_workers,
            description=f"Downloading {tree.url}",
        )
    log.debug(
        "Downloaded %d files (%d bytes) from %s to %s",
        len(relatives),
        tree.total_size,
        tree.url,
        local_dir,
    )
    return local_dir


@with_settings
def download_tree(url: str, local_dir: str | Path, *, max_workers: int = 16) -> Path:
    """Copy the file or folder tree at ``url`` into ``local_dir``; return ``local_dir``.

    Raises :class:`ModelNotFoundError` if nothing exists at ``url`` and
    :class:`StorageError` for any other storage failure.
    """
    return download_listed(list_tree(url), local_dir, max_workers=max_workers)


def _occupied(fs: fsspec.AbstractFileSystem, root: str) -> list[str]:
    """What already lies at ``root`` (a few names), or ``[]`` when nothing does."""
    fs.invalidate_cache(root)
    try:
        found = fs.ls(root, detail=False)
    except FileNotFoundError:
        return []
    names = [str(name) for name in found]
    if not names and fs.isfile(root):
        return [root]
    return names[:3]


UPLOAD_MARKER = ".pyfunc_ops-upload.json"


def _marker_payload() -> bytes:
    """Who is uploading, written first: a later run tells a killed upload from one in
    progress by it."""
    payload = {"host": this_host(), "pid": os.getpid(), "started": time.time()}
    return json.dumps(payload).encode("utf-8")


def _clear_interrupted_upload(
    fs: fsspec.AbstractFileSystem, root: str, url: str, present: list[str]
) -> None:
    """Remove what a killed upload left at ``root``, or refuse with the reason.

    A published model has its ``MLmodel`` (written last): never touched. Files with our
    upload marker are an upload: removed when its writer is gone (same host, process
    gone; another host, marker older than a few hours), refused while it may still run.
    Files without either are someone else's: refused, never removed.
    """
    listed = ", ".join(repr(name.rsplit("/", 1)[-1]) for name in present)
    if fs.exists(f"{root}/{MLMODEL_FILE_NAME}"):
        raise ModelExistsError(
            f"Cannot upload a model to {url!r}: that location already holds files "
            f"({listed}, ...), a published model (it has its {MLMODEL_FILE_NAME}). Published "
            "models are immutable and are never overwritten: log to a new artifact path (or "
            "a new run), or register a new version instead."
        )
    try:
        marker = json.loads(fs.cat_file(f"{root}/{UPLOAD_MARKER}"))
        host, pid, started = str(marker["host"]), int(marker["pid"]), float(marker["started"])
    except FileNotFoundError:
        raise ModelExistsError(
            f"Cannot upload a model to {url!r}: that location already holds files "
            f"({listed}, ...) but no {MLMODEL_FILE_NAME}, and no upload of pyfunc_ops wrote "
            "them, so they are left alone (whatever is there is treated as immutable). "
            "Delete them if they are yours (e.g. aws s3 rm --recursive), or log to a new "
            "artifact path."
        ) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelExistsError(
            f"Cannot upload a model to {url!r}: its upload marker {UPLOAD_MARKER!r} is "
            f"unreadable ({exc}). Delete the location's files and retry."
        ) from None
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started))
    gone = (
        not process_alive(pid)
        if host == this_host()
        else time.time() - started > FOREIGN_STALE_AFTER_S
    )
    if not gone:
        raise ModelExistsError(
            f"Cannot upload a model to {url!r}: an upload there by pid {pid} on host "
            f"{host!r} since {since} has not finished. Wait for it; if that run was killed "
            "on another host, delete the location's files and retry."
        )
    log.warning(
        "Removing the unfinished upload at %s (pid %d on host %r since %s, gone) before "
        "uploading again",
        url,
        pid,
        host,
        since,
    )
    fs.rm(root, recursive=True)
    fs.invalidate_cache(root)


@with_settings
def upload_tree(local_dir: str | Path, url: str, *, max_workers: int = 16) -> str:
    """Upload the folder ``local_dir`` to ``url``, writing ``MLmodel`` last; return ``url``.

    Files are uploaded concurrently; the top-level ``MLmodel`` is only written after all
    of them completed. The destination must be empty: a published model is immutable, so
    a location that holds anything (a model, part of one, any file) is refused with
    :class:`ModelExistsError` rather than overwritten. The folder is listed with
    :func:`~pyfunc_ops.core.paths.iter_tree`: a symlink leaving it, a dangling link or a
    link cycle is :class:`ModelFormatError` and nothing is uploaded.
    """
    local_dir = Path(local_dir)
    if not local_dir.is_dir():
        if local_dir.exists():
            raise InvalidParameterError(
                f"Cannot upload {str(local_dir)!r} to {url!r}: expected a folder, found a "
                "file. Pass the model folder (the one holding MLmodel)."
            )
        raise ModelNotFoundError(
            f"Cannot upload {str(local_dir)!r} to {url!r}: the folder does not exist. "
            "Save the model there first."
        )
    relatives = iter_tree(local_dir)
    fs, root = get_filesystem(url)
    root = root.rstrip("/") or root
    has_mlmodel = MLMODEL_FILE_NAME in relatives
    others = [relative for relative in relatives if relative != MLMODEL_FILE_NAME]
    targets = [f"{root}/{relative}" for relative in others]
    mlmodel_target = f"{root}/{MLMODEL_FILE_NAME}"
    with _storage_errors(url, "upload to", fs):
        present = _occupied(fs, root)
        if present:
            _clear_interrupted_upload(fs, root, url, present)
        if not isinstance(fs, AsyncFileSystem):
            # Object stores have no folders, but local and sftp destinations need them.
            for parent in sorted({root} | {target.rsplit("/", 1)[0] for target in targets}):
                fs.makedirs(parent, exist_ok=True)
        fs.pipe_file(f"{root}/{UPLOAD_MARKER}", _marker_payload())
        _transfer(
            fs,
            "put",
            [str(local_dir / relative) for relative in others],
            targets,
            max_workers=max_workers,
            description=f"Uploading to {url}",
        )
        crash_point("upload.before_mlmodel")
        fs.rm_file(f"{root}/{UPLOAD_MARKER}")
        if has_mlmodel:
            fs.put_file(str(local_dir / MLMODEL_FILE_NAME), mlmodel_target)
        fs.invalidate_cache(root)
    log.debug("Uploaded %d files from %s to %s", len(relatives), local_dir, url)
    return url


def read_file(url: str) -> bytes | None:
    """The bytes of the single file at ``url`` (local path or fsspec URL); ``None`` if
    there is none. One request, no listing: used for a model's small metadata files."""
    fs, path = get_filesystem(url)
    with _storage_errors(url, "read", fs):
        try:
            data = fs.cat_file(path)
        except FileNotFoundError:
            return None
    return bytes(data)


@with_settings
def copy_artifact(uri: str, dest: Path) -> Path:
    """Copy the single file or folder at ``uri`` to exactly ``dest``; return ``dest``.

    ``uri`` is a local path, a ``file:`` URI or an fsspec URL (``runs:/`` and
    ``models:/`` must be resolved by the caller). A missing source raises
    :class:`ArtifactNotFoundError` (a ``FileNotFoundError``) naming ``uri``.
    """
    dest = Path(dest)
    parsed = parse_model_uri(uri)
    if is_registry_uri(parsed):
        raise InvalidURIError(
            f"Cannot copy artifact {uri!r}: {parsed.scheme}:/ URIs must be resolved to a "
            "storage location first (pyfunc_ops.pyfunc.localize.resolve_uri)."
        )
    assert parsed.path is not None
    if parsed.scheme == "local":
        source = Path(parsed.path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, dest, dirs_exist_ok=True)
        elif source.is_file():
            shutil.copy2(source, dest)
        else:
            raise ArtifactNotFoundError(
                f"Artifact {uri!r} not found: expected a file or folder at {str(source)!r}, "
                "found nothing. Check the path in artifacts=."
            )
        return dest
    assert is_url(parsed.path)
    try:
        tree = list_tree(parsed.path)
    except ModelNotFoundError as exc:
        raise ArtifactNotFoundError(
            f"Artifact {uri!r} not found: expected a file or folder there, found nothing. "
            "Check the URL in artifacts=."
        ) from exc
    if tree.is_file:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with _storage_errors(uri, "download"):
            tree.fs.get_file(tree.root, str(dest))
        return dest
    return download_listed(tree, dest)
