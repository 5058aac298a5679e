"""The lecture's studies as commands: `ssl-tf study NAME` (`--list`).

A study pretrains a small grid of points on a preset (the quick encoder,
1 epoch each unless `--epochs` says more), measures each point with the
linear probe and kNN, and writes a Markdown table and a PNG plot to
`results/studies/<name>/`; finished points are reused, so an interrupted
study resumes. Every module of this package that registers a study
(`base.register_study`) is imported here, so a new study is one new file.
"""

from ssl_tf import registry
from ssl_tf.studies.base import (
    Point,
    Study,
    StudyOptions,
    get_study,
    list_studies,
    point_config,
    register_study,
    unregister_study,
)
from ssl_tf.studies.evaluation import Evaluation
from ssl_tf.studies.runner import StudyReport, run_study

# Import every module of this package: each study registers itself.
registry.import_submodules(__name__, __path__)

__all__ = [
    "Evaluation",
    "Point",
    "Study",
    "StudyOptions",
    "StudyReport",
    "get_study",
    "list_studies",
    "point_config",
    "register_study",
    "run_study",
    "unregister_study",
]
