#!/usr/bin/env bash
# bench/scaling.sh — data-parallel throughput on this machine: 1 vs 2 MPI ranks x 1 thread, the
# bytes all-reduced per step and the time spent in the all-reduce (docs/scaling.md).
#   bash bench/scaling.sh [REPEATS] [MAX_BATCHES]      (defaults 3 and 40)
#   MODES="1x1 2x1 1x2" MODELS=mlp bash bench/scaling.sh  ranks x threads combinations, some models
# For each model (experiments/fashion_mnist_{mlp,cnn}.yaml, batch 100) it trains one epoch of
# MAX_BATCHES batches with 1 rank, then with 2 (`mpirun -np 2`), alternating REPEATS times so both
# see the same load; samples/s is the trainer's own figure (global batch / median step time,
# metrics.jsonl). It prints the medians, the load average, and writes them to
# build/bench_scaling.txt. Needs Open MPI (scripts/deps.sh) and the Fashion-MNIST package.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-3}
MAXB=${2:-40}
MODES=${MODES:-1x1 2x1}   # RANKSxTHREADS
MODELS=${MODELS:-mlp cnn}
MVAE=build/mvae
command -v mpirun > /dev/null || { echo "bench/scaling.sh: mpirun not found (install openmpi-bin)"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 MVAE_DIST_STATS=1
TMP=$(mktemp -d /tmp/mvae_scaling_XXXXXX)
trap 'rm -rf "$TMP"' EXIT
OUT=build/bench_scaling.txt
SETS=(--set train.epochs=1 --set train.max_batches="$MAXB" --set train.progress=none
      --set eval.coherence.enabled=false --set eval.pictures=false --set "eval.log_likelihood={samples: 1, terms: [image], max_test: 100}"
      --set eval.probe.max_train=100 --quiet)
{
echo "# bench/scaling.sh $REPS $MAXB, $(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for model in $MODELS; do
  exp=experiments/fashion_mnist_$model.yaml
  for r in $(seq 1 "$REPS"); do
    for mode in $MODES; do
      np=${mode%x*} th=${mode#*x}
      dir=$TMP/$model-$mode-$r
      if [ "$np" = 1 ]; then
        $MVAE train "$exp" --out "$dir" --set train.threads="$th" "${SETS[@]}" > "$dir.log" 2>&1 || { cat "$dir.log"; exit 1; }
      else
        mpirun -np "$np" --oversubscribe --bind-to none $MVAE train "$exp" --out "$dir" --set train.threads="$th" "${SETS[@]}" \
          > "$dir.log" 2>&1 || { cat "$dir.log"; exit 1; }
      fi
      sps=$(sed -n 's/.*"samples_per_sec": \([0-9.]*\).*/\1/p' "$dir/metrics.jsonl" | head -1)
      ar=$(sed -n 's/^mvae dist: rank 0 of [0-9]*: .* bytes (\([0-9]*\) per call), .* (\([0-9.]*\) ms per call.*/\1 \2/p' "$dir.log")
      echo "run $model ranks=$np threads=$th rep=$r samples_per_sec=$sps ${ar:+allreduce_bytes_per_step=${ar% *} allreduce_ms_per_step=${ar#* }}"
    done
  done
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT.tmp"
# medians (samples/s: the trainer's figure; speed-up over 1 rank x 1 thread)
python3 - "$OUT.tmp" <<'PY' | tee -a "$OUT.tmp"
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r"run (\w+) ranks=(\d+)(?: threads=(\d+))? rep=\d+ samples_per_sec=([\d.]+)(?: allreduce_bytes_per_step=(\d+) allreduce_ms_per_step=([\d.]+))?", line)
    if m:
        rows.setdefault((m[1], int(m[2]), int(m[3] or 1)), []).append((float(m[4]), m[5], m[6]))
for model in ("mlp", "cnn"):
    base = rows.get((model, 1, 1))
    if not base: continue
    s1 = statistics.median(r[0] for r in base)
    for (mm, np, th), rs in sorted(rows.items()):
        if mm != model: continue
        s = statistics.median(r[0] for r in rs)
        extra = ""
        if rs[0][1]:
            ms = statistics.median(float(r[2]) for r in rs)
            extra = f"; all-reduce {int(rs[0][1]) / 1e6:.2f} MB per step, {ms:.1f} ms per step (rank 0, waiting included)"
        print(f"median {model} {np} rank(s) x {th} thread(s): {s:.0f} samples/s, speed-up {s / s1:.2f} over 1x1{extra}")
PY
mv "$OUT.tmp" "$OUT"
