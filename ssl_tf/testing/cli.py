"""`run_cli`: `ssl_tf.cli.main` in-process, with its output captured."""

import contextlib
import io

from ssl_tf import cli


def run_cli(argv):
    """Runs `ssl_tf.cli.main(argv)` and returns `(code, stdout, stderr)`.

    Exceptions, `SystemExit` from argument parsing included, propagate.
    """
    stdout, stderr = io.StringIO(), io.StringIO()
    with (
        contextlib.redirect_stdout(stdout),
        contextlib.redirect_stderr(stderr),
    ):
        code = cli.main(argv)
    return code, stdout.getvalue(), stderr.getvalue()


def error_lines(stderr):
    """The lines of `stderr` that start with `"error: "`."""
    return [line for line in stderr.splitlines() if line.startswith("error: ")]
