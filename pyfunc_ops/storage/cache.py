"""A local cache of remote model trees: keyed by digest when one is recorded, else by
what the remote listing says.

**By digest** (:func:`fetch_verified`, for ``models:/`` and ``runs:/`` URIs whose digest the
registry recorded): the entry ``<cache>/<hex[:2]>/<hex>`` holds exactly the files of
that manifest. A hit costs no request to the object store at all, so a cached version
loads with the store down; it checks the entry against its manifest (the manifest's own
digest, then the set of files and every size: stat calls only). An entry is published
only after a full sha256 check of every file, and a damaged one (a file edited, deleted or
added in the cache) is removed and fetched again, never served. **Pins**
(:func:`write_pin` / :func:`read_pin`) remember which digest and source a
``models:/<name>/<version>`` had, so that version still loads from the cache while the
registry is down.

**By listing** (:func:`fetch`, for plain fsspec URLs):
loading a remote model again should cost one listing, not a download, yet a model that
changed remotely must never be served stale. So the key is a sha256 over the location and,
for every file, its relative path, size and the version markers the backend reports (ETag
for S3, checksums for GCS, modification times elsewhere): any change to any file yields a
new key, and an unchanged tree finds its folder.

Entries are immutable once published: a download fills a temporary sibling folder that is
renamed into place atomically, under a per-key file lock, so concurrent processes (Airflow
workers on one host) never see a half-filled entry and fill each entry only once.

**Eviction** lives in ``storage.cache_eviction`` (last-use markers, listing, LRU removal
by size or age, the ``PYFUNC_OPS_CACHE_MAX_SIZE`` budget after each download) and **pins**
in ``storage.pins``; their public names are importable from here as before.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import filelock

from pyfunc_ops import config
from pyfunc_ops.core.crashpoints import crash_point
from pyfunc_ops.core.locks import held, timeout_error
from pyfunc_ops.core.oserrors import os_error, os_errors
from pyfunc_ops.core.paths import iter_tree
from pyfunc_ops.core.redact import redact
from pyfunc_ops.core.staging import replace_text, temporary_name
from pyfunc_ops.errors import IntegrityError, ModelFormatError, StorageError
from pyfunc_ops.models.manifest import validate_digest, verify
from pyfunc_ops.storage.cache_eviction import (
    LOCK_SUFFIX,
    STATS_SUFFIX,
    USED_SUFFIX,
    CacheEntry,
    describe_entry,
    enforce_budget,
    entry_lock,
    evict,
    list_entries,
    mark_used,
    remove_entry,
    stats_file,
    tree_size,
)
from pyfunc_ops.storage.pins import Pin, read_pin, registry_identity, write_pin
from pyfunc_ops.storage.transfer import RemoteTree, download_listed, list_tree

__all__ = [
    "LOCK_SUFFIX",
    "STATS_SUFFIX",
    "USED_SUFFIX",
    "CacheEntry",
    "CacheStats",
    "Pin",
    "adopt",
    "cache_key",
    "cached_entry",
    "describe_entry",
    "digest_entry",
    "evict",
    "fetch",
    "fetch_verified",
    "list_entries",
    "mark_used",
    "read_pin",
    "registry_identity",
    "stats",
    "tree_size",
    "write_pin",
]

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


_LOCAL_DISK_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


def _file_stats(folder: Path) -> dict[str, list[int]]:
    """Every file of ``folder`` (relative path) with its size and modification time."""
    found: dict[str, list[int]] = {}
    for dirpath, _dirs, names in os.walk(folder):
        for name in names:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            found[os.path.relpath(path, folder).replace(os.sep, "/")] = [
                st.st_size,
                st.st_mtime_ns,
            ]
    return found


def _record_stats(final: Path, folder: Path) -> None:
    """Record the size and modification time of each file of ``folder`` (the entry about
    to be published as ``final``): a hit compares them, one ``stat`` per file, and any
    difference means the entry was changed on disk (see :func:`_unchanged`)."""
    try:
        replace_text(stats_file(final), json.dumps(_file_stats(folder), sort_keys=True))
    except OSError as exc:  # a read-only or full cache: the next hit checks in full
        log.debug("Cannot record the file stats of %s: %s", final, exc)


def _unchanged(entry: Path) -> bool:
    """Whether every file of ``entry`` still has the size and modification time recorded
    when it was published (no record, or any difference: ``False``). No file is read."""
    try:
        recorded = json.loads(stats_file(entry).read_text(encoding="utf-8"))
        return bool(recorded == _file_stats(entry))
    except (OSError, ValueError):
        return False


def _listed_unchanged(entry: Path, tree: RemoteTree) -> bool:
    """:func:`_unchanged` for an entry keyed by its listing. An entry published before
    stats were recorded is compared with the listing (names and sizes) instead, and gets
    its record now (a read-only cache keeps serving it that way)."""
    if stats_file(entry).exists():
        return _unchanged(entry)
    try:
        found = {name: size for name, (size, _mtime) in _file_stats(entry).items()}
    except OSError:
        return False
    listed = {
        (Path(name).name if tree.is_file else name): int(info.get("size") or 0)
        for name, info in tree.files.items()
    }
    if found != listed:
        return False
    _record_stats(entry, entry)
    return True


def _fill(tree: RemoteTree, final: Path, digest: str | None = None) -> None:
    """Download ``tree`` into a temporary sibling of ``final`` and rename it into place.

    With ``digest``, every file is hashed against the manifest first (a remote file that
    was modified, removed or added is :class:`IntegrityError` and nothing is published);
    without, the folder is walked with ``iter_tree`` so no entry holds a symlink out.
    """
    tmp = final.parent / temporary_name(final.name)
    tmp.mkdir()
    try:
        try:
            download_listed(tree, tmp)
        except StorageError as exc:
            if exc.errno in _LOCAL_DISK_ERRORS:  # the cache's disk, not the store, failed
                cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
                raise os_error(cause, "fill the model cache in", final.parent.parent) from exc
            raise
        _check_sizes(tree, tmp)
        if digest is None:
            iter_tree(tmp)
        else:
            try:
                verify(tmp, digest, full_hash=True)
            except IntegrityError as exc:
                raise IntegrityError(
                    f"The model at {redact(tree.url)!r} does not match the digest {digest} "
                    f"recorded for it: {str(exc).replace(str(tmp), 'the download')} Nothing "
                    "was cached or loaded."
                ) from exc
        _record_stats(final, tmp)
        crash_point("cache.before_publish")
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
    if final.is_dir() and _listed_unchanged(final, tree) and _hit(final):
        stats.record(hit=True)
        log.info("Model cache hit for %s: %s", url, final)
        return final
    with os_errors("fill the model cache in", root):
        final.parent.mkdir(parents=True, exist_ok=True)
        with _filling(final, url):
            return _fetch_locked(tree, final, root, url)


def _fetch_locked(tree: RemoteTree, final: Path, root: Path, url: str) -> Path:
    """The miss path of :func:`fetch`, under the entry's lock."""
    if final.is_dir() and _listed_unchanged(final, tree):
        mark_used(final)
        stats.record(hit=True)
        log.info("Model cache hit for %s after waiting: %s", url, final)
        return final
    if final.is_dir():  # changed on disk since it was published: never served
        log.warning("Cache entry %s was changed on disk; fetching it again", final)
        remove_entry(final)
    log.info(
        "Model cache miss for %s: downloading %d files (%d bytes) into %s",
        url,
        len(tree.files),
        tree.total_size,
        final,
    )
    _fill(tree, final)
    mark_used(final)
    stats.record(hit=False)
    # Under the entry's lock: another process's eviction skips a held entry, so the
    # one just downloaded cannot vanish before this call returns it.
    enforce_budget(root, final)
    return final


