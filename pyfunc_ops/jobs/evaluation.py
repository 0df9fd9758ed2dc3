"""Evaluate a model on a labelled dataset and gate a promotion on its metrics.

One request type, :class:`EvaluateRequest`, holds the job's parameters and their only
defaults; :func:`evaluate_model` (keyword options), ``EvaluateModelOperator`` and the
``pyfunc-ops evaluate`` command all build it and call :func:`run_evaluate_model`. It is
the reusable form of the step every retraining DAG wrote by hand: score a holdout, compare
with the champion, promote only if better.

The dataset (a Parquet/CSV/JSON-lines file, folder or glob at any fsspec URL) is read in
batches of ``batch_size`` rows like batch scoring's input: memory holds one batch of
features, plus the label and prediction columns, which the metrics need whole (16 bytes a
row for numbers). The model (and the baseline, on the same batches) is loaded once; a
``models:/`` URI is pinned to the version it names when the job starts, so an alias that
moves meanwhile changes nothing.

What it records, so the run tells the story (``pyfunc-ops describe`` shows it):

- the metrics (:mod:`pyfunc_ops.jobs.metrics`) as metrics of the model's run (the version's
  run for ``models:/``, the run of ``runs:/``);
- for a registered version, the metrics and the verdict as version tags
  ``pyfunc_ops.eval.<metric>`` and ``pyfunc_ops.eval.passed``;
- ``evaluation/report.json`` and ``evaluation/plot.png`` among the run's artifacts (or in
  ``report_url``).

The baseline (``baseline_model_uri``, e.g. ``models:/churn@champion``) is evaluated on the
same data (``baseline_metrics="evaluate"``) or its recorded run metrics are used
(``"recorded"``). A baseline alias that does not exist yet (the first model) means no
baseline. The thresholds (:mod:`pyfunc_ops.jobs.thresholds`, MLflow's semantics) decide
the verdict; ``on_failure="fail"`` raises :class:`~pyfunc_ops.errors.ModelValidationError`
when it fails (after recording), any other value returns the failed verdict to the
caller (the Airflow operator skips or short-circuits on it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pyfunc_ops.config import with_settings
from pyfunc_ops.core.names import EVAL_TAG_PREFIX
from pyfunc_ops.core.redact import redact
from pyfunc_ops.errors import (
    InvalidParameterError,
    ModelValidationError,
    ResourceNotFoundError,
)
from pyfunc_ops.jobs.metrics import MODEL_TYPES, compute_metrics, load_custom_metric
from pyfunc_ops.jobs.request import LoadOptions, check_batch_size, make_request
from pyfunc_ops.jobs.scoring import DEFAULT_BATCH_SIZE
from pyfunc_ops.jobs.thresholds import MetricThreshold, check_thresholds, parse_thresholds

logger = logging.getLogger(__name__)

__all__ = [
    "EVAL_TAG_PREFIX",
    "ON_FAILURE",
    "EvaluateRequest",
    "EvaluationResult",
    "evaluate_model",
    "run_evaluate_model",
]

REPORT_FOLDER = "evaluation"
ON_FAILURE = ("fail", "skip", "short_circuit", "continue")
BASELINE_METRICS = ("evaluate", "recorded")


@dataclass(frozen=True)
class EvaluateRequest(LoadOptions):
    """The parameters of :func:`evaluate_model`.

    ``model_uri``: the model (any URI). ``data_url``: the labelled dataset; ``target``: its
    label column; ``columns``: the columns the model receives (default all but the
    target). ``model_type``: ``"regressor"`` or ``"classifier"``. ``custom_metrics``:
    dotted paths of functions ``(y_true, y_pred) -> number``. ``thresholds``: ``{metric:
    MetricThreshold or mapping of its fields}``. ``baseline_model_uri``: the model to
    compare with; ``baseline_metrics``: ``"evaluate"`` it on the same data or use its
    ``"recorded"`` run metrics. ``on_failure``: ``"fail"`` raises when a threshold is not
    met; ``"skip"``, ``"short_circuit"`` (for the operator) and ``"continue"`` return the
    verdict. ``log_to_run``: record metrics, tags and the report (``False``: compute
    only). ``report_url``: where the report goes (default: the run's
    ``evaluation/`` artifacts). ``plot``: draw the PNG (needs matplotlib). How the models
    are loaded and called (``env_manager``, ``trust_remote_code``, ``skops_trusted_types``,
    ``params``): :class:`~pyfunc_ops.jobs.request.LoadOptions`, the same for the baseline.
    """

    job: ClassVar[str] = "evaluate_model"

    model_uri: str
    data_url: str
    target: str
    model_type: Literal["regressor", "classifier"] = "regressor"
    columns: Sequence[str] | None = None
    input_format: str | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    custom_metrics: Sequence[str] | None = None
    thresholds: Mapping[str, MetricThreshold | Mapping[str, Any]] | None = None
    baseline_model_uri: str | None = None
    baseline_metrics: Literal["evaluate", "recorded"] = "evaluate"
    on_failure: Literal["fail", "skip", "short_circuit", "continue"] = "fail"
    log_to_run: bool = True
    report_url: str | None = None
    plot: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.model_type not in MODEL_TYPES:
            raise InvalidParameterError(
                f"evaluate_model: model_type must be one of {list(MODEL_TYPES)}; got "
                f"{self.model_type!r}."
            )
        if self.on_failure not in ON_FAILURE:
            raise InvalidParameterError(
                f"evaluate_model: on_failure must be one of {list(ON_FAILURE)}; got "
                f"{self.on_failure!r}."
            )
        if self.baseline_metrics not in BASELINE_METRICS:
            raise InvalidParameterError(
                f"evaluate_model: baseline_metrics must be one of {list(BASELINE_METRICS)}; "
                f"got {self.baseline_metrics!r}."
            )
        check_batch_size(self.batch_size, "evaluate_model: ")
        if isinstance(self.custom_metrics, str):
            raise InvalidParameterError(
                "evaluate_model: custom_metrics must be a list of dotted paths, e.g. "
                f"['my_pkg.metrics:mape']; got the string {self.custom_metrics!r}."
            )
        parse_thresholds(self.thresholds)  # a bad threshold fails before any model loads


@dataclass
class EvaluationResult:
    """The verdict and what it rests on; :meth:`to_dict` is the XCom and the Asset
    event's extra."""

    passed: bool
    model_uri: str
    metrics: dict[str, float]
    rows: int
    name: str | None = None
    version: int | None = None
    run_id: str | None = None
    baseline: dict[str, Any] | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)
    report_uri: str | None = None
    plot_uri: str | None = None

    @property
    def baseline_version(self) -> int | None:
        """The baseline's version (the champion a compare-and-set promotion expects)."""
        return None if self.baseline is None else self.baseline.get("version")

    @property
    def failures(self) -> list[str]:
        return [reason for check in self.checks for reason in check["failures"]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "model_uri": self.model_uri,
            "name": self.name,
            "version": self.version,
            "run_id": self.run_id,
            "rows": self.rows,
            "metrics": dict(self.metrics),
            "baseline": None if self.baseline is None else dict(self.baseline),
            # What a compare-and-set promotion expects the alias to point at (None: nothing).
            "baseline_version": self.baseline_version,
            "checks": [dict(c) for c in self.checks],
            "failures": self.failures,
            "report_uri": self.report_uri,
            "plot_uri": self.plot_uri,
        }


