"""TFDS input of `ImageExampleGen`: prepared TFDS splits, read offline.

`tfds_split` may name several comma-separated splits (`train,test`), each
kept as a split named by its base name; a slice (`train[:40]`) is one
split. Images keep their encoded bytes (`tfds.decode.SkipDecoding`); an
example's relative path is `<split>/<tfds id>`, and its path
`tfds://<name>/<split>/<id>`.
"""

from __future__ import annotations

import hashlib

import apache_beam as beam
import tensorflow as tf

from components import example_inputs


def plan_tfds(name: str, split: str, data_dir: str) -> example_inputs.InputPlan:
    """Names the TFDS splits; checks the dataset is prepared in `data_dir`.

    Raises:
        ValueError: if the dataset is not in `data_dir`.
    """
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir or None)
    except Exception as error:  # tfds raises several types
        raise ValueError(f"TFDS dataset {name!r}: {error}") from error
    if not tf.io.gfile.exists(builder.data_dir):
        raise ValueError(
            f"TFDS dataset {name!r} is not prepared in {data_dir!r} "
            f"({builder.data_dir} is missing)."
        )
    parts = [s.strip() for s in split.split(",") if s.strip()]
    splits = {part.split("[")[0]: part for part in parts}
    features = builder.info.features
    label = features["label"] if "label" in features else None
    return example_inputs.InputPlan(
        "tfds",
        builder.data_dir,
        tuple(splits),
        tuple(getattr(label, "names", None) or ()),
        name=name,
        tfds_splits=splits,
        data_dir=data_dir,
        patterns=(builder.data_dir + "/*",),
    )


class TfdsReadFn(beam.DoFn):
    """Reads one part of a TFDS split, images still encoded."""

    def __init__(self, plan: example_inputs.InputPlan):
        super().__init__()
        self.plan = plan

    def process(self, part):
        import tensorflow_datasets as tfds

        split, tfds_split = part
        dataset = tfds.load(
            self.plan.name,
            split=tfds_split,
            data_dir=self.plan.data_dir or None,
            decoders={"image": tfds.decode.SkipDecoding()},
            download=False,
        )
        for example in dataset.as_numpy_iterator():
            name = _example_id(example)
            rel = f"{split}/{name}"
            yield {
                "path": f"tfds://{self.plan.name}/{rel}",
                "rel": rel,
                "label": int(example.get("label", -1)),
                "split": split,
                "data": example["image"],
            }


def _example_id(example: dict) -> str:
    """TFDS's `id` feature; without one, the content's hash: an index
    would depend on how the split was cut into parts."""
    if "id" in example:
        return example["id"].decode()
    return "sha256-" + hashlib.sha256(example["image"]).hexdigest()


class ReadTfds(example_inputs.PlanTransform):
    """TFDS splits -> items, each split read in `parts` parallel parts."""

    def __init__(self, plan: example_inputs.InputPlan, parts: int = 1):
        super().__init__(plan)
        self.parts = parts

    def expand(self, pipeline):
        import tensorflow_datasets as tfds

        parts = [
            (split, part)
            for split, tfds_split in self.plan.tfds_splits.items()
            for part in tfds.even_splits(tfds_split, self.parts)
        ]
        return (
            pipeline
            | "Parts" >> beam.Create(parts)
            | "Reshuffle" >> beam.Reshuffle()
            | "Read" >> beam.ParDo(TfdsReadFn(self.plan))
        )
