"""Functions run in spawned processes by the cache tests.

Kept apart from the test module so a child imports only pyfunc_ops (not pytest, s3fs or
moto), which keeps process start-up short.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any


def fetch_paused_or_waiting(
    url: str,
    cache_root: str,
    role: str,
    filling: Any,
    waiting: Any,
    release: Any,
    results: Any,
) -> None:
    """Run in a spawned process: ``first`` pauses mid-fill, ``second`` reports waiting."""
    from pyfunc_ops.storage import cache as child_cache

    if role == "first":
        original_fill = child_cache._fill

        def paused_fill(tree: Any, final: Path) -> None:
            filling.set()
            if not release.wait(120):
                raise RuntimeError("the test never released the first filler")
            original_fill(tree, final)

        child_cache._fill = paused_fill  # type: ignore[assignment]
    else:

        class WaitListener(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                if "Waiting for another process" in record.getMessage():
                    waiting.set()

        logger = logging.getLogger("pyfunc_ops.storage.cache")
        logger.addHandler(WaitListener())
        logger.setLevel(logging.INFO)
    path = child_cache.fetch(url, cache_root=Path(cache_root))
    results.put((role, str(path), child_cache.stats.hits, child_cache.stats.misses))


def fetch_after_barrier(url: str, cache_root: str, barrier: Any, results: Any) -> None:
    """Run in a spawned process: wait for the others, then fetch."""
    from pyfunc_ops.storage import cache as child_cache

    barrier.wait(120)
    path = child_cache.fetch(url, cache_root=Path(cache_root))
    results.put((str(path), child_cache.stats.misses))


def fetch_then_hold(url: str, cache_root: str, holding: Any, release: Any, results: Any) -> None:
    """Run in a spawned process: fetch ``url``, then hold its entry's lock (as a process
    in the middle of using it does) until the test releases it."""
    from pyfunc_ops.storage import cache as child_cache
    from pyfunc_ops.storage.cache_eviction import entry_lock

    path = child_cache.fetch(url, cache_root=Path(cache_root))
    with entry_lock(path):
        holding.set()
        if not release.wait(120):
            raise RuntimeError("the test never released the holder")
    results.put(("holder", [str(path)]))


def fetch_all(urls: list[str], cache_root: str, start: Any, results: Any, role: str) -> None:
    """Run in a spawned process: wait for ``start``, then fetch every URL in turn; report
    the paths, each checked to exist when its fetch returned."""
    from pyfunc_ops.storage import cache as child_cache

    if not start.wait(120):
        raise RuntimeError("the test never started the filler")
    paths = []
    for url in urls:
        path = child_cache.fetch(url, cache_root=Path(cache_root))
        if not (path / "MLmodel").is_file():
            raise RuntimeError(f"{path} was evicted before its fetch returned")
        paths.append(str(path))
    results.put((role, paths))
