"""A behaviour fingerprint of the library, to compare two commits.

A refactor must not move results. Run this on both commits and compare:

    python scripts/fingerprint.py smoke  OUT.json   # ~1 min, synthetic data
    python scripts/fingerprint.py cifar10 OUT.json  # ~3 min, CIFAR-10
    python scripts/fingerprint.py compare A.json B.json
    python scripts/fingerprint.py trace METHOD STEPS OUT.json  # one thread
    python scripts/fingerprint.py first-difference A.json B.json

`smoke` records every preset x method config, a 2-step smoke pretraining of
every method (loss history and a hash of all weights) and every protocol's
metrics on a tiny export. `cifar10` runs 12 steps of each method's
`cifar10-quick` preset on the real data (`TFDS_DATA_DIR`, default
`../shared/tfds`) and records the per-step logs and the weight hash.

`trace` runs the first STEPS steps of METHOD's `cifar10-quick` preset with
its own learning-rate schedule, on one thread, and records each step's
logs; `first-difference` names the first step at which two traces part.
Run it twice on one commit to see where that commit parts from itself.

It calls the library through module paths that older commits also have
(`ssl_tf.presets`, `ssl_tf.training.run`), so it can fingerprint the commit
before a change. oneDNN's multithreaded kernels are not bit-reproducible
for every method: run a commit twice to see its own noise before reading a
difference as a change.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import tempfile

import keras
import numpy as np

from ssl_tf import methods, presets
from ssl_tf.config import DataConfig, apply_overrides
from ssl_tf.evaluation import protocols
from ssl_tf.testing import colour_classes, tiny_export, tiny_images
from ssl_tf.training import run

EVAL_OPTIONS = {
    "linear": {"use_cache": False},
    "knn": {"use_cache": False, "k": 5},
    "fewshot": {
        "use_cache": False,
        "n_way": 3,
        "k_shot": 2,
        "n_query": 3,
        "episodes": 20,
    },
    "finetune": {"epochs": 2, "batch_size": 16},
}


class StepLogs(keras.callbacks.Callback):
    """Every step's logs, as floats; stops training after `limit` steps."""

    def __init__(self, limit=None):
        super().__init__()
        self.limit = limit

    def on_train_begin(self, logs=None):
        self.steps = []

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append({k: float(v) for k, v in sorted(logs.items())})
        if self.limit and len(self.steps) >= self.limit:
            self.model.stop_training = True


def weights_hash(weights) -> str:
    return hashlib.sha256(b"".join(w.tobytes() for w in weights)).hexdigest()


def pretrain(config, directory, arrays=None, limit=None) -> dict:
    config = dataclasses.replace(
        config,
        output_dir=os.path.join(directory, "runs"),
        export_dir=os.path.join(directory, "saved"),
    )
    logs = StepLogs(limit)
    result = run.pretrain(
        config,
        arrays=arrays,
        extra_callbacks=[logs],
        do_export=False,
        verbose=0,
    )
    return {
        "steps": logs.steps,
        "weights": weights_hash(result.model.get_weights()),
    }


def smoke(directory) -> dict:
    configs = {}
    for preset in presets.list_presets():
        for method in methods.list_methods():
            config = presets.get_preset(preset, method)
            configs[f"{preset}/{method}"] = json.loads(config.to_json())
    arrays = (tiny_images(32, 16), np.arange(32) % 4)
    runs = {
        method: pretrain(
            presets.get_preset("smoke", method),
            os.path.join(directory, method),
            arrays,
        )
        for method in methods.list_methods()
    }
    export = tiny_export(os.path.join(directory, "export"))
    data = DataConfig("arrays", "colours", image_size=16)
    splits = {"train": colour_classes(60, 1), "test": colour_classes(30, 2)}
    metrics = {
        name: protocols.run(name, export, data, options=options, arrays=splits)[
            "metrics"
        ]
        for name, options in EVAL_OPTIONS.items()
    }
    return {"presets": configs, "pretrain": runs, "eval": metrics}


def cifar10(directory) -> dict:
    os.environ.setdefault("TFDS_DATA_DIR", "../shared/tfds")
    steps = {"train.epochs": "1", "train.steps_per_epoch": "12"}
    return {
        "pretrain": {
            method: pretrain(
                apply_overrides(
                    presets.get_preset("cifar10-quick", method), steps
                ),
                os.path.join(directory, method),
            )
            for method in methods.list_methods()
        }
    }


def trace(directory, method, steps) -> dict:
    """The first `steps` steps of `method`'s quick preset, on one thread."""
    import tensorflow as tf

    # One thread: multithreaded oneDNN reductions part two runs sooner.
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    os.environ.setdefault("TFDS_DATA_DIR", "../shared/tfds")
    config = presets.get_preset("cifar10-quick", method)
    return pretrain(config, directory, limit=int(steps))


def first_difference(path_a, path_b) -> int:
    """Prints the first step whose logs differ between two traces."""
    with open(path_a) as a, open(path_b) as b:
        left, right = json.load(a)["steps"], json.load(b)["steps"]
    for step, (x, y) in enumerate(zip(left, right, strict=False)):
        if x != y:
            print(f"step {step} differs: {x} -> {y}")
            return 1
    print(f"the first {min(len(left), len(right))} steps are identical")
    return 0


def flatten(value, prefix=""):
    """`{"a": {"b": 1}}` -> `{"a.b": 1}`; lists stay values."""
    if not isinstance(value, dict):
        return {prefix: value}
    flat = {}
    for key, inner in value.items():
        flat.update(flatten(inner, f"{prefix}.{key}" if prefix else key))
    return flat


def compare(path_a, path_b) -> int:
    """Prints each differing key (or one only side has); returns the count.

    A key new in B (an added config option) is listed as such, so a
    difference that is only a new default can be told from a moved value.
    """
    with open(path_a) as a, open(path_b) as b:
        left, right = flatten(json.load(a)), flatten(json.load(b))
    differences = 0
    for key in sorted(set(left) | set(right)):
        if key not in left:
            print(f"only in B: {key} = {right[key]!r}")
        elif key not in right:
            print(f"only in A: {key} = {left[key]!r}")
        elif left[key] != right[key]:
            print(f"differs: {key}: {left[key]!r} -> {right[key]!r}")
        else:
            continue
        differences += 1
    print("identical" if not differences else f"{differences} differ")
    return differences


def main(argv) -> int:
    if len(argv) == 3 and argv[0] == "compare":
        return 1 if compare(argv[1], argv[2]) else 0
    if len(argv) == 3 and argv[0] == "first-difference":
        return first_difference(argv[1], argv[2])
    if len(argv) == 4 and argv[0] == "trace":
        record = trace(tempfile.mkdtemp(), argv[1], argv[2])
        argv = argv[:1] + argv[3:]
    elif len(argv) == 2 and argv[0] in ("smoke", "cifar10"):
        modes = {"smoke": smoke, "cifar10": cifar10}
        record = modes[argv[0]](tempfile.mkdtemp())
    else:
        print(__doc__)
        return 2
    with open(argv[1], "w") as handle:
        json.dump(record, handle, indent=1, sort_keys=True)
    print(f"wrote {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