@dataclass
class _Target:
    """A model to evaluate: its pinned URI and where its records go."""

    model_uri: str
    name: str | None = None
    version: int | None = None
    run_id: str | None = None


def evaluate_model(model_uri: str, data_url: str, target: str, **options: Any) -> EvaluationResult:
    """Evaluate the model at ``model_uri`` on the labelled ``data_url`` (label column
    ``target``); ``options`` are the other fields of :class:`EvaluateRequest`."""
    request = make_request(
        EvaluateRequest,
        "evaluate_model",
        {"model_uri": model_uri, "data_url": data_url, "target": target, **options},
    )
    return run_evaluate_model(request)


def _pin(model_uri: str, client: Any) -> _Target:
    """``models:/<name>@<alias>`` (or stage, latest) as ``models:/<name>/<version>``."""
    from pyfunc_ops.core.uri import parse_model_uri
    from pyfunc_ops.tracking.client import pin_model_uri

    pinned, version = pin_model_uri(model_uri, client)
    if version is not None:
        return _Target(pinned, version.name, int(version.version), version.run_id)
    parsed = parse_model_uri(model_uri)
    run_id = parsed.run_id if parsed.scheme == "runs" else None
    return _Target(str(model_uri), run_id=run_id)


def _baseline_target(request: EvaluateRequest, client: Any) -> _Target | None:
    if not request.baseline_model_uri:
        return None
    try:
        return _pin(request.baseline_model_uri, client)
    except ResourceNotFoundError:
        logger.info(
            "no baseline: %s does not exist (yet); the change thresholds have nothing to "
            "compare with",
            redact(request.baseline_model_uri),
        )
        return None


