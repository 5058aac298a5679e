"""The one contract every evaluation protocol follows.

A protocol is one module of this package holding a frozen options
dataclass (a subclass of `ProtocolOptions`) and one function

    @register_protocol("knn", KNNOptions)
    def knn(context: Context, options: KNNOptions) -> ProtocolResult:
        ...

The package imports every module it holds, so adding a protocol is adding
one file; `protocols.run`, the CLI's choices and help text read the
registry (`ssl_tf.registry.PROTOCOLS`). The `Context` loads the export and
the features only when a protocol asks for them, so a protocol that trains
its own model from images (finetune) uses the same contract.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from ssl_tf import data as data_lib
from ssl_tf import export, registry
from ssl_tf.errors import ConfigError, suggest
from ssl_tf.evaluation import features as features_lib
from ssl_tf.overrides import coerce


@dataclasses.dataclass(frozen=True)
class ProtocolOptions:
    """Options shared by every protocol.

    Args:
        seed: Integer seed of everything random in the protocol.
        batch_size: Integer, images per encoder call (the training batch
            for finetune).
        max_train_examples: Integer, use only the first N train examples.
        max_test_examples: Integer, use only the first N test examples.
        cache_dir: Feature cache directory (default
            `~/.cache/ssl_tf/features`).
        use_cache: Boolean, read and write the feature cache.
        image_size: Integer side images are loaded at (default: the
            export's; recorded in the result's `dataset`). A SavedModel
            export resizes them to its training size in its signature.
    """

    seed: int = 0
    batch_size: int = 256
    max_train_examples: int | None = None
    max_test_examples: int | None = None
    cache_dir: str | None = None
    use_cache: bool = True
    image_size: int | None = None

    def needs_model(self) -> bool:
        """Whether the protocol needs an export (`model_path`)."""
        return True


@dataclasses.dataclass(frozen=True)
class ProtocolResult:
    """What a protocol hands back to `protocols.run`.

    Args:
        metrics: the protocol's metrics (the result's `metrics`).
        sizes: examples used per part, e.g. `{"train": n, "test": m}`.
        train_description: the source description of the train part.
        test_description: the source description of the test part.
        model: the model string recorded in the result.
        fingerprint: the fingerprint of the weights evaluated.
        data_config: the `DataConfig` the images were actually loaded with.
    """

    metrics: dict
    sizes: dict
    train_description: str
    test_description: str
    model: str | None
    fingerprint: str
    data_config: Any


@dataclasses.dataclass(frozen=True)
class Protocol:
    """A registered protocol: its function, options class and summary."""

    name: str
    function: Callable[..., ProtocolResult]
    options_cls: type

    @property
    def summary(self) -> str:
        """The first line of the function's docstring (for help texts)."""
        return (self.function.__doc__ or "").strip().splitlines()[0]


def register_protocol(name: str, options_cls: type = ProtocolOptions):
    """Registers `function(context, options) -> ProtocolResult` as `name`.

    Raises:
        KeyError: if `name` is already registered.
    """

    def decorator(function):
        registry.PROTOCOLS.register(name, Protocol(name, function, options_cls))
        return function

    return decorator


def unregister_protocol(name: str) -> None:
    """Removes a protocol (for tests that register throwaways)."""
    registry.PROTOCOLS.unregister(name)


def resolve_options(protocol: str, options: dict | None):
    """The options dataclass of `protocol` with `options` applied.

    Strings (from a command line) are converted to the field types by
    `ssl_tf.overrides.coerce`.

    Raises:
        ConfigError: for an unknown protocol, an unknown option key or a
            value of the wrong type.
    """
    options_cls = registry.PROTOCOLS.get(protocol).options_cls
    valid = [field.name for field in dataclasses.fields(options_cls)]
    unknown = sorted(set(options or {}) - set(valid))
    if unknown:
        raise ConfigError(
            f"Unknown options {unknown} for protocol {protocol!r}. Valid "
            f"options: {sorted(valid)}.{suggest(unknown[0], valid)}"
        )
    values = {
        key: coerce(options_cls, key, value)
        for key, value in (options or {}).items()
    }
    return options_cls(**values)


