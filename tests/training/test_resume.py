"""Resume after interruption: in-process crash and a real SIGKILL."""

import glob
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
from absl.testing import parameterized

from ssl_tf.testing import (
    TestCase,
    smoke_config,
    tiny_images,
    write_image_folder,
)
from ssl_tf.training import run


class Crash(Exception):
    pass


class CrashAtStep(keras.callbacks.Callback):
    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) == self.step:
            raise Crash(f"simulated crash after step {self.step}")


# Two epochs of three steps, a checkpoint after every step.
RESUMABLE = {
    "train.epochs": "2",
    "train.steps_per_epoch": "3",
    "train.checkpoint_every_steps": "1",
}


def weights(model):
    return [w.numpy() for w in model.weights]


class ResumeTest(TestCase):
    # bfloat16 needs no loss scale. float16 is not here: its loss scaler
    # skips overflowing steps without advancing `iterations`, so it does
    # not resume exactly, and `auto` never picks it.
    @parameterized.named_parameters(
        ("float32", "none"), ("bfloat16", "bfloat16")
    )
    def test_crash_mid_epoch_then_rerun_matches_uninterrupted(self, precision):
        tmp = self.get_temp_dir()
        arrays = (tiny_images(32), None)
        mixed = {"train.mixed_precision": precision}
        full = run.pretrain(
            smoke_config(tmp, name="full", **RESUMABLE, **mixed),
            arrays=arrays,
            verbose=0,
        )

        config = smoke_config(tmp, name="crashed", **RESUMABLE, **mixed)
        with self.assertRaises(Crash):
            run.pretrain(
                config,
                arrays=arrays,
                extra_callbacks=[CrashAtStep(4)],
                verbose=0,
            )
        resumed = run.pretrain(config, arrays=arrays, verbose=0)
        if precision != "float16":
            # Crashed after global step 4 = epoch 1, step 1 (saved). float16
            # skips the steps whose scaled gradients overflow, so there
            # the optimizer's count lags the batches.
            self.assertEqual(resumed.resumed_from, (1, 1))
            self.assertEqual(int(resumed.model.optimizer.iterations), 6)
        for a, b in zip(
            weights(full.model), weights(resumed.model), strict=True
        ):
            self.assertAllClose(a, b, rtol=1e-5, atol=1e-6)
        if precision == "float16":
            self.assertIsInstance(
                resumed.model.optimizer, keras.optimizers.LossScaleOptimizer
            )
        # Optimizer state too: slots, step and (float16) the loss scale.
        for a, b in zip(
            full.model.optimizer.variables,
            resumed.model.optimizer.variables,
            strict=True,
        ):
            self.assertAllClose(a, b, rtol=1e-5, atol=1e-6)

    def test_finished_run_is_not_retrained(self):
        tmp = self.get_temp_dir()
        arrays = (tiny_images(32), None)
        config = smoke_config(
            tmp, name="done", **{**RESUMABLE, "train.epochs": "1"}
        )
        first = run.pretrain(config, arrays=arrays, verbose=0)
        again = run.pretrain(config, arrays=arrays, verbose=0)
        self.assertEqual(again.resumed_from, (1, 0))
        self.assertEqual(again.history, {})
        for a, b in zip(
            weights(first.model), weights(again.model), strict=True
        ):
            self.assertAllEqual(a, b)


def cli_command(tmp, name, folder):
    return [
        sys.executable,
        "-m",
        "ssl_tf.cli",
        "pretrain",
        "--preset",
        "smoke",
        "--name",
        name,
        "data.source=folder",
        f"data.name={folder}",
        "train.epochs=3",
        "train.steps_per_epoch=4",
        "train.checkpoint_every_steps=1",
        f"output_dir={tmp}/runs",
        f"export_dir={tmp}/saved",
    ]


def exported_weights(tmp, name):
    model = keras.saving.load_model(
        os.path.join(tmp, "saved", name, "encoder.keras"), safe_mode=True
    )
    return [w.numpy() for w in model.weights]


class KillAndResumeTest(TestCase):
    def test_sigkill_mid_epoch_then_rerun_matches_uninterrupted(self):
        tmp = self.get_temp_dir()
        folder = os.path.join(tmp, "images")
        write_image_folder(folder, tiny_images(32, 16))
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        subprocess.run(
            cli_command(tmp, "full", folder),
            check=True,
            env=env,
            capture_output=True,
            timeout=600,
        )

        # Kill at a step drawn from the test's seed, inside an epoch.
        kill_after = int(np.random.default_rng(7).integers(5, 8))
        command = cli_command(tmp, "killed", folder)
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        checkpoints = os.path.join(tmp, "runs", "killed", "checkpoints")
        deadline = time.time() + 600
        while time.time() < deadline and process.poll() is None:
            if glob.glob(os.path.join(checkpoints, f"ckpt-{kill_after}.index")):
                break
            time.sleep(0.05)
        self.assertIsNone(process.poll(), "run ended before it could be killed")
        process.send_signal(signal.SIGKILL)
        process.wait()
        self.assertFalse(os.path.exists(os.path.join(tmp, "saved", "killed")))

        rerun = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=600
        )
        self.assertEqual(rerun.returncode, 0, rerun.stdout + rerun.stderr)
        self.assertRegex(
            rerun.stdout, r"Resuming from checkpoint: epoch \d, step \d"
        )
        for a, b in zip(
            exported_weights(tmp, "full"),
            exported_weights(tmp, "killed"),
            strict=True,
        ):
            self.assertAllClose(a, b, rtol=1e-5, atol=1e-6)
