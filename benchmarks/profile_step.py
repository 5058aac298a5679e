"""Where a train step's time goes: the top TF ops and oneDNN's kernels.

    python benchmarks/profile_step.py simclr
    python benchmarks/profile_step.py simclr train.mixed_precision=bfloat16
    python benchmarks/profile_step.py moco encoder.width=1.0 --steps 2

Builds the step as `measure.py` does (the cifar10-quick preset plus the
overrides, one pre-made batch), warms it up, then:

1. profiles `--steps` steps with the TensorFlow profiler and prints the op
   types by total time per step (the XPlane trace TensorBoard's profile
   plugin reads, summed here so no browser is needed);
2. reruns itself with `ONEDNN_VERBOSE=1` and prints, per oneDNN primitive
   and implementation (e.g. `convolution jit_bf16 backward_weights`), the
   time per step, which shows which kernels oneDNN chose.
"""

import argparse
import collections
import glob
import os
import subprocess
import sys
import tempfile

import measure

MARK = "--- timed steps ---"
# Events that wrap others in the host trace (counted twice otherwise).
WRAPPERS = ("Process", "Run", "ExecutorState::Process")


def top_ops(run_step, steps):
    """{op type: milliseconds per step} from the TF profiler's trace."""
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    directory = tempfile.mkdtemp()
    tf.profiler.experimental.start(directory)
    for _ in range(steps):
        run_step()
    tf.profiler.experimental.stop()
    path = glob.glob(f"{directory}/**/*.xplane.pb", recursive=True)[0]
    space = xplane_pb2.XSpace()
    with open(path, "rb") as handle:
        space.ParseFromString(handle.read())
    totals = collections.Counter()
    for plane in space.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        for line in plane.lines:
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" not in name:  # TF ops are "name:Type"
                    continue
                op = name.rsplit(":", 1)[1].strip()
                if op in WRAPPERS or op.startswith("__inference"):
                    continue
                totals[op] += event.duration_ps / 1e9 / steps
    return totals


def onednn_kernels(lines, steps):
    """{primitive implementation: milliseconds per step} from verbose."""
    totals = collections.Counter()
    for line in lines:
        fields = line.strip().split(",")
        if not line.startswith("onednn_verbose") or "exec" not in fields:
            continue
        try:
            milliseconds = float(fields[-1])
        except ValueError:
            continue
        kind = fields[5]
        name = f"{kind} {fields[6].split(':')[0]}"
        if kind == "convolution":
            name += f" {fields[7]}"
        totals[name] += milliseconds / steps
    return totals


def _print(title, totals, count=12):
    total = sum(totals.values())
    print(f"\n{title}: {total:.0f} ms per step in all")
    for name, value in totals.most_common(count):
        print(f"  {value:8.1f} ms {100 * value / total:5.1f}%  {name}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("method")
    parser.add_argument("overrides", nargs="*", help="config key=value")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--only-onednn", action="store_true")
    args = parser.parse_args(argv)
    row = {
        "method": args.method,
        "overrides": dict(item.split("=", 1) for item in args.overrides),
    }
    config = measure._make_config(row)
    run_step = measure.step_runner(config, measure._images(config))
    for _ in range(args.warmup):
        run_step()
    if args.only_onednn:
        print(MARK, flush=True)
        for _ in range(args.steps):
            run_step()
        return
    _print("TF ops (profiler)", top_ops(run_step, args.steps))
    output = subprocess.run(
        [sys.executable, __file__, *sys.argv[1:], "--only-onednn"],
        env={**os.environ, "ONEDNN_VERBOSE": "1"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    timed = output.split(MARK, 1)[-1].splitlines()
    _print(
        "oneDNN kernels (ONEDNN_VERBOSE=1)", onednn_kernels(timed, args.steps)
    )


if __name__ == "__main__":
    main()
