"""`ssl-tf`: the command-line entry point.

    ssl-tf pretrain --preset cifar10-quick [--method moco] [key=value ...]
    ssl-tf export   --preset cifar10-quick [--random] [key=value ...]
    ssl-tf eval PROTOCOL --model PATH    (`ssl-tf eval --help` lists them)
    ssl-tf eval report results/*.json
    ssl-tf demo     --preset cifar10-quick [--methods simclr,moco]
    ssl-tf study NAME [--epochs E] [--points N] [key=value ...] | --list
    ssl-tf augment preview --preset cifar10-quick [--output views.png]
    ssl-tf methods | presets
    ssl-tf pipeline run|list|show ...   (`ssl-tf pipeline --help`)

Overrides are `section.key=value` (e.g. `train.epochs=5`) or a method option
(`temperature=0.2`). Only this module parses arguments.
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import importlib.util
import logging
import sys

# The environment defaults (TF_CPP_MIN_LOG_LEVEL, KERAS_BACKEND) are set in
# `ssl_tf/__init__.py`: Python runs it before this module, and they must be
# set before TensorFlow is first imported (tests/test_public_api.py).


def _parse_overrides(items):
    overrides = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(
                f"error: override {item!r} must look like key=value "
                "(e.g. train.epochs=5)"
            )
        key, value = item.split("=", 1)
        overrides[key.strip()] = value
    return overrides


def _experiment(args):
    from ssl_tf import config as config_lib
    from ssl_tf import presets

    config = presets.get_preset(args.preset, args.method)
    overrides = _parse_overrides(args.overrides)
    if args.name:
        overrides["name"] = args.name
    return config_lib.apply_overrides(config, overrides).validate()


def _add_experiment_args(parser):
    parser.add_argument("--preset", default="cifar10-quick")
    parser.add_argument(
        "--method", default=None, help="default: the preset's own method"
    )
    parser.add_argument("--name", default=None, help="run name")
    parser.add_argument("overrides", nargs="*", help="key=value overrides")


def cmd_pretrain(args):
    from ssl_tf.training import run

    config = _experiment(args)
    if args.print_config:
        print(config.to_json())
        return 0
    result = run.pretrain(config, do_export=not args.no_export)
    print(f"Run directory: {result.run_dir}  ({result.seconds:.0f} s)")
    return 0


def cmd_export(args):
    from ssl_tf.training import export_run

    config = _experiment(args)
    path = export_run.export_from_run(config, random_init=args.random)
    print(f"Exported encoder to {path}")
    return 0


def _data_config(args, image_size):
    from ssl_tf.config import DataConfig

    config = DataConfig(
        source=args.source,
        name=args.dataset,
        split=args.train_split,
        eval_split=args.test_split,
        data_dir=args.data_dir,
        image_size=32 if image_size is None else image_size,
    )
    config.validate()
    return config


def cmd_eval(args):
    from ssl_tf.evaluation import protocols, report

    if args.protocol == "report":
        print(report.merge_reports(args.inputs))
        return 0
    if not args.model:
        raise SystemExit("error: `ssl-tf eval` needs --model PATH")
    options = _parse_overrides(args.option)
    if args.image_size is not None:
        # The protocols load images at the export's training size unless
        # the `image_size` option names another; --image-size is that option.
        given = options.get("image_size", str(args.image_size))
        if str(given).strip() != str(args.image_size):
            raise SystemExit(
                f"error: --image-size {args.image_size} and --option "
                f"image_size={given} disagree; give only one of them."
            )
        options["image_size"] = args.image_size
    results = []
    for model in args.model:
        data_config = _data_config(args, args.image_size)
        output = None
        if args.output_dir:
            output = report.result_path(
                args.output_dir, args.protocol, model, args.dataset, args.tag
            )
        results.append(
            protocols.run(
                args.protocol,
                model,
                data_config,
                options=options,
                output_path=output,
                reuse=not args.rerun,
            )
        )
    print(report.markdown_table(results))
    return 0


def cmd_demo(args):
    from ssl_tf import demo

    demo.main(
        preset=args.preset,
        methods=args.methods.split(","),
        overrides=_parse_overrides(args.overrides),
        results_dir=args.results_dir,
    )
    return 0


def cmd_study(args):
    from ssl_tf import studies

    if args.list:
        for name in studies.list_studies():
            print(f"{name:16s} {studies.get_study(name).summary}")
        return 0
    if not args.arguments or "=" in args.arguments[0]:
        raise SystemExit("error: `ssl-tf study` needs NAME (or --list)")
    options = studies.StudyOptions(
        preset=args.preset,
        epochs=args.epochs,
        points=args.points,
        results_dir=args.results_dir,
        overrides=_parse_overrides(args.arguments[1:]),
        target_source=args.target_source,
        target=args.target,
    )
    report = studies.run_study(args.arguments[0], options)
    print(report.table)
    print(f"Wrote {report.table_path} and {report.plot_path} ", end="")
    print(f"({report.seconds / 60:.1f} min)")
    return 0


def cmd_methods(args):
    from ssl_tf import methods

    for name in methods.list_methods():
        doc = (methods.get_method(name).__doc__ or "").strip().splitlines()[0]
        print(f"{name:12s} {doc}")
    return 0


def cmd_presets(args):
    from ssl_tf import presets

    for name in presets.list_presets():
        print(name)
    return 0


def cmd_augment(args):
    from ssl_tf import augment, data, methods
    from ssl_tf.training import preview

    config = _experiment(args)
    if args.images < 1:
        raise SystemExit(f"error: --images must be >= 1, got {args.images}")
    views = methods.get_method(config.method).views_for(config)
    source = data.open_source(config.data)
    first = data.pipeline.first_batch(source, config.data, args.images)
    picture = preview.preview(
        views,
        first["images"],
        augment.batch_seed(config.train.seed, args.step),
        sizes=first.get("sizes"),
    )
    picture.save(args.output)
    print(picture.markdown)
    height, width = picture.image.shape[:2]
    print(f"Wrote {args.output} ({width}x{height} px)")
    return 0


# Commands that packages above the library add, as entry points of this
# group (the project's `pipelines` adds `pipeline`; see setup.cfg): each is
# a `main(argv) -> int` handed the rest of the command line unparsed, since
# Beam flags are open-ended. The library names none of them, so it imports
# and runs without them.
COMMAND_GROUP = "ssl_tf.commands"


def plugin_commands() -> dict:
    """`{name: entry point}` of the installed `ssl_tf.commands`."""
    found = importlib.metadata.entry_points(group=COMMAND_GROUP)
    return {entry.name: entry for entry in found}


def _plugin_help(entry) -> str:
    """The first line of the command module's docstring, for `--help`."""
    try:
        spec = importlib.util.find_spec(entry.module)
    except ModuleNotFoundError:
        spec = None
    if spec is None or spec.origin is None:
        return f"(not installed: {entry.value})"
    with open(spec.origin, encoding="utf-8") as handle:
        source = handle.read()
    docstring = ast.get_docstring(ast.parse(source)) or ""
    return docstring.split("\n", 1)[0].split(": ", 1)[-1].rstrip(".")


