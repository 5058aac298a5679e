"""Throughput of a preset: augmentation alone, train step alone, whole fit.

    python benchmarks/bench.py --preset cifar10-quick [key=value ...]

Prints a Markdown table of images/s and views/s (median over timed steps).
Run the PyTorch peer in the same minute and compare ratios (see README).
"""

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from ssl_tf import config as config_lib  # noqa: E402
from ssl_tf import data as data_lib  # noqa: E402
from ssl_tf import methods, presets  # noqa: E402
from ssl_tf.training import (
    precision,  # noqa: E402
    run,  # noqa: E402
)
from ssl_tf.training import strategy as strategy_lib  # noqa: E402


def _median_rate(times, items):
    return items / statistics.median(times)


def bench_augment(config, images, steps):
    method_cls = methods.get_method(config.method)
    views = method_cls.views_for(config)
    batch = config.train.batch_size
    source = tf.data.Dataset.from_tensor_slices({"images": images})
    info = data_lib.SourceInfo(len(images), None)
    dataset = data_lib.pretrain_dataset(
        source,
        info,
        batch_size=batch,
        image_size=config.data.image_size,
        views=views,
        epochs=1000,
        steps=max(len(images) // batch, 1),
        arrays={"images": images},
    )
    iterator = iter(dataset)
    # Steady state, not the prefetch buffer: per-batch medians mostly timed
    # dequeues of batches made while the first one was traced. Drain well
    # past the buffer, then time many batches as one span.
    for _ in range(20):
        next(iterator)
    count = max(steps, 50)
    start = time.perf_counter()
    for _ in range(count):
        next(iterator)
    return count * batch / (time.perf_counter() - start)


def bench_step(config, images, warmup, steps):
    method_cls = methods.get_method(config.method)
    strategy = strategy_lib.make_strategy(config.train.strategy)
    precision.set_policy(config.train.mixed_precision, strategy)
    model, _ = run.build_model(config, strategy, steps_per_epoch=1000)
    views = method_cls.views_for(config)
    batch = views(
        {"images": images[: config.train.batch_size]}, seed=tf.constant([0, 1])
    )
    model.build_from_batch(batch)
    model.make_train_function()
    step = model.train_function
    dataset = tf.data.Dataset.from_tensors(batch).repeat()
    if strategy.num_replicas_in_sync > 1:
        dataset = strategy.experimental_distribute_dataset(dataset)
    iterator = iter(dataset)
    warm = []
    for _ in range(warmup):
        start = time.perf_counter()
        step(iterator)
        warm.append(time.perf_counter() - start)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        logs = step(iterator)
        float(logs["loss"])
        times.append(time.perf_counter() - start)
    return _median_rate(times, config.train.batch_size), warm


def bench_fit(config, images, warmup, steps):
    import keras

    class StepTimes(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            float(logs["loss"])
            self.times.append(time.perf_counter() - self.start)

    timer = StepTimes()
    import dataclasses
    import tempfile

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
        run.pretrain(
            config,
            arrays=(images, None),
            extra_callbacks=[timer],
            do_export=False,
            verbose=0,
        )
    # on_train_batch_begin/end bracket only the step; include the gaps.
    return _median_rate(timer.times[warmup:], config.train.batch_size)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="cifar10-quick")
    parser.add_argument("--method", default="simclr")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--only", default="augment,step,fit")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    config = presets.get_preset(args.preset, args.method)
    overrides = dict(item.split("=", 1) for item in args.overrides)
    config = config_lib.apply_overrides(config, overrides).validate()
    size = config.data.image_size
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4096, size, size, 3), dtype=np.uint8)
    batch = config.train.batch_size
    views_per_image = 2 if config.method != "rotation" else 4
    rows = []
    only = args.only.split(",")
    if "augment" in only:
        rate = bench_augment(config, images, args.steps)
        rows.append(
            ("augmentation pipeline alone", rate, rate * views_per_image)
        )
    if "step" in only:
        rate, warm = bench_step(config, images, args.warmup, args.steps)
        rows.append(("train step alone", rate, rate * views_per_image))
    if "fit" in only:
        rate = bench_fit(config, images, args.warmup, args.steps)
        rows.append(
            ("whole fit (pipeline + step)", rate, rate * views_per_image)
        )
    print(
        f"\n{args.preset} / {config.method}, batch {batch}, {size}px, "
        f"{json.dumps(args.overrides)}\n"
    )
    print("| stage | images/s | views/s |\n|---|---|---|")
    for name, rate, views in rows:
        print(f"| {name} | {rate:.0f} | {views:.0f} |")


if __name__ == "__main__":
    main()
