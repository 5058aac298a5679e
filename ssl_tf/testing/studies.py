"""Fixtures of the study tests: tiny labelled folders, a PNG size reader.

`tiny_study_options` runs any study on the `smoke` preset over 16 px
folders of two colour classes, so a study's CI-sized run takes seconds of
work per point; `fake_pretrain` stands in for `run.pretrain` where a test
only counts calls.
"""

from __future__ import annotations

import dataclasses
import os
import struct
import types

from ssl_tf import studies
from ssl_tf.testing.image_folder import write_image_folder
from ssl_tf.testing.models import tiny_encoder
from ssl_tf.testing.test_case import colour_classes
from ssl_tf.training import run


def tiny_labelled_folders(root, train=24, test=12, size=16):
    """Labelled `root/train` and `root/test` folders of 2 colour classes."""
    for split, count, seed in (("train", train, 0), ("test", test, 1)):
        images = colour_classes(count, seed, classes=2, size=size)
        write_image_folder(os.path.join(root, split), *images)
    return root


def tiny_study_options(directory, train=24, **fields):
    """`StudyOptions` of the `smoke` preset on tiny folders in `directory`.

    Args:
        directory: data goes to `<directory>/data`, results to
            `<directory>/results`.
        train: training images (a batch-size study needs its largest
            batch).
        **fields: other `StudyOptions` fields; `overrides` are added to
            the data overrides.
    """
    data = tiny_labelled_folders(os.path.join(directory, "data"), train)
    overrides = {"data.source": "folder", "data.name": data}
    overrides.update(fields.pop("overrides", {}))
    return studies.StudyOptions(
        preset="smoke",
        results_dir=os.path.join(directory, "results"),
        overrides=overrides,
        **fields,
    )


def run_tiny_study(name, directory, train=24, points=2):
    """`run_study(name)`'s first `points` points on tiny folders.

    With a 20-iteration probe (`fast_evaluation`); a study with a target
    dataset fine-tunes on the same tiny folders.
    """
    options = tiny_study_options(directory, train, points=points)
    if studies.get_study(name).uses_target:
        options = dataclasses.replace(
            options,
            target_source="folder",
            target=options.overrides["data.name"],
        )
    return studies.run_study(name, options, fast_evaluation())


def plot_size(plot, rows, directory):
    """Draws `rows` with a study's `plot` into `directory`; the PNG's size."""
    path = os.path.join(directory, "plot.png")
    plot(rows, path)
    return png_size(path)


def fast_evaluation():
    """An `Evaluation` with a 20-iteration probe: tiny features are
    separable, so L-BFGS would run to its 300-iteration limit at every
    strength (minutes a point on a shared CPU)."""
    return studies.Evaluation(max_iter=20)


def fake_pretrain(config, **kwargs):
    """`run.pretrain` at once: a fixed tiny encoder, loss = learning rate."""
    del kwargs
    return run.PretrainResult(
        model=types.SimpleNamespace(encoder=tiny_encoder(seed=0)),
        history={"loss": [config.train.learning_rate]},
        run_dir="",
        export_dir=None,
        resumed_from=(0, 0),
        seconds=0.0,
    )


def png_size(path):
    """`(width, height)` from a PNG's IHDR chunk; raises if not a PNG."""
    with open(path, "rb") as handle:
        header = handle.read(24)
    if header[:8] != b"\x89PNG\r\n\x1a\n" or header[12:16] != b"IHDR":
        raise ValueError(f"{path} is not a PNG file")
    return struct.unpack(">II", header[16:24])
