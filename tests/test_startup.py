"""`ssl_tf.startup`: TensorFlow's start-up notices are dropped, not more."""

import os
import subprocess
import sys

from ssl_tf import startup

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTICE = (
    "WARNING: All log messages before absl::InitializeLog() is called are "
    "written to STDERR\n"
)
ONEDNN = (
    "I0000 00:00:1.5 8599 port.cc:153] oneDNN custom operations are on. "
    "You may see slightly different numerical results.\n"
)
# Stands in for TensorFlow: writes the notices and a real warning straight
# to file descriptor 2, as TensorFlow's C++ code does.
WRITTEN = (NOTICE + ONEDNN + "E0000 a real error\n").encode()
FAKE_TENSORFLOW = f"import os\nos.write(2, {WRITTEN!r})\n"


def _stderr_of_import(directory, level):
    """The stderr of `import_tensorflow()` with a fake TF, in a new process."""
    (directory / "tensorflow.py").write_text(FAKE_TENSORFLOW)
    env = dict(os.environ, PYTHONPATH=f"{directory}{os.pathsep}{REPO}")
    env["TF_CPP_MIN_LOG_LEVEL"] = level
    code = (
        "import importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location("
        f"'startup', {os.path.join(REPO, 'ssl_tf', 'startup.py')!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "module.import_tensorflow()\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stderr


def test_drop_notices_keeps_every_other_line():
    text = NOTICE + ONEDNN + "W0000 keep me\n" + NOTICE
    assert startup.drop_notices(text) == "W0000 keep me\n"


def test_quiet_import_drops_the_notices_and_replays_the_rest(tmp_path):
    assert _stderr_of_import(tmp_path, "2") == "E0000 a real error\n"


def test_level_zero_shows_everything(tmp_path):
    # The user asked for INFO: nothing is filtered.
    expected = NOTICE + ONEDNN + "E0000 a real error\n"
    assert _stderr_of_import(tmp_path, "0") == expected


def test_import_ssl_tf_prints_nothing_to_stderr():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, "-c", "import ssl_tf"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stderr == ""
