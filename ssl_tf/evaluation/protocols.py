"""One entry point for every evaluation protocol, from an export path.

`run(protocol, model_path, data_config, options=..., output_path=...)`
extracts (cached) features of the train split (`data_config.split`) and
the test split (`data_config.eval_split`), computes the protocol's metrics,
writes the JSON result when `output_path` is given and returns it.

Options (defaults and checks in `ssl_tf.evaluation.options`; strings from
a command line are converted to the type of the default) shared by all
protocols (defaults in brackets):
    seed [0], batch_size [256] (images per encoder call; the training batch
    for finetune), max_train_examples [None], max_test_examples [None]
    (use only the first N examples of a split), cache_dir [None = ~/.cache/
    ssl_tf/features], use_cache [True], image_size [None = the export's]
    (the side images are loaded at, recorded in the result's `dataset`; a
    SavedModel export resizes them to its training size in its signature).
    Top-5 accuracy (`top5`) is reported only for more than 5 classes.

Per protocol:
    linear: l2_grid [1e-6 ... 1e-2, 5 values], val_fraction [0.1],
        max_iter [300].
    knn: k [200], temperature [0.1].
    fewshot: n_way [5], k_shot [1], n_query [15], episodes [600],
        split ["test"]: "test" or "train" (the configured splits) or a split
        name; its features form the episode pool.
    finetune: epochs [10], batch_size [128], backbone_lr [0.01], head_lr
        [0.1], momentum [0.9], weight_decay [5e-4], label_fraction [1.0],
        augment [True], recalibrate_bn [True] (precise BN statistics on the
        training images after fine-tuning), random_init [False], encoder
        [{}] (EncoderConfig fields for random_init; `model_path` may then
        be None).
    neighbors: k [8], num_queries [10], scale [3], image_path [None = the
        output path with `.png`], log_dir [None] (TensorBoard image).
    projector: log_dir (required), max_examples [2000], split ["test"],
        sprite [True].
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time

import numpy as np

from ssl_tf import config as config_lib
from ssl_tf import data as data_lib
from ssl_tf import export
from ssl_tf.evaluation import features as features_lib
from ssl_tf.evaluation import (
    fewshot,
    knn,
    linear,
    neighbors,
    projector,
    report,
)
from ssl_tf.evaluation.finetune import finetune
from ssl_tf.evaluation.metrics import accuracy_metrics
from ssl_tf.evaluation.options import resolve_options

logger = logging.getLogger("ssl_tf.evaluation")


class _Context:
    """The loaded export, data config and options of one run."""

    def __init__(self, model_path, data_config, options, arrays):
        self.encoder = export.load_encoder(model_path, options["image_size"])
        if self.encoder.image_size:
            data_config = dataclasses.replace(
                data_config, image_size=int(self.encoder.image_size)
            )
        self.data_config = data_config
        self.options = options
        self.arrays = arrays or {}

    def split_name(self, which):
        return {
            "train": self.data_config.split,
            "test": self.data_config.eval_split,
        }.get(which, which)

    def features(self, which, max_examples=None):
        split = self.split_name(which)
        if max_examples is None and which in ("train", "test"):
            max_examples = self.options[f"max_{which}_examples"]
        return features_lib.load_features(
            self.encoder,
            self.data_config,
            split,
            max_examples,
            self.options["batch_size"],
            self.options["cache_dir"],
            use_cache=self.options["use_cache"],
            arrays=self.arrays.get(split),
        )

    def images(self, which, max_examples=None):
        """uint8 images and labels of a split, in feature order."""
        split = self.split_name(which)
        source, _ = data_lib.load_source(
            self.data_config, split, arrays=self.arrays.get(split)
        )
        if max_examples is not None:
            source = source.take(max_examples)
        images, labels = [], []
        for batch in data_lib.eval_dataset(source, 1024):
            images.append(batch["images"].numpy())
            labels.append(batch["labels"].numpy())
        return np.concatenate(images), np.concatenate(labels)


def _aligned(images_labels, feature_set, split):
    if not np.array_equal(images_labels[1], feature_set.labels):
        raise RuntimeError(
            f"Images and cached features of split {split!r} are not in the "
            "same order; delete the feature cache and retry."
        )


def _pick(options, *keys):
    return {key: options[key] for key in keys}


def _sizes(**feature_sets):
    return {name: len(f.labels) for name, f in feature_sets.items()}


def _linear(ctx, o, output_path):
    train, test = ctx.features("train"), ctx.features("test")
    metrics = linear.linear_probe(
        *(train.features, train.labels, test.features, test.labels),
        num_classes=max(train.num_classes, test.num_classes),
        **_pick(o, "l2_grid", "seed", "val_fraction", "max_iter"),
    )
    descriptions = (train.description, test.description)
    return descriptions, _sizes(train=train, test=test), metrics


def _knn(ctx, o, output_path):
    train, test = ctx.features("train"), ctx.features("test")
    scores = knn.knn_scores(
        *(train.features, train.labels, test.features),
        num_classes=max(train.num_classes, test.num_classes),
        **_pick(o, "k", "temperature"),
    )
    metrics = accuracy_metrics(scores, test.labels)
    descriptions = (train.description, test.description)
    return descriptions, _sizes(train=train, test=test), metrics


def _fewshot(ctx, o, output_path):
    pool = ctx.features(o["split"])
    shape = _pick(o, "n_way", "k_shot", "n_query")
    metrics = fewshot.fewshot_eval(
        pool.features, pool.labels, **shape, **_pick(o, "episodes", "seed")
    )
    metrics.update(shape)
    return (pool.description, pool.description), _sizes(pool=pool), metrics


def _neighbors(ctx, o, output_path):
    train = ctx.features("train")
    train_images = ctx.images("train", o["max_train_examples"])
    _aligned(train_images, train, "train")
    test_images, test_labels = ctx.images("test", o["max_test_examples"])
    rng = np.random.default_rng(o["seed"])
    count = min(o["num_queries"], len(test_labels))
    chosen = np.sort(rng.choice(len(test_labels), count, replace=False))
    image_path = o["image_path"]
    if image_path is None and output_path:
        image_path = os.path.splitext(output_path)[0] + ".png"
    queries = test_images[chosen]
    metrics = neighbors.neighbors_report(
        *(train_images[0], train.labels, train.features),
        *(queries, test_labels[chosen], ctx.encoder.embed(queries)),
        image_path=image_path,
        **_pick(o, "k", "log_dir", "scale"),
    )
    metrics["query_indices"] = chosen.tolist()
    sizes = {"train": len(train.labels), "queries": count}
    return (train.description, ""), sizes, metrics


def _projector(ctx, o, output_path):
    if not o["log_dir"]:
        raise ValueError("The projector protocol needs the `log_dir` option.")
    pool = ctx.features(o["split"], o["max_examples"])
    images = None
    if o["sprite"]:
        loaded = ctx.images(o["split"], o["max_examples"])
        _aligned(loaded, pool, o["split"])
        images = loaded[0]
    paths = projector.export_projector(
        o["log_dir"], pool.features, pool.labels, pool.class_names, images
    )
    return (pool.description, pool.description), _sizes(points=pool), paths


def _finetune(model_path, data_config, o, arrays):
    encoder_config = None
    if o["random_init"]:
        encoder_config = config_lib.EncoderConfig(**o["encoder"])
        model_path = None
    metadata = {}
    if model_path and os.path.isdir(model_path):
        metadata = export.read_metadata(model_path)
    image_size = _image_size(o, metadata, data_config)
    data_config = dataclasses.replace(data_config, image_size=image_size)
    splits = {}
    for which, split in (
        ("train", data_config.split),
        ("test", data_config.eval_split),
    ):
        source, info = data_lib.load_source(
            data_config, split, arrays=(arrays or {}).get(split)
        )
        limit = o[f"max_{which}_examples"]
        splits[which] = (source.take(limit) if limit else source, info)
    infos = [splits[which][1] for which in ("train", "test")]
    metrics = finetune(
        model_path,
        splits["train"][0],
        splits["test"][0],
        infos[0].num_classes or infos[1].num_classes,
        encoder_config=encoder_config,
        image_size=image_size,
        **_pick(o, "epochs", "batch_size", "backbone_lr", "head_lr"),
        **_pick(o, "momentum", "weight_decay", "label_fraction", "augment"),
        **_pick(o, "recalibrate_bn"),
        seed=o["seed"],
    )
    metrics["label_fraction"] = o["label_fraction"]
    model = model_path or f"random-init:{encoder_config.name}"
    descriptions = tuple(info.description for info in infos)
    sizes = {w: metrics[f"{w}_examples"] for w in ("train", "test")}
    return (
        model,
        metadata.get("fingerprint", ""),
        data_config,
        descriptions,
        sizes,
        metrics,
    )


_HANDLERS = {
    "linear": _linear,
    "knn": _knn,
    "fewshot": _fewshot,
    "neighbors": _neighbors,
    "projector": _projector,
}


def _image_size(o, metadata, data_config) -> int:
    """The side images are loaded at: the option, else the export's."""
    return int(
        o["image_size"] or metadata.get("image_size") or data_config.image_size
    )