def run_plugin(entry, arguments) -> int:
    try:
        command = entry.load()
    except ModuleNotFoundError as error:
        raise SystemExit(
            f"error: `ssl-tf {entry.name}` needs {entry.module!r} and its "
            f"dependencies ({error})."
        ) from None
    return command(arguments)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="ssl-tf",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for add_command in (
        _add_pretrain_command,
        _add_export_command,
        _add_eval_command,
        _add_augment_command,
        _add_demo_command,
        _add_study_command,
    ):
        add_command(sub)
    for name, entry in sorted(plugin_commands().items()):
        # Listed for `ssl-tf --help`; `main` hands `ssl-tf NAME ...` to
        # the command before parsing.
        p = sub.add_parser(name, help=_plugin_help(entry), add_help=False)
        p.add_argument("arguments", nargs=argparse.REMAINDER)
    sub.add_parser("methods", help="list methods").set_defaults(
        func=cmd_methods
    )
    sub.add_parser("presets", help="list presets").set_defaults(
        func=cmd_presets
    )
    return parser


def _add_pretrain_command(sub):
    from ssl_tf import methods

    p = sub.add_parser("pretrain", help="pretrain an encoder (resumes)")
    _add_experiment_args(p)
    p.set_defaults(func=cmd_pretrain)
    p.add_argument("--no-export", action="store_true")
    p.add_argument("--print-config", action="store_true")
    # Method names come from the registry, so a new method shows up here.
    p.epilog = f"methods: {', '.join(methods.list_methods())}"


def _add_export_command(sub):
    p = sub.add_parser("export", help="export a run's encoder (or random init)")
    _add_experiment_args(p)
    p.add_argument(
        "--random",
        action="store_true",
        help="export a randomly initialised encoder (baseline)",
    )
    p.set_defaults(func=cmd_export)


