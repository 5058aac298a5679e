"""`Evaluator`: linear probe and/or kNN, then a blessing (TFX's Evaluator).

The model is evaluated on `examples` (fit on `train_split`, scored on
`test_split`) by every protocol of `protocols_json`, and judged against
`thresholds_json` (see `components.thresholds`): absolute bounds, and
changes against `baseline`, the last blessed model's blessing (e.g. from
the `LatestBlessedModel` resolver; absent on a first run).
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

import ssl_tf
from components import thresholds as thresholds_lib
from components.component import (
    InputArtifact,
    OutputArtifact,
    Parameter,
    component,
)
from components.types import Examples, Model, ModelBlessing, ModelEvaluation

REPORT_FILE = "report.json"  # ImageExampleGen's report beside the splits


def parse_protocols(protocols_json: str) -> dict:
    """Validates `protocols_json` (protocol -> options) before any work.

    Raises:
        ValueError: for bad JSON or a protocol the Evaluator cannot judge.
        ssl_tf.ConfigError: for an unknown option of a protocol.
    """
    try:
        protocols = json.loads(protocols_json)
    except json.JSONDecodeError as error:
        raise ValueError(f"`protocols_json` is not JSON: {error}") from None
    supported = sorted(thresholds_lib.JUDGED_METRICS)
    if not isinstance(protocols, dict) or not protocols:
        raise ValueError(
            f"`protocols_json` must map protocols {supported} to options. "
            f"Got {protocols!r}"
        )
    unknown = sorted(set(protocols) - set(supported))
    if unknown:
        raise ValueError(
            f"The Evaluator runs protocols {supported}. Received: {unknown}"
        )
    for protocol, options in protocols.items():
        ssl_tf.evaluation.resolve_options(protocol, options)
    return protocols


def _evaluate(examples, model, protocols, train_split, test_split) -> dict:
    """protocol -> `ssl_tf.evaluate` result."""
    data_config = ssl_tf.DataConfig(
        source="tfrecord",
        name=examples.file_pattern(),
        split=train_split,
        eval_split=test_split,
    )
    # The feature cache is off unless the options turn it on, so nothing
    # is written outside the pipeline's artifacts.
    return {
        protocol: ssl_tf.evaluate(
            protocol,
            model.uri,
            data_config,
            options={"use_cache": False, **options},
        )
        for protocol, options in protocols.items()
    }


def flat_metrics(results: dict) -> dict[str, float]:
    """`{protocol: result}` -> `{"<protocol>_<metric>": float}`."""
    return {
        f"{protocol}_{name}": float(value)
        for protocol, result in results.items()
        for name, value in result["metrics"].items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }


def data_fingerprint(examples: Examples):
    """The examples' input fingerprint (properties or report), or None."""
    if "fingerprint" in examples.properties:
        return examples.properties["fingerprint"]
    path = os.path.join(examples.uri, REPORT_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as handle:
        return json.load(handle).get("fingerprint")


def _write_json(path: str, value) -> None:
    with tf.io.gfile.GFile(path, "w") as handle:
        json.dump(value, handle, indent=2, sort_keys=True, default=str)


def _write_blessing(blessing, verdict, metrics, model, examples, baseline):
    name = (
        ModelBlessing.BLESSED_FILE
        if verdict.blessed
        else ModelBlessing.NOT_BLESSED_FILE
    )
    with tf.io.gfile.GFile(os.path.join(blessing.uri, name), "w") as handle:
        handle.write(verdict.reason + "\n")
    blessing.properties.update(
        blessed=verdict.blessed,
        reason=verdict.reason,
        metrics=metrics,
        model_uri=model.uri,
        examples_uri=examples.uri,
        data_fingerprint=data_fingerprint(examples),
        baseline_model_uri=baseline.properties.get("model_uri")
        if baseline
        else None,
    )


@component
def Evaluator(
    examples: InputArtifact[Examples],
    model: InputArtifact[Model],
    evaluation: OutputArtifact[ModelEvaluation],
    blessing: OutputArtifact[ModelBlessing],
    baseline: InputArtifact[ModelBlessing] = None,
    protocols_json: Parameter[str] = '{"knn": {}}',
    thresholds_json: Parameter[str] = "{}",
    train_split: Parameter[str] = "train",
    test_split: Parameter[str] = "test",
) -> None:
    """Evaluates `model` and blesses it if it meets every threshold.

    Writes `result.json` (`{"metrics": {<protocol>_<metric>: value},
    "results": {protocol: full result}}`) to `evaluation.uri`, and a
    `BLESSED` or `NOT_BLESSED` file holding the reason to `blessing.uri`.
    Thresholds, protocols and splits are checked before any evaluation.
    """
    protocols = parse_protocols(protocols_json)
    thresholds = thresholds_lib.parse_thresholds(thresholds_json, protocols)
    examples.check_splits(train_split, test_split)
    results = _evaluate(examples, model, protocols, train_split, test_split)
    metrics = flat_metrics(results)
    _write_json(
        os.path.join(evaluation.uri, ModelEvaluation.RESULT_FILE),
        {"metrics": metrics, "results": results},
    )
    evaluation.properties.update(protocols=sorted(protocols), metrics=metrics)
    # Only a blessed baseline is a bar to clear (the resolver gives no other).
    previous = baseline.metrics if baseline and baseline.blessed else None
    verdict = thresholds_lib.judge(thresholds, metrics, previous)
    _write_blessing(blessing, verdict, metrics, model, examples, baseline)