def _filling(final: Path, url: str) -> Any:
    """The entry's lock for filling it, waited for at most the ``lock_timeout`` setting."""
    return held(
        final.parent / f"{final.name}{LOCK_SUFFIX}",
        f"the model cache entry of {redact(url)}",
        config.current_settings().lock_timeout,
        "PYFUNC_OPS_LOCK_TIMEOUT",
        log,
    )


# -- by digest --------------------------------------------------------------------------


def digest_entry(digest: str, *, cache_root: Path | None = None) -> Path:
    """The cache folder that holds (or would hold) the model with ``digest``."""
    hexdigest = validate_digest(digest).split(":", 1)[1]
    root = Path(cache_root) if cache_root is not None else config.cache_dir()
    # The same layout as listing keys (both are sha256 hex over different inputs).
    return root / hexdigest[:2] / hexdigest


def _entry_problem(entry: Path, digest: str) -> str | None:
    """Why the published ``entry`` may not be served (``None``: it is intact).

    Cheap when nothing changed: names and sizes against the manifest, then each file's
    size and modification time against what was recorded at publication (one ``stat``
    per file). Any difference (a file rewritten with the same size, a touched one, a
    missing record) means a full sha256 check: the entry is served only if it passes.
    """
    try:
        verify(entry, digest, full_hash=False)
        if _unchanged(entry):
            return None
        log.info("Cache entry %s changed on disk since it was published; checking it", entry)
        verify(entry, digest, full_hash=True)
    except (IntegrityError, ModelFormatError) as exc:
        return str(exc)
    _record_stats(entry, entry)  # intact (e.g. only touched): the next hit is cheap again
    return None


