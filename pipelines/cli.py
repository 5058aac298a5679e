"""`ssl-tf pipeline`: run a pipeline file, list runs, show lineage.

    ssl-tf pipeline run pipelines/<name>.py [--pipeline-root R] [-v] \\
        [name=value ...] [--runner=DirectRunner --direct_num_workers=2 ...]
    ssl-tf pipeline list [--pipeline-root R]
    ssl-tf pipeline show [RUN] [--pipeline-root R]

The file of `run` defines `create_pipeline(...)`. It gets `--pipeline-root`
as `pipeline_root`, the flags `ssl-tf` does not know (Beam `PipelineOptions`
flags) as `beam_pipeline_args`, and `name=value` arguments as arguments of
that name (converted to the type of their default), e.g. `data_root=/images`.
`list` and `show` read the metadata of `--pipeline-root` (default:
$SSL_TF_PIPELINE_ROOT).

Quiet unless `-v`: one line per component, Beam and TensorFlow logs at
WARNING.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import logging
import os
import sys
import time

# The project's modules are imported inside the commands, after
# `quiet_logs`.

ROOT_VARIABLE = "SSL_TF_PIPELINE_ROOT"
_NOISY_LOGGERS = ("apache_beam", "tensorflow", "absl", "keras", "h5py")
# Beam 2.77 warns on the root logger at import when the optional GCP client
# libraries are absent; they matter only for BigQuery, which no component
# uses, so a quiet run drops the line.
_IMPORT_NOTICES = ("apitools not found",)


def _not_an_import_notice(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(_IMPORT_NOTICES)


def load_module(path: str, attribute: str):
    """Imports a Python file by path; it must define `attribute`."""
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(f"pipelines.{name}", path)
    if not os.path.isfile(path) or spec is None or spec.loader is None:
        raise SystemExit(f"error: {path!r} is not a Python file.")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, attribute):
        raise SystemExit(f"error: {path!r} defines no {attribute}(...).")
    return module


def quiet_logs(verbose: bool) -> None:
    """Beam, TF and Keras at WARNING (INFO with `verbose`)."""
    level = logging.INFO if verbose else logging.WARNING
    if not verbose:
        # Read by TensorFlow's C++ logging at import, and by Beam workers.
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    logging.getLogger().setLevel(level)
    if not verbose:
        logging.getLogger().addFilter(_not_an_import_notice)
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(level)


def _argument(parameter, text: str):
    """`text` as the type of the parameter's default (str without one)."""
    default = parameter.default
    if isinstance(default, bool):
        if text.lower() not in ("true", "false", "1", "0"):
            raise SystemExit(
                f"error: {parameter.name}={text} is not of type bool."
            )
        return text.lower() in ("true", "1")
    if isinstance(default, (int, float)):
        try:
            return type(default)(text)
        except ValueError:
            raise SystemExit(
                f"error: {parameter.name}={text} is not of type "
                f"{type(default).__name__}."
            ) from None
    return text


def _pipeline_kwargs(file, create_pipeline, pipeline_root, extra) -> dict:
    """create_pipeline's arguments: `pipeline_root`, the Beam flags (the
    `--...` arguments) as `beam_pipeline_args`, and `name=value` ones."""
    accepted = inspect.signature(create_pipeline).parameters
    beam_args, given, bad = [], {}, []
    for index, item in enumerate(extra):
        previous = extra[index - 1] if index else ""
        if item.startswith("-") or (
            previous.startswith("-") and "=" not in previous + item
        ):
            beam_args.append(item)  # A flag, or the value of `--flag value`.
        elif "=" in item:
            name, text = item.split("=", 1)
            given[name] = text
        else:
            bad.append(item)
    if bad:
        raise SystemExit(
            f"error: unexpected arguments {bad}; give Beam flags as --flag "
            "and create_pipeline arguments as name=value."
        )
    kwargs = {
        name: _argument(accepted[name], text) if name in accepted else text
        for name, text in given.items()
    }
    if pipeline_root:
        kwargs["pipeline_root"] = pipeline_root
    if beam_args:
        kwargs["beam_pipeline_args"] = beam_args
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise SystemExit(
            f"error: {file}'s create_pipeline takes no {unknown}. It takes: "
            f"{sorted(accepted)}"
        )
    return kwargs


def cmd_run(args, extra) -> int:
    from pipelines.local_runner import LocalDagRunner

    module = load_module(args.file, "create_pipeline")
    pipeline = module.create_pipeline(
        **_pipeline_kwargs(
            args.file, module.create_pipeline, args.pipeline_root, extra
        )
    )
    started = time.perf_counter()
    runner = LocalDagRunner()
    runner.run(pipeline)
    print(
        f"Run {runner.run_id} of {pipeline.pipeline_name} complete in "
        f"{time.perf_counter() - started:.1f}s. Lineage: ssl-tf pipeline "
        f"show {runner.run_id} --pipeline-root {pipeline.pipeline_root}"
    )
    return 0


def _store(args):
    from pipelines.metadata import MetadataStore

    root = args.pipeline_root or os.environ.get(ROOT_VARIABLE)
    if not root:
        raise SystemExit(f"error: give --pipeline-root (or ${ROOT_VARIABLE}).")
    return MetadataStore(root)


def cmd_list(args, _) -> int:
    from pipelines import lineage

    store = _store(args)
    print("\n".join(lineage.list_runs(store)) or "No runs.")
    store.close()
    return 0


def cmd_show(args, _) -> int:
    from pipelines import lineage

    store = _store(args)
    try:
        print("\n".join(lineage.show_run(store, args.run)))
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    finally:
        store.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ssl-tf pipeline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a pipeline file (cached)")
    run.add_argument("file", help="a .py file defining create_pipeline(...)")
    run.add_argument("-v", "--verbose", action="store_true")
    run.set_defaults(func=cmd_run)
    listing = sub.add_parser("list", help="runs with state and times")
    listing.set_defaults(func=cmd_list)
    show = sub.add_parser("show", help="a run's executions and lineage")
    show.add_argument("run", nargs="?", type=int, help="default: newest")
    show.set_defaults(func=cmd_show)
    for command in (run, listing, show):
        command.add_argument("--pipeline-root", default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    # Before the commands import components (and with them Beam and TF),
    # whose import-time logs are what this silences.
    quiet_logs(getattr(args, "verbose", False))
    return args.func(args, extra)


if __name__ == "__main__":
    sys.exit(main())
