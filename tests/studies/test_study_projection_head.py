"""The `projection-head` study: features after each head layer."""

import types

import keras
import numpy as np

from ssl_tf import methods, studies
from ssl_tf.config import apply_overrides
from ssl_tf.models.heads import ProjectionHead
from ssl_tf.studies import projection_head
from ssl_tf.testing import TestCase, smoke_config, tiny_encoder


def batch_norm(x, layer, epsilon=1e-5):
    """NumPy inference batch norm with `layer`'s statistics."""
    scaled = (x - layer.moving_mean.numpy()) / np.sqrt(
        layer.moving_variance.numpy() + epsilon
    )
    scaled = scaled * layer.gamma.numpy()
    return scaled + layer.beta.numpy() if layer.center else scaled


class FeatureModelTest(TestCase):
    def setUp(self):
        super().setUp()
        encoder = tiny_encoder(seed=0, input_size=8)
        head = ProjectionHead((6, 5), seed=1)
        head.build((None, 4))
        rng = np.random.default_rng(0)
        # Non-trivial statistics, so a skipped batch norm shows.
        for layer in head.batch_norms:
            size = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(size=size))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, size=size))
        self.model = types.SimpleNamespace(encoder=encoder, projector=head)
        self.images = rng.uniform(size=(3, 8, 8, 3)).astype("float32")

    def test_each_prefix_matches_numpy(self):
        head = self.model.projector
        h = self.model.encoder(self.images, training=False).numpy()
        kernels = [dense.kernel.numpy() for dense in head.dense_layers]
        z1 = np.maximum(batch_norm(h @ kernels[0], head.batch_norms[0]), 0)
        z2 = batch_norm(z1 @ kernels[1], head.batch_norms[1])
        for depth, expected in ((1, z1), (2, z2)):
            prefix = projection_head.head_prefix(head, depth, h.shape[-1])
            self.assertAllClose(
                prefix.predict(h, verbose=0), expected, atol=1e-5
            )
        # The whole head is the method's projector.
        self.assertAllClose(head(h, training=False), z2, atol=1e-5)

    def test_grid_is_figure_8s(self):
        grid = projection_head.points(studies.StudyOptions())
        self.assertEqual(
            [(p.name, p.overrides["projection_dims"]) for p in grid],
            [
                ("none", ()),
                ("linear", (128,)),
                ("mlp2", (512, 128)),
                ("mlp3", (512, 512, 128)),
            ],
        )


class NoHeadTest(TestCase):
    def test_simclr_without_a_head_uses_the_features(self):
        config = apply_overrides(
            smoke_config(self.get_temp_dir()), {"projection_dims": []}
        ).validate()
        method_config = methods.make_method_config(
            "simclr", config.method_options
        )
        self.assertEqual(method_config.projection_dims, ())
        model = methods.get_method("simclr")(
            tiny_encoder(), method_config, views=None, seed=0
        )
        features = keras.random.normal((4, 4), seed=0)
        self.assertAllEqual(model.projector(features), features)
