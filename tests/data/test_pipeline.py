"""Per-host slices of the global batches, and the pipeline's memory bounds."""

import hashlib

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from ssl_tf import data, methods
from ssl_tf.config import DataConfig
from ssl_tf.data import pipeline
from ssl_tf.data.sources import open_arrays
from ssl_tf.testing import (
    TestCase,
    mirrored_strategy,
    smoke_config,
    tiny_images,
)

# 32 images, global batch 8: 4 batches an epoch; batches [k, 8) span two.
IMAGES, BATCH, LAST = 32, 8, 8


def digest(element):
    """sha256 of every tensor of a (nested) batch, in `tf.nest` order."""
    leaves = tf.nest.flatten(element)
    return hashlib.sha256(
        b"".join(np.asarray(leaf).tobytes() for leaf in leaves)
    ).hexdigest()


def concat(parts):
    """The batches of `parts` (one structure each) joined row-wise."""
    return tf.nest.map_structure(
        lambda *leaves: np.concatenate(leaves, axis=0), *parts
    )


class SlicesTest(TestCase):
    def setUp(self):
        super().setUp()
        # Crops and flips only: each trace of the views costs seconds, and
        # per-row crops and flips already tell the rows' seeds apart.
        config = smoke_config(
            self.get_temp_dir(),
            **{"augment.jitter_strength": "0", "augment.grayscale_prob": "0"},
        )
        self.views = methods.get_method("simclr").views_for(config)
        self.source = open_arrays(
            tiny_images(IMAGES, 16), np.arange(IMAGES), image_size=16
        )

    def batches(self, cache, first, **kwargs):
        dataset = data.pretrain_dataset(
            self.source,
            DataConfig(image_size=16, cache=cache, shuffle_buffer=64),
            batch_size=BATCH,
            seed=3,
            views=self.views,
            batches=(first, LAST),
            **kwargs,
        )
        return [tf.nest.map_structure(np.asarray, b) for b in dataset]

    @parameterized.named_parameters(
        ("cached", True, 0, (2, 4)),
        ("cached_resumed", True, 3, (2, 4)),
        # Streaming is slower to set up; its slicing is the same code.
        ("streamed_resumed", False, 3, (2,)),
    )
    def test_slices_join_into_the_one_pipeline_batches(
        self, cache, first, counts
    ):
        # Slice i of global batch g is rows [i*B/n, (i+1)*B/n) of the batch
        # one pipeline (the default `pipeline=(0, 1)`) builds, images and
        # augmentation alike, also when the run starts (resumes) at batch
        # `first`.
        whole = self.batches(cache, first)
        self.assertLen(whole, LAST - first)
        expected = [digest(b) for b in whole]
        for pipelines in counts:
            rows = BATCH // pipelines
            slices = [
                self.batches(cache, first, pipeline=(i, pipelines))
                for i in range(pipelines)
            ]
            for i, parts in enumerate(slices):
                self.assertLen(parts, LAST - first)
                self.assertAllEqual(
                    parts[0]["labels"],
                    whole[0]["labels"][i * rows : (i + 1) * rows],
                )
            joined = [concat(parts) for parts in zip(*slices, strict=True)]
            self.assertEqual([digest(b) for b in joined], expected)

    def test_pipelines_must_divide_the_batch(self):
        with self.assertRaisesRegex(
            ValueError,
            r"^`batch_size` must be divisible by the 3 input pipelines\. "
            r"Received: batch_size=8$",
        ):
            self.batches(True, 0, pipeline=(0, 3))

    def test_resumed_slice_continues_the_uninterrupted_one(self):
        # The resume rule holds per slice: a slice started at batch 3 is
        # the tail of the slice started at batch 0.
        full = self.batches(True, 0, pipeline=(1, 2))
        resumed = self.batches(True, 3, pipeline=(1, 2))
        self.assertEqual(
            [digest(b) for b in resumed], [digest(b) for b in full[3:]]
        )


class InputContextStrategy:
    """Calls a dataset function once per input pipeline, as a cluster of
    `pipelines` hosts with `replicas` replicas in all would."""

    def __init__(self, pipelines, replicas):
        self.pipelines, self.replicas = pipelines, replicas

    def distribute_datasets_from_function(self, dataset_fn):
        return [
            dataset_fn(
                tf.distribute.InputContext(self.pipelines, i, self.replicas)
            )
            for i in range(self.pipelines)
        ]


