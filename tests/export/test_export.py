import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import tensorflow as tf

from ssl_tf import export, models
from ssl_tf.config import EncoderConfig
from ssl_tf.testing import TestCase, tiny_images

FRESH_PROCESS = textwrap.dedent(
    """
    import sys, numpy as np, tensorflow as tf
    model = tf.saved_model.load(sys.argv[1])
    serve = model.signatures["serving_default"]
    for name in ("a", "b"):
        images = np.load(f"{sys.argv[2]}/{name}.npy")
        out = serve(images=tf.constant(images))["embedding"].numpy()
        np.save(f"{sys.argv[2]}/{name}_out.npy", out)
    """
)


class ExportTest(TestCase):
    def _encoder(self):
        config = EncoderConfig("resnet18", "cifar", 0.125)
        return models.build_encoder(config, 32, seed=0)

    def test_reload_in_fresh_process_gives_same_outputs(self):
        tmp = self.get_temp_dir()
        encoder = self._encoder()
        path = export.export_encoder(encoder, os.path.join(tmp, "model"), 32)
        batches = {
            "a": tiny_images(3, 32, seed=1),
            "b": np.random.default_rng(2).integers(
                0, 256, (2, 50, 70, 3), np.uint8
            ),
        }
        for name, images in batches.items():
            np.save(os.path.join(tmp, f"{name}.npy"), images)
        subprocess.run(
            [
                sys.executable,
                "-c",
                FRESH_PROCESS,
                os.path.join(path, "saved_model"),
                tmp,
            ],
            check=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        for name, images in batches.items():
            resized = tf.image.resize(
                tf.cast(images, tf.float32), (32, 32), antialias=True
            )
            expected = encoder(
                tf.clip_by_value(resized, 0, 255) / 255.0, training=False
            )
            got = np.load(os.path.join(tmp, f"{name}_out.npy"))
            self.assertEqual(got.shape, (len(images), 64))
            self.assertAllClose(got, expected, atol=1e-4)

    def test_export_writes_keras_file_and_metadata(self):
        tmp = self.get_temp_dir()
        encoder = self._encoder()
        path = export.export_encoder(
            encoder, os.path.join(tmp, "m"), 32, metadata={"method": "x"}
        )
        with open(os.path.join(path, "export.json")) as handle:
            info = json.load(handle)
        self.assertEqual(info["image_size"], 32)
        self.assertEqual(info["embedding_dim"], 64)
        self.assertEqual(info["method"], "x")
        reloaded = export.load_keras_encoder(path)
        images = tiny_images(2, 32).astype("float32") / 255
        self.assertAllClose(reloaded(images), encoder(images), atol=1e-5)
        loaded = export.load_encoder(path)
        self.assertEqual(loaded.fingerprint, info["fingerprint"])

    def test_fingerprint_follows_weights_not_files(self):
        # Two builds of the same seeded encoder (in one process Keras names
        # their layers differently) fingerprint alike; one changed weight
        # or another image size does not.
        first, second = self._encoder(), self._encoder()
        self.assertEqual(
            export.encoder_fingerprint(first, 32),
            export.encoder_fingerprint(second, 32),
        )
        self.assertNotEqual(
            export.encoder_fingerprint(first, 32),
            export.encoder_fingerprint(first, 64),
        )
        kernel = second.trainable_weights[0]
        kernel.assign(kernel + 1e-3)
        self.assertNotEqual(
            export.encoder_fingerprint(first, 32),
            export.encoder_fingerprint(second, 32),
        )
