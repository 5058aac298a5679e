"""Named extension points: methods, protocols, presets, data sources, studies.

Every extension point has the method registry's shape (big_vision's
`registry.Registry`, KerasHub's presets): a user adds a method, a protocol
or a preset by writing one new file that registers itself, and the config
validation, the CLI choices and the docs read the registry. One class gives
every registry the same contract:

- `register(name, value, **attributes)` (or as a decorator) raises
  `KeyError` on a duplicate name;
- `get(name)` raises `ConfigError` (a `ValueError`) naming the unknown name,
  the available ones and the closest match;
- `names()` lists them sorted; `unregister(name)` serves throwaway tests.

The registries live here, in a leaf module, so that `config.py` can check a
method name without importing the methods (whose modules import `config`).
`import ssl_tf` imports every package, which fills them.

Example:
>>> things = Registry("thing")
>>> @things.register("square")
... def square(x):
...     return x * x
>>> things.get("square")(3)
9
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from ssl_tf.errors import ConfigError, suggest


class Registry:
    """Name -> object, with one error wording for every extension point.

    Args:
        kind: what is registered, for messages (`"method"`, `"protocol"`).
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Any] = {}

    def register(self, name: str, value: Any = None) -> Any:
        """Adds `value` as `name`; without `value`, returns a decorator.

        Raises:
            KeyError: if `name` is already registered.
        """
        if value is None:
            return lambda decorated: self.register(name, decorated)
        if name in self._entries:
            raise KeyError(
                f"{self.kind.capitalize()} {name!r} is already registered."
            )
        self._entries[name] = value
        return value

    def unregister(self, name: str) -> None:
        """Removes `name` if present (for tests that register throwaways)."""
        self._entries.pop(name, None)

    def get(self, name: str) -> Any:
        """The object registered as `name`.

        Raises:
            ConfigError: for an unknown name, listing the available ones.
        """
        if name not in self._entries:
            raise ConfigError(
                f"Unknown {self.kind} {name!r}. Available: {self.names()}."
                f"{suggest(str(name), self._entries)}"
            )
        return self._entries[name]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries


def import_submodules(package: str, path) -> None:
    """Imports every module of `package` (at `path`); each registers itself.

    This is what makes an extension one new file: a package calls
    `import_submodules(__name__, __path__)` at import time, and again when a
    test has added a module. Modules already imported are left as they are.
    """
    for module in pkgutil.iter_modules(path):
        importlib.import_module(f"{package}.{module.name}")


METHODS = Registry("method")
PROTOCOLS = Registry("protocol")
PRESETS = Registry("preset")
SOURCES = Registry("data source")
STUDIES = Registry("study")
