"""A local cache of remote model trees, keyed by what the remote listing says.

Loading a remote model again should cost one listing, not a download, yet a model that
changed remotely must never be served stale. So the key is a sha256 over the location and,
for every file, its relative path, size and the version markers the backend reports (ETag
for S3, checksums for GCS, modification times elsewhere): any change to any file yields a
new key, and an unchanged tree finds its folder.

Entries are immutable once published: a download fills a temporary sibling folder that is
renamed into place atomically, under a per-key file lock, so concurrent processes (Airflow
workers on one host) never see a half-filled entry and fill each entry only once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import filelock

from pyfunc_ops import config
from pyfunc_ops.errors import StorageError
from pyfunc_ops.storage.transfer import RemoteTree, download_listed, list_tree

__all__ = ["CacheStats", "cache_key", "fetch", "stats"]

log = logging.getLogger(__name__)

# Keys of fsspec info dicts that change when a file's content changes, by backend:
# s3fs (ETag, VersionId, LastModified), gcsfs (md5Hash, crc32c, generation, updated),
# adlfs (etag, last_modified), local/sftp (mtime, ino), memory (created), generic.
_VERSION_MARKERS = (
    "ETag",
    "etag",
    "VersionId",
    "md5Hash",
    "crc32c",
    "generation",
    "checksum",
    "content_md5",
    "LastModified",
    "last_modified",
    "updated",
    "mtime",
    "ino",
    "created",
)


@dataclass
class CacheStats:
    """Counters of this process's cache lookups, for logs and tests."""

    hits: int = 0
    misses: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record(self, hit: bool) -> None:
        with self._lock:
            if hit:
                self.hits += 1
            else:
                self.misses += 1

    def reset(self) -> None:
        with self._lock:
            self.hits = self.misses = 0


#: Hits and misses of :func:`fetch` in this process.
stats = CacheStats()


def cache_key(tree: RemoteTree) -> str:
    """The sha256 hex digest identifying the content of ``tree`` as listed."""
    entries = [
        [
            relative,
            int(info.get("size") or 0),
            {marker: info[marker] for marker in _VERSION_MARKERS if info.get(marker) is not None},
        ]
        for relative, info in sorted(tree.files.items())
    ]
    document = {
        "protocol": tree.fs.protocol,
        "root": tree.root,
        "is_file": tree.is_file,
        "files": entries,
    }
    payload = json.dumps(document, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _check_sizes(tree: RemoteTree, folder: Path) -> None:
    """Refuse to publish a download whose sizes differ from the listing the key names."""
    for relative, info in tree.files.items():
        expected = info.get("size")
        found = (folder / relative).stat().st_size
        if expected is not None and int(expected) != found:
            raise StorageError(
                f"{tree.url!r} changed while it was being cached: {relative!r} was listed "
                f"with {expected} bytes but {found} were downloaded. Retry once the upload "
                "finished."
            )


def _fill(tree: RemoteTree, final: Path) -> None:
    """Download ``tree`` into a temporary sibling of ``final`` and rename it into place."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        download_listed(tree, tmp)
        _check_sizes(tree, tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            # Only possible if the lock was not honoured (e.g. some network filesystems)
            # and another writer published first: its entry has the same content.
            if not final.is_dir():
                raise
            log.warning("Cache entry %s was published concurrently; keeping it", final)
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def fetch(url: str, *, cache_root: Path | None = None) -> Path:
    """A local folder holding an up-to-date copy of the file or folder tree at ``url``.

    Costs one listing when the cache holds the tree already, and a download otherwise.
    ``cache_root`` defaults to :func:`pyfunc_ops.config.cache_dir`. The returned folder
    is shared and must be treated as read-only.
    """
    root = Path(cache_root) if cache_root is not None else config.cache_dir()
    tree = list_tree(url)
    key = cache_key(tree)
    final = root / key[:2] / key
    if final.is_dir():
        stats.record(hit=True)
        log.info("Model cache hit for %s: %s", url, final)
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(final.parent / f"{key}.lock"))
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        log.info("Waiting for another process to finish caching %s into %s", url, final)
        lock.acquire()
    try:
        if final.is_dir():
            stats.record(hit=True)
            log.info("Model cache hit for %s after waiting: %s", url, final)
            return final
        log.info(
            "Model cache miss for %s: downloading %d files (%d bytes) into %s",
            url,
            len(tree.files),
            tree.total_size,
            final,
        )
        _fill(tree, final)
        stats.record(hit=False)
        return final
    finally:
        lock.release()
