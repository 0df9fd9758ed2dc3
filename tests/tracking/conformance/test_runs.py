"""Runs: the fluent life cycle (FINISHED, FAILED, resume, nesting) and the client calls."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from pyfunc_ops import tracking
from pyfunc_ops.errors import InvalidParameterError, ResourceNotFoundError
from pyfunc_ops.tracking import Metric, RunStatus, TrackingClient

from .conftest import skip_on


def test_start_run_finishes_with_everything_logged(tracking_uri: str, tmp_path: Path) -> None:
    skip_on(
        tracking_uri,
        "mlflow",
        "the server chooses the artifact location and adds its system tag mlflow.runName",
    )
    with tracking.start_run(run_name="train", tags={"team": "ml"}) as run:
        assert tracking.active_run() is run
        assert run.info.status == RunStatus.RUNNING
        assert run.info.end_time is None
        tracking.log_param("alpha", 0.5)
        tracking.log_params({"l1_ratio": 0.1, "solver": "saga"})
        tracking.log_metric("rmse", 0.3)
        tracking.log_metric("rmse", 0.2, step=1)
        tracking.log_metrics({"mae": 0.1, "r2": 0.9}, step=3)
        tracking.set_tag("stage", "dev")
    assert tracking.active_run() is None
    # Leaving the block refreshes the run from the store.
    assert run.info.status == RunStatus.FINISHED
    assert run.info.end_time is not None and run.info.end_time >= run.info.start_time
    assert run.info.run_name == "train"
    assert run.data.params == {"alpha": "0.5", "l1_ratio": "0.1", "solver": "saga"}
    assert run.data.metrics == {"rmse": 0.2, "mae": 0.1, "r2": 0.9}
    assert run.data.tags == {"team": "ml", "stage": "dev"}
    assert len(run.info.run_id) == 32 and int(run.info.run_id, 16) >= 0
    expected_root = (tmp_path / "artifacts").as_posix()
    assert run.info.artifact_uri == f"{expected_root}/{run.info.run_id}/artifacts"
    stored = TrackingClient(tracking_uri).get_run(run.info.run_id)
    assert stored == tracking.Run(info=run.info, data=run.data)


def test_exception_in_block_marks_run_failed(tracking_uri: str) -> None:
    with pytest.raises(RuntimeError, match="boom"), tracking.start_run() as run:
        raise RuntimeError("boom")
    assert run.info.status == RunStatus.FAILED
    assert TrackingClient().get_run(run.info.run_id).info.status == RunStatus.FAILED
    assert tracking.active_run() is None


def test_resume_an_ended_run(tracking_uri: str) -> None:
    skip_on(
        tracking_uri,
        "mlflow",
        "its REST API cannot clear a run's end time (a resumed run keeps the old one until "
        "it ends again, as with MLflow's client)",
    )
    with tracking.start_run() as first:
        tracking.log_param("a", 1)
    with tracking.start_run(run_id=first.info.run_id, tags={"resumed": "yes"}) as again:
        assert again.info.run_id == first.info.run_id
        assert again.info.status == RunStatus.RUNNING
        assert again.info.end_time is None
        tracking.log_metric("late", 1.0)
    assert again.info.status == RunStatus.FINISHED
    assert again.data.params == {"a": "1"}
    assert again.data.metrics == {"late": 1.0}
    assert again.data.tags == {"resumed": "yes"}


def test_resume_unknown_run_lists_closest(tracking_uri: str) -> None:
    with tracking.start_run() as run:
        pass
    typo = run.info.run_id[:-1] + ("0" if run.info.run_id[-1] != "0" else "1")
    with pytest.raises(
        ResourceNotFoundError, match=f"run '{typo}' does not exist.*{run.info.run_id}"
    ):
        tracking.start_run(run_id=typo)


def test_nested_runs_need_nested_true(tracking_uri: str) -> None:
    with tracking.start_run() as parent:
        with pytest.raises(InvalidParameterError, match=r"already active.*nested=True"):
            tracking.start_run()
        with tracking.start_run(nested=True) as child:
            assert tracking.active_run() is child
            assert child.data.tags["pyfunc_ops.parentRunId"] == parent.info.run_id
        assert tracking.active_run() is parent
    assert tracking.active_run() is None


def test_end_run_with_status_and_without_block(tracking_uri: str) -> None:
    run = tracking.start_run()
    tracking.end_run("killed")
    assert tracking.active_run() is None
    assert TrackingClient().get_run(run.info.run_id).info.status == RunStatus.KILLED
    tracking.end_run()  # nothing active: a no-op
    with pytest.raises(InvalidParameterError, match=r"'DONE' is not a run status.*FINISHED"):
        TrackingClient().set_terminated(run.info.run_id, "DONE")


def test_logging_without_a_run_starts_one(tracking_uri: str) -> None:
    tracking.log_param("p", "v")
    run = tracking.active_run()
    assert run is not None
    tracking.end_run()
    assert TrackingClient().get_run(run.info.run_id).data.params == {"p": "v"}


def test_params_are_immutable_but_relogging_is_idempotent(client: TrackingClient) -> None:
    run_id = client.create_run().info.run_id
    client.log_param(run_id, "lr", 0.1)
    client.log_param(run_id, "lr", "0.1")  # same value: accepted (retried tasks)
    with pytest.raises(InvalidParameterError, match=r"param 'lr'.*already '0.1'.*immutable"):
        client.log_param(run_id, "lr", 0.2)
    assert client.get_run(run_id).data.params == {"lr": "0.1"}


def test_metric_history_latest_value_and_nan(client: TrackingClient) -> None:
    skip_on(client, "mlflow", "NaN and infinity do not travel in the JSON of its REST API")
    run_id = client.create_run().info.run_id
    client.log_metric(run_id, "loss", 1.0, step=0, timestamp=10)
    client.log_metric(run_id, "loss", 0.5, step=2, timestamp=11)
    client.log_metric(run_id, "loss", 0.7, step=1, timestamp=12)
    client.log_metric(run_id, "div", float("nan"))
    client.log_metric(run_id, "inf", float("inf"))
    data = client.get_run(run_id).data
    assert data.metrics["loss"] == 0.5  # highest step wins, not the last logged
    assert math.isnan(data.metrics["div"])
    assert data.metrics["inf"] == math.inf
    history = client.get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.7), (2, 0.5)]
    assert history[0] == Metric("loss", 1.0, 0, 10)


def test_log_batch_is_all_or_nothing(client: TrackingClient) -> None:
    skip_on(
        client,
        "mlflow",
        "the server adds its system tag mlflow.runName to every run, so a run's tags hold "
        "one more than was logged",
    )
    run_id = client.create_run().info.run_id
    client.log_param(run_id, "fixed", "a")
    with pytest.raises(InvalidParameterError, match="immutable"):
        client.log_batch(run_id, metrics=[Metric("m", 1.0)], params={"fixed": "b"}, tags={"t": "1"})
    data = client.get_run(run_id).data
    assert data.metrics == {} and data.tags == {} and data.params == {"fixed": "a"}


def test_tags_overwrite_and_delete(client: TrackingClient) -> None:
    skip_on(
        client,
        "mlflow",
        "the server adds its system tag mlflow.runName to every run, so a run's tags hold "
        "one more than was logged",
    )
    run_id = client.create_run(tags={"a": "1"}).info.run_id
    client.set_tag(run_id, "a", "2")
    client.set_tag(run_id, "b", 3)
    assert client.get_run(run_id).data.tags == {"a": "2", "b": "3"}
    client.delete_tag(run_id, "a")
    assert client.get_run(run_id).data.tags == {"b": "3"}
    with pytest.raises(ResourceNotFoundError, match=r"run '.*' has no tag 'a'; its tags: b"):
        client.delete_tag(run_id, "a")


def test_invalid_keys_and_values(client: TrackingClient) -> None:
    run_id = client.create_run().info.run_id
    with pytest.raises(InvalidParameterError, match="metric key '' is invalid"):
        client.log_metric(run_id, "", 1.0)
    with pytest.raises(InvalidParameterError, match=r"param key '\.\./x' is invalid"):
        client.log_param(run_id, "../x", 1)
    with pytest.raises(InvalidParameterError, match="metric 'm' must be a number; got 'high'"):
        client.log_metric(run_id, "m", "high")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match=r"param 'long'.*limit is 6000"):
        client.log_param(run_id, "long", "x" * 6001)


def test_every_run_call_on_unknown_run_lists_runs(client: TrackingClient) -> None:
    known = client.create_run().info.run_id
    for call in (
        lambda: client.get_run("nope"),
        lambda: client.log_param("nope", "k", "v"),
        lambda: client.log_metric("nope", "k", 1.0),
        lambda: client.set_tag("nope", "k", "v"),
        lambda: client.set_terminated("nope"),
        lambda: client.get_metric_history("nope", "k"),
    ):
        with pytest.raises(ResourceNotFoundError, match=f"run 'nope' does not exist.*{known}"):
            call()


def test_unknown_run_in_empty_store(client: TrackingClient) -> None:
    with pytest.raises(ResourceNotFoundError, match="the tracking store has no runs yet"):
        client.get_run("abc")


def test_search_runs_newest_first_with_filters(client: TrackingClient) -> None:
    old = client.create_run(run_name="old", tags={"team": "a"}, start_time=1000).info.run_id
    mid = client.create_run(run_name="mid", tags={"team": "b"}, start_time=2000).info.run_id
    new = client.create_run(run_name="new", tags={"team": "a"}, start_time=3000).info.run_id
    client.set_terminated(mid, "FAILED")
    assert [r.info.run_id for r in client.search_runs()] == [new, mid, old]
    assert [r.info.run_id for r in client.search_runs(status="failed")] == [mid]
    assert [r.info.run_id for r in client.search_runs(status=["RUNNING"])] == [new, old]
    assert [r.info.run_id for r in client.search_runs(tags={"team": "a"})] == [new, old]
    assert [r.info.run_id for r in client.search_runs(run_name="mid")] == [mid]
    assert [r.info.run_id for r in client.search_runs(max_results=1)] == [new]
    assert client.search_runs(tags={"team": "zzz"}) == []
    with pytest.raises(InvalidParameterError, match="'DONE' is not a run status"):
        client.search_runs(status="DONE")


def test_active_run_is_per_thread(tracking_uri: str) -> None:
    import threading

    seen: list[object] = []
    with tracking.start_run():
        thread = threading.Thread(target=lambda: seen.append(tracking.active_run()))
        thread.start()
        thread.join()
    assert seen == [None]


def test_runs_left_active_are_finished_at_exit(tracking_uri: str) -> None:
    import subprocess
    import sys

    code = (
        "from pyfunc_ops import tracking\n"
        "run = tracking.start_run()\n"
        "tracking.log_param('p', 1)\n"
        "print(run.info.run_id)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    run_id = done.stdout.strip()
    assert TrackingClient(tracking_uri).get_run(run_id).info.status == RunStatus.FINISHED


def test_runs_behave_as_in_sql(client: TrackingClient) -> None:
    """Moved from the MLflow-server interop tests, where it compared the REST store with
    the SQL one by hand; here every backend runs it."""
    run = client.create_run(run_name="rest-run", tags={"team": "ml"})
    client.log_batch(run.info.run_id, params={"alpha": 1}, tags={"stage": "train"})
    for step in range(3):
        client.log_metric(run.info.run_id, "loss", 1.0 / (step + 1), step=step)
    with pytest.raises(InvalidParameterError, match=r"param 'alpha' .* is already '1'"):
        client.log_param(run.info.run_id, "alpha", 2)
    client.log_param(run.info.run_id, "alpha", 1)  # the same value again: a retried task
    assert [m.value for m in client.get_metric_history(run.info.run_id, "loss")] == pytest.approx(
        [1.0, 0.5, 1 / 3]
    )
    client.delete_tag(run.info.run_id, "stage")
    with pytest.raises(ResourceNotFoundError, match=r"has no tag 'stage'; its tags: .*team"):
        client.delete_tag(run.info.run_id, "stage")
    assert [r.info.run_id for r in client.search_runs(tags={"team": "ml"}, status="RUNNING")] == [
        run.info.run_id
    ]
    client.set_terminated(run.info.run_id)
    found = client.search_runs(run_name="rest-run", status=["FINISHED", "FAILED"])
    assert [r.info.run_id for r in found] == [run.info.run_id]
    assert found[0].data.metrics == {"loss": pytest.approx(1 / 3)}
