"""Writing a file so that a reader never sees half of it.

A leaf module: every layer may use it, and it imports only the standard
library.
"""

import os
import tempfile


def write_text(path: str, text: str) -> str:
    """Writes `text` to `path` atomically; returns `path`.

    See `write_with`.
    """
    return write_with(path, lambda stream: stream.write(text.encode()))


def write_with(path: str, write) -> str:
    """Calls `write(binary stream)` to fill `path` atomically; returns it.

    The text goes to a temporary file in the same directory, is flushed to
    disk, and is renamed over `path`: a reader, or a rerun after a crash,
    sees the old file or the new one, never part of one. The file is
    readable by all (`0o644`), as `open` would create it.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, staging = tempfile.mkstemp(suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            os.fchmod(stream.fileno(), 0o644)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(staging, path)
    except BaseException:
        if os.path.exists(staging):
            os.remove(staging)
        raise
    return path