def _load(model_uri: str, request: EvaluateRequest) -> Any:
    from pyfunc_ops.pyfunc.load import load_model

    return load_model(model_uri, **request.load_kwargs())


def _prediction_column(raw: Any, rows: int, model_uri: str) -> Any:
    """The model's output as one column (a 1-D output, or the ``prediction`` column)."""
    from pyfunc_ops.errors import ResultTypeError
    from pyfunc_ops.jobs.scoring import PREDICTION_COLUMN, predictions_frame

    frame = predictions_frame(raw, rows)
    if frame.shape[1] == 1:
        return frame.iloc[:, 0].to_numpy()
    if PREDICTION_COLUMN in frame.columns:
        return frame[PREDICTION_COLUMN].to_numpy()
    raise ResultTypeError(
        f"{model_uri!r} returned {frame.shape[1]} columns {list(frame.columns)[:5]}; the "
        f"evaluation compares one prediction with the label: the model must return one "
        f"column (or one named {PREDICTION_COLUMN!r})."
    )


def _score(
    request: EvaluateRequest, models: Sequence[tuple[str, Any]]
) -> tuple[Any, list[Any], int]:
    """Stream the dataset; ``(labels, [predictions of each model], rows)``."""
    import numpy as np

    from pyfunc_ops.jobs.inputs import list_input_files, model_columns, read_batches, rebatch

    fs, files, fmt = list_input_files(request.data_url, request.input_format)
    labels: list[Any] = []
    predictions: list[list[Any]] = [[] for _ in models]
    rows = 0
    for path in files:
        for table in rebatch(read_batches(fs, path, fmt, request.batch_size), request.batch_size):
            names = table.column_names
            if request.target not in names:
                raise InvalidParameterError(
                    f"evaluation data {path!r} has no label column {request.target!r}; its "
                    f"columns are {names}. Fix target."
                )
            features = model_columns(
                names, request.columns or None, request.target, path, "every column but the target"
            )
            frame = table.select(features).to_pandas()
            labels.append(table.column(request.target).to_numpy(zero_copy_only=False))
            for index, (uri, model) in enumerate(models):
                predictions[index].append(
                    _prediction_column(request.call_predict(model, frame), table.num_rows, uri)
                )
            rows += table.num_rows
    if rows == 0:
        raise InvalidParameterError(
            f"evaluation data {redact(str(request.data_url))!r} has no rows; evaluate on a "
            "labelled dataset with at least one row."
        )
    return (
        np.concatenate(labels),
        [np.concatenate(parts) for parts in predictions],
        rows,
    )


def _recorded_metrics(baseline: _Target, wanted: Sequence[str], client: Any) -> dict[str, float]:
    """The baseline's metrics as its run recorded them (the last value of each)."""
    run = client.get_run(baseline.run_id) if baseline.run_id else None
    recorded = dict(run.data.metrics) if run is not None else {}
    missing = [m for m in wanted if m not in recorded]
    if missing:
        raise InvalidParameterError(
            f"baseline {baseline.model_uri!r} has no recorded metrics {missing} (its run "
            f"{baseline.run_id or '-'} has {sorted(recorded)}); evaluate it on the same data "
            "instead (baseline_metrics='evaluate')."
        )
    return {m: float(recorded[m]) for m in wanted}


