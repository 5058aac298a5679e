"""`ssl_tf/__init__.py`: the public API, and the environment it sets."""

import json
import os
import subprocess
import sys

import ssl_tf

# Records the two variables at the moment TensorFlow and Keras are first
# imported: set any later, they no longer change anything.
_SPY = """
import json, os, sys

seen = {}


class Spy:
    def find_spec(self, name, path=None, target=None):
        if name in ("tensorflow", "keras") and name not in seen:
            seen[name] = [
                os.environ.get("TF_CPP_MIN_LOG_LEVEL"),
                os.environ.get("KERAS_BACKEND"),
            ]


sys.meta_path.insert(0, Spy())
import ssl_tf.cli  # what the `ssl-tf` console script imports

print(json.dumps(seen))
"""


def _environment_at_import(**variables):
    """`{module: [TF_CPP_MIN_LOG_LEVEL, KERAS_BACKEND]}` when first imported."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND")
    }
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")])
    output = subprocess.run(
        [sys.executable, "-c", _SPY],
        env={**env, **variables},
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def test_environment_defaults_precede_tensorflow():
    assert _environment_at_import() == {
        "tensorflow": ["2", "tensorflow"],
        "keras": ["2", "tensorflow"],
    }


def test_environment_defaults_yield_to_the_user():
    seen = _environment_at_import(TF_CPP_MIN_LOG_LEVEL="0")
    assert seen["tensorflow"] == ["0", "tensorflow"]


def test_every_public_name_resolves():
    missing = [name for name in ssl_tf.__all__ if not hasattr(ssl_tf, name)]
    assert missing == []
    assert ssl_tf.evaluate is ssl_tf.evaluation.run
    assert ssl_tf.pretrain is ssl_tf.training.run.pretrain
