"""Runs as plain data: the newest runs, one run's facts (times as UTC strings, artifact
files with sizes) and describe's summary of a run, found or not."""

from __future__ import annotations

from pyfunc_ops import tracking
from pyfunc_ops.jobs.run_facts import list_runs, run_facts, run_summary, utc_time


def test_utc_time() -> None:
    assert utc_time(0) == utc_time(None) == "-"
    assert utc_time(1_700_000_000_000) == "2023-11-14 22:13:20"


def test_run_facts_summary_and_list() -> None:
    with tracking.start_run(run_name="train") as run:
        tracking.log_params({"b": 2, "a": 1})
        tracking.log_metrics({"rmse": 0.25})
    run_id = run.info.run_id
    with tracking.start_run(run_name="later"):
        pass
    assert [r.info.run_name for r in list_runs()] == ["later", "train"]
    assert len(list_runs(limit=1)) == 1

    facts = run_facts(run_id)
    assert (facts["run_id"], facts["name"], facts["status"]) == (run_id, "train", "FINISHED")
    assert list(facts["params"]) == ["a", "b"] and facts["metrics"] == {"rmse": 0.25}
    assert facts["started"] != "-" and facts["artifacts"] == {}

    summary = run_summary(run_id)
    assert summary is not None and summary["found"] and summary["params"] == {"a": "1", "b": "2"}
    assert run_summary(None) is None
    assert run_summary("feedbeef") == {
        "run_id": "feedbeef",
        "found": False,
        "params": {},
        "metrics": {},
    }
