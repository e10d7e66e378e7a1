#!/usr/bin/env bash
# mvae against the PyTorch peer (../shared/bench/peer_mvae.py), same model, data, batch size and
# objective, interleaved (mvae, peer, mvae, peer, ...) in one run. Prints one Markdown table:
# training samples/s (median of per-batch medians over PAIRS pairs, steady state), peak RSS, the
# ratio mvae/peer, mvae's achieved GFLOP/s and its fraction of the GEMM bounds measured in the
# same run, for the MLP and CNN MVAE at 1 and 2 threads, with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE
# as the machine sets them and unset; then the evaluation case (importance-sampled log p(image)
# and log p(image,label), K samples, N test images).
#
#   bench/compare.sh                       # everything (~15 min on 2 quiet cores)
#   PAIRS=1 CASES="mlp" THREADS="1" SETTINGS="set" EVAL=0 bench/compare.sh   # a quick look
#
# mvae's peak RSS is its training peak (VmHWM read before bench_step's isolated GEMM timings,
# which allocate their own operands and wake OpenBLAS's buffers); the peer's is its whole run.
#
# The peer gets its best conditions: its fastest variant (--variant shared: each expert once per
# batch, like mvae), OPENBLAS_NUM_THREADS = its thread count, OMP_WAIT_POLICY=PASSIVE with 2
# threads, and glibc malloc tuning (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_,
# MALLOC_TOP_PAD_), which its README says speeds it up by a third.
set -euo pipefail
cd "$(dirname "$0")/.."

PAIRS=${PAIRS:-3}
CASES=${CASES:-"mlp cnn"}
THREADS=${THREADS:-"1 2"}
SETTINGS=${SETTINGS:-"set unset"}
EVAL=${EVAL:-1}
EVAL_K=${EVAL_K:-1000}
EVAL_N=${EVAL_N:-200}
PEER=${PEER:-../shared/bench/peer_mvae.py}
PY=${PY:-/usr/bin/python3}
BENCH=${BENCH:-build/bench_step}
[ -x "$BENCH" ] || { echo "compare.sh: $BENCH not built (cmake --build build)"; exit 1; }
[ -f "$PEER" ] || { echo "compare.sh: the peer $PEER is missing"; exit 1; }
"$PY" -c 'import torch' 2>/dev/null || { echo "compare.sh: $PY cannot import torch: apt-get install python3-torch"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# the peer, with its peak RSS printed at exit (resource.getrusage)
cat > "$tmp/peer_rss.py" <<'EOF'
import resource, runpy, sys
peer = sys.argv[1]
sys.argv = [peer] + sys.argv[2:]
try:
    runpy.run_path(peer, run_name='__main__')
finally:
    print('memory peak_rss_mib=%.1f' % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0))
EOF
peer_env=(MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=17179869184 MALLOC_TOP_PAD_=536870912)
key() { grep -o "$1=[^ ]*" | head -1 | cut -d= -f2; }

with_setting() { # with_setting set|unset CMD... : run CMD with OpenBLAS's variables as set or unset
  if [ "$1" = unset ]; then shift; env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$@"; else shift; "$@"; fi
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"\
     "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-unset}, $(date -u +%Y-%m-%d)"
