"""The PyTorch peer (lightly 1.6 on torch, `../shared/bench/peer`).

Runs its `bench_step.py` for a method and encoder width, in fp32 and in
its fastest configuration: bf16 autocast with channels-last tensors, plus
glibc's no-mmap allocator settings at full width (its README measured each
of these as its best).
"""

import json
import os
import subprocess

DEFAULT_DIR = os.path.join(
    os.path.dirname(__file__), "..", "..", "shared", "bench", "peer"
)
CONFIGS = {
    "fp32": ([], {}),
    "best": (["--bf16", "--channels-last"], {}),
}
# At full width the peer's best also needs glibc to keep freed memory.
NO_MMAP = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "68719476736"}


def available(directory=DEFAULT_DIR):
    return os.path.exists(os.path.join(directory, "run.sh"))


def ceiling(directory=DEFAULT_DIR):
    """The peer's 2-thread 4096^3 matmul GFLOP/s: {"float32", "bfloat16"}."""
    output = subprocess.run(
        ["bash", os.path.join(directory, "run.sh"), "bench_ceiling.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = {}
    for line in output.splitlines():
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        if record.get("bench") == "matmul" and record["threads_used"] == 2:
            dtype = record["dtype"].replace("torch.", "")
            result[dtype] = record["gflops_median"]
    return result


def bench_step(
    method, width, config, warmup=3, steps=10, directory=DEFAULT_DIR
):
    """The peer's step for `config` ("fp32" or "best"): its JSON record."""
    flags, env = CONFIGS[config]
    env = dict(os.environ, **env)
    if config == "best" and width >= 1.0:
        env.update(NO_MMAP)
    command = [
        "bash",
        os.path.join(directory, "run.sh"),
        "bench_step.py",
        "--method",
        method,
        "--width",
        str(width),
        "--warmup",
        str(warmup),
        "--steps",
        str(steps),
        *flags,
    ]
    output = subprocess.run(
        command, check=True, capture_output=True, text=True, env=env
    ).stdout
    record = json.loads(output.strip().splitlines()[-1])
    record["command"] = " ".join(
        [f"{k}={v}" for k, v in env.items() if k in NO_MMAP] + command[1:]
    )
    return record
