"""Evaluation results as JSON files, and Markdown tables comparing models.

Every protocol returns one result dict:

    {"protocol": "linear", "model": "saved_models/run", "method": "simclr",
     "fingerprint": ...,
     "dataset": {"description": ..., "name": ..., ...},
     "split_sizes": {"train": 50000, "test": 10000},
     "metrics": {"top1": 0.91, ...}, "seed": 0, "wall_time_s": 12.3,
     "options": {...}, "created": "2024-01-01T00:00:00"}

`write_result` stores it; `merge_reports` reads many and builds one table
with a row per model and a column per protocol metric.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import time

import numpy as np

from ssl_tf import atomic

logger = logging.getLogger("ssl_tf.evaluation")

RESULT_KEYS = (
    "protocol",
    "model",
    "fingerprint",
    "dataset",
    "split_sizes",
    "metrics",
    "seed",
    "wall_time_s",
    "options",
)


def make_result(
    protocol: str,
    model: str | None,
    fingerprint: str,
    dataset: dict,
    split_sizes: dict,
    metrics: dict,
    seed: int,
    wall_time_s: float,
    options: dict,
    method: str | None = None,
) -> dict:
    """A result dict with every field of the report format.

    `method` is the pretraining method from the export's metadata
    (`"random"` for a random-init export), when known.
    """
    return {
        "protocol": protocol,
        "model": model,
        "method": method,
        "fingerprint": fingerprint,
        "dataset": dataset,
        "split_sizes": split_sizes,
        "metrics": metrics,
        "seed": seed,
        "wall_time_s": float(wall_time_s),
        "options": options,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def _to_json(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def to_plain(value):
    """`value` as it reads back from a result file (lists, not tuples)."""
    return json.loads(json.dumps(value, sort_keys=True, default=_to_json))


def write_result(result: dict, path: str) -> str:
    """Writes `result` as JSON to `path` (atomically); returns `path`."""
    text = json.dumps(result, indent=2, sort_keys=True, default=_to_json)
    return atomic.write_text(path, text + "\n")


def result_path(
    output_dir: str,
    protocol: str,
    model_path: str,
    dataset: str | None = None,
    tag: str = "",
) -> str:
    """The one naming rule of result files.

    `{output_dir}/{protocol}[-{tag}][-{dataset}]-{model}.json`, where
    `model` is the last part of the export path and a `/` in the dataset
    name (a TFDS config) becomes `_`.

    Example:
    >>> result_path("results", "knn", "saved/cifar10-quick", "cifar10")
    'results/knn-cifar10-cifar10-quick.json'
    """
    parts = [protocol]
    if tag:
        parts.append(tag)
    if dataset:
        parts.append(dataset.replace("/", "_"))
    parts.append(os.path.basename(os.path.normpath(model_path)))
    return os.path.join(output_dir, "-".join(parts) + ".json")


def companion_path(path: str, extension: str) -> str:
    """A file beside result `path` with another extension (e.g. `.png`)."""
    return os.path.splitext(path)[0] + extension


def read_result(path: str) -> dict:
    """The result dict stored at `path`."""
    with open(path) as handle:
        return json.load(handle)


# Column order of the table, whatever order the results come in.
_PROTOCOL_ORDER = ("linear", "knn", "fewshot", "finetune", "neighbors")


def _percent(value):
    return f"{100.0 * float(value):.1f}"


def metric_columns(result: dict) -> dict[str, str]:
    """Table cells of one result: column title -> formatted value."""
    protocol = result.get("protocol", "?")
    metrics = result.get("metrics", {})
    if protocol == "linear":
        columns = {"linear top-1": _percent(metrics["top1"])}
        # No top-5 for 5 classes or fewer (it would always read 100%).
        if "top5" in metrics:
            columns["linear top-5"] = _percent(metrics["top5"])
        return columns
    if protocol == "knn":
        return {"kNN top-1": _percent(metrics["top1"])}
    if protocol == "fewshot":
        title = f"{metrics['n_way']}-way {metrics['k_shot']}-shot"
        cell = f"{_percent(metrics['mean'])} ± {_percent(metrics['ci95'])}"
        return {title: cell}
    if protocol == "finetune":
        fraction = float(metrics.get("label_fraction", 1.0))
        labels = "" if fraction >= 1 else f" {100 * fraction:g}%"
        return {f"finetune{labels} top-1": _percent(metrics["top1"])}
    if protocol == "projector":
        return {}  # files for TensorBoard, nothing to compare
    if protocol == "neighbors":
        return {
            "NN same-class (pixel)": _percent(metrics["pixel_same_class"]),
            "NN same-class (embedding)": _percent(
                metrics["embedding_same_class"]
            ),
        }
    return {
        f"{protocol} {key}": f"{value:.4g}"
        for key, value in metrics.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }


def _display_path(model) -> str:
    """`model` relative to the working directory when inside it."""
    if not model:
        return "random init"
    model = os.path.normpath(model)
    relative = os.path.relpath(model)
    if os.path.isabs(model) and not relative.startswith(os.pardir):
        return relative
    return model


def row_label(result: dict) -> str:
    """`model (method)`, the model path relative to here when inside it."""
    method = result.get("method")
    model = _display_path(result.get("model"))
    return f"{model} ({method})" if method else model


def _cell(text):
    return str(text).replace("|", "\\|")


def markdown_table(results) -> str:
    """A Markdown table: one row per model, one column per metric.

    When results cover several datasets, column titles are prefixed with
    the dataset name. Rows are sorted by model and columns by dataset and
    protocol. A later result for the same cell replaces an earlier one;
    missing cells show `-`.

    Args:
        results: Iterable of result dicts.

    Returns:
        The table as a string (header, separator and one line per model).
    """
    results = list(results)
    datasets = list(
        dict.fromkeys((r.get("dataset") or {}).get("name") for r in results)
    )
    rows: dict[str, dict[str, str]] = {}
    # One row per model, named with its method when any result records it
    # (results written before methods were recorded have none).
    methods = {}
    for result in results:
        if result.get("method"):
            methods[_display_path(result.get("model"))] = result["method"]
    # Column title -> sort key: dataset, protocol, first appearance.
    order: dict[str, tuple] = {}
    for result in results:
        path = _display_path(result.get("model"))
        model = row_label({**result, "method": methods.get(path)})
        dataset = (result.get("dataset") or {}).get("name")
        prefix = f"{dataset}: " if len(datasets) > 1 else ""
        protocol = result.get("protocol")
        rank = (
            _PROTOCOL_ORDER.index(protocol)
            if (protocol in _PROTOCOL_ORDER)
            else len(_PROTOCOL_ORDER)
        )
        cells = rows.setdefault(model, {})
        for title, value in metric_columns(result).items():
            title = prefix + title
            order.setdefault(title, (datasets.index(dataset), rank, len(order)))
            cells[title] = value
    columns = sorted(order, key=order.get)
    header = ["model"] + columns
    lines = [
        "| " + " | ".join(_cell(h) for h in header) + " |",
        "|" + "|".join(["---"] + ["---:"] * len(columns)) + "|",
    ]
    for model, cells in sorted(rows.items()):
        values = [model] + [cells.get(title, "-") for title in columns]
        lines.append("| " + " | ".join(_cell(v) for v in values) + " |")
    return "\n".join(lines) + "\n"


def _expand(paths_or_globs):
    if isinstance(paths_or_globs, str):
        paths_or_globs = [paths_or_globs]
    files = []
    for entry in paths_or_globs:
        entry = os.path.expanduser(str(entry))
        if os.path.isdir(entry):
            matches = glob.glob(
                os.path.join(entry, "**", "*.json"), recursive=True
            )
        else:
            matches = glob.glob(entry, recursive=True)
        if not matches:
            logger.warning("No result files match %s", entry)
        files.extend(sorted(matches))
    # A file named twice (a glob and a directory) counts once.
    return list(dict.fromkeys(files))


def load_results(paths_or_globs) -> list[dict]:
    """Result dicts from files, directories (recursive) or glob patterns.

    JSON files that are not results (no `protocol` and `metrics`) are
    skipped with a warning.
    """
    results = []
    for path in _expand(paths_or_globs):
        try:
            result = read_result(path)
        except (OSError, json.JSONDecodeError) as error:
            logger.warning("Skipping %s: %s", path, error)
            continue
        if not isinstance(result, dict) or not {"protocol", "metrics"} <= set(
            result
        ):
            logger.warning("Skipping %s: not an evaluation result.", path)
            continue
        results.append(result)
    # Oldest first, so the newest result for a cell wins in the table.
    results.sort(key=lambda result: result.get("created", ""))
    return results


def merge_reports(paths_or_globs) -> str:
    """One Markdown table of all results found (see `load_results`)."""
    return markdown_table(load_results(paths_or_globs))
