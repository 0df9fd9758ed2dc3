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

**Eviction** (:func:`list_entries`, :func:`evict`): every hit touches a marker beside the
entry (``<key>.used``; beside, because an entry holds exactly its manifest's files), so the
marker's modification time is the entry's last use. With a budget
(``PYFUNC_OPS_CACHE_MAX_SIZE``), each download is followed by removing the least recently
used entries until the cache fits; ``pyfunc-ops cache prune`` does the same on demand, by
size or by age. An entry is removed only under its per-key lock taken without waiting: an
entry another process is filling or looking up right now is skipped, never removed, and a
hit takes the same lock, so it either sees the entry before it goes or finds it gone and
downloads again. The entry just downloaded is never the one evicted to make room for it.
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
import time
from collections.abc import Collection, Iterable
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
    "CacheEntry",
    "CacheStats",
    "Pin",
    "cache_key",
    "cached_entry",
    "digest_entry",
    "evict",
    "fetch",
    "fetch_verified",
    "list_entries",
    "mark_used",
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
    if final.is_dir() and _hit(final):
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
            mark_used(final)
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
        mark_used(final)
        stats.record(hit=False)
        # Under the entry's lock: another process's eviction skips a held entry, so the
        # one just downloaded cannot vanish before this call returns it.
        _enforce_budget(root, final)
    finally:
        lock.release()
    return final


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
    if entry is not None and _hit(entry):
        stats.record(hit=True)
        log.info("Model cache hit for %s (%s): %s", redact(url), digest, entry)
        return entry
    final = digest_entry(digest, cache_root=cache_root)
    final.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(final.parent / f"{final.name}.lock")):
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
        _enforce_budget(final.parent.parent, final)  # under the lock, as in fetch()
    return final


# -- last use and eviction --------------------------------------------------------------

USED_SUFFIX = ".used"
LOCK_SUFFIX = ".lock"


def _marker(entry: Path) -> Path:
    return entry.parent / f"{entry.name}{USED_SUFFIX}"


def _lock(entry: Path) -> filelock.FileLock:
    return filelock.FileLock(str(entry.parent / f"{entry.name}{LOCK_SUFFIX}"))


def mark_used(entry: Path) -> None:
    """Record that ``entry`` was used now (its marker's modification time)."""
    try:
        _marker(entry).touch()
    except OSError as exc:  # a read-only cache still serves; it just cannot be LRU-ordered
        log.debug("Cannot record the use of %s: %s", entry, exc)


def _hit(entry: Path) -> bool:
    """Mark a hit on ``entry`` under its lock; ``False`` if it was evicted meanwhile.

    Taking the lock (briefly, waiting if need be) orders the hit against an eviction:
    either the evictor saw the lock held and skipped the entry, or the entry is gone now
    and the caller downloads it again.
    """
    try:
        with _lock(entry):
            if not entry.is_dir():
                return False
            mark_used(entry)
            return True
    except PermissionError:  # a read-only cache (e.g. baked into an image) still serves
        return entry.is_dir()


@dataclass(frozen=True)
class CacheEntry:
    """One cache (or environment) folder: its size and when it was last used."""

    path: Path
    size: int
    last_used: float  # seconds since the epoch

    @property
    def key(self) -> str:
        return self.path.name


def tree_size(folder: Path) -> int:
    """Bytes of the files under ``folder`` (symlinks not followed, vanished files 0)."""
    total = 0
    for dirpath, _dirs, names in os.walk(folder):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def describe_entry(path: Path) -> CacheEntry:
    """The size and last use of the entry folder ``path`` (never used: its own mtime)."""
    try:
        last_used = _marker(path).stat().st_mtime
    except OSError:
        last_used = path.stat().st_mtime
    return CacheEntry(path=path, size=tree_size(path), last_used=last_used)


def list_entries(cache_root: Path | None = None) -> list[CacheEntry]:
    """The published entries of the download cache, least recently used first."""
    root = Path(cache_root) if cache_root is not None else config.cache_dir()
    entries = []
    if root.is_dir():
        for shard in root.iterdir():
            if len(shard.name) != 2 or not shard.is_dir():
                continue  # e.g. pins/
            for path in shard.iterdir():
                if path.is_dir() and not path.name.startswith("."):  # not a temporary
                    with contextlib.suppress(FileNotFoundError):  # evicted meanwhile
                        entries.append(describe_entry(path))
    return sorted(entries, key=lambda e: e.last_used)


def _remove_unless_in_use(entry: CacheEntry) -> bool:
    """Remove ``entry`` if no process holds its lock now; whether it was removed."""
    lock = _lock(entry.path)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        log.info("Keeping %s: another process is using it", entry.path)
        return False
    try:
        if not entry.path.is_dir():
            return False  # another process removed it first
        _evict(entry.path)
        _marker(entry.path).unlink(missing_ok=True)
        return True
    finally:
        lock.release()


def evict(
    entries: Iterable[CacheEntry],
    *,
    max_bytes: int | None = None,
    older_than: float | None = None,
    keep: Collection[Path] = (),
    now: float | None = None,
    dry_run: bool = False,
) -> list[CacheEntry]:
    """Remove entries, least recently used first, until the rest fit in ``max_bytes`` and
    none was last used more than ``older_than`` seconds ago; returns the removed ones.

    Entries in ``keep`` and entries another process holds are skipped (the next one in
    LRU order goes instead), so the total may stay above ``max_bytes`` when only those
    are left. ``dry_run`` returns what would be removed and removes nothing.
    """
    ordered = sorted(entries, key=lambda e: e.last_used)
    total = sum(e.size for e in ordered)
    cutoff = None if older_than is None else (time.time() if now is None else now) - older_than
    kept = {Path(p) for p in keep}
    removed = []
    for entry in ordered:
        too_old = cutoff is not None and entry.last_used < cutoff
        too_big = max_bytes is not None and total > max_bytes
        if not (too_old or too_big) or entry.path in kept:
            continue
        if dry_run or _remove_unless_in_use(entry):
            removed.append(entry)
            total -= entry.size
    return removed


def _enforce_budget(root: Path, just_filled: Path) -> None:
    """After a download: evict down to the configured budget, never ``just_filled``."""
    budget = config.current_settings().cache_max_bytes
    if budget is None:
        return
    removed = evict(list_entries(root), max_bytes=budget, keep=(just_filled,))
    if removed:
        log.info(
            "Evicted %d cache entries (%d bytes, least recently used first) to keep %s "
            "within its budget of %d bytes",
            len(removed),
            sum(e.size for e in removed),
            root,
            budget,
        )


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
