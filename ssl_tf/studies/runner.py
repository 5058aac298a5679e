"""`run_study(name, options)`: every point, then the table and the plot.

Each point's rows and wall times (pretraining and in all) are written
atomically to `<results_dir>/<study>/points/<point>.json` once it is
measured. A rerun reads the rows of every point whose recorded config
equals the current one and runs only the rest, and an interrupted
pretraining resumes from its checkpoint, so a study stopped at any moment
resumes where it was.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time

from ssl_tf import atomic
from ssl_tf.config import ConfigError
from ssl_tf.studies import base
from ssl_tf.studies.evaluation import Evaluation, final_loss, measure_encoder
from ssl_tf.training import run

TABLE = "table.md"
PLOT = "plot.png"


@dataclasses.dataclass(frozen=True)
class StudyReport:
    """What `run_study` wrote.

    Args:
        rows: every row of every point, in grid order.
        table: the Markdown table.
        table_path, plot_path: the files written.
        seconds: wall time of this call.
    """

    rows: list
    table: str
    table_path: str
    plot_path: str
    seconds: float


def format_value(key: str, value) -> str:
    """A table cell: accuracies (`*_top1`) in percent, floats to 4 digits."""
    if value is None:
        return "-"
    if key.endswith("_top1"):
        return f"{100 * value:.1f}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def markdown_table(rows: list[dict], columns) -> str:
    """The rows' `columns` as a Markdown table (`-` where a row has none)."""
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for row in rows:
        cells = (format_value(key, row.get(key)) for key in columns)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def point_path(directory: str, point: base.Point) -> str:
    return os.path.join(directory, "points", f"{point.name}.json")


def _recorded_rows(path: str, config_record: dict):
    """The rows at `path` if they were made by the same config, else None."""
    if not os.path.exists(path):
        return None
    try:
        with open(path) as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None  # unreadable: measure again and overwrite it
    return record["rows"] if record.get("config") == config_record else None


def point_rows(study, point, config, evaluation, options) -> list[dict]:
    """The rows of `point`: read back if finished, else run and recorded."""
    directory = os.path.join(options.results_dir, study.name)
    path = point_path(directory, point)
    config_record = json.loads(config.to_json())
    rows = _recorded_rows(path, config_record)
    if rows is not None:
        print(f"== {study.name}/{point.name}: reusing {path}", flush=True)
        return rows
    print(f"== {study.name}/{point.name}: {config.name}", flush=True)
    started = time.time()
    result = None
    if point.pretrain:
        result = run.pretrain(config, do_export=study.exports, verbose=2)
    measure = study.measure or measure_encoder
    loss = final_loss(result)
    rows = [
        {"point": point.name, **point.labels, **row, "loss": loss}
        for row in measure(point, config, result, evaluation, options)
    ]
    record = {
        "study": study.name,
        "point": point.name,
        "config": config_record,
        "rows": rows,
        "seconds": time.time() - started,
        "pretrain_seconds": result.seconds if result else 0.0,
    }
    atomic.write_text(path, json.dumps(record, indent=2, sort_keys=True))
    return rows


def grid(study, options) -> list:
    """`(point, config)` of the first `options.points` points, all valid.

    Every config is built and validated before any point runs.

    Raises:
        ConfigError: for a bad option or override, or repeated point names.
    """
    options.validate(study)
    points = study.points(options)[: options.points]
    names = [point.name for point in points]
    if len(set(names)) != len(names):
        raise ConfigError(f"Study {study.name!r} repeats point names {names}.")
    return [(p, base.point_config(study, p, options)) for p in points]


def run_study(
    name: str, options: base.StudyOptions, evaluation: Evaluation | None = None
) -> StudyReport:
    """Runs (or resumes) the study `name`; writes its table and plot.

    Args:
        name: a registered study.
        options: how to run it.
        evaluation: scores the points (default: `Evaluation()`).

    Returns:
        A `StudyReport`.
    """
    started = time.time()
    study = base.get_study(name)
    points = grid(study, options)
    directory = os.path.join(options.results_dir, study.name)
    evaluation = evaluation or Evaluation()
    rows = []
    for point, config in points:
        rows += point_rows(study, point, config, evaluation, options)
    table = markdown_table(rows, study.columns)
    table_path = atomic.write_text(os.path.join(directory, TABLE), table + "\n")
    plot_path = os.path.join(directory, PLOT)
    study.plot(rows, plot_path)
    return StudyReport(
        rows, table, table_path, plot_path, time.time() - started
    )
