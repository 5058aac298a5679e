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


def smoke_pretrain_argv(directory, *overrides, method=None, name=None):
    """`ssl-tf pretrain` arguments of the `smoke` preset under `directory`.

    The command-line twin of `smoke_config`: runs go to `<directory>/runs`,
    exports to `<directory>/saved`.

    Args:
        directory: the test's temporary directory.
        *overrides: `key=value` strings, e.g. `"data.source=folder"`.
        method: passed as `--method` when given (else the CLI's default).
        name: passed as `--name` when given (else the preset's).

    Example:
    >>> smoke_pretrain_argv("/t", "train.epochs=2")[-3:]
    ['output_dir=/t/runs', 'export_dir=/t/saved', 'train.epochs=2']
    """
    argv = ["pretrain", "--preset", "smoke"]
    if method is not None:
        argv += ["--method", method]
    if name is not None:
        argv += ["--name", name]
    return [
        *argv,
        f"output_dir={directory}/runs",
        f"export_dir={directory}/saved",
        *overrides,
    ]
