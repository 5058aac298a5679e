import os

import numpy as np
from PIL import Image

from ssl_tf import augment, cli, methods, presets
from ssl_tf.config import AugmentConfig, apply_overrides
from ssl_tf.testing import TestCase, tiny_images, write_image_folder
from ssl_tf.training import preview


def _views(**augment_options):
    recipe = augment.simclr_recipe(AugmentConfig(**augment_options), 16)
    return augment.TwoViews(recipe)


class PreviewTest(TestCase):
    def test_cells_are_the_training_views_enlarged_nearest(self):
        views, images = _views(), tiny_images(3, 16)
        seed = augment.batch_seed(0, 0)
        picture = preview.preview(views, images, seed, min_side=128)
        trained = views({"images": images}, seed=seed)
        # 16 px cells become 128 px (factor 8); 3 cells and 4 gaps a row.
        self.assertEqual(picture.image.shape[1], 3 * 128 + 4 * 4)
        cell = picture.image[4 : 4 + 128, 4 + 128 + 4 : 4 + 2 * 128 + 4]
        view = (np.clip(trained["view_1"][0].numpy(), 0, 1) * 255).round()
        enlarged = np.repeat(np.repeat(view.astype(np.uint8), 8, 0), 8, 1)
        self.assertAllEqual(cell, enlarged)
        original = picture.image[4 : 4 + 128, 4 : 4 + 128]
        self.assertAllEqual(original[::8, ::8], images[0])

    def test_captions_name_the_sampled_parameters(self):
        views = _views(blur=True, grayscale_prob=1.0, jitter_prob=1.0)
        picture = preview.preview(
            views, tiny_images(2, 16), augment.batch_seed(0, 3)
        )
        self.assertLen(picture.captions, 2)
        for row in picture.captions:
            self.assertLen(row, 2)
            for caption in row:
                self.assertRegex(caption, r"crop \d+% y0\.\d\d-")
                self.assertIn("jitter b", caption)
                self.assertIn("grayscale", caption)
        self.assertIn("| image | view 1 | view 2 |", picture.markdown)

    def test_describe_formats_one_views_parameters(self):
        parameters = {
            "crop": {"boxes": np.array([0.1, 0.2, 0.6, 0.7])},
            "flip": {"flip": np.array(True)},
            "jitter": {
                "applied": np.array(True),
                "inner": {
                    "brightness": 1.2,
                    "contrast": 0.7,
                    "saturation": 1.0,
                    "hue": -0.05,
                    "order": np.array([3, 0, 2, 1]),
                },
            },
            "grayscale": {"applied": np.array(False), "inner": {}},
            "blur": {"applied": np.array(True), "inner": {"sigma": 1.5}},
        }
        self.assertEqual(
            preview.describe(parameters),
            "crop 25% y0.10-0.60 x0.20-0.70, flip, jitter b1.20 c0.70 "
            "s1.00 h-0.050 order hbsc, blur sigma 1.50",
        )

    def test_cli_writes_the_png_without_training(self):
        tmp = self.get_temp_dir()
        folder = os.path.join(tmp, "images")
        write_image_folder(folder, tiny_images(4, 16))
        output = os.path.join(tmp, "views.png")
        code = cli.main(
            [
                "augment",
                "preview",
                "--preset",
                "smoke",
                "--images",
                "3",
                "--output",
                output,
                "data.source=folder",
                f"data.name={folder}",
            ]
        )
        self.assertEqual(code, 0)
        picture = np.asarray(Image.open(output))
        self.assertEqual(picture.shape[1], 3 * 128 + 4 * 4)
        self.assertFalse(os.path.exists(os.path.join(tmp, "runs")))

    def test_single_view_methods_show_one_view(self):
        config = apply_overrides(
            presets.get_preset("smoke", "rotation"), {"data.image_size": "16"}
        )
        views = methods.get_method("rotation").views_for(config)
        picture = preview.preview(
            views, tiny_images(2, 16), augment.batch_seed(0, 0)
        )
        self.assertEqual(picture.image.shape[1], 2 * 128 + 3 * 4)
        self.assertLen(picture.captions[0], 1)
