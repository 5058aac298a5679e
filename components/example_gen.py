"""`ImageExampleGen`: images -> split, checked, sharded TFRecord examples.

TFX's ExampleGen without TFX. The input (an image folder, a CSV/JSONL
manifest or a TFDS split; `components.example_inputs`) is listed and read
inside one Beam job, so the same component runs on DirectRunner here and
on Dataflow, Flink or Spark at scale. Output, in `examples.uri`:

    Split-<name>/data-?????-of-?????.tfrecord  tf.train.Example: image
        (bytes as read), label (int64, -1 unlabeled), key (sha256 of the
        relative path), path, height, width
    skipped.jsonl   {"path", "split", "reason"} of every unusable file
    report.json     num_examples, class_names, statistics per split,
                    skip counts, the split configuration, the fingerprint

Splits: an input with two or more splits (split folders, several TFDS
splits) keeps them, as TFX does with input splits. A single split is
hash-split by `output_config` (TFX's JSON form, default train 8 : eval 2):
`sha256(partition key) % total buckets`, the key being the path relative
to the input's root or the sha256 of the content (`partition_key`).
"""

from __future__ import annotations

import collections
import json
import os

import apache_beam as beam
import tensorflow as tf

from components import example_inputs, example_records
from components.component import (
    BeamComponentParameter,
    OutputArtifact,
    Parameter,
    component,
)
from components.types import Examples

REPORT_FILE = "report.json"
SKIPPED_FILE = "skipped.jsonl"
_FACTS_FILE = "facts.jsonl"  # the job's small outputs, folded into the report
DEFAULT_OUTPUT_CONFIG = {
    "split_config": {
        "splits": [
            {"name": "train", "hash_buckets": 8},
            {"name": "eval", "hash_buckets": 2},
        ]
    }
}


def plan_input(input_base, tfds_name, tfds_split, tfds_data_dir):
    """The input's plan; exactly one of `input_base` and `tfds_name`."""
    if bool(input_base) == bool(tfds_name):
        raise ValueError(
            "Give exactly one of `input_base` (an image folder or a "
            "manifest) and `tfds_name`. Received: "
            f"input_base={input_base!r}, tfds_name={tfds_name!r}"
        )
    if tfds_name:
        return example_inputs.plan_tfds(tfds_name, tfds_split, tfds_data_dir)
    if tf.io.gfile.isdir(input_base):
        return example_inputs.plan_folder(input_base)
    return example_inputs.plan_manifest(input_base)


def plan_splits(plan, output_config: str, required_splits: str):
    """`(split names, hash buckets or None)`, refused if a split would be
    empty or a required split missing, before any file is read.

    Raises:
        ValueError: naming the split.
    """
    buckets = None
    names = list(plan.splits)
    if len(names) == 1:
        config = json.loads(output_config) if output_config else None
        splits = (config or DEFAULT_OUTPUT_CONFIG)["split_config"]["splits"]
        names = [s["name"] for s in splits]
        buckets = [int(s.get("hash_buckets", 0)) for s in splits]
        for name, count in zip(names, buckets, strict=True):
            if count <= 0:
                raise ValueError(
                    f"Split {name!r} has hash_buckets={count}: it would be "
                    "empty. Give every split at least one bucket."
                )
        if len(set(names)) != len(names):
            raise ValueError(f"Split names repeat: {names}")
    missing = [s for s in required_splits.split(",") if s and s not in names]
    if missing:
        raise ValueError(
            f"Required split(s) {missing} would be empty: the input "
            f"{plan.root!r} gives the splits {names}."
        )
    return names, buckets


