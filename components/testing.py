"""A tiny labelled image folder, with two bad files, for component tests."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

CLASSES = ("blue", "red")
BAD_FILES = {"empty.jpg": "empty file", "text.png": "not an image"}


def write_image_folder(
    root: str,
    splits: dict[str, int] | None = None,
    size: int = 12,
    bad_split: str | None = "train",
    seed: int = 0,
) -> dict[str, list[tuple[str, int]]]:
    """Writes `<root>/<split>/<class>/<i>.png` (or `<root>/<class>/...`).

    Every image is noise plus a strong channel given by its class, so a kNN
    on any encoder separates the classes. `bad_split` also gets a zero-byte
    `empty.jpg` and a text file `text.png` in the first class.

    Args:
        root: the folder to create.
        splits: split name -> images per class. `{"": n}` writes one
            unsplit folder. Defaults to `{"": 2}`.
        size: image side in pixels.
        bad_split: split that gets the bad files, or None.
        seed: seed of the noise.

    Returns:
        split -> `(path, label)` of the good images.
    """
    rng = np.random.default_rng(seed)
    good = {}
    for split, per_class in (splits or {"": 2}).items():
        good[split] = []
        for label, name in enumerate(CLASSES):
            directory = os.path.join(root, split, name)
            os.makedirs(directory, exist_ok=True)
            for index in range(per_class):
                pixels = rng.integers(0, 60, (size, size, 3))
                pixels[..., 2 * (1 - label)] += 190  # blue: B, red: R
                path = os.path.join(directory, f"{index}.png")
                Image.fromarray(pixels.astype(np.uint8)).save(path)
                good[split].append((path, label))
        if split == bad_split or (bad_split is not None and split == ""):
            directory = os.path.join(root, split, CLASSES[0])
            open(os.path.join(directory, "empty.jpg"), "wb").close()
            with open(os.path.join(directory, "text.png"), "w") as handle:
                handle.write("not a picture")
    return good
