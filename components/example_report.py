"""The small outputs of `ImageExampleGen`'s job, folded into `report.json`.

The job writes its facts (per-split statistics, the fingerprint, a
manifest's class names) as JSON lines; the driver reads them, with the
skipped files, into the report, then removes them.
"""

from __future__ import annotations

import collections
import json
import os

import apache_beam as beam
import tensorflow as tf

from components import example_inputs, example_records

REPORT_FILE = "report.json"
SKIPPED_FILE = "skipped.jsonl"
FACTS_FILE = "facts.jsonl"  # the job's small outputs, folded into the report


class Fingerprint(example_inputs.PlanTransform):
    """File metadata -> one fingerprint fact (`FingerprintFn`)."""

    def expand(self, files):
        return (
            files
            | "Combine"
            >> beam.CombineGlobally(
                example_records.FingerprintFn(self.plan.root)
            )
            | "Fact" >> beam.Map(fact, "fingerprint")
        )


def fact(value, kind, split=None) -> str:
    return json.dumps({"kind": kind, "split": split, "value": value})


def write_lines(lines, path, label):
    _ = lines | f"Write{label}" >> beam.io.WriteToText(
        path, shard_name_template=""
    )


def read_lines(path):
    with tf.io.gfile.GFile(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def write_report(uri, plan, names, buckets, partition) -> dict:
    """Folds the job's facts and skipped files into `report.json`."""
    facts = read_lines(os.path.join(uri, FACTS_FILE))
    tf.io.gfile.remove(os.path.join(uri, FACTS_FILE))
    skipped = read_lines(os.path.join(uri, SKIPPED_FILE))
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
