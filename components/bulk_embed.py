"""`BulkEmbed`: every example through the exported encoder, on Apache Beam.

The analog of TFX's BulkInferrer. One Beam job per call reads the chosen
splits of an `Examples` artifact, embeds them in batches and writes
`(key, embedding, label, path)` rows twice per split: TFRecords of
`tf.train.Example` (for TF readers) and Parquet (for retrieval with pandas,
pyarrow or a vector index).

Why `shared.Shared` and a DoFn rather than `RunInference`: one batch step
parses the examples, decodes and resizes their images in one `tf.function`
and embeds them, and the key, label and path ride along. A `ModelHandler`
would need a `KeyedModelHandler` and `PredictionResult` unwrapping for
that passthrough; `RunInference` itself keeps its model in a `Shared`, so
the one-model-per-worker-process guarantee is the same.
"""

from __future__ import annotations

import collections
import json
import os

import apache_beam as beam
import numpy as np
import pyarrow as pa
import tensorflow as tf
from apache_beam.io import fileio
from apache_beam.utils import shared

import ssl_tf
from components.component import (
    BeamComponentParameter,
    InputArtifact,
    OutputArtifact,
    Parameter,
    component,
)
from components.types import Embeddings, Examples, Model

# Model uri -> number of loads in this process (tests read it; on a
# multi-process runner each worker process has its own count).
MODEL_LOADS: collections.Counter = collections.Counter()

# Older Examples have only `image` and `label`: the defaults mark a missing
# key (replaced by `<file>#<index>`), label (-1, as for unlabelled images)
# and path (empty).
_FEATURES = {
    "image": tf.io.FixedLenFeature([], tf.string),
    "key": tf.io.FixedLenFeature([], tf.string, default_value=b""),
    "label": tf.io.FixedLenFeature([], tf.int64, default_value=-1),
    "path": tf.io.FixedLenFeature([], tf.string, default_value=b""),
}
PARQUET_SCHEMA = pa.schema(
    [
        ("key", pa.binary()),
        ("embedding", pa.list_(pa.float32())),
        ("label", pa.int64()),
        ("path", pa.binary()),
    ]
)
COUNTS_FILE = "counts.jsonl"


class BatchEmbedder:
    """An exported encoder and its batch parse-and-decode function.

    Images are decoded with `ssl_tf.data.decode_image` to the export's image
    size, as `ssl_tf` decodes them for training and evaluation, so a row's
    embedding equals `load_encoder(uri).embed(decoded image)`.

    Args:
        model_uri: an `ssl_tf.export_encoder` directory.
    """

    def __init__(self, model_uri: str):
        MODEL_LOADS[model_uri] += 1
        self.encoder = ssl_tf.load_encoder(model_uri)
        size = int(self.encoder.image_size)

        # One trace for every batch: parse, decode and resize in one graph.
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def parse_and_decode(serialized):
            features = tf.io.parse_example(serialized, _FEATURES)
            features["image"] = tf.map_fn(
                lambda data: ssl_tf.data.decode_image(data, size),
                features["image"],
                fn_output_signature=tf.TensorSpec((size, size, 3), tf.uint8),
            )
            return features

        self.parse_and_decode = parse_and_decode

    def __call__(self, batch: list[tuple[bytes, bytes]]) -> list[dict]:
        """`(fallback key, serialized example)` pairs -> embedding rows."""
        fallback_keys, serialized = zip(*batch, strict=True)
        features = self.parse_and_decode(tf.constant(serialized))
        embeddings = self.encoder.embed(features["image"]).astype(np.float32)
        keys = features["key"].numpy()
        return [
            {
                "key": bytes(key) or fallback,
                "embedding": embedding,
                "label": int(label),
                "path": bytes(path),
            }
            for key, fallback, embedding, label, path in zip(
                keys,
                fallback_keys,
                embeddings,
                features["label"].numpy(),
                features["path"].numpy(),
                strict=True,
            )
        ]


class EmbedBatchFn(beam.DoFn):
    """A batch of `(fallback key, serialized example)` -> embedding rows.

    The encoder lives in a `shared.Shared`: every DoFn instance of a worker
    process (all splits, all threads) acquires the same loaded model.

    Args:
        model_uri: an `ssl_tf.export_encoder` directory.
        handle: the `shared.Shared` token, one per pipeline.
    """

    def __init__(self, model_uri: str, handle: shared.Shared):
        super().__init__()
        self.model_uri = model_uri
        self.handle = handle

    def setup(self):
        uri = self.model_uri
        self.embedder = self.handle.acquire(lambda: BatchEmbedder(uri), tag=uri)

    def process(self, batch):
        yield from self.embedder(batch)


class ReadIndexedRecords(beam.DoFn):
    """A TFRecord file -> `(b"<file>#<index>", record)` in file order.

    The `<file>#<index>` key is unique and stable (an artifact's files never
    change), unlike a hash of the image bytes, which repeats for duplicate
    images. It is used only for examples written without a `key` feature.
    """

    def process(self, metadata):
        name = os.path.basename(metadata.path)
        records = tf.data.TFRecordDataset(metadata.path).as_numpy_iterator()
        for index, record in enumerate(records):
            yield f"{name}#{index}".encode(), record


