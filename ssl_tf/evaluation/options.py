"""Default options of each evaluation protocol, and their validation.

The keys are documented in `ssl_tf.evaluation.protocols`.
"""

from __future__ import annotations

import json

from ssl_tf.evaluation.linear import DEFAULT_L2_GRID

_COMMON = {
    "seed": 0,
    "batch_size": 256,
    "max_train_examples": None,
    "max_test_examples": None,
    "cache_dir": None,
    "use_cache": True,
    "image_size": None,
}
DEFAULT_OPTIONS = {
    "linear": {
        "l2_grid": list(DEFAULT_L2_GRID),
        "val_fraction": 0.1,
        "max_iter": 300,
    },
    "knn": {"k": 200, "temperature": 0.1},
    "fewshot": {
        "n_way": 5,
        "k_shot": 1,
        "n_query": 15,
        "episodes": 600,
        "split": "test",
    },
    "finetune": {
        "epochs": 10,
        "batch_size": 128,
        "backbone_lr": 0.01,
        "head_lr": 0.1,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "label_fraction": 1.0,
        "augment": True,
        "recalibrate_bn": True,
        "random_init": False,
        "encoder": {},
    },
    "neighbors": {
        "k": 8,
        "num_queries": 10,
        "scale": 3,
        "image_path": None,
        "log_dir": None,
    },
    "projector": {
        "log_dir": None,
        "max_examples": 2000,
        "split": "test",
        "sprite": True,
    },
}
PROTOCOLS = tuple(DEFAULT_OPTIONS)


def _coerce(key, value, default):
    """Converts a command-line string to the type of `default`."""
    if not isinstance(value, str) or isinstance(default, str):
        return value
    text = value.strip()
    try:
        if isinstance(default, bool):
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
        if isinstance(default, list) and not text.startswith("["):
            return [float(item) for item in text.split(",")]
        if isinstance(default, (list, dict)):
            return json.loads(text)
    except (ValueError, json.JSONDecodeError) as error:
        raise ValueError(
            f"Option `{key}` expects {type(default).__name__}. Received: "
            f"{key}={value!r}"
        ) from error
    # Defaults of None: a number if the text is one, otherwise the text.
    if text.lower() in ("none", "null"):
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def resolve_options(protocol: str, options: dict | None) -> dict:
    """Defaults of `protocol` updated with `options`; rejects unknown keys."""
    if protocol not in DEFAULT_OPTIONS:
        raise ValueError(
            f"Unknown protocol {protocol!r}. Available: {list(PROTOCOLS)}"
        )
    resolved = {**_COMMON, **DEFAULT_OPTIONS[protocol]}
    unknown = sorted(set(options or {}) - set(resolved))
    if unknown:
        raise ValueError(
            f"Unknown options {unknown} for protocol {protocol!r}. Valid "
            f"options: {sorted(resolved)}"
        )
    for key, value in (options or {}).items():
        resolved[key] = _coerce(key, value, resolved[key])
    return resolved
