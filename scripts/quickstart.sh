#!/usr/bin/env bash
# The main job: install what is missing, build, then train and evaluate the default experiment
# (the MVAE on the real Fashion-MNIST, a few minutes on 2 cores) and print where the results are.
#   scripts/quickstart.sh [extra `mvae train` arguments, e.g. --set train.epochs=5]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh build
out="runs/quickstart-$(date +%Y%m%d-%H%M%S)"
./build/mvae train experiments/quickstart.yaml --out "$out" "$@"
echo
echo "Results of the default experiment (experiments/quickstart.yaml):"
cat "$out/metrics.json"
echo "Pictures: $(ls "$out"/*.png | tr '\n' ' ')"
