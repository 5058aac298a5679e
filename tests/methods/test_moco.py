"""Tests for `ssl_tf.methods.moco`: queue, EMA, gradients, BN, checkpoints."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl.testing import parameterized

from ssl_tf.config import ConfigError, ExperimentConfig, TrainConfig
from ssl_tf.methods import moco
from ssl_tf.testing import TestCase, mirrored_strategy, tiny_encoder
from ssl_tf.training import checkpoints


def make_moco(seed=0, **options):
    options = {
        "queue_size": 8,
        "projection_dims": (8, 4),
        "bn_splits": 2,
        **options,
    }
    return moco.MoCo(tiny_encoder(), moco.MoCoConfig(**options), seed=seed)


def make_views(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "view_1": rng.random((n, 8, 8, 3)).astype("float32"),
        "view_2": rng.random((n, 8, 8, 3)).astype("float32"),
    }


def unit_rows(n, dim, seed):
    rows = np.random.default_rng(seed).normal(size=(n, dim)).astype("float32")
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def numpy_fifo(queue, pointer, batches):
    queue = queue.copy()
    for keys in batches:
        for key in keys:
            queue[pointer] = key
            pointer = (pointer + 1) % len(queue)
    return queue, pointer


def trainable_pairs(model):
    return [(q, k) for q, k in model._weight_pairs() if q.trainable]


class QueueTest(TestCase):
    @parameterized.named_parameters(
        ("multiple_of_batch", 8, 4, 5),
        ("wraps_inside_a_batch", 6, 4, 4),
        ("more_keys_than_rows", 4, 6, 2),
    )
    def test_enqueue_matches_numpy_fifo(self, size, batch, steps):
        initial = unit_rows(size, 3, seed=0)
        queue = keras.Variable(initial, trainable=False)
        pointer = keras.Variable(0, dtype="int32", trainable=False)
        batches = [unit_rows(batch, 3, seed=s + 1) for s in range(steps)]
        for keys in batches:
            moco.enqueue(queue, pointer, keys)
        expected, expected_pointer = numpy_fifo(initial, 0, batches)
        self.assertAllClose(queue.numpy(), expected)
        self.assertEqual(int(pointer.numpy()), expected_pointer)

    def test_after_train_step_enqueues_the_step_keys(self):
        model = make_moco(queue_size=8)
        initial = model.queue.numpy()
        batches = [unit_rows(4, 4, seed=s) for s in range(3)]
        for keys in batches:
            model._pending.keys = tf.constant(keys)
            model.after_train_step(make_views(4))
        expected, pointer = numpy_fifo(initial, 0, batches)
        self.assertAllClose(model.queue.numpy(), expected)
        self.assertEqual(int(model.queue_pointer.numpy()), pointer)
        self.assertEqual(pointer, 4)  # 12 keys through 8 rows: wrapped.

    def test_initial_queue_is_unit_rows_and_key_encoder_is_a_copy(self):
        model = make_moco(queue_size=16)
        self.assertEqual(tuple(model.queue.shape), (16, 4))
        norms = np.linalg.norm(model.queue.numpy(), axis=1)
        self.assertAllClose(norms, np.ones(16), atol=1e-5)
        self.assertEqual(int(model.queue_pointer.numpy()), 0)
        for query, key in model._weight_pairs():
            self.assertAllEqual(query.numpy(), key.numpy())
            self.assertFalse(key.trainable)
        key_ids = {id(k) for _, k in model._weight_pairs()}
        self.assertFalse(key_ids & {id(v) for v in model.trainable_variables})
        self.assertLen(model.trainable_variables, len(trainable_pairs(model)))


class MomentumEncoderTest(TestCase):
    def test_ema_update_formula(self):
        model = make_moco()
        rng = np.random.default_rng(0)
        before = {}
        for query, key in model._weight_pairs():
            query.assign(rng.normal(size=query.shape).astype("float32"))
            key.assign(rng.normal(size=key.shape).astype("float32"))
            before[id(key)] = (query.numpy(), key.numpy())
        model.update_key_encoder(0.9)
        for query, key in model._weight_pairs():
            q, k = before[id(key)]
            expected = 0.9 * k + 0.1 * q if query.trainable else k
            self.assertAllClose(key.numpy(), expected, atol=1e-6)

    def test_key_encoder_gets_no_gradients(self):
        model = make_moco()
        with tf.GradientTape() as tape:
            loss = model.compute_ssl_loss(make_views(), training=True)
        keys = [k for _, k in model._weight_pairs()]
        queries = [q for q, _ in trainable_pairs(model)]
        gradients = tape.gradient(loss, keys + queries)
        # None exactly for the key encoder's weights.
        self.assertEqual(
            [g is None for g in gradients],
            [True] * len(keys) + [False] * len(queries),
        )

    def test_train_step_moves_key_encoder_only_by_ema(self):
        model = make_moco(momentum=0.5)
        model.compile(optimizer=keras.optimizers.SGD(0.5))
        batch = make_views()
        model.build_from_batch(batch)
        keys_before = [k.numpy() for _, k in trainable_pairs(model)]
        model.fit(
            tf.data.Dataset.from_tensors(batch),
            steps_per_epoch=1,
            verbose=0,
            shuffle=False,
        )
        changed = 0
        for (query, key), before in zip(
            trainable_pairs(model), keys_before, strict=True
        ):
            expected = 0.5 * before + 0.5 * query.numpy()
            self.assertAllClose(key.numpy(), expected, atol=1e-6)
            changed += not np.allclose(key.numpy(), before)
        self.assertGreater(changed, 0)
        self.assertEqual(int(model.queue_pointer.numpy()), 0)  # 8 of 8 rows

    def test_cosine_momentum_schedule(self):
        model = make_moco(
            momentum=0.9, momentum_schedule="cosine", total_steps=10
        )
        model.compile(optimizer=keras.optimizers.SGD(0.1))
        expected = {0: 0.9, 5: 0.95, 10: 1.0, 20: 1.0}
        for step, value in expected.items():
            model.optimizer.iterations.assign(step)
            self.assertAllClose(model.current_momentum(), value, atol=1e-6)

    def test_constant_momentum(self):
        self.assertAllClose(make_moco(momentum=0.7).current_momentum(), 0.7)


class LossTest(TestCase):
    def test_loss_is_info_nce_against_the_queue(self):
        model = make_moco(temperature=0.3)
        batch = make_views()
        loss = model.compute_ssl_loss(batch, training=False)
        queries = model.projector(model.encoder(batch["view_1"])).numpy()
        keys = model.key_projector(model.key_encoder(batch["view_2"])).numpy()
        q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        k = keys / np.linalg.norm(keys, axis=1, keepdims=True)
        logits = (
            np.concatenate(
                [np.sum(q * k, 1, keepdims=True), q @ model.queue.numpy().T], 1
            )
            / 0.3
        )
        log_z = np.log(np.exp(logits).sum(axis=1))
        self.assertAllClose(loss, np.mean(log_z - logits[:, 0]), atol=1e-5)
        accuracy = np.mean(np.argmax(logits, axis=1) == 0)
        self.assertAllClose(model.contrastive_accuracy.result(), accuracy)

    def test_shuffle_bn_groups_match_manual_computation(self):
        model = make_moco(bn_splits=4)
        images = make_views()["view_2"]
        groups = model.shuffled_groups(8).numpy()
        # Every aligned block of 4 rows sends one row to each group.
        for block in groups.reshape(2, 4):
            self.assertAllEqual(np.sort(block), np.arange(4))
        self.assertNotAllEqual(groups, np.arange(8) % 4)
        expected = np.zeros((8, 4), "float32")
        for group in range(4):
            rows = np.flatnonzero(groups == group)
            out = model.key_projector(
                model.key_encoder(images[rows], training=True), training=True
            ).numpy()
            expected[rows] = out / np.linalg.norm(out, axis=1, keepdims=True)
        keys = model.compute_keys(images, training=True)
        self.assertAllClose(keys, expected, atol=1e-5)
        # One pass over all 8 rows normalizes with other statistics.
        sync = make_moco(bn_splits=4, bn_mode="sync")
        self.assertNotAllClose(sync.compute_keys(images, training=True), keys)

    def test_queries_use_strided_groups(self):
        model = make_moco(bn_splits=2)
        images = make_views()["view_1"]
        expected = np.zeros((8, 4), "float32")
        for group in range(2):
            expected[group::2] = model.projector(
                model.encoder(images[group::2], training=True), training=True
            ).numpy()
        queries = model.compute_queries(images, training=True)
        self.assertAllClose(queries, expected, atol=1e-5)

    def test_inference_uses_one_pass(self):
        model = make_moco(bn_splits=4)
        images = make_views()["view_2"]
        out = model.key_projector(model.key_encoder(images)).numpy()
        expected = out / np.linalg.norm(out, axis=1, keepdims=True)
        self.assertAllClose(
            model.compute_keys(images, training=False), expected, atol=1e-5
        )

    def test_shuffle_changes_every_step(self):
        model = make_moco(bn_splits=4)
        model.compile(optimizer=keras.optimizers.SGD(0.1))
        first = model.shuffled_groups(16).numpy()
        self.assertAllEqual(model.shuffled_groups(16), first)
        model.optimizer.iterations.assign(1)
        self.assertNotAllEqual(model.shuffled_groups(16), first)


class CheckpointTest(TestCase):
    def test_restore_brings_back_queue_pointer_and_key_encoder(self):
        # Through the `Checkpointer` that pretraining uses.
        directory = self.get_temp_dir() + "/moco"
        model = make_moco(seed=0)
        rng = np.random.default_rng(3)
        for _, key in model._weight_pairs():
            key.assign(rng.normal(size=key.shape).astype("float32"))
        moco.enqueue(model.queue, model.queue_pointer, unit_rows(5, 4, 7))
        optimizer = keras.optimizers.SGD(0.1)
        optimizer.build(model.trainable_variables)
        checkpoints.Checkpointer(directory, model, optimizer).save(1, 0, 1)
        restored = make_moco(seed=1)
        self.assertNotAllClose(restored.queue.numpy(), model.queue.numpy())
        optimizer = keras.optimizers.SGD(0.1)
        optimizer.build(restored.trainable_variables)
        checkpoints.Checkpointer(directory, restored, optimizer).restore()
        self.assertAllEqual(restored.queue.numpy(), model.queue.numpy())
        self.assertEqual(int(restored.queue_pointer.numpy()), 5)
        pairs = zip(
            restored._weight_pairs(), model._weight_pairs(), strict=True
        )
        for (_, key), (_, saved) in pairs:
            self.assertAllEqual(key.numpy(), saved.numpy())


class ConfigTest(TestCase):
    @parameterized.named_parameters(
        ("queue_not_multiple", {"queue_size": 100}, "`queue_size` must be"),
        ("temperature", {"temperature": 0.0}, "`temperature` must be positive"),
        ("momentum", {"momentum": 1.5}, r"`momentum` must be in \[0, 1\]"),
        ("bn_splits", {"bn_splits": 3}, "`bn_splits` must be a positive"),
        ("bn_groups_of_one", {"bn_splits": 16}, "at least 2 images"),
        ("bn_mode", {"bn_mode": "ghost"}, "`bn_mode` must be one of"),
        ("schedule", {"momentum_schedule": "linear"}, "`momentum_schedule`"),
        (
            "cosine_without_total_steps",
            {"momentum_schedule": "cosine"},
            "`total_steps` must be",
        ),
    )
    def test_invalid_options(self, options, message):
        config = ExperimentConfig(
            method="moco",
            method_options=options,
            train=TrainConfig(batch_size=16),
        )
        with self.assertRaisesRegex(ConfigError, message):
            config.validate()

    def test_queue_message_names_batch_and_value(self):
        config = ExperimentConfig(
            method="moco",
            method_options={"queue_size": 100},
            train=TrainConfig(batch_size=16),
        )
        with self.assertRaisesRegex(
            ConfigError, r"\(16\)\. Received: queue_size=100"
        ):
            config.validate()


@pytest.mark.distributed
class ReplicaTest(TestCase):
    def test_two_replicas_equal_one_device_in_shuffle_mode(self):
        batch = make_views(16)
        results = []
        for strategy in (
            tf.distribute.get_strategy(),
            mirrored_strategy(),
        ):
            with strategy.scope():
                model = make_moco(queue_size=32, bn_splits=2, momentum=0.5)
                model.compile(optimizer=keras.optimizers.SGD(0.5))
                model.build_from_batch(batch)
            model.fit(
                tf.data.Dataset.from_tensors(batch),
                steps_per_epoch=1,
                verbose=0,
                shuffle=False,
            )
            results.append(model)
        one, two = results
        for a, b in zip(one.weights, two.weights, strict=True):
            self.assertAllClose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)
        # Every replica holds the same queue and pointer.
        queues = [v.numpy() for v in two.queue.value.values]
        self.assertAllEqual(queues[0], queues[1])
        pointers = [int(v.numpy()) for v in two.queue_pointer.value.values]
        self.assertEqual(pointers, [16, 16])
        keys = [v.numpy() for v in two.key_encoder.weights[0].value.values]
        self.assertAllClose(keys[0], keys[1])
