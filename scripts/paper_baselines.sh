#!/usr/bin/env bash
# The NN and LOGREG baselines of sweeps/paper_weak_supervision.yaml (its variants nn, logreg),
# trained one at a time into the sweep's own run directories, so that they can run beside the
# two halves sweeps/paper_weak_supervision_{a,b}.yaml (a sweep cannot be split by variant).
# Resumable like `mvae sweep`: a run with metrics.json is skipped, one with last.ckpt resumed.
# `mvae sweep sweeps/paper_weak_supervision.yaml` afterwards finds them finished and lists them.
#   scripts/paper_baselines.sh [FRACTION...]      (default: 0.001 0.01 0.1 1.0)
set -euo pipefail
cd "$(dirname "$0")/.."
out=runs/paper-weak-supervision
fracs=("$@")
[ ${#fracs[@]} -gt 0 ] || fracs=(0.001 0.01 0.1 1.0)
common=(--set train.epochs=100 --set train.threads=1 --set eval.log_likelihood.samples=10
        --set eval.log_likelihood.max_test=100 --set eval.coherence.max_test=2000 --set eval.pictures=false
        --set "train.objective.supervised={from: image, to: label}" --set dataset.paired_only=true
        --set eval.coherence.enabled=false --set fusion.prior_expert=false)
logreg=(--set "modalities.image.encoder.hidden=[]" --set "modalities.label.decoder.hidden=[]")
for v in nn logreg; do
  for f in "${fracs[@]}"; do
    dir="$out/dataset.paired_fraction=$f,seed=1,variant=$v"
    if [ -f "$dir/metrics.json" ]; then echo "$dir: finished before, skipped"; continue; fi
    extra=()
    [ "$v" = logreg ] && extra=("${logreg[@]}")
    echo "$dir"
    if [ -f "$dir/last.ckpt" ] && [ -f "$dir/config.yaml" ]; then
      ./build/mvae train --resume "$dir"
    else
      ./build/mvae train experiments/fashion_mnist_mlp.yaml "${common[@]}" "${extra[@]}" \
        --set dataset.paired_fraction="$f" --set seed=1 --out "$dir"
    fi
  done
done
