"""Who may import whom (STYLE.md section 1), read from every module's AST.

`check_layering(root)` reads the project under `root` and returns one line
per broken rule; `tests/test_layering.py` runs it on the real tree and on
throwaway trees with one mistake planted each. Every `import` counts,
including ones inside functions: a lazy import still makes a dependency (the
old cycle `config -> methods -> methods/base -> config` was made of lazy
imports).
"""

import ast
import pathlib
import sys

# Modules every layer of ssl_tf may import: they import only each other.
LEAVES = ("atomic", "config", "errors", "overrides", "registry", "startup")
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
    "studies": ("evaluation", "presets"),
    "cli": ("demo", "studies"),
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


class ImportTree:
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


def _is_experiment_config(target, name):
    """`ssl_tf.presets` or `ssl_tf.config`, as a module or a name."""
    if target == "ssl_tf":
        return name in ("presets", "config")
    return target in ("ssl_tf.presets", "ssl_tf.config")


def _outer_problems(tree):
    problems = []
    for top in ("components", "pipelines", "benchmarks"):
        for module in tree.modules(top):
            path = tree.rel(module)
            for target, name, line in tree.imports(module):
                where = f"{path}:{line} imports {target}"
                if top == "components" and _is(target, "pipelines"):
                    problems.append(f"{where}: pipelines are above components")
                elif _is(target, "ssl_tf") and top == "pipelines":
                    # A pipeline chooses its experiment (a preset, a
                    # config); everything else goes through components.
                    if not _is_experiment_config(target, name):
                        problems.append(f"{where}: pipelines use components")
                        continue
                chooses = top == "pipelines" and _is_experiment_config(
                    target, name
                )
                if _is(target, "ssl_tf") and not (
                    chooses or _is_public(tree, target, name)
                ):
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
    tree = ImportTree(root)
    return (
        _library_problems(tree)
        + _outer_problems(tree)
        + _private_problems(tree)
        + _cycles(tree)
    )