def _add_eval_command(sub):
    from ssl_tf import data, evaluation

    # Protocols and their options come from the registry.
    p = sub.add_parser(
        "eval",
        help="evaluate exported encoders",
        description="Protocols (set options with --option key=value):\n"
        + evaluation.protocols.describe_protocols()
        + "\nreport: merge result JSON files into one table.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("protocol", choices=[*evaluation.protocol_names(), "report"])
    p.add_argument("inputs", nargs="*", help="result JSON files (report)")
    p.add_argument(
        "--model",
        action="append",
        help="export dir, SavedModel or .keras (repeatable)",
    )
    p.add_argument("--dataset", default="cifar10")
    # The registered sources a command line can name (not in-memory arrays).
    p.add_argument(
        "--source", default="tfds", choices=data.command_line_sources()
    )
    p.add_argument("--data-dir", default=None)
    p.add_argument("--train-split", default="train")
    p.add_argument("--test-split", default="test")
    p.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="load images at this size (default: the export's training "
        "size; recorded in the result); a SavedModel export resizes them "
        "to its training size in its signature, while finetune and .keras "
        "encoders run at this size",
    )
    p.add_argument("--output-dir", default="results")
    p.add_argument(
        "--tag", default="", help="extra name for the result file (e.g. 1shot)"
    )
    p.add_argument(
        "--option",
        action="append",
        default=[],
        help="protocol option key=value (repeatable)",
    )
    p.add_argument(
        "--rerun",
        action="store_true",
        help="run again even if --output-dir already holds the "
        "result of the same model, data and options",
    )
    p.set_defaults(func=cmd_eval)


def _add_augment_command(sub):
    p = sub.add_parser("augment", help="look at a preset's augmentation")
    actions = p.add_subparsers(dest="action", required=True)
    p = actions.add_parser(
        "preview", help="write originals beside their views as a PNG"
    )
    _add_experiment_args(p)
    p.add_argument("--output", default="augment-preview.png")
    p.add_argument("--images", type=int, default=8, help="originals to draw")
    p.add_argument(
        "--step", type=int, default=0, help="global step whose seed is used"
    )
    p.set_defaults(func=cmd_augment)


def _add_demo_command(sub):
    p = sub.add_parser(
        "demo", help="pretrain, export and evaluate vs random init"
    )
    p.add_argument("--preset", default="cifar10-quick")
    p.add_argument("--methods", default="simclr")
    p.add_argument("--results-dir", default="results")
    p.add_argument("overrides", nargs="*")
    p.set_defaults(func=cmd_demo)


def _add_study_command(sub):
    p = sub.add_parser(
        "study",
        help="run one of the lecture's studies: a grid, a table and a plot",
        add_help=False,  # `ssl-tf study --help` is `study_parser`'s.
    )
    # Listed for `ssl-tf --help`; `main` parses the rest with
    # `study_parser`, whose NAME, options and overrides may come in any
    # order (argparse's sub-commands cannot parse them intermixed).
    p.add_argument("arguments", nargs=argparse.REMAINDER)


def study_parser():
    """The parser of `ssl-tf study`."""
    from ssl_tf import data, studies

    p = argparse.ArgumentParser(
        prog="ssl-tf study",
        description="Pretrain a study's grid; write its table and plot.",
        # Study names come from the registry, so a new study shows up here.
        epilog=f"studies: {', '.join(studies.list_studies())}",
    )
    p.add_argument("--list", action="store_true", help="list the studies")
    p.add_argument("--preset", default="cifar10-quick")
    p.add_argument(
        "--epochs", type=int, default=1, help="pretraining epochs a point"
    )
    p.add_argument(
        "--points", type=int, default=None, help="run only the first N points"
    )
    p.add_argument("--results-dir", default=studies.StudyOptions.results_dir)
    p.add_argument(
        "--target-source", default="tfds", choices=data.command_line_sources()
    )
    p.add_argument(
        "--target", default=None, help="transfer: the dataset fine-tuned on"
    )
    p.add_argument(
        "arguments",
        nargs="*",
        metavar="NAME [key=value ...]",
        help="the study, then config overrides for every point",
    )
    p.set_defaults(func=cmd_study)
    return p


def main(argv=None):
    from ssl_tf.config import ConfigError
    from ssl_tf.data import DataError
    from ssl_tf.data.images import NoUsableImagesError
    from ssl_tf.export import ExportError
    from ssl_tf.training.checkpoints import TrainingDivergedError

    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("absl", "tensorflow", "h5py"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    argv = sys.argv[1:] if argv is None else list(argv)
    plugins = plugin_commands()
    if argv[:1] and argv[0] in plugins:
        return run_plugin(plugins[argv[0]], argv[1:])
    if argv[:1] == ["study"]:
        args = study_parser().parse_intermixed_args(argv[1:])
    else:
        args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, DataError, NoUsableImagesError, ExportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except TrainingDivergedError as error:
        print(f"error: {error}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
