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
# the options this run used, read back from its resolved config
opt() { awk -v k="$1" '$1 == k":" { print $2; exit }' "$out/config.yaml"; }
echo "Options: $(opt epochs) epochs, train.kl_anneal_epochs: $(opt kl_anneal_epochs)," \
  "train.objective.cross_reconstruct: $(opt cross_reconstruct), iw_samples: $(opt iw_samples)" \
  "(experiments/quickstart.yaml; why: docs/results/objective_options.md)."
echo "The original MVAE objective at this budget: experiments/quickstart_recipe.yaml;" \
  "the paper's full recipe: experiments/fashion_mnist_mlp.yaml (docs/results/paper_tables.md)."
