"""`BulkEmbed` on Beam: the same vectors as the encoder, once per key."""

import glob
import os
import tempfile

import numpy as np
import pytest
import tensorflow as tf

import ssl_tf
from components import BulkEmbed, bulk_embed
from components.types import Embeddings, Examples, Model
from ssl_tf import testing

SPLITS = {"train": 7, "eval": 4}
SHARDS = 2


def _example(image, label, key=None, path=None):
    feature = {
        "image": tf.train.Feature(
            bytes_list=tf.train.BytesList(
                value=[tf.io.encode_png(image).numpy()]
            )
        ),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
    }
    for name, value in (("key", key), ("path", path)):
        if value is not None:
            feature[name] = tf.train.Feature(
                bytes_list=tf.train.BytesList(value=[value])
            )
    return tf.train.Example(features=tf.train.Features(feature=feature))


def write_examples(uri, with_keys=True, seed=0):
    """Writes `SPLITS` as `SHARDS` TFRecord files per split.

    Images have different sizes, so decoding resizes them. Returns the
    `Examples` and split -> {key: (uint8 image, label, path)}; without keys,
    the key is the `<file>#<index>` that `BulkEmbed` derives.
    """
    rng = np.random.default_rng(seed)
    expected = {}
    for split, count in SPLITS.items():
        os.makedirs(os.path.join(uri, f"Split-{split}"))
        rows = expected[split] = {}
        for shard in range(SHARDS):
            name = f"data-{shard:05d}-of-{SHARDS:05d}.tfrecord"
            with tf.io.TFRecordWriter(
                os.path.join(uri, f"Split-{split}", name)
            ) as writer:
                for index, i in enumerate(range(shard, count, SHARDS)):
                    side = (11, 16, 23)[i % 3]
                    image = rng.integers(0, 256, (side, side + 2, 3), np.uint8)
                    label, path = i % 2, f"/images/{split}/{i}.png".encode()
                    key = f"{split}-{i}".encode()
                    writer.write(
                        _example(
                            image,
                            label,
                            key if with_keys else None,
                            path if with_keys else None,
                        ).SerializeToString()
                    )
                    if not with_keys:
                        key, path = f"{name}#{index}".encode(), b""
                    rows[key] = (image, label, path)
    return Examples(uri, {"split_names": sorted(SPLITS)}), expected


def read_tfrecords(embeddings, split):
    rows = []
    files = sorted(glob.glob(embeddings.file_pattern(split)))
    for record in tf.data.TFRecordDataset(files):
        feature = tf.train.Example.FromString(record.numpy()).features.feature
        rows.append(
            (
                feature["key"].bytes_list.value[0],
                np.array(feature["embedding"].float_list.value, np.float32),
                feature["label"].int64_list.value[0],
                feature["path"].bytes_list.value[0],
            )
        )
    return rows


def read_parquet(embeddings, split):
    columns = embeddings.read_split(split)
    return list(
        zip(
            columns["key"],
            columns["embedding"],
            columns["label"],
            columns["path"],
            strict=True,
        )
    )


# Through the module: a bare import would collect its base class's tests.
class BulkEmbedTest(testing.TinyExportTestCase):
    def setUp(self):
        super().setUp()
        self.encoder = ssl_tf.load_encoder(self.model_path)
        self.model = Model(self.model_path)

    def tempdir(self):
        return tempfile.mkdtemp(dir=self.root)

    def reference(self, image):
        """The in-process embedding of one image, as the library decodes it."""
        encoded = tf.io.encode_png(image)
        decoded = ssl_tf.data.decode_image(encoded, self.encoder.image_size)
        return self.encoder.embed(decoded[None])[0]

    def check_rows(self, rows, expected):
        keys = [row[0] for row in rows]
        # Every key exactly once.
        self.assertCountEqual(keys, list(expected))
        for key, embedding, label, path in rows:
            image, expected_label, expected_path = expected[key]
            np.testing.assert_allclose(
                embedding, self.reference(image), rtol=1e-5, atol=1e-6
            )
            self.assertEqual((label, path), (expected_label, expected_path))

    def run_embed(self, examples, **kwargs):
        embeddings = Embeddings(self.tempdir())
        BulkEmbed.EXECUTOR(
            examples=examples,
            model=self.model,
            embeddings=embeddings,
            **kwargs,
        )
        return embeddings

    def test_matches_encoder_in_both_outputs_with_one_load(self):
        examples, expected = write_examples(self.tempdir())
        loads = bulk_embed.MODEL_LOADS[self.model_path]
        # beam_pipeline=None: the executor builds a DirectRunner pipeline.
        embeddings = self.run_embed(examples, batch_size=3)
        # Two splits, several batches, one in-process worker: one load.
        self.assertEqual(bulk_embed.MODEL_LOADS[self.model_path] - loads, 1)
        for split in SPLITS:
            self.check_rows(read_tfrecords(embeddings, split), expected[split])
            self.check_rows(read_parquet(embeddings, split), expected[split])
        self.assertEqual(
            embeddings.properties,
            {
                "split_names": ["eval", "train"],
                "num_embeddings": SPLITS,
                "embedding_dim": 6,
                "model_fingerprint": ssl_tf.read_metadata(self.model_path)[
                    "fingerprint"
                ],
            },
        )

    def test_examples_without_keys_get_file_index_keys(self):
        examples, expected = write_examples(
            self.tempdir(), with_keys=False, seed=1
        )
        embeddings = self.run_embed(examples, splits="train", batch_size=4)
        self.assertEqual(embeddings.split_names, ["train"])
        self.assertIn(b"data-00001-of-00002.tfrecord#2", expected["train"])
        self.check_rows(read_tfrecords(embeddings, "train"), expected["train"])
        self.check_rows(read_parquet(embeddings, "train"), expected["train"])

    def test_rejects_bad_input_before_reading(self):
        examples, _ = write_examples(self.tempdir())
        not_a_model = Model(self.tempdir())
        cases = (
            ({"splits": "test"}, "no split"),
            ({"examples": Examples(examples.uri)}, "list no splits"),
            ({"batch_size": 0}, "batch_size"),
            ({"model": not_a_model}, "not an ssl_tf export"),
        )
        for kwargs, message in cases:
            embeddings = Embeddings(self.tempdir())
            with self.assertRaisesRegex(ValueError, message):
                BulkEmbed.EXECUTOR(
                    **{
                        "examples": examples,
                        "model": self.model,
                        "embeddings": embeddings,
                        **kwargs,
                    }
                )
            # Nothing was written: the checks come before the Beam job.
            self.assertEqual(os.listdir(embeddings.uri), [])

    # About 25 s here: two worker processes each import TensorFlow.
    @pytest.mark.large
    def test_two_worker_processes_give_the_same_rows(self):
        examples, expected = write_examples(self.tempdir())
        node = BulkEmbed(examples=None, model=None, batch_size=2)
        embeddings = Embeddings(self.tempdir())
        node.execute(
            {"examples": examples, "model": self.model},
            {"embeddings": embeddings},
            [
                "--direct_num_workers=2",
                "--direct_running_mode=multi_processing",
            ],
        )
        self.assertEqual(embeddings.properties["num_embeddings"], SPLITS)
        for split in SPLITS:
            self.check_rows(read_tfrecords(embeddings, split), expected[split])
            self.check_rows(read_parquet(embeddings, split), expected[split])
