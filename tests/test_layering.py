"""Who may import whom (STYLE.md section 1), checked on every module's AST.

Every `import` counts, including ones inside functions: a lazy import of
Beam in the library would still make the library depend on it.
"""

import ast
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "ssl_tf"

# Layers that build on keras/tf alone (plus NumPy and the standard library),
# and import nothing else of ssl_tf but their own sub-package.
LEAF_PACKAGES = ("augment", "losses", "models")
LEAF_ALLOWED = {"keras", "tensorflow", "numpy", "__future__"}
# KerasCV-only layers are imported in one module only (STYLE.md section 1).
KERAS_CV_MODULE = "ssl_tf/augment/crop.py"


def _modules(directory):
    return sorted(
        p for p in directory.rglob("*.py") if "__pycache__" not in p.parts
    )


def _module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path):
    """Absolute names of everything `path` imports, with line numbers."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")
                parent = parent[: len(parent) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            # `from a import b` may import the module `a.b`: record both.
            found.append((base, node.lineno))
            found += [
                (f"{base}.{alias.name}", node.lineno) for alias in node.names
            ]
    return found


def _top(name):
    return name.split(".")[0]


def _rel(path):
    return path.relative_to(ROOT).as_posix()


def test_imports_are_resolved():
    # Guards the test itself: relative imports resolve inside ssl_tf.
    imports = dict(_imports(LIBRARY / "augment" / "views.py"))
    assert "ssl_tf.augment.crop" in imports
    assert "keras" in imports


def test_library_never_imports_beam_absl_flags_or_pipelines():
    bad = []
    for path in _modules(LIBRARY):
        for name, line in _imports(path):
            if (
                _top(name) in ("apache_beam", "components", "pipelines")
                or name in ("absl.flags", "absl.app")
                or name.startswith("absl.flags.")
            ):
                bad.append(f"{_rel(path)}:{line} imports {name}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("package", LEAF_PACKAGES)
def test_leaf_packages_import_only_keras_tf_numpy_stdlib(package):
    bad = []
    for path in _modules(LIBRARY / package):
        for name, line in _imports(path):
            top = _top(name)
            if (
                top in LEAF_ALLOWED
                or top in sys.stdlib_module_names
                or name == "ssl_tf"  # the `from ssl_tf import x` half
                or name.startswith(f"ssl_tf.{package}")
                or (top == "keras_cv" and package == "augment")
            ):
                continue
            bad.append(f"{_rel(path)}:{line} imports {name}")
    assert not bad, "\n".join(bad)


def test_keras_cv_only_in_crop():
    bad = [
        f"{_rel(path)}:{line} imports {name}"
        for path in _modules(ROOT / "ssl_tf")
        for name, line in _imports(path)
        if _top(name) == "keras_cv" and _rel(path) != KERAS_CV_MODULE
    ]
    assert not bad, "\n".join(bad)


def test_no_private_imports():
    bad = [
        f"{_rel(path)}:{line} imports {name}"
        for directory in ("ssl_tf", "components", "pipelines")
        for path in _modules(ROOT / directory)
        for name, line in _imports(path)
        if name.startswith(("tensorflow.python", "keras.src"))
    ]
    assert not bad, "\n".join(bad)


def test_components_and_pipelines_point_one_way():
    bad = []
    for path in _modules(ROOT / "components"):
        bad += [
            f"{_rel(path)}:{line} imports {name}"
            for name, line in _imports(path)
            if _top(name) == "pipelines"
        ]
    for path in _modules(ROOT / "pipelines"):
        if "configs" in path.parts:
            continue  # experiment configs build ssl_tf config objects
        bad += [
            f"{_rel(path)}:{line} imports {name} (use components)"
            for name, line in _imports(path)
            if _top(name) == "ssl_tf"
        ]
    assert not bad, "\n".join(bad)
