"""`serving_bytes`: encoded images give the embeddings of their pixels."""

import io
import os
import subprocess
import sys
import textwrap

import numpy as np
import tensorflow as tf
from PIL import Image

from ssl_tf import export
from ssl_tf.export import signatures
from ssl_tf.testing import TinyExportTestCase, tiny_images

# Loads the export in a new interpreter, as a server would: nothing of
# this process's Keras objects or traced functions can help it.
FRESH_PROCESS = textwrap.dedent(
    """
    import sys, numpy as np, tensorflow as tf
    model = tf.saved_model.load(sys.argv[1])
    data = np.load(sys.argv[2], allow_pickle=True)
    by_bytes = model.signatures["serving_bytes"](
        image_bytes=tf.constant(list(data["encoded"]))
    )["embedding"].numpy()
    by_pixels = [
        model.signatures["serving_default"](
            images=tf.constant(data[f"pixels_{i}"][None])
        )["embedding"].numpy()[0]
        for i in range(len(data["encoded"]))
    ]
    np.savez(sys.argv[3], by_bytes=by_bytes, by_pixels=np.stack(by_pixels))
    """
)


def _encode(image, fmt):
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt, quality=90)
    return buffer.getvalue()


class ServingBytesTest(TinyExportTestCase):
    def test_fresh_process_bytes_equal_decoded_pixels(self):
        tmp = self.get_temp_dir()
        images = [
            tiny_images(1, 16, seed=1)[0],
            np.random.default_rng(2).integers(0, 256, (23, 9, 3), np.uint8),
            tiny_images(1, 40, seed=3)[0],
        ]
        encoded = [
            _encode(images[0], "PNG"),
            _encode(images[1], "PNG"),
            _encode(images[2], "JPEG"),
        ]
        # What a decoder gives for each string: the PNG pixels exactly,
        # the JPEG's lossy pixels as TensorFlow's decoder reads them.
        pixels = [
            tf.io.decode_image(data, channels=3).numpy() for data in encoded
        ]
        np.testing.assert_array_equal(pixels[0], images[0])
        np.testing.assert_array_equal(pixels[1], images[1])
        arrays = os.path.join(tmp, "in.npz")
        np.savez(
            arrays,
            encoded=np.array(encoded, dtype=object),
            **{f"pixels_{i}": p for i, p in enumerate(pixels)},
        )
        out = os.path.join(tmp, "out.npz")
        subprocess.run(
            [
                sys.executable,
                "-c",
                FRESH_PROCESS,
                os.path.join(self.model_path, "saved_model"),
                arrays,
                out,
            ],
            check=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        result = np.load(out)
        self.assertEqual(result["by_bytes"].shape, (3, 6))
        self.assertAllClose(
            result["by_bytes"], result["by_pixels"], atol=1e-6, rtol=1e-6
        )
        # Different images, different embeddings: the check has teeth.
        self.assertGreater(
            np.abs(result["by_bytes"][0] - result["by_bytes"][2]).max(), 1e-3
        )

    def test_check_signatures_names_a_disagreeing_signature(self):
        loaded = tf.saved_model.load(
            os.path.join(self.model_path, "saved_model")
        )
        probe = signatures.probe_images(16)
        expected = loaded.signatures["serving_default"](
            images=tf.constant(probe)
        )["embedding"].numpy()
        error = signatures.check_signatures(loaded, probe, expected, 1e-5)
        self.assertLess(error, 1e-5)
        with self.assertRaisesRegex(ValueError, "'serving_default' disagrees"):
            signatures.check_signatures(loaded, probe, expected + 1.0, 1e-5)

    def test_loaded_encoder_still_serves_uint8(self):
        images = tiny_images(2, 16, seed=4)
        encoder = export.load_encoder(self.model_path)
        self.assertEqual(encoder.embed(images).shape, (2, 6))
