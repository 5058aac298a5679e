"""Config values from text and JSON: `key=value` overrides and coercion.

The CLI, the presets and the pipeline components give config values as text
(`train.batch_size=128`) or as parsed JSON; this module turns them into the
typed fields of the config dataclasses and looks up the method's own config.

It works on any dataclass whose dataclass-typed fields are its sections
(`ssl_tf.config.ExperimentConfig`: `encoder`, `data`, `augment`, `train`)
and imports no config class, so `ssl_tf.config` uses it and re-exports its
functions without an import cycle.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any

from ssl_tf import registry
from ssl_tf.errors import ConfigError, check_choice, suggest


def sections(cls) -> dict[str, type]:
    """The dataclass-typed fields of `cls` and their classes, in order."""
    hints = typing.get_type_hints(cls)
    return {
        field.name: hints[field.name]
        for field in dataclasses.fields(cls)
        if dataclasses.is_dataclass(hints[field.name])
    }


def coerce(cls, key: str, value: Any):
    """Converts `value` (a string from the CLI, or JSON) to the field type."""
    hints = typing.get_type_hints(cls)
    if key not in hints:
        raise ConfigError(
            f"Unknown config key {key!r} for {cls.__name__}. Valid keys: "
            f"{sorted(hints)}.{suggest(key, hints)}"
        )
    hint = hints[key]
    if not isinstance(value, str):
        if isinstance(value, list):
            return tuple(value)
        return value
    text = value.strip()
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    allows_none = type(None) in args
    if allows_none and text.lower() in ("none", "null"):
        return None
    base = hint
    if args and origin is not tuple and origin is not dict:
        base = next(a for a in args if a is not type(None))
    try:
        if base is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if base in (int, float):
            number = float(text) if base is float else int(text)
            return number
        if typing.get_origin(base) is tuple or base is tuple:
            parsed = (
                json.loads(text) if text.startswith("[") else text.split(",")
            )
            inner = typing.get_args(base)[0] if typing.get_args(base) else float
            return tuple(inner(x) for x in parsed)
        if base is dict or typing.get_origin(base) is dict:
            return json.loads(text)
    except (ValueError, TypeError, json.JSONDecodeError) as error:
        raise ConfigError(
            f"`{key}` expects {getattr(base, '__name__', base)}. Received: "
            f"{key}={value!r}"
        ) from error
    return text


def make_method_config(name: str, options: dict):
    """The method's config dataclass with `options` applied and coerced."""
    check_choice("method", name, registry.METHODS.names())
    config_cls = registry.METHODS.get(name).config_cls
    values = {k: coerce(config_cls, k, v) for k, v in options.items()}
    return config_cls(**values)


def method_config_fields(name: str) -> set[str]:
    """The option names of method `name` (empty for an unknown method)."""
    if name not in registry.METHODS:
        return set()
    config_cls = registry.METHODS.get(name).config_cls
    return {f.name for f in dataclasses.fields(config_cls)}


def from_dict(cls, raw: dict):
    """Builds a `cls` (e.g. `ExperimentConfig`) from a nested dict."""
    parts = sections(cls)
    top = {}
    for key, value in raw.items():
        if key in parts:
            if not isinstance(value, dict):
                raise ConfigError(
                    f"`{key}` must be a mapping. Received: {value!r}"
                )
            part = parts[key]
            top[key] = part(**{k: coerce(part, k, v) for k, v in value.items()})
        else:
            top[key] = coerce(cls, key, value)
    return cls(**top)


def apply_overrides(config, overrides: dict[str, Any]):
    """Returns `config` with dotted-key overrides applied.

    `{"train.batch_size": "128", "temperature": "0.2"}`: a key that is not a
    config field but a field of the method's config goes to
    `method_options` (so `temperature=0.2` works as `method_options`).

    Raises:
        ConfigError: for an unknown key, naming the closest valid one.
    """
    cls = type(config)
    parts = sections(cls)
    top_fields = [
        f.name for f in dataclasses.fields(cls) if f.name not in parts
    ]
    changed = {name: {} for name in parts}
    top: dict[str, Any] = {}
    method_options = dict(config.method_options)
    # The method may itself be overridden; resolve it first.
    method = overrides.get("method", config.method)
    method_fields = method_config_fields(str(method))
    for key, value in overrides.items():
        section, _, field = key.rpartition(".")
        if section in parts:
            fields = [f.name for f in dataclasses.fields(parts[section])]
            if field not in fields:
                valid = [f"{section}.{f}" for f in fields]
                raise ConfigError(
                    f"Unknown config key {key!r}.{suggest(key, valid)} "
                    f"Valid keys: {valid}"
                )
            changed[section][field] = coerce(parts[section], field, value)
        elif section == "method_options" or (
            not section and key in method_fields
        ):
            method_options[field] = value
        elif not section and key in top_fields:
            top[key] = coerce(cls, key, value)
        elif not section:
            valid = all_keys(cls) + sorted(method_fields)
            raise ConfigError(
                f"Unknown config key {key!r}.{suggest(key, valid)} Valid "
                f"keys: {valid}"
            )
        else:
            valid = list(parts) + ["method_options"]
            raise ConfigError(
                f"Unknown config section {section!r} in {key!r}. Valid "
                f"sections: {valid}.{suggest(section, valid)}"
            )
    replaced = {
        name: dataclasses.replace(getattr(config, name), **fields)
        for name, fields in changed.items()
        if fields
    }
    return dataclasses.replace(
        config, **top, **replaced, method_options=method_options
    )


def all_keys(cls) -> list[str]:
    """Every dotted key of `cls`, for error messages and `--help`."""
    keys = [f.name for f in dataclasses.fields(cls)]
    for name, part in sections(cls).items():
        keys += [f"{name}.{f.name}" for f in dataclasses.fields(part)]
    return keys
