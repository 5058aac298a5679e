#!/usr/bin/env bash
# The main job: install what is missing, then pretrain SimCLR on CIFAR-10
# with the cifar10-quick preset, export the encoder, and compare linear-probe
# and kNN accuracy against a randomly initialised encoder.
#   bash scripts/demo.sh [extra `ssl-tf demo` arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Use the prepared offline copy of the TFDS datasets when it is there;
# elsewhere set TFDS_DATA_DIR (ssl_tf never downloads; prepare CIFAR-10
# with `tfds build cifar10 --data_dir DIR` on a machine with network).
if [ -z "${TFDS_DATA_DIR:-}" ] && [ -d ../shared/tfds/cifar10 ]; then
  export TFDS_DATA_DIR=$(cd ../shared/tfds && pwd)
fi
exec ssl-tf demo --preset cifar10-quick "$@"
