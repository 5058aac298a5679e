"""`ssl_tf.testing.layering`: the real tree keeps STYLE.md section 1.

Each rule is also shown to fire: a small clean tree is written to a temp
directory, one mistake is planted, and the checker must report exactly it.
"""

import pathlib
import textwrap

import pytest

from ssl_tf.testing.layering import ImportTree, check_layering

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_real_tree_is_clean():
    problems = check_layering(ROOT)
    assert not problems, "\n".join(problems)


def test_real_tree_is_read():
    # Guards the checker: it sees the modules and resolves relative imports.
    tree = ImportTree(ROOT)
    assert {
        "ssl_tf.config",
        "components.bulk_embed",
        "pipelines.pipeline",
    } <= set(tree.paths)
    targets = {t for t, _, _ in tree.imports("ssl_tf.augment.views")}
    assert {"ssl_tf.augment.crop", "keras"} <= targets
    assert {"ExperimentConfig", "pretrain", "data"} <= tree.public


# A small tree that keeps every rule: each case below plants one mistake.
CLEAN_TREE = {
    "ssl_tf/__init__.py": """
        from ssl_tf import data, training
        from ssl_tf.config import DataConfig
        __all__ = ["DataConfig", "data", "training"]
    """,
    "ssl_tf/config.py": "from ssl_tf import errors, overrides",
    "ssl_tf/errors.py": "",
    "ssl_tf/overrides.py": "from ssl_tf import errors, registry",
    "ssl_tf/registry.py": "from ssl_tf.errors import ConfigError",
    "ssl_tf/augment/__init__.py": "from ssl_tf.augment import crop",
    "ssl_tf/augment/crop.py": """
        import keras_cv
        import numpy
        from ssl_tf.errors import ConfigError
        from . import color
    """,
    "ssl_tf/augment/color.py": "import keras",
    "ssl_tf/losses/__init__.py": "import tensorflow as tf",
    "ssl_tf/models/__init__.py": "from ssl_tf.models import heads",
    "ssl_tf/models/heads.py": "import keras",
    "ssl_tf/data/__init__.py": "from ssl_tf import augment",
    "ssl_tf/data/images.py": "import os",
    "ssl_tf/methods/__init__.py": "from ssl_tf import config, losses, models",
    "ssl_tf/methods/base.py": "from ssl_tf import augment, config, overrides",
    "ssl_tf/export/__init__.py": "from ssl_tf.models import heads",
    "ssl_tf/training/__init__.py": "",
    "ssl_tf/training/run.py": """
        from ssl_tf import data, export, methods, models
        def monitor():
            from ssl_tf.evaluation import knn
    """,
    "ssl_tf/evaluation/__init__.py": "from ssl_tf.evaluation import knn",
    "ssl_tf/evaluation/knn.py": "from ssl_tf import data",
    "ssl_tf/evaluation/protocols.py": "from ssl_tf.training import run",
    "ssl_tf/cli.py": """
        import argparse
        def main():
            from ssl_tf.evaluation import protocols
    """,
    "components/__init__.py": "from components import embed",
    "components/embed.py": """
        import apache_beam as beam
        import ssl_tf
        from ssl_tf import DataConfig, data
        from ssl_tf.data import load_source
    """,
    "pipelines/__init__.py": "",
    "pipelines/pipeline.py": "import apache_beam\nimport components",
    "pipelines/quick.py": "from ssl_tf.config import DataConfig",
    "benchmarks/measure.py": "import measure_helpers\nimport ssl_tf",
}


def _write_tree(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).strip() + "\n")
    return root


def test_clean_tree_is_clean(tmp_path):
    assert check_layering(_write_tree(tmp_path, CLEAN_TREE)) == []


