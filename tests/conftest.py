"""Pytest setup: 2 logical CPU devices, the `large` marker, quiet logs,
xdist workers."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Two logical CPUs so MirroredStrategy tests run on one physical CPU. This
# must happen before TensorFlow initialises its devices.
_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0],
    [tf.config.LogicalDeviceConfiguration()] * 2,
)


# `pytest -n auto` (pytest-xdist, as CI runs): one worker per CPU, at most
# four. Most of a test's time is single-threaded Python (tracing, building
# models), so two workers on two cores nearly halve the suite; each worker
# holds its own TensorFlow (1-2 GiB), hence the cap.
MAX_WORKERS = 4


def pytest_xdist_auto_num_workers(config):
    del config
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS))


def pytest_addoption(parser):
    parser.addoption(
        "--run_large", action="store_true", help="also run @large tests"
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run_large"):
        return
    skip = pytest.mark.skip(reason="large test: pass --run_large to run it")
    for item in items:
        if "large" in item.keywords:
            item.add_marker(skip)


_EXIT_STATUS = {}


def pytest_sessionfinish(session, exitstatus):
    _EXIT_STATUS["code"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    # Leave without interpreter teardown: garbage-collecting TensorFlow and
    # Beam objects at exit was seen to deadlock (pytest's final gc.collect
    # never returned), which would hang CI after every test had passed.
    if "code" in _EXIT_STATUS:
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_STATUS["code"])
