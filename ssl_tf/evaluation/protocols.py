"""One entry point for every evaluation protocol, from an export path.

`run(protocol, model_path, data_config, options=..., output_path=...)`
resolves the protocol's options, hands a lazy `base.Context` (export,
cached features of the train split `data_config.split` and the test split
`data_config.eval_split`) to the registered protocol function, writes the
JSON result when `output_path` is given and returns it.

The protocols and their options are whatever is registered (see
`ssl_tf.evaluation.base`; `ssl-tf eval --help` lists them):
`describe_protocols()` prints each one's options with their defaults.
Top-5 accuracy (`top5`) is reported only for more than 5 classes.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time

from ssl_tf import export, registry
from ssl_tf.evaluation import base, report

logger = logging.getLogger("ssl_tf.evaluation")


def describe_protocols() -> str:
    """One line per registered protocol: summary and options [defaults]."""
    shared = dataclasses.fields(base.ProtocolOptions)
    lines = [f"every protocol: {_listing(shared)}."]
    for name in registry.PROTOCOLS.names():
        protocol = registry.PROTOCOLS.get(name)
        own = [
            field
            for field in dataclasses.fields(protocol.options_cls)
            if field not in shared
        ]
        lines.append(f"{name}: {protocol.summary} Options: {_listing(own)}.")
    return "\n".join(lines)


def _listing(fields) -> str:
    """`name [default], ...` of dataclass fields."""
    defaults = (
        f.default_factory()
        if f.default_factory is not dataclasses.MISSING
        else f.default
        for f in fields
    )
    return ", ".join(
        f"{f.name} [{value}]" for f, value in zip(fields, defaults, strict=True)
    )


def _dataset_name(data_config):
    """The dataset's name in results: a TFDS name or a folder/file name."""
    name = str(data_config.name)
    if data_config.source != "tfds":
        name = os.path.basename(name.rstrip("/"))
    return name


def _method_of(context, options):
    """The pretraining method recorded in the export, if any."""
    if getattr(options, "random_init", False):
        return "random"
    return context.metadata.get("method")


def _dataset_record(data_config, outcome):
    """The result's `dataset` entry."""
    return {
        "source": data_config.source,
        "name": _dataset_name(data_config),
        "train_split": data_config.split,
        "test_split": data_config.eval_split,
        "train_description": outcome.train_description,
        "test_description": outcome.test_description,
        "image_size": data_config.image_size,
    }


def _matching_result(output_path, protocol, model_path, data_config, options):
    """The result at `output_path` if the same request made it, else None."""
    if model_path is None or not os.path.exists(output_path):
        return None
    try:
        previous = report.read_result(output_path)
    except (OSError, ValueError):
        return None  # unreadable: run again and overwrite it
    metadata = export.read_metadata(model_path)
    expected_fingerprint = metadata.get("fingerprint")
    dataset = previous.get("dataset", {})
    same = (
        previous.get("protocol") == protocol
        and expected_fingerprint is not None
        and previous.get("fingerprint") == expected_fingerprint
        and previous.get("options")
        == report.to_plain(dataclasses.asdict(options))
        and dataset.get("source") == data_config.source
        and dataset.get("name") == _dataset_name(data_config)
        and dataset.get("train_split") == data_config.split
        and dataset.get("test_split") == data_config.eval_split
        and dataset.get("image_size")
        == base.image_size_of(options, metadata, data_config)
    )
    return previous if same else None


def _resolve(protocol, model_path, options):
    """The options dataclass; raises when the protocol needs a model."""
    resolved = base.resolve_options(protocol, options)
    if model_path is None and resolved.needs_model():
        raise ValueError(
            f"Protocol {protocol!r} needs `model_path` (only finetune with "
            "`random_init` runs without one)."
        )
    return resolved


def run(
    protocol: str,
    model_path: str | None,
    data_config,
    *,
    options: dict | None = None,
    output_path: str | None = None,
    arrays: dict | None = None,
    reuse: bool = False,
) -> dict:
    """Runs one protocol on an exported encoder; see the module docstring.

    Args:
        protocol: A registered protocol name (`describe_protocols()`).
        model_path: Export directory (or SavedModel / `.keras` path); may
            be `None` for `finetune` with `random_init`.
        data_config: An `ssl_tf.config.DataConfig`; `split` is the train
            split and `eval_split` the test split.
        options: Protocol options (its options dataclass); unknown keys
            raise.
        output_path: Where to write the JSON result, or `None`.
        arrays: For `data_config.source == "arrays"`: split name ->
            `(images, labels)`.
        reuse: Return the result already at `output_path` instead of
            running again when it was made by the same protocol, options,
            dataset and model (same export fingerprint). Lets a long
            evaluation script be rerun after an interruption.

    Returns:
        The result dict (see `ssl_tf.evaluation.report`).
    """
    resolved = _resolve(protocol, model_path, options)
    if reuse and output_path:
        previous = _matching_result(
            output_path, protocol, model_path, data_config, resolved
        )
        if previous is not None:
            logger.info(
                "Reusing %s (same model, data and options; delete it or "
                "pass --rerun to run again).",
                output_path,
            )
            return previous
    start = time.perf_counter()
    context = base.Context(
        model_path, data_config, resolved, arrays, output_path
    )
    outcome = registry.PROTOCOLS.get(protocol).function(context, resolved)
    result = report.make_result(
        protocol,
        outcome.model,
        outcome.fingerprint,
        _dataset_record(outcome.data_config, outcome),
        outcome.sizes,
        outcome.metrics,
        seed=resolved.seed,
        wall_time_s=time.perf_counter() - start,
        options=report.to_plain(dataclasses.asdict(resolved)),
        method=_method_of(context, resolved),
    )
    if output_path:
        report.write_result(result, output_path)
    return result
