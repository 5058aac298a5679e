"""`Embed`: every example through the exported encoder, as a Beam pipeline."""

from __future__ import annotations

import os

import apache_beam as beam
import numpy as np
import tensorflow as tf

import ssl_tf
from components.component import (
    BeamComponentParameter,
    InputArtifact,
    OutputArtifact,
    Parameter,
    component,
)
from components.types import Embeddings, Examples, Model


class EmbedBatchFn(beam.DoFn):
    """Serialized examples (a batch) -> serialized embedding examples.

    The SavedModel is loaded once per DoFn instance, in `setup`, not per
    element: a worker reuses the instance for many bundles.

    Args:
        model_uri: an `ssl_tf.export_encoder` directory.
    """

    def __init__(self, model_uri):
        super().__init__()
        self.model_uri = model_uri

    def setup(self):
        self.encoder = ssl_tf.load_encoder(self.model_uri)
        size = int(self.encoder.image_size)
        # A fixed signature: one trace for every image, whatever its bytes.
        self.decode = tf.function(
            lambda data: ssl_tf.data.decode_image(data, size),
            input_signature=[tf.TensorSpec([], tf.string)],
        )

    def process(self, records):
        parsed = [
            tf.train.Example.FromString(r).features.feature for r in records
        ]
        batch = tf.stack(
            [self.decode(f["image"].bytes_list.value[0]) for f in parsed]
        )
        for features, embedding in zip(
            parsed, self.encoder.embed(batch), strict=True
        ):
            feature = {
                "embedding": tf.train.Feature(
                    float_list=tf.train.FloatList(
                        value=embedding.astype(np.float32)
                    )
                )
            }
            if "label" in features:
                feature["label"] = features["label"]
            yield tf.train.Example(
                features=tf.train.Features(feature=feature)
            ).SerializeToString()


@component
def Embed(
    examples: InputArtifact[Examples],
    model: InputArtifact[Model],
    embeddings: OutputArtifact[Embeddings],
    splits: Parameter[str] = "",
    batch_size: Parameter[int] = 256,
    beam_pipeline: BeamComponentParameter[beam.Pipeline] = None,
) -> None:
    """Writes `Split-<name>/data-*.tfrecord` of {"embedding", "label"}.

    Args:
        splits: comma-separated split names; empty means every split.
        batch_size: largest batch given to the encoder.
    """
    names = [s for s in splits.split(",") if s] or examples.split_names
    examples.check_splits(*names)
    with beam_pipeline as pipeline:
        for split in names:
            _ = (
                pipeline
                | f"Read[{split}]"
                >> beam.io.ReadFromTFRecord(examples.file_pattern(split))
                | f"Batch[{split}]"
                >> beam.BatchElements(max_batch_size=batch_size)
                | f"Embed[{split}]" >> beam.ParDo(EmbedBatchFn(model.uri))
                | f"Write[{split}]"
                >> beam.io.WriteToTFRecord(
                    os.path.join(embeddings.uri, f"Split-{split}", "data"),
                    file_name_suffix=".tfrecord",
                )
            )
    embeddings.properties.update(split_names=names)
