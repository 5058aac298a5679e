"""Artifact types: typed handles on directories that components read or write.

An artifact is a `uri` (a directory the runner chooses) plus JSON-able
`properties` (e.g. split names, metrics). This mirrors `tfx.types.standard_
artifacts` without ML Metadata: the local runner records artifacts, with
their `id`, `state` and `producer` execution, in its SQLite store
(`pipelines.metadata`).
"""

from __future__ import annotations

import json
import os
from typing import Any

# Type name -> class, filled as each `Artifact` subclass is defined.
ARTIFACT_TYPES: dict[str, type[Artifact]] = {}


class Artifact:
    """A directory produced by one component and consumed by others.

    Args:
        uri: the artifact's directory (or file pattern root).
        properties: JSON-able facts about the artifact.
        id: the metadata store's id, None until the runner records it.
        state: "pending" (being written), "live" (complete) or "failed".
        producer: id of the execution that wrote it, or None.
    """

    TYPE_NAME = "Artifact"
    STATES = ("pending", "live", "failed")

    def __init__(
        self,
        uri: str = "",
        properties: dict[str, Any] | None = None,
        id: int | None = None,
        state: str = "pending",
        producer: int | None = None,
    ):
        if state not in self.STATES:
            raise ValueError(
                f"`state` must be one of {self.STATES}. Received: "
                f"state={state!r}"
            )
        self.uri = uri
        self.properties = dict(properties or {})
        self.id = id
        self.state = state
        self.producer = producer

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Registered on definition, so a type defined in another module
        # (or a test) still comes back from `from_dict` as itself.
        ARTIFACT_TYPES.setdefault(cls.TYPE_NAME, cls)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.TYPE_NAME,
            "uri": self.uri,
            "properties": self.properties,
            "id": self.id,
            "state": self.state,
            "producer": self.producer,
        }

    def __repr__(self) -> str:
        return f"{self.TYPE_NAME}(id={self.id!r}, uri={self.uri!r})"


class Examples(Artifact):
    """TFRecords of `tf.train.Example` {"image": bytes, "label": int64}.

    Layout: `<uri>/Split-<name>/data-?????-of-?????.tfrecord` (TFX's split
    directory names); `properties["split_names"]` lists the splits.
    """

    TYPE_NAME = "Examples"
    FILE_SUFFIX = ".tfrecord"

    def split_uri(self, split: str) -> str:
        return os.path.join(self.uri, f"Split-{split}")

    def file_pattern(self, split: str = "{split}") -> str:
        """Glob of a split's files; the default keeps a `{split}` slot."""
        return os.path.join(self.split_uri(split), f"*{self.FILE_SUFFIX}")

    @property
    def split_names(self) -> list[str]:
        return list(self.properties.get("split_names", []))

    def check_splits(self, *splits: str) -> None:
        """Raises `ValueError` naming the splits these examples do have."""
        missing = [s for s in splits if s not in self.split_names]
        if missing:
            raise ValueError(
                f"Examples {self.uri} have no split(s) {missing}. Available "
                f"splits: {self.split_names}"
            )


class Model(Artifact):
    """An encoder export (`ssl_tf.export` layout: saved_model/, export.json)."""

    TYPE_NAME = "Model"


class ModelRun(Artifact):
    """A training run's checkpoints and TensorBoard logs."""

    TYPE_NAME = "ModelRun"


class ModelEvaluation(Artifact):
    """One evaluation protocol's JSON result (`result.json`)."""

    TYPE_NAME = "ModelEvaluation"
    RESULT_FILE = "result.json"

    def read_result(self) -> dict[str, Any]:
        with open(os.path.join(self.uri, self.RESULT_FILE)) as handle:
            return json.load(handle)


class Embeddings(Artifact):
    """`BulkEmbed` output: {"key", "embedding", "label", "path"} per split.

    Layout: `<uri>/Split-<name>/data-?????-of-?????.tfrecord` (serialized
    `tf.train.Example`) and the same rows in `data-*.parquet` (for
    retrieval). Properties: `split_names`, `num_embeddings` {split: n},
    `embedding_dim` and `model_fingerprint` (the encoder export's).
    """

    TYPE_NAME = "Embeddings"
    TFRECORD_SUFFIX = ".tfrecord"
    PARQUET_SUFFIX = ".parquet"

    @property
    def split_names(self) -> list[str]:
        return list(self.properties.get("split_names", []))

    def file_prefix(self, split: str) -> str:
        return os.path.join(self.uri, f"Split-{split}", "data")

    def file_pattern(self, split: str, suffix: str = TFRECORD_SUFFIX) -> str:
        """Glob of a split's TFRecord (or, with `PARQUET_SUFFIX`, Parquet)."""
        return f"{self.file_prefix(split)}-*{suffix}"

    def read_split(self, split: str) -> dict[str, Any]:
        """A split's Parquet shards as NumPy arrays, for retrieval.

        Returns:
            {"key": bytes array, "embedding": float32 (n, dim), "label":
            int64 (n,), "path": bytes array}, in shard order.
        """
        # Imported here: only readers of embeddings need pyarrow.
        import numpy as np
        import pyarrow as pa
        import pyarrow.parquet as pq
        import tensorflow as tf

        pattern = self.file_pattern(split, self.PARQUET_SUFFIX)
        files = sorted(tf.io.gfile.glob(pattern))
        if not files:
            raise ValueError(f"No embeddings match {pattern!r}.")
        tables = []
        for name in files:
            # Whole shards through gfile, so `gs://` works like a local path.
            with tf.io.gfile.GFile(name, "rb") as handle:
                tables.append(pq.read_table(pa.BufferReader(handle.read())))
        table = pa.concat_tables(tables)
        embeddings = table["embedding"].combine_chunks().flatten()
        return {
            "key": np.array(table["key"].to_pylist(), dtype=object),
            "embedding": embeddings.to_numpy().reshape(table.num_rows, -1),
            "label": table["label"].to_numpy(),
            "path": np.array(table["path"].to_pylist(), dtype=object),
        }


class ModelBlessing(Artifact):
    """The Evaluator's verdict on a model (TFX's `ModelBlessing`).

    `uri` holds one empty file, `BLESSED` or `NOT_BLESSED`. Properties:
    `blessed` (bool), `reason` (every threshold, its value, bound and
    outcome), `metrics` ({name: float}) and `model_uri` (the judged model).
    """

    TYPE_NAME = "ModelBlessing"
    BLESSED_FILE = "BLESSED"
    NOT_BLESSED_FILE = "NOT_BLESSED"

    @property
    def blessed(self) -> bool:
        return bool(self.properties.get("blessed", False))

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self.properties.get("metrics") or {})


class PushedModel(Artifact):
    """The Pusher's record: `pushed` (bool), `destination`, `version`,
    `reason`; `uri` holds `push.json` with the same facts."""

    TYPE_NAME = "PushedModel"
    RECORD_FILE = "push.json"


ARTIFACT_TYPES["Artifact"] = Artifact


def from_dict(record: dict[str, Any]) -> Artifact:
    """Inverse of `Artifact.to_dict`, e.g. to read the metadata file."""
    name = record["type"]
    if name not in ARTIFACT_TYPES:
        raise ValueError(
            f"Unknown artifact type {name!r}. Known: {sorted(ARTIFACT_TYPES)}"
        )
    return ARTIFACT_TYPES[name](
        record["uri"],
        record.get("properties"),
        id=record.get("id"),
        state=record.get("state", "pending"),
        producer=record.get("producer"),
    )
