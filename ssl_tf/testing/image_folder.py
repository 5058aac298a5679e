"""`write_image_folder`: images as PNG files, for the folder data source."""

import os

from PIL import Image


def write_image_folder(directory, images, labels=None):
    """Writes uint8 `images` as `directory/<index:03d>.png`.

    Args:
        directory: the folder, created if missing.
        images: uint8 array or list of `(h, w, 3)` images.
        labels: optional labels, one per image; image `i` then goes to
            `directory/class_<labels[i]>/`, the layout of labelled folders.
    """
    for index, image in enumerate(images):
        folder = directory
        if labels is not None:
            folder = os.path.join(directory, f"class_{labels[index]}")
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(image).save(os.path.join(folder, f"{index:03d}.png"))