class Context:
    """The export, data and cached features one protocol run works on.

    Nothing is loaded until a protocol asks: `encoder`, `features` and
    `images` load the export, embed or decode a split on first use.

    Args:
        model_path: Export directory, SavedModel or `.keras` path, or
            `None` (finetune with `random_init`).
        data_config: The requested `DataConfig` (`split` is the train
            split, `eval_split` the test split).
        options: The protocol's resolved options dataclass.
        arrays: split name -> `(images, labels)` for in-memory data.
        output_path: Where `protocols.run` writes the result, or `None`.
    """

    def __init__(self, model_path, data_config, options, arrays, output_path):
        self.model_path = model_path
        self.requested_data_config = data_config
        self.options = options
        self.arrays = arrays or {}
        self.output_path = output_path

    @functools.cached_property
    def encoder(self):
        if self.model_path is None:
            raise ValueError("This protocol needs `model_path`.")
        return export.load_encoder(self.model_path, self.options.image_size)

    @functools.cached_property
    def metadata(self) -> dict:
        """The export's metadata, or `{}` without an export directory."""
        if self.model_path and os.path.isdir(self.model_path):
            return export.read_metadata(self.model_path)
        return {}

    @property
    def data_config(self):
        """The data config with images at the encoder's size."""
        if self.encoder.image_size:
            return dataclasses.replace(
                self.requested_data_config,
                image_size=int(self.encoder.image_size),
            )
        return self.requested_data_config

    def split_name(self, which: str) -> str:
        """`"train"`/`"test"` -> the configured split; others unchanged."""
        return {
            "train": self.requested_data_config.split,
            "test": self.requested_data_config.eval_split,
        }.get(which, which)

    def max_examples(self, which: str) -> int | None:
        """The `max_train_examples`/`max_test_examples` option of `which`."""
        if which in ("train", "test"):
            return getattr(self.options, f"max_{which}_examples")
        return None

    def features(self, which: str, max_examples=None):
        """The (cached) `FeatureSet` of a split of the encoder."""
        split = self.split_name(which)
        return features_lib.load_features(
            self.encoder,
            self.data_config,
            split,
            self.max_examples(which) if max_examples is None else max_examples,
            self.options.batch_size,
            self.options.cache_dir,
            use_cache=self.options.use_cache,
            arrays=self.arrays.get(split),
        )

    def source(self, which: str, data_config=None, max_examples=None):
        """`(unbatched source, info)` of a split, cut to `max_examples`."""
        split = self.split_name(which)
        source, info = data_lib.load_source(
            data_config or self.data_config,
            split,
            arrays=self.arrays.get(split),
        )
        if max_examples is not None:
            source = source.take(max_examples)
        return source, info

    def images(self, which: str, max_examples=None, data_config=None):
        """uint8 images and labels of a split, in feature order."""
        source, _ = self.source(which, data_config, max_examples)
        return features_lib.source_arrays(source)

    def train_test(self):
        """`(train, test)` `FeatureSet`s and their class count."""
        train, test = self.features("train"), self.features("test")
        return train, test, max(train.num_classes, test.num_classes)

    def train_test_result(self, metrics, train, test):
        """The `ProtocolResult` of a protocol on the train/test features."""
        return self.result(
            metrics,
            sizes(train=train, test=test),
            train.description,
            test.description,
        )

    def result(self, metrics, sizes, train_description, test_description):
        """A `ProtocolResult` for the loaded export and its data config."""
        return ProtocolResult(
            metrics=metrics,
            sizes=sizes,
            train_description=train_description,
            test_description=test_description,
            model=self.model_path,
            fingerprint=self.encoder.fingerprint,
            data_config=self.data_config,
        )


def image_size_of(options, metadata: dict, data_config) -> int:
    """The side images are loaded at: the option, else the export's."""
    return int(
        options.image_size
        or metadata.get("image_size")
        or data_config.image_size
    )


def check_aligned(images_labels, feature_set, split: str) -> None:
    """Raises if images and cached features are not in the same order."""
    if not np.array_equal(images_labels[1], feature_set.labels):
        raise RuntimeError(
            f"Images and cached features of split {split!r} are not in the "
            "same order; delete the feature cache and retry."
        )


def sizes(**feature_sets) -> dict:
    """`{name: number of examples}` of `FeatureSet`s."""
    return {name: len(f.labels) for name, f in feature_sets.items()}
