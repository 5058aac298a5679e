#!/usr/bin/env bash
# Installs ssl_tf and its pinned dependencies into the current Python if
# they are missing. Safe to run again: it only installs what is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c "import tensorflow, keras, keras_cv, tensorflow_datasets, apache_beam, google_crc32c, pytest, xdist, PIL, matplotlib" 2>/dev/null; then
  echo "Installing ssl_tf and its dependencies (a few minutes on a fresh machine)..."
  "$PYTHON" -m pip install -q --upgrade pip
  "$PYTHON" -m pip install -q -e ".[dev]"
else
  # Dependencies are there; (re)link this checkout so `ssl_tf` and `ssl-tf`
  # are the code in this directory (a few seconds).
  "$PYTHON" -m pip install -q --no-deps -e . 2>&1 | grep -v "Running pip as the 'root'" || true
fi
