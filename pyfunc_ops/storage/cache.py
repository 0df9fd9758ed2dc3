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
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import filelock

from pyfunc_ops import config
from pyfunc_ops.core.crashpoints import crash_point
from pyfunc_ops.core.locks import held, timeout_error
from pyfunc_ops.core.oserrors import os_error, os_errors
from pyfunc_ops.core.paths import iter_tree
from pyfunc_ops.core.redact import redact
from pyfunc_ops.core.staging import is_leftover, parse_temporary, temporary_name
from pyfunc_ops.core.uri import is_remote, is_url
from pyfunc_ops.errors import IntegrityError, ModelFormatError, StorageError
from pyfunc_ops.models.manifest import validate_digest, verify
from pyfunc_ops.storage.transfer import RemoteTree, download_listed, list_tree

__all__ = [
    "CacheEntry",
    "CacheStats",
    "Pin",
    "adopt",
    "cache_key",
    "cached_entry",
    "digest_entry",
    "evict",
    "fetch",
    "fetch_verified",
    "list_entries",
    "mark_used",
    "read_pin",
    "registry_identity",
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


STATS_SUFFIX = ".files"
_LOCAL_DISK_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


def _stats_file(entry: Path) -> Path:
    return entry.parent / f"{entry.name}{STATS_SUFFIX}"


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
    target = _stats_file(final)
    tmp = target.parent / temporary_name(target.name)
    try:
        tmp.write_text(json.dumps(_file_stats(folder), sort_keys=True), encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:  # a read-only or full cache: the next hit checks in full
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        log.debug("Cannot record the file stats of %s: %s", final, exc)


def _unchanged(entry: Path) -> bool:
    """Whether every file of ``entry`` still has the size and modification time recorded
    when it was published (no record, or any difference: ``False``). No file is read."""
    try:
        recorded = json.loads(_stats_file(entry).read_text(encoding="utf-8"))
        return bool(recorded == _file_stats(entry))
    except (OSError, ValueError):
        return False


def _listed_unchanged(entry: Path, tree: RemoteTree) -> bool:
    """:func:`_unchanged` for an entry keyed by its listing. An entry published before
    stats were recorded is compared with the listing (names and sizes) instead, and gets
    its record now (a read-only cache keeps serving it that way)."""
    if _stats_file(entry).exists():
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
        _evict(final)
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


def _evict(entry: Path) -> None:
    """Move a damaged entry aside (atomically) and delete it."""
    trash = entry.parent / temporary_name(f"{entry.name}.evicted")
    trash.mkdir()
    with contextlib.suppress(FileNotFoundError):  # another process evicted it first
        os.rename(entry, trash / entry.name)
    _stats_file(entry).unlink(missing_ok=True)
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
    with os_errors("remove the damaged cache entry", entry):
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
    lock = _lock(entry)
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


@dataclass(frozen=True)
class CacheEntry:
    """One cache (or environment) folder: its size and when it was last used."""

    path: Path
    size: int
    last_used: float  # seconds since the epoch
    # A temporary a killed run left behind (a download or an eviction that never
    # finished): counted in the cache's size, removed by any prune or eviction.
    leftover: bool = False

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
            if shard.name.startswith(".") and shard.is_dir() and _is_leftover(shard):
                entries.append(replace(describe_entry(shard), leftover=True))  # adopt()'s
                continue
            if len(shard.name) != 2 or not shard.is_dir():
                continue  # e.g. pins/
            for path in shard.iterdir():
                with contextlib.suppress(FileNotFoundError):  # evicted meanwhile
                    if not path.is_dir():
                        continue
                    if not path.name.startswith("."):
                        entries.append(describe_entry(path))
                    elif _is_leftover(path):
                        entries.append(replace(describe_entry(path), leftover=True))
    return sorted(entries, key=lambda e: e.last_used)


def _is_leftover(path: Path) -> bool:
    """Whether the hidden folder ``path`` is a temporary of a run that is gone."""
    if parse_temporary(path.name) is None:
        return False
    return is_leftover(path.name, path.stat().st_mtime)


def _remove_unless_in_use(entry: CacheEntry) -> bool:
    """Remove ``entry`` if no process holds its lock now; whether it was removed."""
    if entry.leftover:  # its writer is gone: nothing can hold it
        shutil.rmtree(entry.path, ignore_errors=True)
        log.info("Removed %s, left behind by a run that was killed", entry.path)
        return not entry.path.exists()
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
    # A killed run's leftovers go first and always: they are nobody's entry.
    ordered.sort(key=lambda e: not e.leftover)
    for entry in ordered:
        too_old = cutoff is not None and entry.last_used < cutoff
        too_big = max_bytes is not None and total > max_bytes
        if not (too_old or too_big or entry.leftover) or entry.path in kept:
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
    """What ``models:/<name>/<version>`` of one registry resolved to when it was last
    loaded here, so that it loads again while that registry is down.

    ``digest`` is the one the registry recorded, or, for a version registered without
    one (MLflow registered it), the digest of what was downloaded the first time it was
    loaded here (``first_use``: trust on first use, never a trust root). ``None`` for a
    local source without a recorded digest (its files are used in place). ``registry``
    is the registry's identity: its tracking URI without credentials.
    """

    name: str
    version: int
    digest: str | None
    source: str
    registry: str = ""
    first_use: bool = False


_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)[^/@?#]*@")


def registry_identity(tracking_uri: str) -> str:
    """``tracking_uri`` without credentials (user, password, secrets in the query): the
    identity of a registry, for keying its pins. Two registries (dev and prod) with the
    same model name and version never share a pin."""
    return redact(_USERINFO.sub(r"\g<scheme>", tracking_uri.strip()))


def _pin_path(registry: str, name: str, version: int, cache_root: Path | None) -> Path:
    root = Path(cache_root) if cache_root is not None else config.cache_dir()
    # A hash, not the name: registered model names need not be valid file names.
    key = f"{registry}\n{name}" if registry else name
    folder = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return root / "pins" / f"{folder}-{int(version)}.json"


def write_pin(pin: Pin, *, cache_root: Path | None = None) -> bool:
    """Record ``pin`` (atomically; a version's digest never changes, so rewriting is safe).

    A cache that cannot be written (read-only, full) keeps serving: the pin is then not
    recorded, with a warning, and ``False`` is returned."""
    path = _pin_path(pin.registry, pin.name, pin.version, cache_root)
    payload = json.dumps(
        {
            "name": pin.name,
            "version": pin.version,
            "digest": pin.digest,
            "source": pin.source,
            "registry": pin.registry,
            "first_use": pin.first_use,
        },
        sort_keys=True,
    )
    tmp = path.parent / temporary_name(path.name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(payload, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        log.warning(
            "Could not record the pin of %s version %s in %s (%s): it will not load from "
            "this cache while its registry is down",
            pin.name,
            pin.version,
            path.parent,
            exc,
        )
        return False
    return True


def read_pin(
    name: str, version: int, *, registry: str = "", cache_root: Path | None = None
) -> Pin | None:
    """The pin of ``name`` version ``version`` in ``registry``, or ``None`` if there is
    none (or it is not a pin this code wrote: then it is ignored with a warning, never
    trusted)."""
    path = _pin_path(registry, name, version, cache_root)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        raw_digest = data["digest"]
        pin = Pin(
            name=str(data["name"]),
            version=int(data["version"]),
            digest=None if raw_digest is None else validate_digest(raw_digest),
            source=str(data["source"]),
            registry=str(data.get("registry", "")),
            first_use=bool(data.get("first_use", False)),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("Ignoring the unreadable pin %s: %s", path, exc)
        return None
    if (pin.name, pin.version, pin.registry) != (name, int(version), registry):
        log.warning(
            "Ignoring the pin %s: it names %s version %s of %r",
            path,
            pin.name,
            pin.version,
            pin.registry,
        )
        return None
    if pin.digest is None and is_url(pin.source) and is_remote(pin.source):
        log.warning("Ignoring the pin %s: a remote source without a digest", path)
        return None
    return pin


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