# (name, file, added source, the expected problem), one per rule.
PLANTED = [
    (
        "augment_imports_data",
        "ssl_tf/augment/color.py",
        "from ssl_tf.data import images",
        "ssl_tf/augment/color.py:2 imports ssl_tf.data.images: augment",
    ),
    (
        "losses_imports_models",
        "ssl_tf/losses/__init__.py",
        "from ssl_tf import models",
        "ssl_tf/losses/__init__.py:2 imports ssl_tf.models: losses",
    ),
    (
        "models_imports_augment",
        "ssl_tf/models/heads.py",
        "def f():\n    from ssl_tf.augment import crop",
        "ssl_tf/models/heads.py:3 imports ssl_tf.augment.crop: models",
    ),
    (
        "models_imports_pandas",
        "ssl_tf/models/heads.py",
        "import pandas",
        "ssl_tf/models/heads.py:2 imports pandas: models uses keras/tf",
    ),
    (
        "keras_cv_outside_crop",
        "ssl_tf/augment/color.py",
        "import keras_cv",
        "ssl_tf/augment/color.py:2 imports keras_cv: only",
    ),
    (
        "data_imports_methods",
        "ssl_tf/data/images.py",
        "from ssl_tf.methods import base",
        "ssl_tf/data/images.py:2 imports ssl_tf.methods.base: data",
    ),
    (
        "methods_imports_training",
        "ssl_tf/methods/base.py",
        "from ssl_tf.training import run",
        "ssl_tf/methods/base.py:2 imports ssl_tf.training.run: methods",
    ),
    (
        "export_imports_training",
        "ssl_tf/export/__init__.py",
        "import ssl_tf.training",
        "ssl_tf/export/__init__.py:2 imports ssl_tf.training: export",
    ),
    (
        "training_imports_evaluation",
        "ssl_tf/training/run.py",
        "from ssl_tf import evaluation",
        "ssl_tf/training/run.py:4 imports ssl_tf.evaluation: training",
    ),
    (
        "config_imports_methods",
        "ssl_tf/config.py",
        "def f():\n    from ssl_tf import training",
        "ssl_tf/config.py:3 imports ssl_tf.training: config",
    ),
    (
        "library_imports_beam",
        "ssl_tf/data/images.py",
        "def f():\n    import apache_beam",
        "ssl_tf/data/images.py:3 imports apache_beam: ssl_tf never",
    ),
    (
        "library_imports_absl_flags",
        "ssl_tf/cli.py",
        "from absl import flags",
        "ssl_tf/cli.py:4 imports absl.flags: ssl_tf never",
    ),
    (
        "library_imports_components",
        "ssl_tf/cli.py",
        "import components.embed",
        "ssl_tf/cli.py:4 imports components.embed: ssl_tf never",
    ),
    (
        "library_imports_private_tf",
        "ssl_tf/training/run.py",
        "from tensorflow.python.ops import math_ops",
        "ssl_tf/training/run.py:4 imports tensorflow.python.ops: a private",
    ),
    (
        "components_import_deep_module",
        "components/embed.py",
        "from ssl_tf.data import images",
        "components/embed.py:5 imports ssl_tf.data.images: not the public",
    ),
    (
        "components_import_non_public_module",
        "components/embed.py",
        "from ssl_tf.config import DataConfig",
        "components/embed.py:5 imports ssl_tf.config: not the public",
    ),
    (
        "components_import_non_public_name",
        "components/embed.py",
        "from ssl_tf import make_method_config",
        "imports ssl_tf.make_method_config: not the public",
    ),
    (
        "components_import_pipelines",
        "components/embed.py",
        "from pipelines import quick",
        "components/embed.py:5 imports pipelines.quick: pipelines are",
    ),
    (
        "pipelines_import_ssl_tf",
        "pipelines/pipeline.py",
        "from ssl_tf import data",
        "pipelines/pipeline.py:3 imports ssl_tf.data: pipelines use",
    ),
    (
        "pipeline_imports_deep_module",
        "pipelines/quick.py",
        "from ssl_tf.training import run",
        "pipelines/quick.py:2 imports ssl_tf.training.run: pipelines use",
    ),
    (
        "benchmarks_import_deep_module",
        "benchmarks/measure.py",
        "from ssl_tf.training import run",
        "benchmarks/measure.py:3 imports ssl_tf.training.run: not the",
    ),
    (
        "cycle_of_lazy_imports",
        "ssl_tf/augment/color.py",
        "def f():\n    from ssl_tf.augment import crop",
        "import cycle: ssl_tf.augment.color -> ssl_tf.augment.crop, "
        "ssl_tf.augment.crop -> ssl_tf.augment.color",
    ),
]


@pytest.mark.parametrize(
    "path, source, expected",
    [case[1:] for case in PLANTED],
    ids=[case[0] for case in PLANTED],
)
def test_planted_mistake_is_reported(tmp_path, path, source, expected):
    files = dict(CLEAN_TREE)
    files[path] = textwrap.dedent(files[path]).strip() + "\n" + source
    problems = check_layering(_write_tree(tmp_path, files))
    assert len(problems) == 1, "\n".join(problems)
    assert expected in problems[0]


def test_old_config_methods_cycle_is_reported(tmp_path):
    files = dict(CLEAN_TREE)
    files["ssl_tf/config.py"] += "\ndef f():\n    from ssl_tf import methods"
    problems = check_layering(_write_tree(tmp_path, files))
    assert problems[-1] == (
        "import cycle: ssl_tf.config -> ssl_tf.methods, "
        "ssl_tf.methods -> ssl_tf.config"
    )
