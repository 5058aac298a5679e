"""One benchmark row, measured in this process: augmentation, step or fit.

    python benchmarks/measure.py '{"method": "simclr", "stage": "step", ...}'

Prints one JSON line. `bench.py` runs every row in its own process, so
peak RSS is the row's own and no graph or policy leaks between rows. A row
is a dict:

    method     registered method name
    stage      "augment" (the tf.data pipeline alone), "step" (the compiled
               train step on one pre-made batch, repeated) or "fit" (the
               whole `run.pretrain` loop: pipeline, step, callbacks)
    overrides  config overrides, e.g. {"encoder.width": "1.0"}
    variant    optional: an optimisation switched off or an alternative
               switched on, to measure it (see VARIANTS)
    warmup, steps
"""

import json
import os
import resource
import statistics
import sys
import tempfile
import time

# Measure the checkout this script belongs to, whatever is installed.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# What each variant changes; applied before TensorFlow starts.
VARIANTS = {
    "keras-bn": "Keras's own BatchNormalization (the unfused ops)",
    "xla": "train.jit_compile=true",
    "inter-op-1": "one inter-op thread (TF_NUM_INTEROP_THREADS=1)",
    "fpmath-bf16": "float32 tensors, oneDNN computing in bf16 "
    "(ONEDNN_DEFAULT_FPMATH_MODE=BF16)",
    "two-passes": "one encoder pass per view (concat_views=false)",
    "malloc-no-mmap": "glibc keeps freed memory (MALLOC_MMAP_MAX_=0, "
    "MALLOC_TRIM_THRESHOLD_=64 GiB), the peer's full-width setting",
}


# Environment each variant needs. glibc reads MALLOC_* when the process
# starts, so bench.py passes these to the row's process.
VARIANT_ENVIRONMENT = {
    "inter-op-1": {"TF_NUM_INTEROP_THREADS": "1"},
    "fpmath-bf16": {"ONEDNN_DEFAULT_FPMATH_MODE": "BF16"},
    "malloc-no-mmap": {
        "MALLOC_MMAP_MAX_": "0",
        "MALLOC_TRIM_THRESHOLD_": "68719476736",
    },
}


def _apply_variant_environment(variant):
    os.environ.update(VARIANT_ENVIRONMENT.get(variant, {}))


# Config overrides of each variant.
VARIANT_OVERRIDES = {
    "xla": {"train.jit_compile": "true"},
    "fpmath-bf16": {"train.mixed_precision": "none"},
    "two-passes": {"concat_views": "false"},
}


def _peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _make_config(row):
    import ssl_tf

    config = ssl_tf.get_preset(
        row.get("preset", "cifar10-quick"), row["method"]
    )
    overrides = {
        **row.get("overrides", {}),
        **VARIANT_OVERRIDES.get(row.get("variant"), {}),
    }
    return ssl_tf.apply_overrides(config, overrides).validate()


def _images(config, count=4096):
    import numpy as np

    size = config.data.image_size
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8)


def _labels(count):
    import numpy as np

    return np.arange(count) % 10


def views_per_image(config):
    """Images the encoder sees per dataset image (2 views, 4 rotations)."""
    import tensorflow as tf

    import ssl_tf

    views = ssl_tf.get_method(config.method).views_for(config)
    images = _images(config, count=2)
    batch = views(
        {"images": images, "labels": _labels(2)}, seed=tf.constant([0, 1])
    )
    return (
        sum(int(v.shape[0]) for v in batch.values() if v.shape.rank == 4) // 2
    )


