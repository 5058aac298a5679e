"""Who may import whom (STYLE.md section 1), checked on every module's AST.

`check_layering(root)` reads the tree under `root` and returns one line per
broken rule; the real tree must give none, and each rule is shown to fire on
a throwaway tree with the mistake planted. Every `import` counts, including
ones inside functions: a lazy import still makes a dependency (the old cycle
`config -> methods -> methods/base -> config` was made of lazy imports).
"""

import ast
import pathlib
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Modules every layer of ssl_tf may import: they import only each other.
LEAVES = ("config", "errors", "registry")
# The layers of ssl_tf (sub-packages and top-level modules; "" is
# `ssl_tf/__init__.py`) and what each imports directly. A layer may also
# import whatever those may, so `training` reaches `models` via `methods`.
LAYERS = {
    "augment": (),
    "losses": (),
    "models": (),
    "data": ("augment",),
    "methods": ("models", "losses", "augment"),
    "export": ("models",),
    "training": ("methods", "data", "export"),
    "presets": ("methods",),
    "evaluation": ("training",),
    "demo": ("evaluation", "presets"),
    "cli": ("demo",),
    "": ("evaluation", "presets"),
    "testing": ("cli", ""),
}
# Single modules of a higher layer that a lower one may import.
UPWARD_MODULES = {"training": ("ssl_tf.evaluation.knn",)}  # kNN monitor
# Outside ssl_tf, the leaf layers use only these (and the standard library).
LEAF_THIRD_PARTY = {
    "augment": {"keras", "tensorflow", "numpy", "keras_cv"},
    "losses": {"keras", "tensorflow", "numpy"},
    "models": {"keras", "tensorflow", "numpy"},
}
# KerasCV-only layers are imported in one module only.
KERAS_CV_MODULE = "ssl_tf/augment/crop.py"
NEVER_IN_LIBRARY = ("apache_beam", "absl.flags", "absl.app", "components")
PRIVATE = ("tensorflow.python", "keras.src")
GRAPH_PACKAGES = ("ssl_tf", "components", "pipelines")