def build(pipeline, plan, names, buckets, uri, options) -> None:
    """Adds the ExampleGen job to `pipeline`.

    Args:
        options: `num_shards`, `partition_key`, `tfds_parts`.
    """
    facts = []
    listed = pipeline | "List" >> example_inputs.ListInput(plan)
    files = listed["files"]
    if plan.kind == "folder":
        items = files | "ReadFolder" >> example_inputs.ReadFolder(plan)
    elif plan.kind == "manifest":
        items, classes = listed | "ReadManifest" >> example_inputs.ReadManifest(
            plan
        )
        facts.append(classes | "ClassFact" >> beam.Map(_fact, "class_names"))
    else:
        items = pipeline | "ReadTfds" >> example_inputs.ReadTfds(
            plan, options["tfds_parts"]
        )
    checked = items | "Check" >> beam.ParDo(
        example_records.CheckFn()
    ).with_outputs("skipped", main="good")
    split = example_records.SplitFn(names, buckets, options["partition_key"])
    parts = checked.good | "Split" >> beam.Partition(split, len(names))
    for name, part in zip(names, parts, strict=True):
        _ = (
            part
            | f"ToExample[{name}]" >> beam.Map(example_records.to_example)
            | f"Write[{name}]"
            >> beam.io.WriteToTFRecord(
                os.path.join(Examples(uri).split_uri(name), "data"),
                file_name_suffix=".tfrecord",
                num_shards=options["num_shards"],
            )
        )
        facts.append(
            part
            | f"Rows[{name}]"
            >> beam.Map(lambda i: (i["label"], i["height"], i["width"]))
            | f"Statistics[{name}]"
            >> beam.CombineGlobally(example_records.StatisticsFn())
            | f"StatisticsFact[{name}]" >> beam.Map(_fact, "statistics", name)
        )
    facts.append(files | "Fingerprint" >> _Fingerprint(plan))
    _write_lines(
        checked.skipped | "SkippedJson" >> beam.Map(json.dumps),
        os.path.join(uri, SKIPPED_FILE),
        "Skipped",
    )
    _write_lines(
        tuple(facts) | "Facts" >> beam.Flatten(),
        os.path.join(uri, _FACTS_FILE),
        "Facts",
    )


class _Fingerprint(beam.PTransform):
    def __init__(self, plan):
        super().__init__()
        self.plan = plan

    def expand(self, files):
        return (
            files
            | "Combine"
            >> beam.CombineGlobally(
                example_records.FingerprintFn(self.plan.root)
            )
            | "Fact" >> beam.Map(_fact, "fingerprint")
        )


def input_fingerprint(directory: str, beam_pipeline=None, **parameters):
    """The fingerprint `ImageExampleGen` would record, without reading
    any image: a listing job, e.g. for a runner's cache key.

    Args:
        directory: where the job writes its one-line result.
        beam_pipeline: None builds a DirectRunner pipeline.
        **parameters: the component's input parameters (`input_base`,
            `tfds_name`, `tfds_split`, `tfds_data_dir`).

    Returns:
        `{"num_files", "total_bytes", "hash"}`.
    """
    plan = plan_input(**_input_parameters(parameters))
    pipeline = beam_pipeline if beam_pipeline is not None else beam.Pipeline()
    path = os.path.join(directory, "fingerprint.jsonl")
    listed = pipeline | "List" >> example_inputs.ListInput(plan)
    _write_lines(listed["files"] | _Fingerprint(plan), path, "Fingerprint")
    pipeline.run().wait_until_finish()
    (fact,) = _read_lines(path)
    return fact["value"]


def _input_parameters(parameters: dict) -> dict:
    return {
        "input_base": parameters.get("input_base", ""),
        "tfds_name": parameters.get("tfds_name", ""),
        "tfds_split": parameters.get("tfds_split", "train"),
        "tfds_data_dir": parameters.get("tfds_data_dir", ""),
    }


def _fact(value, kind, split=None) -> str:
    return json.dumps({"kind": kind, "split": split, "value": value})


def _write_lines(lines, path, label):
    _ = lines | f"Write{label}" >> beam.io.WriteToText(
        path, shard_name_template=""
    )


