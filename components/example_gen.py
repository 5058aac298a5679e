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

import json
import os

import apache_beam as beam
import tensorflow as tf

from components import (
    example_inputs,
    example_manifest,
    example_records,
    example_report,
    example_tfds,
)
from components.component import (
    BeamComponentParameter,
    OutputArtifact,
    Parameter,
    component,
)
from components.types import Examples

REPORT_FILE = example_report.REPORT_FILE
SKIPPED_FILE = example_report.SKIPPED_FILE
# Images checked together (one `inspect_images` pass each).
CHECK_BATCH = 256


def plan_input(input_base, tfds_name, tfds_split, tfds_data_dir):
    """The input's plan; exactly one of `input_base` and `tfds_name`."""
    if bool(input_base) == bool(tfds_name):
        raise ValueError(
            "Give exactly one of `input_base` (an image folder or a "
            "manifest) and `tfds_name`. Received: "
            f"input_base={input_base!r}, tfds_name={tfds_name!r}"
        )
    if tfds_name:
        return example_tfds.plan_tfds(tfds_name, tfds_split, tfds_data_dir)
    if tf.io.gfile.isdir(input_base):
        return example_inputs.plan_folder(input_base)
    if not tf.io.gfile.exists(input_base):
        raise ValueError(
            f"`input_base` {input_base!r} does not exist; give an image "
            "folder or a .csv/.jsonl manifest."
        )
    return example_manifest.plan_manifest(input_base)


def plan_splits(plan, output_config: str, required_splits: str):
    """`(split names, hash buckets or None)`, refused if a split would be
    empty or a required split missing, before any file is read.

    Args:
        plan: the input's plan.
        output_config: TFX `Output` JSON; used when the input has one split.
        required_splits: comma-separated names; `test|eval` accepts either.

    Raises:
        ValueError: naming the split.
    """
    buckets = None
    names = list(plan.splits)
    if len(names) == 1:
        names, buckets = example_records.hash_splits(output_config)
    missing = [
        required
        for required in required_splits.split(",")
        if required and not set(required.split("|")) & set(names)
    ]
    if missing:
        raise ValueError(
            f"Required split(s) {missing} would be empty: the input "
            f"{plan.root!r} gives the splits {names}."
        )
    return names, buckets


def list_input(pipeline, plan):
    """`(files, manifest listing or None)`: the input's `FileMetadata`
    (what the fingerprint hashes) and, for a manifest, its rows."""
    files = pipeline | "List" >> example_inputs.ListInput(plan)
    if plan.kind != "manifest":
        return files, None
    listed = pipeline | "ListManifest" >> example_manifest.ListManifest(plan)
    return (files, listed["files"]) | "Files" >> beam.Flatten(), listed


def build(pipeline, plan, names, buckets, uri, options) -> None:
    """Adds the ExampleGen job to `pipeline`.

    Args:
        options: `num_shards`, `partition_key`, `tfds_parts`.
    """
    facts = []
    files, rows = list_input(pipeline, plan)
    if plan.kind == "folder":
        items = files | "ReadFolder" >> example_inputs.ReadFolder(plan)
    elif plan.kind == "manifest":
        items, classes = rows | example_manifest.ReadManifest(plan)
        facts.append(
            classes
            | "ClassFact" >> beam.Map(example_report.fact, "class_names")
        )
    else:
        items = pipeline | "ReadTfds" >> example_tfds.ReadTfds(
            plan, options["tfds_parts"]
        )
    checked = (
        items
        | "Batch" >> beam.BatchElements(max_batch_size=CHECK_BATCH)
        | "Check"
        >> beam.ParDo(example_records.CheckFn()).with_outputs(
            "skipped", main="good"
        )
    )
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
            | f"StatisticsFact[{name}]"
            >> beam.Map(example_report.fact, "statistics", name)
        )
    facts.append(files | "Fingerprint" >> example_report.Fingerprint(plan))
    example_report.write_lines(
        checked.skipped | "SkippedJson" >> beam.Map(json.dumps),
        os.path.join(uri, example_report.SKIPPED_FILE),
        "Skipped",
    )
    example_report.write_lines(
        tuple(facts) | "Facts" >> beam.Flatten(),
        os.path.join(uri, example_report.FACTS_FILE),
        "Facts",
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
    files, _ = list_input(pipeline, plan)
    example_report.write_lines(
        files | example_report.Fingerprint(plan), path, "Fingerprint"
    )
    pipeline.run().wait_until_finish()
    (fact,) = example_report.read_lines(path)
    return fact["value"]


def _input_parameters(parameters: dict) -> dict:
    return {
        "input_base": parameters.get("input_base", ""),
        "tfds_name": parameters.get("tfds_name", ""),
        "tfds_split": parameters.get("tfds_split", "train"),
        "tfds_data_dir": parameters.get("tfds_data_dir", ""),
    }


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
        required_splits: comma-separated splits later components read
            (`test|eval`: either); checked before any file is read.
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
            f"{os.path.join(examples.uri, example_report.REPORT_FILE)}."
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
    report = example_report.write_report(
        examples.uri, plan, names, buckets, partition
    )
    examples.properties.update(
        split_names=names,
        num_examples=report["num_examples"],
        num_skipped=report["num_skipped"],
        class_names=report["class_names"],
        fingerprint=report["fingerprint"],
    )
    return {"report": report, "result": result}
