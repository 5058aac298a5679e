import numpy as np
import tensorflow as tf

from ssl_tf import losses
from ssl_tf.testing import TestCase, mirrored_strategy


def numpy_nt_xent(z_1, z_2, temperature):
    """Independent reference: SimCLR's loss over all 2N anchors."""
    z = np.concatenate([z_1, z_2]).astype(np.float64)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    n = len(z_1)
    sim = z @ z.T / temperature
    total = 0.0
    for i in range(2 * n):
        positive = (i + n) % (2 * n)
        others = [j for j in range(2 * n) if j != i]
        log_denominator = np.log(np.sum(np.exp(sim[i, others])))
        total += log_denominator - sim[i, positive]
    return total / (2 * n)


class NTXentTest(TestCase):
    def test_matches_numpy_reference_on_random_inputs(self):
        rng = np.random.default_rng(0)
        z_1 = rng.normal(size=(6, 5)).astype("float32")
        z_2 = rng.normal(size=(6, 5)).astype("float32")
        for temperature in (0.1, 0.5, 1.0):
            got = losses.NTXent(temperature)(z_1, z_2)
            self.assertAllClose(
                got, numpy_nt_xent(z_1, z_2, temperature), rtol=1e-5
            )

    def test_aligned_one_hot_projections_closed_form(self):
        # z_1 = z_2 = e_i: each anchor's positive scores 1/T, the 2N - 2
        # negatives score 0, so loss = log(1 + (2N - 2) exp(-1/T)).
        n, temperature = 4, 0.5
        z = np.eye(n, 8, dtype="float32")
        expected = np.log(1 + (2 * n - 2) * np.exp(-1 / temperature))
        self.assertAllClose(losses.NTXent(temperature)(z, z), expected)

    def test_invariant_to_scale_of_projections(self):
        rng = np.random.default_rng(1)
        z_1, z_2 = rng.normal(size=(2, 4, 3)).astype("float32")
        loss = losses.NTXent(0.2)
        self.assertAllClose(loss(z_1, z_2), loss(3 * z_1, 0.5 * z_2))

    def test_rejects_non_positive_temperature(self):
        with self.assertRaisesRegex(ValueError, "temperature"):
            losses.NTXent(0.0)

    def test_logits_put_positive_at_label_and_mask_self(self):
        z = np.eye(3, 4, dtype="float32")
        logits_1, logits_2, labels = losses.nt_xent_logits(z, z, 1.0)
        self.assertAllEqual(labels, [0, 1, 2])
        self.assertAllClose(np.diag(logits_1.numpy()[:, :3]), [1, 1, 1])
        # Self-similarity 1 minus the 1e9 mask: never the softmax's pick.
        self.assertAllClose(np.diag(logits_1.numpy()[:, 3:]), [1 - 1e9] * 3)

    def test_per_anchor_loss_comes_with_its_logits(self):
        # Aligned one-hot projections: every anchor has the closed-form
        # loss log(1 + (2N - 2) exp(-1/T)), and its positive wins.
        n, temperature = 3, 0.5
        z = np.eye(n, 4, dtype="float32")
        per_anchor, logits, labels = losses.nt_xent(z, z, temperature)
        expected = np.log(1 + (2 * n - 2) * np.exp(-1 / temperature))
        self.assertAllClose(per_anchor, [expected] * n)
        self.assertAllClose(logits, losses.nt_xent_logits(z, z, temperature)[0])
        self.assertAllEqual(losses.top1_hits(logits, labels), [1.0] * n)

    def test_top1_hits_hand_case(self):
        # Row 3 ties: argmax takes the first column, not the label's.
        logits = np.array([[2.0, 1.0], [0.0, 3.0], [1.0, 1.0]], "float32")
        hits = losses.top1_hits(logits, tf.constant([0, 0, 1]))
        self.assertAllEqual(hits, [1.0, 0.0, 0.0])

    def test_gathers_negatives_across_two_replicas(self):
        rng = np.random.default_rng(2)
        z_1 = rng.normal(size=(8, 5)).astype("float32")
        z_2 = rng.normal(size=(8, 5)).astype("float32")
        strategy = mirrored_strategy()
        loss = losses.NTXent(0.3)

        def replica_loss(a, b):
            return loss(a, b)

        dataset = tf.data.Dataset.from_tensors((z_1, z_2))
        a, b = next(iter(strategy.experimental_distribute_dataset(dataset)))
        per_replica = strategy.run(replica_loss, args=(a, b))
        total = strategy.reduce("SUM", per_replica, axis=None)
        # Each replica returns its anchors' mean / 2; the sum is the loss
        # of the global batch.
        self.assertAllClose(total, numpy_nt_xent(z_1, z_2, 0.3), rtol=1e-5)

    def test_global_batch_mean_sums_to_the_mean_over_replicas(self):
        # Two replicas' shares of the mean add up to the global mean, as
        # a Keras loss's reduction does (Keras sums replica gradients).
        values = np.arange(8, dtype="float32")
        strategy = mirrored_strategy()
        dataset = tf.data.Dataset.from_tensors(values)
        batch = next(iter(strategy.experimental_distribute_dataset(dataset)))
        shares = strategy.run(losses.global_batch_mean, args=(batch,))
        local = strategy.experimental_local_results(shares)
        self.assertAllClose(
            local, [values[:4].mean() / 2, values[4:].mean() / 2]
        )
        self.assertAllClose(losses.global_batch_mean(values), values.mean())


class SimCLRLossOnceTest(TestCase):
    def _model(self):
        from ssl_tf.methods import simclr
        from ssl_tf.testing import tiny_encoder

        config = simclr.SimCLRConfig(temperature=0.3, projection_dims=(8, 4))
        return simclr.SimCLR(tiny_encoder(), config)

    def test_loss_matches_numpy_and_accuracy_counts_positives(self):
        model = self._model()
        rng = np.random.default_rng(3)
        views = {
            f"view_{i}": rng.random((6, 8, 8, 3)).astype("float32")
            for i in (1, 2)
        }
        loss = model.compute_ssl_loss(views, training=False)
        z_1, z_2 = (
            model.projector(model.encoder(views[k])).numpy()
            for k in ("view_1", "view_2")
        )
        self.assertAllClose(loss, numpy_nt_xent(z_1, z_2, 0.3), rtol=1e-5)
        logits_1, _, labels = losses.nt_xent_logits(z_1, z_2, 0.3)
        hits = np.argmax(logits_1.numpy(), axis=1) == labels.numpy()
        self.assertAllClose(model.contrastive_accuracy.result(), hits.mean())

    def test_one_gather_per_view_across_replicas(self):
        # The loss and the accuracy share one set of logits: two
        # all-gathers a step (one per view), not four.
        strategy = mirrored_strategy()
        views = {f"view_{i}": np.zeros((4, 8, 8, 3), "float32") for i in (1, 2)}
        with strategy.scope():
            model = self._model()
            model.build_from_batch(views)
        dataset = strategy.experimental_distribute_dataset(
            tf.data.Dataset.from_tensors(views)
        )

        def step(batch):
            return strategy.run(
                model.compute_ssl_loss, args=(batch,), kwargs={"training": True}
            )

        batch = next(iter(dataset))
        graph = tf.function(step).get_concrete_function(batch).graph
        # Each `all_gather` call is one name scope holding both replicas'
        # collectives.
        calls = {
            node.name.split("/")[0]
            for node in graph.as_graph_def().node
            if node.op.startswith("CollectiveGather")
        }
        self.assertLen(calls, 2)
