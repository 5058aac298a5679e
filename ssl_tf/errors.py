"""`ConfigError` and the wording of choice errors, shared by every registry.

A leaf module: `config.py` and `registry.py` both raise these, and neither
may import the other's dependents.
"""

from __future__ import annotations

import difflib


class ConfigError(ValueError):
    """A configuration key or value is invalid."""


def suggest(name: str, choices) -> str:
    """`" Did you mean 'x'?"` for the closest of `choices`, else `""`."""
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def check_choice(key: str, value, allowed) -> None:
    """Raises `ConfigError` naming `key` unless `value` is in `allowed`."""
    if value not in allowed:
        raise ConfigError(
            f"`{key}` must be one of {sorted(allowed)}. Received: "
            f"{key}={value!r}.{suggest(str(value), allowed)}"
        )