def to_example(row: dict) -> bytes:
    """An embedding row as a serialized `tf.train.Example`."""
    feature = tf.train.Feature
    return tf.train.Example(
        features=tf.train.Features(
            feature={
                "key": feature(
                    bytes_list=tf.train.BytesList(value=[row["key"]])
                ),
                "embedding": feature(
                    float_list=tf.train.FloatList(value=row["embedding"])
                ),
                "label": feature(
                    int64_list=tf.train.Int64List(value=[row["label"]])
                ),
                "path": feature(
                    bytes_list=tf.train.BytesList(value=[row["path"]])
                ),
            }
        )
    ).SerializeToString()


def to_parquet_row(row: dict) -> dict:
    return {**row, "embedding": row["embedding"].tolist()}


@beam.ptransform_fn
def EmbedSplit(  # CamelCase: a PTransform, as Beam names them
    pipeline, split, file_pattern, prefix, model_uri, handle, batch_size
):
    """One split's examples -> TFRecord and Parquet shards of embeddings.

    Args:
        split: the split name, for the count.
        file_pattern: the split's TFRecord files.
        prefix: output path prefix, e.g. `<uri>/Split-train/data`.
        model_uri: an `ssl_tf.export_encoder` directory.
        handle: the pipeline's `shared.Shared` token.
        batch_size: largest batch given to the encoder.

    Returns:
        A one-element PCollection: the JSON line `[split, count]`.
    """
    rows = (
        pipeline
        | "Match" >> fileio.MatchFiles(file_pattern)
        | "Read" >> beam.ParDo(ReadIndexedRecords())
        # A file is read by one worker; spread its records before the
        # expensive step.
        | "Spread" >> beam.Reshuffle()
        | "Batch"
        >> beam.BatchElements(min_batch_size=1, max_batch_size=batch_size)
        | "Embed" >> beam.ParDo(EmbedBatchFn(model_uri, handle))
    )
    _ = (
        rows
        | "ToExample" >> beam.Map(to_example)
        | "WriteTFRecord"
        >> beam.io.WriteToTFRecord(
            prefix, file_name_suffix=Embeddings.TFRECORD_SUFFIX
        )
    )
    _ = (
        rows
        | "ToParquet" >> beam.Map(to_parquet_row)
        | "WriteParquet"
        >> beam.io.WriteToParquet(
            prefix, PARQUET_SCHEMA, file_name_suffix=Embeddings.PARQUET_SUFFIX
        )
    )
    return (
        rows
        | "Count" >> beam.combiners.Count.Globally()
        | "CountLine" >> beam.Map(lambda n: json.dumps([split, n]))
    )


def read_export_info(model_uri: str) -> dict:
    """The export's `export.json`, read through `tf.io.gfile`.

    Raises:
        ValueError: if `model_uri` is not an `ssl_tf.export_encoder` export.
    """
    path = os.path.join(model_uri, ssl_tf.export.saved_model.METADATA)
    saved_model = os.path.join(
        model_uri, ssl_tf.export.saved_model.SAVED_MODEL, "saved_model.pb"
    )
    if not (tf.io.gfile.exists(path) and tf.io.gfile.exists(saved_model)):
        raise ValueError(
            f"Model {model_uri!r} is not an ssl_tf export: it needs "
            f"{os.path.basename(path)} and saved_model/saved_model.pb."
        )
    with tf.io.gfile.GFile(path) as handle:
        info = json.load(handle)
    missing = {"image_size", "embedding_dim", "fingerprint"} - set(info)
    if missing:
        raise ValueError(f"{path} lacks {sorted(missing)}.")
    return info


@component
def BulkEmbed(
    examples: InputArtifact[Examples],
    model: InputArtifact[Model],
    embeddings: OutputArtifact[Embeddings],
    splits: Parameter[str] = "",
    batch_size: Parameter[int] = 256,
    beam_pipeline: BeamComponentParameter[beam.Pipeline] = None,
) -> None:
    """Embeds the examples of `splits` with the encoder export `model`.

    Writes `Split-<name>/data-*.tfrecord` and `Split-<name>/data-*.parquet`
    of {"key", "embedding", "label", "path"} (label -1 and path b"" when the
    examples have none; a missing key becomes `<file>#<index>`).

    Args:
        splits: comma-separated split names; empty means every split.
        batch_size: largest batch given to the encoder.
        beam_pipeline: the runner's pipeline; None runs on DirectRunner.

    Raises:
        ValueError: for an unknown split, a batch size below 1 or a model
            that is not an `ssl_tf` export (before any data is read).
    """
    names = [s for s in splits.split(",") if s] or examples.split_names
    if not names:
        raise ValueError(f"Examples {examples.uri} list no splits to embed.")
    examples.check_splits(*names)
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be >= 1. Received: {batch_size}")
    info = read_export_info(model.uri)
    handle = shared.Shared()
    with beam_pipeline or beam.Pipeline() as pipeline:
        _ = (
            [
                pipeline
                | f"EmbedSplit[{split}]"
                >> EmbedSplit(
                    split,
                    examples.file_pattern(split),
                    embeddings.file_prefix(split),
                    model.uri,
                    handle,
                    batch_size,
                )
                for split in names
            ]
            | beam.Flatten()
            | "WriteCounts"
            >> beam.io.WriteToText(
                os.path.join(embeddings.uri, COUNTS_FILE),
                shard_name_template="",
            )
        )
    with tf.io.gfile.GFile(os.path.join(embeddings.uri, COUNTS_FILE)) as lines:
        counts = dict(json.loads(line) for line in lines)
    embeddings.properties.update(
        split_names=names,
        num_embeddings={split: counts.get(split, 0) for split in names},
        embedding_dim=int(info["embedding_dim"]),
        model_fingerprint=info["fingerprint"],
    )