def measure_augment(config, images, steps):
    """Views/s of the tf.data pipeline alone, in steady state."""

    import ssl_tf

    views = ssl_tf.get_method(config.method).views_for(config)
    batch = config.train.batch_size
    steps_per_epoch = max(len(images) // batch, 1)
    labels = _labels(len(images))
    dataset = ssl_tf.data.pretrain_dataset(
        ssl_tf.data.sources.open_arrays(images, labels),
        config.data,
        batch_size=batch,
        views=views,
        batches=(0, 1000 * steps_per_epoch),
        steps=steps_per_epoch,
        arrays={"images": images, "labels": labels},
    )
    iterator = iter(dataset)
    # Drain well past the prefetch buffer, then time one long span.
    for _ in range(20):
        next(iterator)
    count = max(steps, 50)
    start = time.perf_counter()
    for _ in range(count):
        next(iterator)
    return {"seconds_per_step": (time.perf_counter() - start) / count}


def step_runner(config, images):
    """A function running one compiled train step on a pre-made batch.

    It returns the step's loss as a float, so the call waits for the step.
    """
    import tensorflow as tf

    import ssl_tf

    strategy = ssl_tf.make_strategy(config.train.strategy)
    ssl_tf.set_precision_policy(config.train.mixed_precision, strategy)
    model, _ = ssl_tf.build_model(
        config, strategy, steps_per_epoch=1000, num_classes=10
    )
    views = ssl_tf.get_method(config.method).views_for(config)
    size = config.train.batch_size
    batch = views(
        {"images": images[:size], "labels": _labels(size)},
        seed=tf.constant([0, 1]),
    )
    model.build_from_batch(batch)
    model.make_train_function()
    iterator = iter(tf.data.Dataset.from_tensors(batch).repeat())
    return lambda: float(model.train_function(iterator)["loss"])


def measure_step(config, images, warmup, steps):
    """The compiled train step on one pre-made batch: median step time."""
    run_step = step_runner(config, images)
    times = []
    for _ in range(warmup + steps):
        start = time.perf_counter()
        run_step()
        times.append(time.perf_counter() - start)
    return {
        "warmup_seconds": [round(t, 3) for t in times[:warmup]],
        "seconds_per_step": statistics.median(times[warmup:]),
    }


def measure_fit(config, images, warmup, steps):
    """`ssl_tf.pretrain` end to end: wall time per step after warm-up."""
    import dataclasses

    import keras

    import ssl_tf

    ends = []

    class StepEnds(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            ends.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as tmp:
        config = dataclasses.replace(
            config,
            data=dataclasses.replace(config.data, source="arrays"),
            train=dataclasses.replace(
                config.train,
                epochs=1,
                steps_per_epoch=warmup + steps,
                checkpoint_every_seconds=1e9,
            ),
            output_dir=tmp,
            export_dir=tmp,
        )
        ssl_tf.pretrain(
            config,
            arrays=(images, _labels(len(images))),
            extra_callbacks=[StepEnds()],
            do_export=False,
            verbose=0,
        )
    # Wall time from the end of the last warm-up step to the end of the
    # last step: data, step, callbacks and every gap between them.
    return {"seconds_per_step": (ends[-1] - ends[warmup - 1]) / steps}


def measure(row):
    _apply_variant_environment(row.get("variant"))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if row.get("variant") == "keras-bn":
        import ssl_tf

        ssl_tf.models.BatchNormalization._fused_applies = (
            lambda self, inputs, training, mask: False
        )
    config = _make_config(row)
    images = _images(config)
    warmup, steps = row.get("warmup", 5), row.get("steps", 20)
    stage = row["stage"]
    if stage == "augment":
        result = measure_augment(config, images, steps)
    elif stage == "step":
        result = measure_step(config, images, warmup, steps)
    elif stage == "fit":
        result = measure_fit(config, images, warmup, steps)
    else:
        raise ValueError(f"Unknown stage {stage!r}.")
    views = config.train.batch_size * views_per_image(config)
    import ssl_tf

    result.update(
        precision=ssl_tf.resolve_precision(config.train.mixed_precision)[0],
        views_per_step=views,
        views_per_s=views / result["seconds_per_step"],
        peak_rss_mib=_peak_rss_mib(),
        batch_size=config.train.batch_size,
        encoder_width=config.encoder.width,
        mixed_precision=config.train.mixed_precision,
    )
    return result


if __name__ == "__main__":
    print(
        json.dumps(
            {**json.loads(sys.argv[1]), **measure(json.loads(sys.argv[1]))}
        )
    )