class DistributedTest(TestCase):
    def setUp(self):
        super().setUp()
        self.source = open_arrays(
            tiny_images(IMAGES, 16), np.arange(IMAGES), image_size=16
        )
        self.data_config = DataConfig(image_size=16)

    def distributed(self, strategy):
        return pipeline.distributed_pretrain_dataset(
            strategy,
            self.source,
            self.data_config,
            batch_size=BATCH,
            seed=5,
            batches=(2, 6),
        )

    def whole(self):
        return [
            digest(b) for b in self.distributed(tf.distribute.get_strategy())
        ]

    @parameterized.named_parameters(
        ("one_host_four_replicas", 1, 4),
        ("two_hosts_two_replicas_each", 2, 4),
        ("four_hosts", 4, 4),
    )
    def test_replicas_in_order_join_into_the_global_batch(
        self, pipelines, replicas
    ):
        datasets = self.distributed(InputContextStrategy(pipelines, replicas))
        local = replicas // pipelines
        streams = [[b for b in dataset] for dataset in datasets]
        for stream in streams:
            # `local` per-replica batches of BATCH / replicas rows a step.
            self.assertLen(stream, 4 * local)
            self.assertEqual(
                stream[0]["images"].shape, (BATCH // replicas, 16, 16, 3)
            )
        joined = [
            # Replica r = pipeline * local + j takes element step*local+j.
            digest(
                concat(
                    [
                        streams[p][step * local + j]
                        for p in range(pipelines)
                        for j in range(local)
                    ]
                )
            )
            for step in range(4)
        ]
        self.assertEqual(joined, self.whole())

    def test_mirrored_replicas_get_their_rows(self):
        strategy = mirrored_strategy()
        batches = []
        for element in self.distributed(strategy):
            parts = tf.nest.map_structure(
                strategy.experimental_local_results, element
            )
            batches.append(
                digest(
                    concat(
                        [{k: v[r] for k, v in parts.items()} for r in (0, 1)]
                    )
                )
            )
        self.assertEqual(batches, self.whole())


class MemoryBoundsTest(TestCase):
    @parameterized.named_parameters(
        # 16 x 16 x 3 = 768 bytes an image; a limit of 10 images.
        ("at_the_limit", 10, True, True),
        ("one_image_over", 11, True, False),
        ("cache_off", 1, False, False),
    )
    def test_holds_in_memory_up_to_cache_max_bytes(
        self, num_examples, cache, expected
    ):
        config = DataConfig(image_size=16, cache=cache, cache_max_bytes=7680)
        info = data.SourceInfo(
            num_examples=num_examples, num_classes=None, image_shape=(16, 16)
        )
        self.assertEqual(pipeline.holds_in_memory(info, config), expected)

    @parameterized.named_parameters(
        # Images of unknown or larger size are cropped at full resolution
        # under the default and cannot be cached as squares.
        ("unknown_size", None, "original", False),
        ("larger", (17, 8), "original", False),
        ("no_larger", (16, 12), "original", True),
        ("unknown_size_square", None, "square", True),
        ("larger_square", (64, 64), "square", True),
    )
    def test_full_resolution_crops_are_not_cached(
        self, image_shape, crop_from, expected
    ):
        config = DataConfig(image_size=16, crop_from=crop_from)
        info = data.SourceInfo(10, None, image_shape=image_shape)
        self.assertEqual(pipeline.holds_in_memory(info, config), expected)
        self.assertEqual(pipeline.crops_original(info, config), not expected)

    def test_default_limit_is_one_and_a_half_gib(self):
        self.assertEqual(DataConfig().cache_max_bytes, 1536 << 20)

    def test_negative_limit_is_refused(self):
        with self.assertRaisesRegex(
            ValueError, r"`data.cache_max_bytes` must be >= 0"
        ):
            DataConfig(cache_max_bytes=-1).validate()

    @parameterized.named_parameters(("cached", True), ("streamed", False))
    def test_autotune_ram_budget_is_set(self, cache):
        source = open_arrays(tiny_images(8, 16), image_size=16)
        dataset = data.pretrain_dataset(
            source, DataConfig(image_size=16, cache=cache), batch_size=4
        )
        self.assertEqual(
            dataset.options().autotune.ram_budget, pipeline.RAM_BUDGET_BYTES
        )
