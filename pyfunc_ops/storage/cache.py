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
"""

from __future__ import annotations

import contextlib
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
from pyfunc_ops.core.paths import iter_tree
from pyfunc_ops.core.redact import redact
from pyfunc_ops.errors import IntegrityError, ModelFormatError, StorageError
from pyfunc_ops.models.manifest import validate_digest, verify
from pyfunc_ops.storage.transfer import RemoteTree, download_listed, list_tree

__all__ = [
    "CacheStats",
    "Pin",
    "cache_key",
    "cached_entry",
    "digest_entry",
    "fetch",
    "fetch_verified",
    "read_pin",
    "stats",
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


def _fill(tree: RemoteTree, final: Path, digest: str | None = None) -> None:
    """Download ``tree`` into a temporary sibling of ``final`` and rename it into place.

    With ``digest``, every file is hashed against the manifest first (a remote file that
    was modified, removed or added is :class:`IntegrityError` and nothing is published);
    without, the folder is walked with ``iter_tree`` so no entry holds a symlink out.
    """
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        download_listed(tree, tmp)
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


# -- by digest --------------------------------------------------------------------------


def digest_entry(digest: str, *, cache_root: Path | None = None) -> Path:
    """The cache folder that holds (or would hold) the model with ``digest``."""
    hexdigest = validate_digest(digest).split(":", 1)[1]
    root = Path(cache_root) if cache_root is not None else config.cache_dir()
    # The same layout as listing keys (both are sha256 hex over different inputs).
    return root / hexdigest[:2] / hexdigest


def _entry_problem(entry: Path, digest: str) -> str | None:
    """Why the published ``entry`` may not be served (``None``: it is intact).

    Names and sizes only: the entry was fully hashed before it was published, and a
    check that costs one ``stat`` per file keeps a hit cheap.
    """
    try:
        verify(entry, digest, full_hash=False)
    except (IntegrityError, ModelFormatError) as exc:
        return str(exc)
    return None


def _evict(entry: Path) -> None:
    """Move a damaged entry aside (atomically) and delete it."""
    trash = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", suffix=".evicted", dir=entry.parent))
    with contextlib.suppress(FileNotFoundError):  # another process evicted it first
        os.rename(entry, trash / entry.name)
    shutil.rmtree(trash, ignore_errors=True)


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
    _evict(entry)
    return None


def fetch_verified(url: str, digest: str, *, cache_root: Path | None = None) -> Path:
    """A local folder holding the model at ``url`` whose manifest has ``digest``.

    A hit makes no request to the object store (no listing: the digest names the
    content); a miss lists and downloads once, hashes every file against the manifest and
    publishes the entry. Raises :class:`IntegrityError` naming the first file that differs.
    """
    entry = cached_entry(digest, cache_root=cache_root)
    if entry is not None:
        stats.record(hit=True)
        log.info("Model cache hit for %s (%s): %s", redact(url), digest, entry)
        return entry
    final = digest_entry(digest, cache_root=cache_root)
    final.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(final.parent / f"{final.name}.lock")):
        entry = cached_entry(digest, cache_root=cache_root)
        if entry is not None:
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
        stats.record(hit=False)
        return final


# -- pins -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pin:
    """What ``models:/<name>/<version>`` resolved to when it was last loaded here."""

    name: str
    version: int
    digest: str
    source: str


def _pin_path(name: str, version: int, cache_root: Path | None) -> Path:
    root = Path(cache_root) if cache_root is not None else config.cache_dir()
    # A hash, not the name: registered model names need not be valid file names.
    folder = hashlib.sha256(name.encode("utf-8")).hexdigest()[:32]
    return root / "pins" / f"{folder}-{int(version)}.json"


def write_pin(pin: Pin, *, cache_root: Path | None = None) -> None:
    """Record ``pin`` (atomically; a version's digest never changes, so rewriting is safe)."""
    path = _pin_path(pin.name, pin.version, cache_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(
        {"name": pin.name, "version": pin.version, "digest": pin.digest, "source": pin.source},
        sort_keys=True,
    )
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(payload)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_pin(name: str, version: int, *, cache_root: Path | None = None) -> Pin | None:
    """The pin of ``name`` version ``version``, or ``None`` if there is none (or it is not
    a pin this code wrote: then it is ignored with a warning, never trusted)."""
    path = _pin_path(name, version, cache_root)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        pin = Pin(
            name=str(data["name"]),
            version=int(data["version"]),
            digest=validate_digest(data["digest"]),
            source=str(data["source"]),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("Ignoring the unreadable pin %s: %s", path, exc)
        return None
    if (pin.name, pin.version) != (name, int(version)):
        log.warning("Ignoring the pin %s: it names %s version %s", path, pin.name, pin.version)
        return None
    return pin
