"""The three-stage pipeline: order kept, bounded items in flight, errors and context carried."""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator

import pytest

from pyfunc_ops.jobs.pipeline import run_pipeline

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("test_pipeline_var", default="unset")


@pytest.mark.parametrize("threaded", [True, False])
def test_items_arrive_in_order_and_all_of_them(threaded: bool) -> None:
    out: list[int] = []
    run_pipeline(iter(range(500)), lambda x: x * 2, out.append, threaded=threaded)
    assert out == [x * 2 for x in range(500)]


def test_stages_run_in_their_own_threads_with_the_callers_context() -> None:
    seen: dict[str, set[tuple[str, str]]] = {"read": set(), "transform": set(), "write": set()}

    def source() -> Iterator[int]:
        for i in range(5):
            seen["read"].add((threading.current_thread().name, VAR.get()))
            yield i

    def transform(x: int) -> int:
        seen["transform"].add((threading.current_thread().name, VAR.get()))
        return x

    def sink(x: int) -> None:
        seen["write"].add((threading.current_thread().name, VAR.get()))

    token = VAR.set("scoped")
    try:
        run_pipeline(source(), transform, sink)
    finally:
        VAR.reset(token)
    assert seen["read"] == {("pyfunc-ops-read", "scoped")}
    assert seen["write"] == {("pyfunc-ops-write", "scoped")}
    assert seen["transform"] == {(threading.current_thread().name, "scoped")}


def test_items_in_flight_are_bounded() -> None:
    """A slow writer holds the reader back: at most 2 * in_flight + 3 items exist."""
    produced = 0
    written = 0
    worst = 0
    lock = threading.Lock()

    def source() -> Iterator[int]:
        nonlocal produced, worst
        for i in range(60):
            with lock:
                produced += 1
                worst = max(worst, produced - written)
            yield i

    def sink(_: int) -> None:
        nonlocal written
        time.sleep(0.002)
        with lock:
            written += 1

    run_pipeline(source(), lambda x: x, sink, in_flight=2)
    assert written == 60
    assert worst <= 2 * 2 + 3, worst


class Boom(Exception):
    pass


def _closed_flag() -> tuple[Iterator[int], list[bool]]:
    closed = [False]

    def gen() -> Iterator[int]:
        try:
            yield from range(1_000_000)
        finally:
            closed[0] = True

    return gen(), closed


def test_a_failing_reader_reaches_the_caller_unchanged() -> None:
    def source() -> Iterator[int]:
        yield 1
        raise Boom("cannot decode block 2 of in.parquet")

    written: list[int] = []
    with pytest.raises(Boom, match=r"cannot decode block 2 of in\.parquet"):
        run_pipeline(source(), lambda x: x, written.append)
    assert written in ([], [1])  # what was queued when it failed may be dropped
    assert not [t for t in threading.enumerate() if t.name.startswith("pyfunc-ops-")]


def test_a_failing_writer_stops_the_reader_and_reaches_the_caller() -> None:
    source, closed = _closed_flag()

    def sink(x: int) -> None:
        if x == 3:
            raise OSError("disk full while writing part 3")

    with pytest.raises(OSError, match="disk full while writing part 3"):
        run_pipeline(source, lambda x: x, sink)
    assert closed[0]  # the reader stopped early and closed its input
    assert not [t for t in threading.enumerate() if t.name.startswith("pyfunc-ops-")]


def test_a_failing_transform_stops_both_threads() -> None:
    source, closed = _closed_flag()

    def transform(x: int) -> int:
        if x == 10:
            raise ValueError("the model returned 9 predictions for a batch of 10 rows")
        return x

    with pytest.raises(ValueError, match="returned 9 predictions"):
        run_pipeline(source, transform, lambda x: None)
    assert closed[0]
    assert not [t for t in threading.enumerate() if t.name.startswith("pyfunc-ops-")]


# -- BLAS's threads while the stages run ---------------------------------------------------


def _blas_counts() -> set[int]:
    from threadpoolctl import threadpool_info

    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


@pytest.fixture
def blas_at_three(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """BLAS at 3 threads on a machine that reports 3 cores (so the pipeline leaves 1), with
    no BLAS variable set."""
    import numpy  # noqa: F401  (loads BLAS, which threadpoolctl finds among the loaded libraries)
    from threadpoolctl import threadpool_limits

    for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 3)
    with threadpool_limits(limits=3, user_api="blas"):
        assert _blas_counts() == {3}
        yield


def test_blas_gets_the_cores_the_reader_and_writer_leave(blas_at_three: None) -> None:
    seen: list[set[int]] = []
    run_pipeline(iter(range(3)), lambda x: seen.append(_blas_counts()) or x, lambda x: None)
    assert seen == [{1}, {1}, {1}]
    assert _blas_counts() == {3}  # lifted afterwards


def test_sequential_run_leaves_blas_alone(blas_at_three: None) -> None:
    seen: list[set[int]] = []
    run_pipeline(iter(range(2)), lambda x: seen.append(_blas_counts()), print, threaded=False)
    assert seen == [{3}, {3}]


def test_a_blas_thread_count_the_user_set_stands(
    blas_at_three: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    seen: list[set[int]] = []
    run_pipeline(iter(range(2)), lambda x: seen.append(_blas_counts()), lambda x: None)
    assert seen == [{3}, {3}]


def test_overlapping_pipelines_lift_the_limit_only_when_the_last_ends(blas_at_three: None) -> None:
    """The limit is process-wide: a pipeline (in another thread) ending while this one
    runs must not lift it under this one, and the last one to end restores the count.
    (OpenBLAS takes a thread count set from the main thread only, so this pipeline, which
    takes the limit first, runs in it.)"""
    seen_after_other: list[set[int]] = []

    def transform(x: int) -> int:
        if x == 0:
            other = threading.Thread(
                target=run_pipeline, args=(iter(range(2)), lambda y: y, lambda y: None)
            )
            other.start()
            other.join(10)
            assert not other.is_alive()
            seen_after_other.append(_blas_counts())
        return x

    run_pipeline(iter(range(2)), transform, lambda x: None)
    assert seen_after_other == [{1}]
    assert _blas_counts() == {3}