def cached_entry(digest: str, *, cache_root: Path | None = None) -> Path | None:
    """The intact cache entry of ``digest``, or ``None`` (absent, or damaged and removed).

    Makes no request to any store: this is what serves a version while the object store
    or the registry is down.
    """
    entry = digest_entry(digest, cache_root=cache_root)
    if not entry.is_dir():
        return None
    problem = _entry_problem(entry, digest)
    if problem is None:
        return entry
    log.warning("Cache entry %s is damaged and is fetched again: %s", entry, problem)
    with os_errors("remove the damaged cache entry", entry):
        remove_entry(entry)
    return None


def fetch_verified(url: str, digest: str, *, cache_root: Path | None = None) -> Path:
    """A local folder holding the model at ``url`` whose manifest has ``digest``.

    A hit makes no request to the object store (no listing: the digest names the
    content); a miss lists and downloads once, hashes every file against the manifest and
    publishes the entry. Raises :class:`IntegrityError` naming the first file that differs.
    """
    entry = cached_entry(digest, cache_root=cache_root)
    if entry is not None and _hit(entry):
        stats.record(hit=True)
        log.info("Model cache hit for %s (%s): %s", redact(url), digest, entry)
        return entry
    final = digest_entry(digest, cache_root=cache_root)
    with os_errors("fill the model cache in", final.parent.parent):
        final.parent.mkdir(parents=True, exist_ok=True)
        with _filling(final, url):
            return _fetch_verified_locked(url, digest, final, cache_root)


def _fetch_verified_locked(url: str, digest: str, final: Path, cache_root: Path | None) -> Path:
    """The miss path of :func:`fetch_verified`, under the entry's lock."""
    entry = cached_entry(digest, cache_root=cache_root)
    if entry is not None:
        mark_used(entry)
        stats.record(hit=True)
        return entry
    tree = list_tree(url)
    log.info(
        "Model cache miss for %s (%s): downloading %d files (%d bytes) into %s",
        redact(url),
        digest,
        len(tree.files),
        tree.total_size,
        final,
    )
    _fill(tree, final, digest)
    mark_used(final)
    stats.record(hit=False)
    enforce_budget(final.parent.parent, final)  # under the lock, as in fetch()
    return final


# -- hits and adoption ------------------------------------------------------------------


def _hit(entry: Path) -> bool:
    """Mark a hit on ``entry`` under its lock; ``False`` if it was evicted meanwhile.

    Taking the lock (briefly, waiting if need be) orders the hit against an eviction:
    either the evictor saw the lock held and skipped the entry, or the entry is gone now
    and the caller downloads it again.
    """
    lock = entry_lock(entry)
    timeout = config.current_settings().lock_timeout
    try:
        lock.acquire(timeout=timeout)
    except filelock.Timeout:
        raise timeout_error(
            Path(lock.lock_file), f"the cache entry {entry}", timeout, "PYFUNC_OPS_LOCK_TIMEOUT"
        ) from None
    except OSError:  # a read-only cache (e.g. baked into an image) still serves
        return entry.is_dir()
    try:
        if not entry.is_dir():
            return False
        mark_used(entry)
        return True
    finally:
        lock.release()


def adopt(folder: Path, *, cache_root: Path | None = None) -> str:
    """Publish a copy of the model ``folder`` (fetched without a recorded digest) as the
    cache entry of its own digest (a manifest is computed and added), and return that
    digest: what a first-use pin names, so the version loads with the store down."""
    from pyfunc_ops.models.manifest import write_manifest

    root = Path(cache_root) if cache_root is not None else config.cache_dir()
    with os_errors("fill the model cache in", root):
        staging = root / temporary_name("adopt")
        shutil.copytree(folder, staging, symlinks=False)
        try:
            digest = write_manifest(staging)
            final = digest_entry(digest, cache_root=root)
            final.parent.mkdir(parents=True, exist_ok=True)
            with _filling(final, str(folder)):
                if cached_entry(digest, cache_root=root) is None:
                    _record_stats(final, staging)
                    os.rename(staging, final)
                    mark_used(final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return digest
