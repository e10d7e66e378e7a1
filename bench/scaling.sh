#!/usr/bin/env bash
# bench/scaling.sh — data-parallel throughput on this machine: 1 vs 2 MPI ranks x 1 thread, the
# bytes all-reduced per step, the time spent in the all-reduce and the overlap the bucketed
# all-reduce achieves (docs/scaling.md).
#   bash bench/scaling.sh [REPEATS] [MAX_BATCHES]      (defaults 3 and 40)
#   MODES="1x1 2x1 2x1o 1x2" MODELS=mlp bash bench/scaling.sh  ranks x threads combinations, some models
# A mode is RANKSxTHREADS; with 2+ ranks the gradients go out in buckets of train.dist_bucket_mb
# (default 2 MB) during backward, and a trailing "o" selects the one-shot all-reduce after
# backward (train.dist_bucket_mb: 0) for comparison. The overlap is 1 - (the bucketed run's
# communication left after backward, per step) / (the one-shot all-reduce per step): the share
# of the all-reduce hidden behind backward.
# For each model (experiments/fashion_mnist_{mlp,cnn}.yaml, batch 100) it trains one epoch of
# MAX_BATCHES batches with 1 rank, then with 2 (`mpirun -np 2`), alternating REPEATS times so both
# see the same load; samples/s is the trainer's own figure (global batch / median step time,
# metrics.jsonl). It prints the medians, the load average, and writes them to
# build/bench_scaling.txt. Needs Open MPI (scripts/deps.sh) and the Fashion-MNIST package.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-3}
MAXB=${2:-40}
MODES=${MODES:-1x1 2x1 2x1o}   # RANKSxTHREADS[o]
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
      m=${mode%o} np=${m%x*} th=${m#*x} bucket=()
      [ "$m" != "$mode" ] && bucket=(--set train.dist_bucket_mb=0)
      dir=$TMP/$model-$mode-$r
      if [ "$np" = 1 ]; then
        $MVAE train "$exp" --out "$dir" --set train.threads="$th" "${SETS[@]}" > "$dir.log" 2>&1 || { cat "$dir.log"; exit 1; }
      else
        mpirun -np "$np" --oversubscribe --bind-to none $MVAE train "$exp" --out "$dir" --set train.threads="$th" \
          "${bucket[@]}" "${SETS[@]}" > "$dir.log" 2>&1 || { cat "$dir.log"; exit 1; }
      fi
      sps=$(sed -n 's/.*"samples_per_sec": \([0-9.]*\).*/\1/p' "$dir/metrics.jsonl" | head -1)
      # rank 0's totals: bytes of every float all-reduce, blocking seconds; bucketed: exposed seconds
      ar=$(sed -n 's/^mvae dist: rank 0 of [0-9]*: [0-9]* float all-reduces, \([0-9]*\) bytes .*, \([0-9.]*\) s in them.*/\1 \2/p' "$dir.log")
      bk=$(sed -n 's/^mvae dist: rank 0 of [0-9]*: bucketed: \([0-9]*\) steps, \([0-9]*\) buckets started during backward, \([0-9]*\) after it; \([0-9.]*\) s exposed.*overlap window \([0-9.]*\) ms per step.*, \([0-9.]*\) ms per step in MPI calls during backward.*/\1 \2 \3 \4 \5 \6/p' "$dir.log")
      line="run $model ranks=$np threads=$th rep=$r samples_per_sec=$sps"
      if [ -n "$ar" ]; then
        set -- $ar
        line="$line allreduce_bytes_per_step=$(( $1 / MAXB )) allreduce_ms_per_step=$(python3 -c "print(f'{1e3 * $2 / $MAXB:.2f}')")"
      fi
      if [ -n "$bk" ]; then
        set -- $bk
        line="$line bucketed=1 buckets_in_backward_per_step=$(( $2 / $1 )) buckets_after_per_step=$(( $3 / $1 )) exposed_ms_per_step=$(python3 -c "print(f'{1e3 * $4 / $1:.2f}')") window_ms_per_step=$5 mpi_in_backward_ms_per_step=$6"
      fi
      echo "$line"
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
    if not line.startswith("run "): continue
    kv = dict(f.split("=", 1) for f in line.split()[2:])
    key = (line.split()[1], int(kv["ranks"]), int(kv["threads"]), "bucketed" in kv)
    rows.setdefault(key, []).append(kv)
med = lambda rs, k: statistics.median(float(r[k]) for r in rs)
for model in ("mlp", "cnn"):
    base = rows.get((model, 1, 1, False))
    if not base: continue
    s1 = med(base, "samples_per_sec")
    oneshot = {}
    for (mm, np, th, bk), rs in sorted(rows.items()):
        if mm != model: continue
        s = med(rs, "samples_per_sec")
        extra = ""
        if np > 1 and not bk:
            oneshot[(np, th)] = med(rs, "allreduce_ms_per_step")
            extra = f"; one-shot all-reduce: {float(rs[0]['allreduce_bytes_per_step']) / 1e6:.2f} MB per step, {oneshot[(np, th)]:.1f} ms per step (rank 0, waiting included)"
        if bk:
            ex = med(rs, "exposed_ms_per_step")
            extra = (f"; bucketed: {float(rs[0]['allreduce_bytes_per_step']) / 1e6:.2f} MB per step in "
                     f"{rs[0]['buckets_in_backward_per_step']} + {rs[0]['buckets_after_per_step']} buckets (during + after backward), "
                     f"{ex:.1f} ms per step exposed after backward, window {med(rs, 'window_ms_per_step'):.1f} ms, "
                     f"{med(rs, 'mpi_in_backward_ms_per_step'):.1f} ms per step in MPI calls during backward")
        print(f"median {model} {np} rank(s) x {th} thread(s){' bucketed' if bk else ''}: {s:.0f} samples/s, speed-up {s / s1:.2f} over 1x1{extra}")
    for (mm, np, th, bk), rs in sorted(rows.items()):
        if mm == model and bk and (np, th) in oneshot and oneshot[(np, th)] > 0:
            ov = 1 - med(rs, "exposed_ms_per_step") / oneshot[(np, th)]
            ov2 = 1 - (med(rs, "exposed_ms_per_step") + med(rs, "mpi_in_backward_ms_per_step")) / oneshot[(np, th)]
            print(f"overlap {model} {np} rank(s) x {th} thread(s): {100 * ov:.0f} % of the one-shot all-reduce time hidden behind backward "
                  f"({100 * ov2:.0f} % counting the MPI calls made during backward as not hidden)")
PY
mv "$OUT.tmp" "$OUT"
