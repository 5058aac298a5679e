"""ssl_tf: self-supervised learning of image representations.

Keras 3 / TensorFlow: pretrain an encoder on unlabeled images (SimCLR, MoCo,
rotation prediction, triplet loss, or a supervised baseline), export it as a
SavedModel, and judge it by linear probe, fine-tuning, kNN and few-shot.

Example:
>>> import ssl_tf
>>> config = ssl_tf.get_preset("cifar10-quick", "moco")
>>> result = ssl_tf.pretrain(config)  # doctest: +SKIP
>>> ssl_tf.evaluate("linear", result.export_dir, config.data)  # doctest: +SKIP

This module holds the public API and nothing else; importing it imports
every package, which fills the registries (`ssl_tf.registry`).
"""

import os

# Before the first TensorFlow import: its C++ start-up chatter hides our own
# messages (users can still set the variable), and Keras must pick TF.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from ssl_tf.startup import import_tensorflow  # noqa: E402

import_tensorflow()

from ssl_tf import (  # noqa: E402
    augment,
    data,
    evaluation,
    export,
    losses,
    methods,
    models,
    presets,
    registry,
    training,
)
from ssl_tf.config import (  # noqa: E402
    AugmentConfig,
    DataConfig,
    EncoderConfig,
    ExperimentConfig,
    TrainConfig,
    apply_overrides,
)
from ssl_tf.errors import ConfigError  # noqa: E402
from ssl_tf.evaluation import run as evaluate  # noqa: E402
from ssl_tf.export import (  # noqa: E402
    export_encoder,
    load_encoder,
    read_metadata,
)
from ssl_tf.methods import (  # noqa: E402
    MethodConfig,
    SSLModel,
    get_method,
    list_methods,
    register_method,
)
from ssl_tf.presets import get_preset, list_presets  # noqa: E402
from ssl_tf.training.precision import (  # noqa: E402
    resolve as resolve_precision,
)
from ssl_tf.training.precision import (  # noqa: E402
    set_policy as set_precision_policy,
)
from ssl_tf.training.run import (  # noqa: E402
    PretrainResult,
    build_model,
    pretrain,
)
from ssl_tf.training.strategy import make_strategy  # noqa: E402

# Grouped by what a user does, in the order of the docstring's example.
__all__ = [
    # Configure a run: the config tree, in ExperimentConfig's field order.
    "ExperimentConfig",
    "EncoderConfig",
    "DataConfig",
    "AugmentConfig",
    "TrainConfig",
    "MethodConfig",
    "ConfigError",
    "apply_overrides",
    "get_preset",
    "list_presets",
    # Pretrain.
    "pretrain",
    "PretrainResult",
    "build_model",
    "make_strategy",
    "resolve_precision",
    "set_precision_policy",
    # Ship and judge the encoder.
    "export_encoder",
    "load_encoder",
    "read_metadata",
    "evaluate",
    # Add a method.
    "SSLModel",
    "get_method",
    "list_methods",
    "register_method",
    "registry",
    # The packages.
    "augment",
    "data",
    "evaluation",
    "export",
    "losses",
    "methods",
    "models",
    "presets",
    "training",
]
