"""Cache keys: when a component may be skipped, as TFX's cache context.

An execution's key hashes everything that decides its outputs:

- the component type and the source text of the module that defines it
  (an edited executor runs again);
- the code version: the ssl_tf package version and a digest of its source,
  since components are thin adapters over the library;
- the parameters;
- the id and fingerprint (`properties["fingerprint"]`, when the producer
  wrote one) of every input artifact, and the component's own input
  fingerprint of external data (`@component(input_fingerprint=...)`).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import inspect
import json
import os
import sys

from components import BaseComponent, types

SHORT_KEY = 12  # Hex digits of the key in output directory names.


def _digest(*chunks: bytes) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(hashlib.sha256(chunk).digest())
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """`<ssl_tf version>+<digest of ssl_tf/**/*.py>` (found, not imported)."""
    try:
        version = importlib.metadata.version("ssl_tf")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    spec = importlib.util.find_spec("ssl_tf")
    chunks = []
    for directory in (spec.submodule_search_locations or []) if spec else []:
        for folder, subfolders, files in sorted(os.walk(directory)):
            subfolders.sort()
            for name in sorted(f for f in files if f.endswith(".py")):
                path = os.path.join(folder, name)
                with open(path, "rb") as handle:
                    rel = os.path.relpath(path, directory)
                    chunks += [rel.encode(), handle.read()]
    return f"{version}+{_digest(*chunks)[:SHORT_KEY]}"


def module_source(node: BaseComponent) -> str:
    """Source text of the module that defines the node's component."""
    module = sys.modules.get(type(node).__module__)
    try:
        return inspect.getsource(module)
    except (OSError, TypeError):
        # No file (e.g. defined in a REPL): the executor's bytecode instead.
        executor = inspect.unwrap(type(node).EXECUTOR)
        return executor.__code__.co_code.hex()


def cache_key(
    node: BaseComponent,
    inputs: dict[str, types.Artifact | None],
    version: str,
) -> str:
    """The hex sha256 that names `node`'s execution on `inputs`."""
    context = {
        "type": f"{type(node).__module__}.{type(node).__name__}",
        "code_version": version,
        "parameters": node.exec_properties,
        "input_fingerprint": node.input_fingerprint(),
        "inputs": {
            key: None
            if artifact is None
            else [artifact.id, artifact.properties.get("fingerprint")]
            for key, artifact in sorted(inputs.items())
        },
    }
    text = json.dumps(context, sort_keys=True, default=str)
    return _digest(module_source(node).encode(), text.encode())