def _record(
    request: EvaluateRequest,
    target: _Target,
    result: EvaluationResult,
    labels: Any,
    predictions: Any,
    client: Any,
) -> None:
    """Metrics on the run, tags on the version, the report beside the run's artifacts."""
    from pyfunc_ops.jobs.report import plot_png, write_report
    from pyfunc_ops.tracking.entities import Metric

    now = int(time.time() * 1000)
    run = None
    if target.run_id:
        client.log_batch(
            target.run_id, metrics=[Metric(k, v, 0, now) for k, v in result.metrics.items()]
        )
        run = client.get_run(target.run_id)
    if target.name is not None and target.version is not None:
        tags = {f"{EVAL_TAG_PREFIX}{k}": f"{v:.6g}" for k, v in result.metrics.items()}
        tags[f"{EVAL_TAG_PREFIX}passed"] = str(result.passed).lower()
        if result.baseline:
            tags[f"{EVAL_TAG_PREFIX}baseline"] = str(result.baseline["model_uri"])
        for key, value in tags.items():
            client.set_model_version_tag(target.name, target.version, key, value)
    folder = request.report_url or (
        f"{run.info.artifact_uri.rstrip('/')}/{REPORT_FOLDER}" if run is not None else None
    )
    if folder is None:
        logger.info("no run and no report_url for %s: no report written", target.model_uri)
        return
    png = None
    if request.plot:
        label = target.model_uri if target.version is None else f"{target.name} v{target.version}"
        png = plot_png(request.model_type, labels, predictions, label)
    written = write_report(folder, result.to_dict(), png)
    result.report_uri = written["report_uri"]
    result.plot_uri = written.get("plot_uri")


@with_settings
def run_evaluate_model(request: EvaluateRequest) -> EvaluationResult:
    """Run the evaluation ``request`` describes (see :func:`evaluate_model`)."""
    from pyfunc_ops.tracking.client import TrackingClient

    thresholds = parse_thresholds(request.thresholds)
    custom = [load_custom_metric(path) for path in request.custom_metrics or ()]
    client = TrackingClient()
    target = _pin(request.model_uri, client)
    baseline = _baseline_target(request, client)
    models = [(target.model_uri, _load(target.model_uri, request))]
    evaluate_baseline = baseline is not None and request.baseline_metrics == "evaluate"
    if evaluate_baseline:
        assert baseline is not None
        models.append((baseline.model_uri, _load(baseline.model_uri, request)))
    logger.info(
        "evaluating %s on %s%s",
        redact(target.model_uri),
        redact(str(request.data_url)),
        f" against {redact(baseline.model_uri)}" if baseline else "",
    )
    labels, predictions, rows = _score(request, models)
    metrics = compute_metrics(request.model_type, labels, predictions[0], custom)
    baseline_info = None
    baseline_values: dict[str, float] | None = None
    if baseline is not None:
        if evaluate_baseline:
            baseline_values = compute_metrics(request.model_type, labels, predictions[1], custom)
        else:
            baseline_values = _recorded_metrics(baseline, list(thresholds), client)
        baseline_info = {
            "model_uri": baseline.model_uri,
            "name": baseline.name,
            "version": baseline.version,
            "metrics_from": request.baseline_metrics,
            "metrics": baseline_values,
        }
    checks = check_thresholds(thresholds, metrics, baseline_values)
    result = EvaluationResult(
        passed=all(c.passed for c in checks),
        model_uri=target.model_uri,
        metrics=metrics,
        rows=rows,
        name=target.name,
        version=target.version,
        run_id=target.run_id,
        baseline=baseline_info,
        checks=[c.to_dict() for c in checks],
    )
    if request.log_to_run:
        _record(request, target, result, labels, predictions[0], client)
    logger.info(
        "%s %s on %d rows: %s",
        redact(target.model_uri),
        "passed" if result.passed else "failed",
        rows,
        "; ".join(result.failures) or ", ".join(f"{k}={v:.6g}" for k, v in metrics.items()),
    )
    if not result.passed and request.on_failure == "fail":
        raise ModelValidationError(
            f"model {target.model_uri!r} failed its evaluation on "
            f"{redact(str(request.data_url))!r}: {'; '.join(result.failures)}. Keep the current "
            "model, or retrain (the metrics are recorded on its run).",
            result=result.to_dict(),
        )
    return result
