"""The contract of a study: a grid of points on a preset, one file each.

A study is one module of this package that registers itself:

```python
register_study(
    "temperature",
    summary="NT-Xent temperature and triplet margin vs accuracy and loss.",
    points=points,  # StudyOptions -> [Point]
    columns=("method", "temperature", "linear_top1", "knn_top1", "loss"),
    plot=plot,  # (rows, png path) -> None
)
```

Each `Point` is a name and config overrides on the study's preset
(`cifar10-quick` unless `--preset` names another). `ssl_tf.studies.runner`
pretrains each point, measures it (`measure`, by default the linear probe
and kNN of the encoder) and writes the rows to a Markdown table and the
plot. The CLI's `ssl-tf study --list` reads the registry.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

from ssl_tf import presets, registry
from ssl_tf.config import ConfigError, ExperimentConfig, apply_overrides


@dataclasses.dataclass(frozen=True)
class Point:
    """One run of a study.

    Args:
        name: unique within the study; names the run and its result file.
        overrides: config overrides on the preset, as `apply_overrides`
            takes them (`"train.batch_size": 64`, `"temperature": 0.5`);
            `"method"` picks the preset's entry for that method.
        labels: the point's coordinates (`{"temperature": 0.5}`), copied
            into each of its table rows.
        pretrain: `False` for a point that only measures (a random init).
    """

    name: str
    overrides: dict = dataclasses.field(default_factory=dict)
    labels: dict = dataclasses.field(default_factory=dict)
    pretrain: bool = True


@dataclasses.dataclass(frozen=True)
class StudyOptions:
    """How a study is run (the `ssl-tf study` flags).

    Args:
        preset: the preset every point starts from.
        epochs: pretraining epochs of every point.
        points: keep only the first N points of the grid (`None`: all).
        results_dir: the study writes to `<results_dir>/<study name>/`.
        overrides: `key=value` overrides applied to every point; a key the
            study sweeps is refused.
        target_source, target: the data source and name of the dataset a
            transfer study fine-tunes on (`None`: the study's default).
    """

    preset: str = "cifar10-quick"
    epochs: int = 1
    points: int | None = None
    results_dir: str = os.path.join("results", "studies")
    overrides: dict = dataclasses.field(default_factory=dict)
    target_source: str = "tfds"
    target: str | None = None

    def validate(self, study: Study) -> None:
        presets.get_preset(self.preset)  # an unknown preset names the rest
        if self.epochs < 1:
            raise ConfigError(
                f"`--epochs` must be >= 1. Received: {self.epochs}"
            )
        if self.points is not None and self.points < 1:
            raise ConfigError(
                f"`--points` must be >= 1. Received: {self.points}"
            )
        if self.target is not None and not study.uses_target:
            raise ConfigError(
                f"Study {study.name!r} has no target dataset; drop --target."
            )


@dataclasses.dataclass(frozen=True)
class Study:
    """A registered study; see the module docstring.

    Args:
        name: the registry key (`ssl-tf study NAME`).
        summary: one line for `ssl-tf study --list`.
        points: `StudyOptions -> list[Point]`, the grid in order.
        columns: row keys shown in the table, in order.
        plot: `(rows, path)`: draws the rows into the PNG at `path`.
        measure: `(point, config, result, evaluation, options) ->
            list[dict]`, the rows of one point (`result`: its
            `PretrainResult`, `None` without pretraining; `evaluation`: an
            `Evaluation`; `options`: the `StudyOptions`); `None`: the
            linear probe and kNN of the encoder.
        uses_target: whether `--target` applies.
        exports: export each pretrained encoder (`measure` reads the
            trained model in process, so only a study that loads
            exports needs them).
    """

    name: str
    summary: str
    points: Callable[[StudyOptions], list[Point]]
    columns: tuple[str, ...]
    plot: Callable[[list[dict], str], None]
    measure: Callable[..., list[dict]] | None = None
    uses_target: bool = False
    exports: bool = False


def register_study(name: str, **fields: Any) -> Study:
    """Adds the study `name`; `fields` are `Study`'s.

    Raises:
        KeyError: if `name` is already registered.
    """
    return registry.STUDIES.register(name, Study(name, **fields))


def unregister_study(name: str) -> None:
    """Removes a study (for tests that register throwaway studies)."""
    registry.STUDIES.unregister(name)


def list_studies() -> list[str]:
    return registry.STUDIES.names()


def get_study(name: str) -> Study:
    """The study `name`.

    Raises:
        ConfigError: for an unknown name, listing the available ones.
    """
    return registry.STUDIES.get(name)


def point_config(
    study: Study, point: Point, options: StudyOptions
) -> ExperimentConfig:
    """The validated config of `point`: preset, options, then the point.

    Runs go to `<results_dir>/<study>/runs/<study>-<point>-e<epochs>` and
    exports to `.../saved/`, unless the overrides name other directories;
    the epochs are in the name, so `--epochs 5` starts new runs.

    Raises:
        ConfigError: if an override gives a key the point sets another
            value (it would be ignored).
    """
    swept = dict(point.overrides)
    clash = sorted(
        key
        for key in set(options.overrides) & set(swept)
        if str(options.overrides[key]) != str(swept[key])
    )
    if clash:
        raise ConfigError(
            f"Study {study.name!r} sets {clash} itself (point "
            f"{point.name!r}); remove {clash} from the overrides."
        )
    method = swept.pop("method", None)
    directory = os.path.join(options.results_dir, study.name)
    config = apply_overrides(
        presets.get_preset(options.preset, method),
        {
            "train.epochs": options.epochs,
            "output_dir": os.path.join(directory, "runs"),
            "export_dir": os.path.join(directory, "saved"),
            **options.overrides,
            **swept,
        },
    )
    name = f"{study.name}-{point.name}-e{config.train.epochs}"
    return dataclasses.replace(config, name=name).validate()
