"""What the benchmark runs on: CPU, matmul ceiling, FLOPs of a train step.

python benchmarks/hardware.py ceiling     # one JSON line: GFLOP/s
python benchmarks/hardware.py flops '{"method": "simclr", ...}'
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import time

# Measure the checkout this script belongs to, whatever is installed.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Flags that decide which kernels oneDNN can use.
INTERESTING_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
)


def cpu_description():
    """Model name, core count and the kernel-relevant feature flags."""
    model, flags = platform.processor(), set()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return {
        "model": model,
        "cores": os.cpu_count(),
        "flags": [flag for flag in INTERESTING_FLAGS if flag in flags],
        "missing": [flag for flag in INTERESTING_FLAGS if flag not in flags],
    }


def matmul_ceiling(n=4096, repeats=7):
    """Median GFLOP/s of an n x n matmul in float32 and bfloat16."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    result = {}
    for dtype in (tf.float32, tf.bfloat16):
        a = tf.cast(tf.random.uniform((n, n)), dtype)
        b = tf.cast(tf.random.uniform((n, n)), dtype)
        matmul = tf.function(lambda x, y: tf.reduce_sum(tf.matmul(x, y)))
        float(matmul(a, b))
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            float(matmul(a, b))
            times.append(time.perf_counter() - start)
        result[dtype.name] = 2 * n**3 / statistics.median(times) / 1e9
    return result


def forward_flops(model, input_shape):
    """FLOPs of one forward pass at batch 1, counted by TF's profiler."""
    import tensorflow as tf

    spec = tf.TensorSpec((1, *input_shape), tf.float32)
    graph = (
        tf.function(lambda x: model(x, training=False))
        .get_concrete_function(spec)
        .graph
    )
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(graph, options=options)
    return profile.total_float_ops


def step_flops(row):
    """Analytic FLOPs per view of a train step: 3x forward with gradients.

    The backward pass of a layer costs twice its forward (gradients of
    the input and of the weights), so a view that is back-propagated
    costs 3 forwards; MoCo's key view is forward only. Counted on the
    encoder and head; the loss's matmuls are left out (<1% here), as in
    the peer's count of 0.2126 (ResNet-18/4) and 3.337 (ResNet-18)
    GFLOP per SimCLR view.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    sys.path.insert(0, os.path.dirname(__file__))
    from measure import _make_config

    from ssl_tf import models

    config = _make_config(row)
    size = config.data.image_size
    encoder = models.build_encoder(config.encoder, size, seed=0)
    encoder_flops = forward_flops(encoder, (size, size, 3))
    dim = int(encoder.outputs[0].shape[-1])
    options = config.method_options
    if config.method in ("simclr", "triplet", "moco"):
        units = options.get("projection_dims", (512, 128))
    else:
        units = (10 if config.method == "supervised" else 4,)
    head = keras.Sequential([keras.Input((dim,))])
    for width in units:
        head.add(keras.layers.Dense(width))
    head_flops = forward_flops(head, (dim,))
    per_view_forward = encoder_flops + head_flops
    factor = 2.0 if config.method == "moco" else 3.0  # (3 + 1) / 2
    return {
        "encoder_forward_per_image": encoder_flops,
        "head_forward_per_image": head_flops,
        "train_step_per_view": factor * per_view_forward,
    }


def run_child(*args):
    """Runs this module in a fresh process; returns its JSON line."""
    output = subprocess.run(
        [sys.executable, __file__, *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


if __name__ == "__main__":
    if sys.argv[1] == "ceiling":
        print(json.dumps(matmul_ceiling()))
    elif sys.argv[1] == "flops":
        print(json.dumps(step_flops(json.loads(sys.argv[2]))))
    else:
        raise SystemExit(f"usage: {__doc__}")