rows=()
for c in $CASES; do
  if [ "$c" = mlp ]; then exp=experiments/fashion_mnist_mlp.yaml; arch=mlp; msteps=60; pb=70; else
    exp=experiments/fashion_mnist_cnn.yaml; arch=cnn; msteps=12; pb=22; fi
  for t in $THREADS; do
    for s in $SETTINGS; do
      ms=(); ps=(); mr=(); pr=(); gf=(); fg=(); fb=(); core=""; pcore=""
      omp=(); [ "$t" -gt 1 ] && omp=(OMP_WAIT_POLICY=PASSIVE)
      for i in $(seq "$PAIRS"); do
        out=$(with_setting "$s" "$BENCH" --model "$exp" --threads "$t" --steps "$msteps" --warmup 5 --quiet-shapes)
        ms+=("$(echo "$out" | grep '^step' | key samples_per_sec)")
        mr+=("$(echo "$out" | grep '^memory_train' | key peak_rss_mib)")
        gf+=("$(echo "$out" | grep '^step' | key gflops)")
        fg+=("$(echo "$out" | grep '^bound gemm=mvae\|^bound gemm=openblas gemm_bound' | key fraction_of_gemm_bound)")
        fb+=("$(echo "$out" | grep '^bound gemm=openblas sgemm' | key fraction_of_sgemm_bound)")
        core=$(echo "$out" | grep '^config' | key openblas_core)
        pout=$(with_setting "$s" env "${peer_env[@]}" "${omp[@]}" "$PY" "$tmp/peer_rss.py" "$PEER" --arch "$arch" \
               --variant shared --batches "$pb" --warmup 10 --threads "$t")
        ps+=("$(echo "$pout" | grep '^epoch' | key steady_samples_per_sec)")
        pr+=("$(echo "$pout" | grep '^memory' | key peak_rss_mib)")
        pcore=$(echo "$pout" | grep '^config' | key openblas_core)
      done
      rows+=("$("$PY" - "$c" "$t" "$s" "$core" "$pcore" "${ms[*]}" "${ps[*]}" "${mr[*]}" "${pr[*]}" "${gf[*]}" "${fg[*]}" "${fb[*]}" <<'EOF'
import statistics as st, sys
c, t, s, core, pcore = sys.argv[1:6]
f = [[float(x) for x in a.split()] if a.strip() else [float('nan')] for a in sys.argv[6:]]
ms, ps, mr, pr, gf, fg, fb = (st.median(v) for v in f)
print(f"| {c} | {t} | {s} ({core} / {pcore}) | {ms:.0f} | {ps:.0f} | **{ms/ps:.2f}x** | {mr:.0f} | {pr:.0f} | {mr/pr:.2f} | {gf:.0f} | {fg:.2f} | {fb:.2f} |")
EOF
)")
      echo "${rows[-1]}"
    done
  done
done
echo
echo "| model | threads | OpenBLAS setting (kernel mvae / peer) | mvae samples/s | peer samples/s | mvae/peer | mvae peak RSS MiB | peer peak RSS MiB | RSS ratio | mvae GFLOP/s | fraction of mvae GEMM bound | fraction of OpenBLAS sgemm bound |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for r in "${rows[@]}"; do echo "$r"; done

if [ "$EVAL" = 1 ]; then
  echo
  echo "evaluation: log p(image) and log p(image,label), K=$EVAL_K importance samples, first $EVAL_N test images, 1 thread"
  m=$("$BENCH" --model experiments/fashion_mnist_mlp.yaml --threads 1 --eval "$EVAL_K" "$EVAL_N")
  p=$(env "${peer_env[@]}" "$PY" "$tmp/peer_rss.py" "$PEER" --arch mlp --variant shared --batches 1 --warmup 0 \
      --threads 1 --eval --eval-k "$EVAL_K" --eval-n "$EVAL_N")
  msec=$(echo "$m" | grep '^eval' | key ll_sec); psec=$(echo "$p" | grep '^eval' | key iw_sec)
  mrss=$(echo "$m" | grep '^memory' | key peak_rss_mib); prss=$(echo "$p" | grep '^memory' | key peak_rss_mib)
  "$PY" - "$msec" "$psec" "$mrss" "$prss" <<'EOF'
import sys
m, p, mr, pr = map(float, sys.argv[1:])
print("| case | mvae s | peer s | speed-up | mvae peak RSS MiB | peer peak RSS MiB |")
print("|---|---|---|---|---|---|")
print(f"| importance-sampled log-likelihoods | {m:.1f} | {p:.1f} | **{p/m:.2f}x** | {mr:.0f} | {pr:.0f} |")
EOF
fi
