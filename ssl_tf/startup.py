"""Importing TensorFlow without its start-up INFO lines.

TensorFlow 2.21 logs through absl before absl's logging is initialised, and
absl writes such messages to stderr whatever `TF_CPP_MIN_LOG_LEVEL` says.
So every `import ssl_tf` printed four lines (twice "All log messages before
absl::InitializeLog() is called are written to STDERR" and the oneDNN
notice), which buried a quiet run's own output. `import_tensorflow` holds
the native stderr while TensorFlow loads and writes back every line except
those known notices, so warnings and errors still reach the user. It
filters only when `TF_CPP_MIN_LOG_LEVEL` asks for warnings or less (>= 1),
the level at which TensorFlow itself means to drop INFO lines.
"""

from __future__ import annotations

import os
import sys
import tempfile

# Lines TF 2.21 prints at INFO level on import (see the module docstring).
START_UP_NOTICES = (
    "WARNING: All log messages before absl::InitializeLog() is called are "
    "written to STDERR",
    "oneDNN custom operations are on.",
)


def drop_notices(text: str) -> str:
    """`text` without the lines that hold one of `START_UP_NOTICES`."""
    kept = [
        line
        for line in text.splitlines(keepends=True)
        if not any(notice in line for notice in START_UP_NOTICES)
    ]
    return "".join(kept)


def _quiet_requested() -> bool:
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0")
    return level.isdigit() and int(level) >= 1


def import_tensorflow():
    """Imports TensorFlow, dropping its start-up notices when quiet."""
    if "tensorflow" in sys.modules or not _quiet_requested():
        import tensorflow

        return tensorflow
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as held:
        os.dup2(held.fileno(), 2)
        try:
            import tensorflow
        finally:
            # Restored and replayed even when the import fails, so its
            # error output reaches the user.
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            text = drop_notices(held.read().decode(errors="replace"))
            if text:
                sys.stderr.write(text)
                sys.stderr.flush()
    return tensorflow
