"""Two workers on localhost train as one process with the same global batch.

The test starts this file twice as a script, as the two workers of a
`MultiWorkerMirroredStrategy` cluster (`TF_CONFIG` on loopback ports), and
compares their weights after a few steps with the same run in this
process, on one device and on two mirrored logical CPUs.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from ssl_tf.testing import TestCase

# Two epochs of two steps: the workers' iterators also cross an epoch.
EPOCHS, STEPS = 2, 2
BATCH = 8
# A guard against a hung cluster (a worker that waits for a dead peer),
# not the expected time: the test took 27 s (30 CPU-seconds in all) on 2
# cores shared with other jobs, and several times that under heavy load.
TIMEOUT_SECONDS = 300


def config_for(directory, strategy):
    """The run every process trains: 4 steps of a global batch 8."""
    from ssl_tf.testing import smoke_config

    return smoke_config(
        directory,
        **{
            "train.strategy": strategy,
            # Smaller graphs to trace: 4 conv-BN blocks instead of a
            # ResNet-18, crops and flips without colour changes.
            "encoder.name": "cbr_tiny",
            "augment.jitter_strength": "0",
            "augment.grayscale_prob": "0",
            "train.batch_size": str(BATCH),
            "train.epochs": str(EPOCHS),
            "train.steps_per_epoch": str(STEPS),
        },
    )


def train(directory, strategy, do_export=False):
    """The weights of the run after its `EPOCHS * STEPS` steps."""
    from ssl_tf.testing import tiny_images
    from ssl_tf.training import run

    arrays = (tiny_images(32, 16), np.arange(32) % 4)
    result = run.pretrain(
        config_for(directory, strategy),
        arrays=arrays,
        do_export=do_export,
        verbose=0,
    )
    return result.model.get_weights()


def files_under(directory):
    """The relative paths of the files under `directory`, sorted."""
    return sorted(
        os.path.relpath(os.path.join(root, name), directory)
        for root, _, names in os.walk(directory)
        for name in names
    )


def free_ports(count):
    """`count` distinct free loopback ports (bound at once, then freed)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def start_workers(directory, count=2):
    """Starts `count` workers of one cluster on loopback ports.

    They share one run directory, `<directory>/cluster`, as hosts share a
    bucket; worker i keeps its temporary files in `<directory>/tmp<i>`.
    """
    workers = [f"127.0.0.1:{port}" for port in free_ports(count)]
    processes = []
    try:
        for index in range(count):
            scratch = os.path.join(directory, f"tmp{index}")
            os.makedirs(scratch)
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TMPDIR=scratch)
            env["TF_CONFIG"] = json.dumps(
                {
                    "cluster": {"worker": workers},
                    "task": {"type": "worker", "index": index},
                }
            )
            out = os.path.join(directory, f"worker{index}")
            with open(out + ".log", "w") as log:
                processes.append(
                    subprocess.Popen(
                        [sys.executable, __file__, directory, out],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
    except BaseException:
        stop(processes)
        raise
    return processes


def stop(processes):
    """Kills the processes still running (a failed worker leaves the
    others waiting for it)."""
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def worker_weights(directory, processes):
    """Waits for the workers; the weights each one saved."""
    try:
        for process in processes:
            process.wait(timeout=TIMEOUT_SECONDS)
    finally:
        stop(processes)
    results = []
    for index, process in enumerate(processes):
        out = os.path.join(directory, f"worker{index}")
        if process.returncode:
            with open(out + ".log") as handle:
                tail = handle.read()[-3000:]
            raise AssertionError(
                f"worker {index} exited with {process.returncode}:\n{tail}"
            )
        with np.load(out + ".npz") as saved:
            results.append([saved[f"arr_{i}"] for i in range(len(saved))])
    return results


class TwoWorkersTest(TestCase):
    @pytest.mark.distributed
    def test_two_workers_equal_one_process(self):
        tmp = self.get_temp_dir()
        processes = start_workers(tmp)
        try:
            # While the workers start up: the same run on one device.
            one_device = train(os.path.join(tmp, "one"), "default")
        except BaseException:
            stop(processes)
            raise
        first, second = worker_weights(tmp, processes)
        self.assertLen(first, len(one_device))
        for mine, theirs in zip(first, second, strict=True):
            # The workers hold the same mirrored values.
            self.assertAllEqual(mine, theirs)
        # Tolerance: one device normalizes with the fused BN kernel, the
        # two replicas with Keras's cross-replica sums (E[x^2] - E[x]^2),
        # as in the mirrored test of `tests/methods/test_all_methods.py`.
        # Measured here: 6.6e-7 at most after 4 steps (3.6e-7 against a
        # 2-replica MirroredStrategy run in one process). Workers that
        # augment their rows with the seeds of rows 0.. (no `RowSeed`)
        # differed by 0.12 after 3 steps (measured).
        for mine, reference in zip(first, one_device, strict=True):
            self.assertAllClose(mine, reference, rtol=1e-5, atol=1e-5)
        # One process wrote the shared run: the chief's checkpoints (one a
        # epoch), records, TensorBoard logs and export. Worker 1 took part
        # in each save into its scratch directory and deleted it.
        cluster = os.path.join(tmp, "cluster")
        name = config_for(cluster, "default").name
        run_files = files_under(os.path.join(cluster, "runs", name))
        self.assertEqual(
            [f for f in run_files if f.startswith("checkpoints/ckpt-")],
            [
                f"checkpoints/ckpt-{step}.{part}"
                for step in (STEPS, 2 * STEPS)
                for part in ("data-00000-of-00001", "index")
            ],
        )
        self.assertIn("config.json", run_files)
        self.assertIn("resolved_config.json", run_files)
        # Event files are named `events.out.tfevents.<time>.<host>.<pid>...`.
        writers = {f.split(".")[4] for f in run_files if "tfevents" in f}
        self.assertLen(writers, 1)
        self.assertIn(
            "saved_model/saved_model.pb",
            files_under(os.path.join(cluster, "saved", name)),
        )
        self.assertEqual(files_under(os.path.join(tmp, "tmp1")), [])


if __name__ == "__main__":
    # A worker: train in the cluster of TF_CONFIG, save the weights.
    directory, out = sys.argv[1:]
    weights = train(
        os.path.join(directory, "cluster"),
        "multi_worker_mirrored",
        do_export=True,
    )
    np.savez(out + ".npz", *weights)
    sys.exit(0)
