#!/usr/bin/env bash
# Every evaluation protocol on the cifar10-quick SimCLR encoder, its
# random-init baseline and (when it has been pretrained) the supervised
# baseline, on CIFAR-10 and transferred to Fashion-MNIST.
# Run after `bash scripts/demo.sh`. Results: results/eval/*.json and a table.
#   bash scripts/eval_suite.sh [model ...]
#   DATASETS=cifar10 bash scripts/eval_suite.sh     # skip the transfer part
# The supervised row: `ssl-tf pretrain --preset cifar10-quick
# --method supervised` (or the methods demo in the README) first.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${TFDS_DATA_DIR:-}" ] && [ -d ../shared/tfds/cifar10 ]; then
  export TFDS_DATA_DIR=$(cd ../shared/tfds && pwd)
fi
if [ $# -gt 0 ]; then
  models=("$@")
else
  models=(saved_models/cifar10-quick saved_models/cifar10-quick-random)
  if [ -d saved_models/cifar10-quick-supervised ]; then
    models+=(saved_models/cifar10-quick-supervised)
  fi
fi
args=()
for m in "${models[@]}"; do args+=(--model "$m"); done
out=results/eval
for dataset in ${DATASETS:-cifar10 fashion_mnist}; do
  run() { ssl-tf eval "$@" --dataset "$dataset" --output-dir "$out/$dataset" "${args[@]}"; }
  run linear
  run knn
  run fewshot --tag 1shot --option k_shot=1
  run fewshot --tag 5shot --option k_shot=5
  run finetune --tag 10pct --option label_fraction=0.1
  run finetune --tag 1pct --option label_fraction=0.01
  if [ "$dataset" = cifar10 ]; then
    run neighbors --option num_queries=8
  fi
done
ssl-tf eval report "$out"/*/*.json | tee results/eval/summary.md