class _Tree:
    """The Python modules under `root`, and what each one imports."""

    def __init__(self, root):
        self.root = pathlib.Path(root)
        self.paths = {}
        for top in (*GRAPH_PACKAGES, "benchmarks"):
            for path in sorted((self.root / top).rglob("*.py")):
                if "__pycache__" not in path.parts:
                    self.paths[self.module_name(path)] = path
        self.public = self._public_names()

    def module_name(self, path):
        parts = path.relative_to(self.root).with_suffix("").parts
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    def rel(self, module):
        return self.paths[module].relative_to(self.root).as_posix()

    def _public_names(self):
        path = self.paths.get("ssl_tf")
        tree = ast.parse(path.read_text()) if path else ast.Module(body=[])
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                getattr(t, "id", None) == "__all__" for t in node.targets
            ):
                return set(ast.literal_eval(node.value))
        return set()

    def imports(self, module):
        """`(target, name, line)` for every import in `module`.

        `target` is the module imported: `from a import b` gives `a.b` when
        that is a module of the tree, else `a` with `name="b"`. Outside the
        tree both `a` and `a.b` are given, so `from absl import flags` counts
        as `absl.flags`.
        """
        path = self.paths[module]
        package = module
        if path.name != "__init__.py":
            package = module.rpartition(".")[0]
        found = []
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found += [(a.name, None, node.lineno) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")
                    parent = parent[: len(parent) - node.level + 1]
                    base = ".".join([*parent, base] if base else parent)
                for alias in node.names:
                    found += self._from_import(base, alias.name, node.lineno)
        return found

    def _from_import(self, base, name, line):
        if f"{base}.{name}" in self.paths:
            return [(f"{base}.{name}", None, line)]
        if base.split(".")[0] in GRAPH_PACKAGES:
            return [(base, name, line)]
        return [(base, name, line), (f"{base}.{name}", None, line)]

    def modules(self, top):
        return [m for m in self.paths if m.split(".")[0] == top]


def _allowed_layers(layer):
    allowed, todo = {layer, *LEAVES}, list(LAYERS.get(layer, ()))
    while todo:
        other = todo.pop()
        if other not in allowed:
            allowed.add(other)
            todo += LAYERS.get(other, ())
    return allowed


def _layer(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _is(target, *prefixes):
    return any(target == p or target.startswith(p + ".") for p in prefixes)


def _library_problems(tree):
    problems = []
    for module in tree.modules("ssl_tf"):
        layer, path = _layer(module), tree.rel(module)
        allowed = _allowed_layers(layer)
        for target, _, line in tree.imports(module):
            where = f"{path}:{line} imports {target}"
            top = target.split(".")[0]
            if _is(target, *NEVER_IN_LIBRARY, "pipelines"):
                problems.append(f"{where}: ssl_tf never imports it")
            elif top == "ssl_tf" and _layer(target) not in allowed:
                if target not in UPWARD_MODULES.get(layer, ()):
                    problems.append(f"{where}: {layer or 'ssl_tf'} is below")
            elif top == "keras_cv" and path != KERAS_CV_MODULE:
                problems.append(f"{where}: only {KERAS_CV_MODULE} may")
            elif (
                layer in LEAF_THIRD_PARTY
                and top not in ("ssl_tf", *LEAF_THIRD_PARTY[layer])
                and top not in sys.stdlib_module_names
            ):
                problems.append(f"{where}: {layer} uses keras/tf only")
    return problems


def _is_public(tree, target, name):
    """`import ssl_tf`, `ssl_tf.<public>`, `from ssl_tf import <public>`."""
    if target == "ssl_tf":
        return name is None or name in tree.public
    return target.startswith("ssl_tf.") and target[7:] in tree.public


def _outer_problems(tree):
    problems = []
    for top in ("components", "pipelines", "benchmarks"):
        for module in tree.modules(top):
            path = tree.rel(module)
            in_configs = module.startswith("pipelines.configs")
            for target, name, line in tree.imports(module):
                where = f"{path}:{line} imports {target}"
                if top == "components" and _is(target, "pipelines"):
                    problems.append(f"{where}: pipelines are above components")
                elif _is(target, "ssl_tf") and top == "pipelines":
                    if not in_configs:
                        problems.append(f"{where}: pipelines use components")
                        continue
                if _is(target, "ssl_tf") and not _is_public(tree, target, name):
                    shown = f"{target}.{name}" if target == "ssl_tf" else target
                    problems.append(
                        f"{path}:{line} imports {shown}: not the public "
                        "ssl_tf API"
                    )
    return problems


def _private_problems(tree):
    problems = {}  # `from a.b import c` gives `a.b` and `a.b.c`: one line
    for module in tree.paths:
        for target, _, line in tree.imports(module):
            if _is(target, *PRIVATE):
                where = f"{tree.rel(module)}:{line}"
                problems.setdefault(where, f"{where} imports {target}")
    return [f"{problem}: a private path" for problem in problems.values()]


def _cycles(tree):
    """One line per group of modules that import each other (Tarjan)."""
    graph = {
        module: sorted(
            {t for t, _, _ in tree.imports(module) if t in tree.paths}
            - {module}
        )
        for top in GRAPH_PACKAGES
        for module in tree.modules(top)
    }
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while not group or group[-1] != node:
                group.append(stack.pop())
                on_stack.discard(group[-1])
            if len(group) > 1:
                groups.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return [
        "import cycle: "
        + ", ".join(
            f"{a} -> {b}" for a in group for b in graph[a] if b in group
        )
        for group in sorted(groups)
    ]


def check_layering(root):
    """Every broken rule of STYLE.md section 1 under `root`, one per line."""
    tree = _Tree(root)
    return (
        _library_problems(tree)
        + _outer_problems(tree)
        + _private_problems(tree)
        + _cycles(tree)
    )


# Known problems being fixed elsewhere; each entry says who removes it.
PENDING = (
    # The training engineer converts components/pretrain.py to ssl_tf.*.
    "components/pretrain.py:",
)


def test_real_tree_is_clean():
    problems = [p for p in check_layering(ROOT) if not p.startswith(PENDING)]
    assert not problems, "\n".join(problems)


def test_real_tree_is_read():
    # Guards the checker: it sees the modules and resolves relative imports.
    tree = _Tree(ROOT)
    assert {"ssl_tf.config", "components.embed", "pipelines.pipeline"} <= set(
        tree.paths
    )
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
    "ssl_tf/config.py": "from ssl_tf import errors, registry",
    "ssl_tf/errors.py": "",
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
    "ssl_tf/methods/base.py": "from ssl_tf import augment, config",
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
    "pipelines/configs/__init__.py": "",
    "pipelines/configs/quick.py": "import ssl_tf\nfrom ssl_tf import data",
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
        "from pipelines import configs",
        "components/embed.py:5 imports pipelines.configs: pipelines are",
    ),
    (
        "pipelines_import_ssl_tf",
        "pipelines/pipeline.py",
        "from ssl_tf import data",
        "pipelines/pipeline.py:3 imports ssl_tf.data: pipelines use",
    ),
    (
        "pipeline_configs_import_deep_module",
        "pipelines/configs/quick.py",
        "from ssl_tf.training import run",
        "pipelines/configs/quick.py:3 imports ssl_tf.training.run: not",
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
