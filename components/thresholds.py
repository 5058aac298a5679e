"""The Evaluator's thresholds and the judgement that blesses a model.

Thresholds are JSON in the shape of TFX's `MetricThreshold`: per metric an
absolute `lower_bound` / `upper_bound`, and a `change` against the baseline
(the last blessed model) that is `absolute` (new - baseline) or `relative`
((new - baseline) / |baseline|):

    {"linear_top1": {"lower_bound": 0.5},
     "knn_top1": {"change": {"absolute": -0.01}}}

reads "linear top-1 at least 0.5, and kNN top-1 no more than 0.01 below the
last blessed model's". Every judged metric is an accuracy, so higher is
better: a change passes when it is at least its bound.

Metric names are `<protocol>_<metric>`, e.g. `knn_top1` (`top5` exists only
for more than 5 classes; an unmeasured metric fails its thresholds).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable

# The metrics each protocol of the Evaluator reports that can be judged.
JUDGED_METRICS = {
    "knn": ("top1", "top5"),
    "linear": ("top1", "top5", "train_top1"),
}
BOUNDS = ("lower_bound", "upper_bound")
CHANGES = ("absolute", "relative")
NO_BASELINE = "no baseline: change thresholds skipped"


@dataclasses.dataclass(frozen=True)
class Check:
    """One threshold applied to one metric.

    Args:
        metric: e.g. `"linear_top1"`.
        kind: `lower_bound`, `upper_bound`, `change.absolute` or
            `change.relative`.
        bound: the threshold's value.
        value: the metric (for a change: the change), or None if unknown.
        outcome: `pass`, `fail` or `skipped`.
        note: what the value was computed from, or why it was skipped.
    """

    metric: str
    kind: str
    bound: float
    value: float | None
    outcome: str
    note: str = ""

    def describe(self) -> str:
        operator = "<=" if self.kind == "upper_bound" else ">="
        name = self.metric
        if self.kind.startswith("change."):
            name = f"{self.metric} {self.kind.replace('.', ' ')}"
        value = "unknown" if self.value is None else f"{self.value:.6g}"
        note = f" ({self.note})" if self.note else ""
        return (
            f"{name} = {value} {operator} {self.bound:g}{note}: {self.outcome}"
        )


@dataclasses.dataclass(frozen=True)
class Verdict:
    """`blessed` and the `reason` that names every check."""

    blessed: bool
    reason: str
    checks: tuple[Check, ...]


def known_metrics(protocols: Iterable[str]) -> list[str]:
    return sorted(
        f"{protocol}_{metric}"
        for protocol in protocols
        for metric in JUDGED_METRICS.get(protocol, ())
    )


def _number(where: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"Threshold {where} must be a number. Got {value!r}")
    return float(value)


def _unknown_keys(where: str, keys, valid) -> None:
    unknown = sorted(set(keys) - set(valid))
    if unknown:
        raise ValueError(
            f"Unknown key(s) {unknown} in threshold {where}. Valid keys: "
            f"{sorted(valid)}"
        )


def _parse_one(metric: str, spec) -> dict:
    if not isinstance(spec, dict) or not spec:
        raise ValueError(
            f"Threshold {metric!r} must be a non-empty object with keys "
            f"{[*BOUNDS, 'change']}. Got {spec!r}"
        )
    _unknown_keys(repr(metric), spec, (*BOUNDS, "change"))
    parsed = {k: _number(f"{metric}.{k}", spec[k]) for k in BOUNDS if k in spec}
    if parsed.get("lower_bound", -math.inf) > parsed.get(
        "upper_bound", math.inf
    ):
        raise ValueError(
            f"Threshold {metric!r}: lower_bound {parsed['lower_bound']} is "
            f"above upper_bound {parsed['upper_bound']}."
        )
    if "change" in spec:
        change = spec["change"]
        if not isinstance(change, dict) or not change:
            raise ValueError(
                f"Threshold {metric}.change must be a non-empty object with "
                f"keys {list(CHANGES)}. Got {change!r}"
            )
        _unknown_keys(f"{metric}.change", change, CHANGES)
        for key in CHANGES:
            if key in change:
                where = f"{metric}.change.{key}"
                parsed[f"change.{key}"] = _number(where, change[key])
    return parsed


def parse_thresholds(thresholds_json: str, protocols: Iterable[str]) -> dict:
    """Validates `thresholds_json`; returns metric -> {kind: bound}.

    Args:
        thresholds_json: the thresholds (see the module docstring).
        protocols: the protocols the Evaluator runs; a threshold may only
            name their metrics.

    Raises:
        ValueError: naming the bad metric, key or value.
    """
    try:
        raw = json.loads(thresholds_json or "{}")
    except json.JSONDecodeError as error:
        raise ValueError(f"`thresholds_json` is not JSON: {error}") from None
    if not isinstance(raw, dict):
        raise ValueError(
            f"`thresholds_json` must be an object of metric -> threshold. "
            f"Got {raw!r}"
        )
    valid = known_metrics(protocols)
    unknown = sorted(set(raw) - set(valid))
    if unknown:
        raise ValueError(
            f"Unknown metric(s) {unknown} in thresholds. Metrics of the "
            f"protocols {sorted(protocols)}: {valid}"
        )
    return {metric: _parse_one(metric, spec) for metric, spec in raw.items()}


def _relative(value: float, baseline: float) -> float:
    if baseline:
        return (value - baseline) / abs(baseline)
    return 0.0 if value == baseline else math.copysign(math.inf, value)


def _check(metric, kind, bound, metrics, baseline) -> Check:
    value = metrics.get(metric)
    if value is None:
        return Check(metric, kind, bound, None, "fail", "not measured")
    note = ""
    if kind.startswith("change."):
        if baseline is None:
            return Check(metric, kind, bound, None, "skipped", "no baseline")
        if metric not in baseline:
            note = f"baseline has no {metric}"
            return Check(metric, kind, bound, None, "skipped", note)
        old = baseline[metric]
        note = f"{value:.6g} vs baseline {old:.6g}"
        if kind == "change.absolute":
            value = value - old
        else:
            value = _relative(value, old)
    passed = value <= bound if kind == "upper_bound" else value >= bound
    return Check(metric, kind, bound, value, "pass" if passed else "fail", note)


def judge(
    thresholds: dict,
    metrics: dict[str, float],
    baseline: dict[str, float] | None,
) -> Verdict:
    """Applies parsed `thresholds` to `metrics`.

    Args:
        thresholds: `parse_thresholds`' result.
        metrics: the new model's metrics.
        baseline: the last blessed model's metrics, or None if there is
            none (change thresholds are then skipped).

    Returns:
        A `Verdict`: blessed when no check fails.
    """
    checks = tuple(
        _check(metric, kind, bound, metrics, baseline)
        for metric, bounds in sorted(thresholds.items())
        for kind, bound in bounds.items()
    )
    failed = sum(check.outcome == "fail" for check in checks)
    blessed = failed == 0
    if checks:
        head = (
            f"blessed: no threshold failed ({len(checks)} checked)"
            if blessed
            else f"not blessed: {failed} of {len(checks)} thresholds failed"
        )
    else:
        head = "blessed: no thresholds"
    lines = [head, *(check.describe() for check in checks)]
    if baseline is None:
        lines.append(NO_BASELINE)
    return Verdict(blessed, "; ".join(lines), checks)