def _dataset_name(data_config):
    """The dataset's name in results: a TFDS name or a folder/file name."""
    name = str(data_config.name)
    if data_config.source != "tfds":
        name = os.path.basename(name.rstrip("/"))
    return name


def _method_of(model_path, o):
    """The pretraining method recorded in the export, if any."""
    if model_path is None:
        return "random" if o.get("random_init") else None
    if o.get("random_init"):
        return "random"
    if not os.path.isdir(model_path):
        return None
    return export.read_metadata(model_path).get("method")


def _matching_result(output_path, protocol, model_path, data_config, o):
    """The result at `output_path` if the same request made it, else None."""
    if model_path is None or not os.path.exists(output_path):
        return None
    try:
        previous = report.read_result(output_path)
    except (OSError, ValueError):
        return None  # unreadable: run again and overwrite it
    metadata = export.read_metadata(model_path)
    expected_fingerprint = metadata.get("fingerprint")
    dataset = previous.get("dataset", {})
    name = _dataset_name(data_config)
    same = (
        previous.get("protocol") == protocol
        and expected_fingerprint is not None
        and previous.get("fingerprint") == expected_fingerprint
        and previous.get("options") == report.to_plain(o)
        and dataset.get("source") == data_config.source
        and dataset.get("name") == name
        and dataset.get("train_split") == data_config.split
        and dataset.get("test_split") == data_config.eval_split
        and dataset.get("image_size") == _image_size(o, metadata, data_config)
    )
    return previous if same else None


