#!/usr/bin/env bash
# Every evaluation protocol on the cifar10-quick SimCLR encoder and its
# random-init baseline, on CIFAR-10 and transferred to Fashion-MNIST.
# Run after `bash scripts/demo.sh`. Results: results/eval/*.json and a table.
#   bash scripts/eval_suite.sh [model ...]
#   DATASETS=cifar10 bash scripts/eval_suite.sh     # skip the transfer part
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${TFDS_DATA_DIR:-}" ] && [ -d ../shared/tfds/cifar10 ]; then
  export TFDS_DATA_DIR=$(cd ../shared/tfds && pwd)
fi
models=("${@:-saved_models/cifar10-quick saved_models/cifar10-quick-random}")
args=()
for m in ${models[@]}; do args+=(--model "$m"); done
out=results/eval
for dataset in ${DATASETS:-cifar10 fashion_mnist}; do
  run() { ssl-tf eval "$@" --dataset "$dataset" --output-dir "$out/$dataset" "${args[@]}"; }
  run linear
  run knn
  run fewshot --tag 1shot --option k_shot=1
  run fewshot --tag 5shot --option k_shot=5
  run finetune --tag 10pct --option label_fraction=0.1
  if [ "$dataset" = cifar10 ]; then
    run finetune --tag 1pct --option label_fraction=0.01
    run neighbors --option num_queries=8
  fi
done
ssl-tf eval report "$out"/*/*.json | tee results/eval/summary.md
