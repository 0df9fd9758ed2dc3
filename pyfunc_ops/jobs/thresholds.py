"""Metric thresholds with the semantics of MLflow's ``MetricThreshold``: when a candidate
model's metrics are good enough, alone and compared with a baseline.

For each metric:

- ``threshold``: the value must be ``>= threshold`` when greater is better, else
  ``<= threshold``;
- ``min_absolute_change`` (positive): it must beat the baseline by at least that much,
  ``candidate >= baseline + change`` (or ``<= baseline - change``);
- ``min_relative_change`` (between 0 and 1): it must beat the baseline by that fraction of
  the baseline, ``candidate >= baseline * (1 + change)`` (or ``* (1 - change)``); a
  baseline of 0 falls back to a plain ``>=`` (``<=``) comparison, as MLflow does.

``greater_is_better`` is required unless the metric is a standard one whose direction is
known (:data:`pyfunc_ops.jobs.metrics.GREATER_IS_BETTER`). Without a baseline (the first
model of a name, no champion yet) the change thresholds have nothing to compare with and
pass; the value threshold still applies.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from pyfunc_ops.errors import InvalidParameterError
from pyfunc_ops.jobs.metrics import GREATER_IS_BETTER

__all__ = ["MetricCheck", "MetricThreshold", "check_thresholds", "parse_thresholds"]


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidParameterError(f"{what} must be a finite number; got {value!r}.")
    return float(value)


@dataclass(frozen=True)
class MetricThreshold:
    """The bounds a metric must meet (see the module docstring)."""

    threshold: float | None = None
    min_absolute_change: float | None = None
    min_relative_change: float | None = None
    greater_is_better: bool | None = None

    def __post_init__(self) -> None:
        if self.threshold is not None:
            _number(self.threshold, "threshold")
        if self.min_absolute_change is not None:
            change = _number(self.min_absolute_change, "min_absolute_change")
            if change <= 0:
                raise InvalidParameterError(
                    f"min_absolute_change must be a positive number; got {change!r} (use "
                    "threshold for a bound that needs no baseline)."
                )
        if self.min_relative_change is not None:
            change = _number(self.min_relative_change, "min_relative_change")
            if not 0 < change <= 1:
                raise InvalidParameterError(
                    f"min_relative_change must be between 0 and 1 (a fraction of the "
                    f"baseline); got {change!r}."
                )
        if self.greater_is_better is not None and not isinstance(self.greater_is_better, bool):
            raise InvalidParameterError(
                f"greater_is_better must be true or false; got {self.greater_is_better!r}."
            )


@dataclass
class MetricCheck:
    """The outcome for one metric: its values, and why it failed (empty: it passed)."""

    metric: str
    candidate: float
    baseline: float | None
    greater_is_better: bool
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def parse_thresholds(
    thresholds: Mapping[str, MetricThreshold | Mapping[str, Any]] | None,
) -> dict[str, MetricThreshold]:
    """``{metric: MetricThreshold}`` from thresholds given as objects or as mappings of
    their fields (what JSON, a CLI flag or an Airflow template gives)."""
    if thresholds is None:
        return {}
    if not isinstance(thresholds, Mapping):
        raise InvalidParameterError(
            f"thresholds must map metric names to thresholds, e.g. "
            f'{{"root_mean_squared_error": {{"threshold": 1.0}}}}; got '
            f"{type(thresholds).__name__}."
        )
    parsed: dict[str, MetricThreshold] = {}
    names = ", ".join(MetricThreshold.__dataclass_fields__)
    for metric, value in thresholds.items():
        if isinstance(value, MetricThreshold):
            parsed[str(metric)] = value
            continue
        if not isinstance(value, Mapping):
            raise InvalidParameterError(
                f"threshold of metric {metric!r} must be a MetricThreshold or a mapping of "
                f"{names}; got {value!r}."
            )
        unknown = sorted(set(value) - set(MetricThreshold.__dataclass_fields__))
        if unknown:
            raise InvalidParameterError(
                f"threshold of metric {metric!r} has unknown keys {unknown}; the keys are {names}."
            )
        try:
            parsed[str(metric)] = MetricThreshold(**value)
        except InvalidParameterError as exc:
            raise InvalidParameterError(f"threshold of metric {metric!r}: {exc}") from None
    for metric, bounds in parsed.items():
        if bounds.greater_is_better is None and metric not in GREATER_IS_BETTER:
            raise InvalidParameterError(
                f"threshold of metric {metric!r}: give greater_is_better (true or false); "
                "only the standard metrics have a known direction."
            )
    return parsed


def _better_or_equal(greater: bool) -> Any:
    return operator.ge if greater else operator.le


def check_thresholds(
    thresholds: Mapping[str, MetricThreshold],
    candidate: Mapping[str, float],
    baseline: Mapping[str, float] | None,
) -> list[MetricCheck]:
    """Check each threshold of ``thresholds`` on the ``candidate`` metrics (and on the
    ``baseline`` ones for the change thresholds; ``None``: no baseline)."""
    checks = []
    for metric, bounds in thresholds.items():
        if metric not in candidate:
            raise InvalidParameterError(
                f"a threshold is set for metric {metric!r}, which the evaluation did not "
                f"compute; the metrics are {sorted(candidate)}. Fix the name or add the "
                "custom metric."
            )
        greater = (
            bounds.greater_is_better
            if bounds.greater_is_better is not None
            else GREATER_IS_BETTER[metric]
        )
        ok = _better_or_equal(greater)
        sign = ">=" if greater else "<="
        value = candidate[metric]
        base = None if baseline is None else baseline.get(metric)
        check = MetricCheck(metric, value, base, greater)
        if bounds.threshold is not None and not ok(value, bounds.threshold):
            check.failures.append(
                f"{metric}={value:.6g} is not {sign} threshold {bounds.threshold}"
            )
        if base is not None and bounds.min_absolute_change is not None:
            change = bounds.min_absolute_change
            target = base + change if greater else base - change
            if not ok(value, target):
                check.failures.append(
                    f"{metric}={value:.6g} is not {sign} {target:.6g} (baseline {base:.6g} "
                    f"{'+' if greater else '-'} min_absolute_change {change})"
                )
        if base is not None and bounds.min_relative_change is not None:
            change = bounds.min_relative_change
            # A baseline of 0 has no relative change: compare plainly (as MLflow does).
            factor = 1.0 if base == 0 else (1 + change if greater else 1 - change)
            target = base * factor
            if not ok(value, target):
                check.failures.append(
                    f"{metric}={value:.6g} is not {sign} {target:.6g} (baseline {base:.6g} "
                    f"changed by min_relative_change {change})"
                )
        checks.append(check)
    return checks