def run(
    protocol: str,
    model_path: str | None,
    data_config,
    *,
    options: dict | None = None,
    output_path: str | None = None,
    arrays: dict | None = None,
    reuse: bool = False,
) -> dict:
    """Runs one protocol on an exported encoder; see the module docstring.

    Args:
        protocol: One of `linear`, `knn`, `fewshot`, `finetune`,
            `neighbors`, `projector`.
        model_path: Export directory (or SavedModel / `.keras` path); may
            be `None` for `finetune` with `random_init`.
        data_config: An `ssl_tf.config.DataConfig`; `split` is the train
            split and `eval_split` the test split.
        options: Protocol options (module docstring); unknown keys raise.
        output_path: Where to write the JSON result, or `None`.
        arrays: For `data_config.source == "arrays"`: split name ->
            `(images, labels)`.
        reuse: Return the result already at `output_path` instead of
            running again when it was made by the same protocol, options,
            dataset and model (same export fingerprint). Lets a long
            evaluation script be rerun after an interruption.

    Returns:
        The result dict (see `ssl_tf.evaluation.report`).
    """
    o = resolve_options(protocol, options)
    if model_path is None and not (protocol == "finetune" and o["random_init"]):
        raise ValueError(
            f"Protocol {protocol!r} needs `model_path` (only finetune with "
            "`random_init` runs without one)."
        )
    if reuse and output_path:
        previous = _matching_result(
            output_path, protocol, model_path, data_config, o
        )
        if previous is not None:
            logger.info(
                "Reusing %s (same model, data and options; delete it or "
                "pass --rerun to run again).",
                output_path,
            )
            return previous
    start = time.perf_counter()
    if protocol == "finetune":
        model, fingerprint, data_config, descriptions, sizes, metrics = (
            _finetune(model_path, data_config, o, arrays)
        )
    else:
        ctx = _Context(model_path, data_config, o, arrays)
        descriptions, sizes, metrics = _HANDLERS[protocol](ctx, o, output_path)
        model, fingerprint = model_path, ctx.encoder.fingerprint
        data_config = ctx.data_config
    name = _dataset_name(data_config)
    dataset = {
        "source": data_config.source,
        "name": name,
        "train_split": data_config.split,
        "test_split": data_config.eval_split,
        "train_description": descriptions[0],
        "test_description": descriptions[1],
        "image_size": data_config.image_size,
    }
    wall_time = time.perf_counter() - start
    result = report.make_result(
        protocol,
        model,
        fingerprint,
        dataset,
        sizes,
        metrics,
        **{"seed": o["seed"], "wall_time_s": wall_time, "options": o},
        method=_method_of(model_path, o),
    )
    if output_path:
        report.write_result(result, output_path)
    return result
