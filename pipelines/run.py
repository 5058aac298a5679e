r"""Runs an experiment's pipeline locally.

    python -m pipelines.run --config pipelines/configs/simclr_cifar10.py \
        --data_root /data/cifar10_png --pipeline_root /tmp/pipeline [--smoke] \
        [--beam_pipeline_args="--direct_num_workers=2 \
                               --direct_running_mode=multi_processing"]

`--beam_pipeline_args` takes standard Beam `PipelineOptions` flags (e.g.
`--runner=DataflowRunner --project=... --region=...`); they reach every
Beam component (ImageExampleGen, BulkEmbed).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys

from pipelines import cli
from pipelines.local_runner import LocalDagRunner
from pipelines.pipeline import create_pipeline


def load_config_module(path: str):
    """Imports an experiment config file by path, as big_vision's flags do."""
    return cli.load_module(path, "get_config")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config", required=True, help="pipelines/configs/<experiment>.py"
    )
    parser.add_argument("--data_root", required=True, help="image folder")
    parser.add_argument("--pipeline_root", required=True, help="output root")
    parser.add_argument(
        "--pipeline_name", default=None, help="default: config file name"
    )
    parser.add_argument("--smoke", action="store_true", help="tiny CI variant")
    parser.add_argument(
        "--beam_pipeline_args",
        default="",
        help="Beam PipelineOptions flags in one string, e.g. "
        '"--runner=DirectRunner --direct_num_workers=2"',
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    cli.quiet_logs(verbose=False)
    module = load_config_module(args.config)
    name = (
        args.pipeline_name or os.path.splitext(os.path.basename(args.config))[0]
    )
    pipeline = create_pipeline(
        pipeline_name=name,
        pipeline_root=args.pipeline_root,
        data_root=args.data_root,
        config=module.get_config(smoke=args.smoke),
        beam_pipeline_args=shlex.split(args.beam_pipeline_args),
    )
    outputs = LocalDagRunner().run(pipeline)
    summary = {
        node: {key: artifact.uri for key, artifact in artifacts.items()}
        for node, artifacts in outputs.items()
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
