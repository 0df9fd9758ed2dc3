"""Runs as plain data: the newest runs, one run's facts, and the short summary ``describe``
shows of a model's run.

These are what ``pyfunc-ops runs list``, ``runs show`` and ``describe`` print, kept here so
an operator or a notebook gets the same facts without the command line. Times are UTC
strings (``2026-01-31 12:00:00``), the form the JSON output has always had.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pyfunc_ops import tracking  # cheap: TrackingClient is imported on first use
from pyfunc_ops.core.redact import redact
from pyfunc_ops.errors import PyfuncOpsError, ResourceNotFoundError

__all__ = ["list_runs", "run_facts", "run_summary", "utc_time"]


def utc_time(ms: int | None) -> str:
    """``ms`` (milliseconds since the epoch, the stores' unit) as a UTC time; ``-`` for none."""
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def list_runs(limit: int = 50) -> list[Any]:
    """The newest ``limit`` runs of the current store, newest first."""
    return list(tracking.TrackingClient().search_runs(max_results=limit))


def run_summary(run_id: str | None) -> dict[str, Any] | None:
    """The params and metrics of ``run_id`` in the current store (None: no run id). A run
    kept in another store is reported as ``found: False``, not as an error: a model copied
    between registries keeps the run id of where it was trained."""
    if not run_id:
        return None
    try:
        run = tracking.TrackingClient().get_run(run_id)
    except ResourceNotFoundError:
        return {"run_id": run_id, "found": False, "params": {}, "metrics": {}}
    return {
        "run_id": run_id,
        "found": True,
        "name": run.info.run_name,
        "status": run.info.status,
        "params": dict(sorted(run.data.params.items())),
        "metrics": dict(sorted(run.data.metrics.items())),
    }


def run_facts(run_id: str) -> dict[str, Any]:
    """A run's info, params, metrics, tags and artifact files, as plain data.

    The artifact listing is best effort: a run that logged nothing yet has no folder, and
    a store that cannot be listed is named in ``artifacts_error`` rather than hiding the
    rest of the facts."""
    from pyfunc_ops.storage.transfer import list_tree

    run = tracking.TrackingClient().get_run(run_id)
    facts: dict[str, Any] = {
        "run_id": run.info.run_id,
        "name": run.info.run_name,
        "status": run.info.status,
        "started": utc_time(run.info.start_time),
        "ended": utc_time(run.info.end_time),
        "artifact_uri": run.info.artifact_uri,
        "params": dict(sorted(run.data.params.items())),
        "metrics": dict(sorted(run.data.metrics.items())),
        "tags": dict(sorted(run.data.tags.items())),
    }
    try:
        tree = list_tree(run.info.artifact_uri)
        facts["artifacts"] = {
            path: int(i.get("size") or 0) for path, i in sorted(tree.files.items())
        }
    except (PyfuncOpsError, OSError) as exc:
        # No artifacts logged yet is normal; any other reason is shown, not fatal.
        facts["artifacts"] = {}
        facts["artifacts_error"] = redact(str(exc)).splitlines()[0] if str(exc) else None
    return facts
