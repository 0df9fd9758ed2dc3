"""Read, transform and write in three threads with a fixed number of items in flight.

Batch scoring spends its time in three places that can overlap: decoding the input
(pyarrow releases the GIL while it decodes), the model's ``predict`` (numpy and most
estimators release it in their kernels) and encoding the output (``ParquetWriter``
releases it while it encodes and compresses). :func:`run_pipeline` runs the source in a
reader thread, the transform in the caller's thread and the sink in a writer thread,
joined by two bounded queues, so at most ``2 * in_flight + 3`` items exist at once
(each queue, plus the one each thread holds) whatever the input size: memory stays
bounded and the order of items is kept (one thread per stage, FIFO queues).

Each thread runs in a copy of the caller's :mod:`contextvars` context, so a
``use_settings`` scope (storage options, credentials) applies to reading and writing as
it does to the caller. An exception in any stage stops the other two and is re-raised in
the caller, unchanged (same type, message and traceback). ``threaded=False`` runs the same
three stages one after the other in the caller's thread: the sequential reference the
tests compare with.

While the threads run, BLAS (OpenBLAS, MKL) may use only the cores the reader and writer
leave, at least one: its idle threads spin waiting for the next call, and on a small
machine that spinning took the cores decoding and encoding needed (a cheap linear model
scored 20-30 % slower). OpenMP pools (e.g. HistGradientBoosting's) are left alone: they
do the model's real work. A BLAS thread count the user set (``OPENBLAS_NUM_THREADS``,
``MKL_NUM_THREADS``, ``OMP_NUM_THREADS``) is kept. The limit is process-wide, so it is
applied by the first pipeline to start and lifted by the last to end.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = ["DEFAULT_IN_FLIGHT", "run_pipeline"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
U = TypeVar("U")

# Two items per queue: enough to hide the jitter between stages (one being produced while
# one waits), and memory stays a handful of batches.
DEFAULT_IN_FLIGHT = 2
# How often a blocked stage checks whether another stage failed (seconds): a failure
# stops the pipeline within this delay; it costs nothing while items flow.
_POLL = 0.05
# Variables with which a user chooses BLAS's thread count: when one is set, it stands.
_BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")
# The pipeline's own threads besides the caller's: the reader and the writer.
_STAGE_THREADS = 2


class _Done:
    """The end of a stage's stream."""


_DONE = _Done()


class _Pipeline:
    def __init__(self, in_flight: int) -> None:
        self.stop = threading.Event()
        self.read_q: queue.Queue[Any] = queue.Queue(maxsize=in_flight)
        self.write_q: queue.Queue[Any] = queue.Queue(maxsize=in_flight)
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()

    def fail(self, exc: BaseException) -> None:
        with self._lock:
            self.errors.append(exc)
        self.stop.set()

    def put(self, q: queue.Queue[Any], item: Any) -> bool:
        """Put ``item``, waiting for room; ``False`` when the pipeline stopped meanwhile."""
        while not self.stop.is_set():
            try:
                q.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def get(self, q: queue.Queue[Any]) -> Any:
        """The next item, or ``_DONE`` when the stream ended or the pipeline stopped."""
        while not self.stop.is_set():
            try:
                return q.get(timeout=_POLL)
            except queue.Empty:
                continue
        return _DONE


def blas_threads() -> int | None:
    """BLAS's thread count while a pipeline runs, ``None`` to leave it (see the module)."""
    if any(os.environ.get(name) for name in _BLAS_VARIABLES):
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) - _STAGE_THREADS)


class _BlasLimit:
    """The process-wide BLAS limit, held while any pipeline runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._limiter: Any = None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                threads = blas_threads()
                if threads is not None:
                    from threadpoolctl import threadpool_limits

                    self._limiter = threadpool_limits(limits=threads, user_api="blas")
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0 and self._limiter is not None:
                    self._limiter.restore_original_limits()
                    self._limiter = None


_BLAS_LIMIT = _BlasLimit()


def run_pipeline(
    source: Iterator[T],
    transform: Callable[[T], U],
    sink: Callable[[U], None],
    *,
    in_flight: int = DEFAULT_IN_FLIGHT,
    threaded: bool = True,
) -> None:
    """``sink(transform(item))`` for every item of ``source``, in order (see the module)."""
    if not threaded:
        try:
            for item in source:
                sink(transform(item))
        finally:
            _close(source)
        return
    with _BLAS_LIMIT.held():
        _run_threaded(source, transform, sink, _Pipeline(max(1, in_flight)))


def _run_threaded(
    source: Iterator[T], transform: Callable[[T], U], sink: Callable[[U], None], state: _Pipeline
) -> None:

    def read() -> None:
        try:
            for item in source:
                if not state.put(state.read_q, item):
                    return
            state.put(state.read_q, _DONE)
        except BaseException as exc:  # re-raised in the caller's thread
            state.fail(exc)
        finally:
            # The generator runs (and closes its files) in this thread only.
            _close(source)

    def write() -> None:
        try:
            while True:
                item = state.get(state.write_q)
                if item is _DONE:
                    return
                sink(item)
        except BaseException as exc:  # re-raised in the caller's thread
            state.fail(exc)

    # One context copy per thread: a Context can be entered by one thread at a time.
    reader = threading.Thread(
        target=contextvars.copy_context().run, args=(read,), name="pyfunc-ops-read", daemon=True
    )
    writer = threading.Thread(
        target=contextvars.copy_context().run, args=(write,), name="pyfunc-ops-write", daemon=True
    )
    reader.start()
    writer.start()
    try:
        while True:
            item = state.get(state.read_q)
            if item is _DONE:
                break
            if not state.put(state.write_q, transform(item)):
                break
        if not state.stop.is_set():
            state.put(state.write_q, _DONE)
    except BaseException:
        state.stop.set()
        raise
    finally:
        # Both threads return promptly: at the end of their streams, or within _POLL of
        # the stop flag.
        writer.join()
        reader.join()
    if state.errors:
        raise state.errors[0]


def _close(source: Iterator[Any]) -> None:
    close = getattr(source, "close", None)
    if callable(close):
        close()
