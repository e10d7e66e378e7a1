#!/usr/bin/env bash
# One training step of the MVAE (bench_step --model) with each GEMM backend, interleaved: for each
# case and thread count, ROUNDS rounds of (variant 1, variant 2, ...), then the median samples/s of
# each and its ratio to OpenBLAS. A variant is an ISA of mvae's own kernels (avx512, avx2,
# generic: MVAE_ISA=...) or blas (MVAE_GEMM=blas: OpenBLAS's cblas_sgemm under the same step).
#
#   bench/isa_step.sh                                        # MLP and CNN, 1 and 2 threads
#   VARIANTS="avx2 blas" CASES=mlp THREADS=1 ROUNDS=3 bench/isa_step.sh
#
# Prints the load average before and after: on a shared machine compare only figures of one run.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=${BENCH:-build/bench_step}
VARIANTS=${VARIANTS:-"avx2 blas"}
CASES=${CASES:-"mlp cnn"}
THREADS=${THREADS:-"1 2"}
ROUNDS=${ROUNDS:-3}
[ -x "$BENCH" ] || { echo "isa_step.sh: $BENCH not built (cmake --build build)"; exit 1; }
key() { grep -o "$1=[^ ]*" | head -1 | cut -d= -f2; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u '+%Y-%m-%d %H:%M') UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| case | threads | variant | gemm | samples/s (median of $ROUNDS) | ms/step | fraction of own GEMM bound | vs blas |"
echo "|---|---|---|---|---|---|---|---|"
for c in $CASES; do
  if [ "$c" = mlp ]; then exp=experiments/fashion_mnist_mlp.yaml; steps=60; else
    exp=experiments/fashion_mnist_cnn.yaml; steps=12; fi
  for t in $THREADS; do
    declare -A sps=() msp=() frac=() name=()
    for r in $(seq "$ROUNDS"); do
      for v in $VARIANTS; do
        if [ "$v" = blas ]; then e=(MVAE_GEMM=blas); else e=(MVAE_ISA="$v"); fi
        out=$(env "${e[@]}" "$BENCH" --model "$exp" --threads "$t" --steps "$steps" --warmup 5 --quiet-shapes)
        sps[$v]+=" $(echo "$out" | grep '^step' | key samples_per_sec)"
        msp[$v]+=" $(echo "$out" | grep '^step' | key ms_per_step_med)"
        frac[$v]+=" $(echo "$out" | grep '^bound' | head -1 | key fraction_of_gemm_bound)"
        name[$v]=$(echo "$out" | grep '^bound' | head -1 | key gemm)
      done
    done
    base=""
    [[ " $VARIANTS " == *" blas "* ]] && base=$(echo "${sps[blas]}" | median)
    for v in $VARIANTS; do
      s=$(echo "${sps[$v]}" | median)
      ratio="-"; [ -n "$base" ] && ratio=$(awk -v a="$s" -v b="$base" 'BEGIN {printf "%.2f", a / b}')
      echo "| $c | $t | $v | ${name[$v]} | $s | $(echo "${msp[$v]}" | median) | $(echo "${frac[$v]}" | median) | $ratio |"
    done
    unset sps msp frac name
  done
done
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
