"""`ImportExamples`: an image folder -> checked, sharded TFRecord examples."""

from __future__ import annotations

import os

import apache_beam as beam

from components import image_folder
from components.component import (
    BeamComponentParameter,
    OutputArtifact,
    Parameter,
    component,
)
from components.types import Examples


@component
def ImportExamples(
    examples: OutputArtifact[Examples],
    input_base: Parameter[str],
    num_shards: Parameter[int] = 0,
    beam_pipeline: BeamComponentParameter[beam.Pipeline] = None,
) -> None:
    """Reads `input_base` (class sub-folders = labels), skipping bad files.

    Writes `Split-<name>/data-*.tfrecord` of {"image": bytes, "label": int64},
    `skipped.jsonl` (path and reason of every skipped file) and `report.json`.

    Raises:
        ValueError: if a split has no usable image.
    """
    splits, class_names = image_folder.list_image_folder(input_base)
    with beam_pipeline as pipeline:
        reports = []
        for split, files in splits.items():
            prefix = os.path.join(examples.split_uri(split), "data")
            reports.append(
                pipeline
                | f"List[{split}]" >> beam.Create(files)
                | f"Import[{split}]"
                >> image_folder.ImageFilesToExamples(split, prefix, num_shards)
            )
        for index, name in enumerate(
            (image_folder.SKIPPED_FILE, image_folder.COUNTS_FILE)
        ):
            _ = (
                [outputs[index] for outputs in reports]
                | f"Flatten[{name}]" >> beam.Flatten()
                | f"Write[{name}]"
                >> beam.io.WriteToText(
                    os.path.join(examples.uri, name), shard_name_template=""
                )
            )
    report = image_folder.write_report(examples.uri, class_names)
    empty = [s for s in splits if not report["num_examples"].get(s)]
    if empty:
        raise ValueError(
            f"No usable images in splits {empty} of {input_base!r}; see "
            f"{os.path.join(examples.uri, image_folder.REPORT_FILE)}."
        )
    examples.properties.update(
        split_names=sorted(splits),
        num_examples=report["num_examples"],
        num_skipped=report["num_skipped"],
        class_names=list(class_names),
    )