def _read_lines(path):
    with tf.io.gfile.GFile(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def write_report(uri, plan, names, buckets, partition) -> dict:
    """Folds the job's facts and skipped files into `report.json`."""
    facts = _read_lines(os.path.join(uri, _FACTS_FILE))
    tf.io.gfile.remove(os.path.join(uri, _FACTS_FILE))
    skipped = _read_lines(os.path.join(uri, SKIPPED_FILE))
    by_kind = {(f["kind"], f["split"]): f["value"] for f in facts}
    classes = plan.class_names
    if classes is None:
        classes = by_kind.get(("class_names", None)) or ()
    statistics = {
        name: _named_labels(
            by_kind.get(("statistics", name), {"num_examples": 0}), classes
        )
        for name in names
    }
    reasons = collections.Counter(r["reason"].split(" (")[0] for r in skipped)
    report = {
        "num_examples": {n: s["num_examples"] for n, s in statistics.items()},
        "class_names": list(classes),
        "num_skipped": len(skipped),
        "skip_counts": dict(reasons.most_common()),
        "statistics": statistics,
        "splits": {
            "input": list(plan.splits),
            "hash_buckets": dict(zip(names, buckets, strict=True))
            if buckets
            else None,
            "partition_key": partition,
        },
        "fingerprint": by_kind[("fingerprint", None)],
    }
    with tf.io.gfile.GFile(os.path.join(uri, REPORT_FILE), "w") as handle:
        json.dump(report, handle, indent=2)
    return report


def _named_labels(statistics: dict, classes) -> dict:
    """Per-class counts keyed by class name when the classes are known."""
    labels = statistics.get("labels", {})
    named = {
        (classes[int(k)] if 0 <= int(k) < len(classes) else k): n
        for k, n in labels.items()
    }
    return {**statistics, "labels": named}


@component
def ImageExampleGen(
    examples: OutputArtifact[Examples],
    input_base: Parameter[str] = "",
    tfds_name: Parameter[str] = "",
    tfds_split: Parameter[str] = "train",
    tfds_data_dir: Parameter[str] = "",
    output_config: Parameter[str] = "",
    partition_key: Parameter[str] = "path",
    required_splits: Parameter[str] = "",
    num_shards: Parameter[int] = 0,
    beam_pipeline: BeamComponentParameter[beam.Pipeline] = None,
) -> None:
    """Images from a folder, a manifest or TFDS -> split TFRecord examples.

    Args:
        input_base: an image folder, or a `.csv`/`.jsonl` manifest.
        tfds_name: a TFDS dataset, read offline from `tfds_data_dir`.
        tfds_split: TFDS split(s), comma-separated, e.g. `train[:40]`.
        output_config: TFX `Output` JSON for a single-split input.
        partition_key: "path" (relative path) or "content" (its sha256).
        required_splits: comma-separated splits later components read.
        num_shards: shards per split; 0 lets the runner decide.
        beam_pipeline: None builds a DirectRunner pipeline.

    Raises:
        ValueError: on a bad configuration (before any file is read), or
            when a split ends up without usable images.
    """
    report = run(
        examples,
        beam_pipeline,
        input_base=input_base,
        tfds_name=tfds_name,
        tfds_split=tfds_split,
        tfds_data_dir=tfds_data_dir,
        output_config=output_config,
        partition_key=partition_key,
        required_splits=required_splits,
        num_shards=num_shards,
    )["report"]
    empty = [s for s, n in report["num_examples"].items() if not n]
    if empty:
        raise ValueError(
            f"No usable images in split(s) {empty}; see "
            f"{os.path.join(examples.uri, REPORT_FILE)}."
        )


def run(examples, beam_pipeline=None, **parameters) -> dict:
    """Plans, runs the Beam job, writes the report and the properties.

    Returns:
        `{"report": report.json's content, "result": the PipelineResult}`.
    """
    plan = plan_input(**_input_parameters(parameters))
    partition = parameters.get("partition_key", "path")
    if partition not in example_records.PARTITION_KEYS:
        raise ValueError(
            f"`partition_key` must be one of {example_records.PARTITION_KEYS}"
            f". Received: partition_key={partition!r}"
        )
    names, buckets = plan_splits(
        plan,
        parameters.get("output_config", ""),
        parameters.get("required_splits", ""),
    )
    pipeline = beam_pipeline if beam_pipeline is not None else beam.Pipeline()
    options = {
        "num_shards": parameters.get("num_shards", 0),
        "partition_key": partition,
        "tfds_parts": max(parameters.get("num_shards", 0), 1),
    }
    build(pipeline, plan, names, buckets, examples.uri, options)
    result = pipeline.run()
    result.wait_until_finish()
    report = write_report(examples.uri, plan, names, buckets, partition)
    examples.properties.update(
        split_names=names,
        num_examples=report["num_examples"],
        num_skipped=report["num_skipped"],
        class_names=report["class_names"],
        fingerprint=report["fingerprint"],
    )
    return {"report": report, "result": result}
