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
#   ISAS="auto avx2 generic" SETTINGS=set bench/compare.sh   # the ISA as a dimension (MVAE_ISA per run)
#   RAW=FILE also keeps the per-run lines the medians come from
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
ISAS=${ISAS:-auto} # MVAE_ISA values, each run in turn (auto: unset, the build's default kernels)
PEER=${PEER:-../shared/bench/peer_mvae.py}
PY=${PY:-/usr/bin/python3}
BENCH=${BENCH:-build/bench_step}
[ -x "$BENCH" ] || { echo "compare.sh: $BENCH not built (cmake --build build)"; exit 1; }
[ -f "$PEER" ] || { echo "compare.sh: the peer $PEER is missing"; exit 1; }
"$PY" -c 'import torch' 2>/dev/null || {
  echo "compare.sh: $PY cannot import torch: MVAE_DEPS_OPTIONAL=peer scripts/deps.sh build (python3-torch)"; exit 1; }

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
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg) ($(date -u +%H:%M) UTC)"
# isa_env ISA: the environment for one mvae run (auto: MVAE_ISA unset, the build's default choice)
isa_env() { if [ "$1" = auto ]; then echo "-u MVAE_ISA"; else echo "MVAE_ISA=$1"; fi; }
res="$tmp/results" # one line per run: kind case threads setting isa key=value...
: > "$res"
for c in $CASES; do
  if [ "$c" = mlp ]; then exp=experiments/fashion_mnist_mlp.yaml; arch=mlp; msteps=60; pb=70; else
    exp=experiments/fashion_mnist_cnn.yaml; arch=cnn; msteps=12; pb=22; fi
  for t in $THREADS; do
    for s in $SETTINGS; do
      omp=(); [ "$t" -gt 1 ] && omp=(OMP_WAIT_POLICY=PASSIVE)
      for i in $(seq "$PAIRS"); do
        for isa in $ISAS; do
          # shellcheck disable=SC2046
          out=$(with_setting "$s" env $(isa_env "$isa") "$BENCH" --model "$exp" --threads "$t" --steps "$msteps" --warmup 5 --quiet-shapes)
          echo "mvae $c $t $s $isa" \
               "sps=$(echo "$out" | grep '^step' | key samples_per_sec)" \
               "rss=$(echo "$out" | grep '^memory_train' | key peak_rss_mib)" \
               "gflops=$(echo "$out" | grep '^step' | key gflops)" \
               "fg=$(echo "$out" | grep '^bound gemm=' | grep -v sgemm_bound | key fraction_of_gemm_bound)" \
               "fb=$(echo "$out" | grep '^bound gemm=openblas sgemm' | key fraction_of_sgemm_bound)" \
               "core=$(echo "$out" | grep '^config' | key openblas_core)" \
               "gemm=$(echo "$out" | grep '^bound gemm=' | grep -v sgemm_bound | key gemm)" >> "$res"
        done
        pout=$(with_setting "$s" env "${peer_env[@]}" "${omp[@]}" "$PY" "$tmp/peer_rss.py" "$PEER" --arch "$arch" \
               --variant shared --batches "$pb" --warmup 10 --threads "$t")
        echo "peer $c $t $s - sps=$(echo "$pout" | grep '^epoch' | key steady_samples_per_sec)" \
             "rss=$(echo "$pout" | grep '^memory' | key peak_rss_mib) core=$(echo "$pout" | grep '^config' | key openblas_core)" >> "$res"
      done
      echo "done: $c, $t thread(s), OpenBLAS variables $s (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    done
  done
done

if [ "$EVAL" = 1 ]; then
  for i in $(seq "$PAIRS"); do
    for isa in $ISAS; do
      # shellcheck disable=SC2046
      m=$(env $(isa_env "$isa") "$BENCH" --model experiments/fashion_mnist_mlp.yaml --threads 1 --eval "$EVAL_K" "$EVAL_N")
      echo "eval mlp 1 set $isa sec=$(echo "$m" | grep '^eval' | key ll_sec) rss=$(echo "$m" | grep '^memory' | key peak_rss_mib)" >> "$res"
    done
    p=$(env "${peer_env[@]}" "$PY" "$tmp/peer_rss.py" "$PEER" --arch mlp --variant shared --batches 1 --warmup 0 \
        --threads 1 --eval --eval-k "$EVAL_K" --eval-n "$EVAL_N")
    echo "peval mlp 1 set - sec=$(echo "$p" | grep '^eval' | key iw_sec) rss=$(echo "$p" | grep '^memory' | key peak_rss_mib)" >> "$res"
  done
  echo "done: evaluation (load $(cut -d' ' -f1 /proc/loadavg))" >&2
fi
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg) ($(date -u +%H:%M) UTC)"
[ -n "${RAW:-}" ] && cp "$res" "$RAW"

"$PY" - "$res" "$EVAL_K" "$EVAL_N" <<'EOF'
import math, statistics as st, sys
rows = []
for line in open(sys.argv[1]):
    f = line.split()
    d = dict(kind=f[0], case=f[1], t=f[2], s=f[3], isa=f[4])
    for kv in f[5:]:
        k, _, v = kv.partition('=')
        d[k] = v
    rows.append(d)
def med(rs, k):
    v = []
    for r in rs:
        try: v.append(float(r.get(k, 'nan')))
        except ValueError: pass
    v = [x for x in v if not math.isnan(x)]
    return st.median(v) if v else float('nan')
keys = []
for r in rows:
    if r['kind'] == 'mvae' and (r['case'], r['t'], r['s'], r['isa']) not in keys:
        keys.append((r['case'], r['t'], r['s'], r['isa']))
if keys:
    print("| model | threads | OpenBLAS setting (kernel mvae / peer) | MVAE_ISA (GEMM) | mvae samples/s | peer samples/s | mvae/peer "
          "| mvae peak RSS MiB | peer peak RSS MiB | RSS ratio | mvae GFLOP/s | fraction of mvae GEMM bound "
          "| fraction of OpenBLAS sgemm bound | fraction of the best bound |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for c, t, s, isa in keys:
    m = [r for r in rows if r['kind'] == 'mvae' and (r['case'], r['t'], r['s'], r['isa']) == (c, t, s, isa)]
    p = [r for r in rows if r['kind'] == 'peer' and (r['case'], r['t'], r['s']) == (c, t, s)]
    ms, ps, mr, pr = med(m, 'sps'), med(p, 'sps'), med(m, 'rss'), med(p, 'rss')
    fg, fb = med(m, 'fg'), med(m, 'fb')
    pcore = p[0].get('core', '?') if p else '?'
    print(f"| {c} | {t} | {s} ({m[0].get('core', '?')} / {pcore}) | {isa} ({m[0].get('gemm', '?')}) "
          f"| {ms:.0f} | {ps:.0f} | **{ms / ps:.2f}x** | {mr:.0f} | {pr:.0f} | {mr / pr:.2f} | {med(m, 'gflops'):.0f} "
          f"| {fg:.2f} | {fb:.2f} | {min(fg, fb):.2f} |")
ev = [r for r in rows if r['kind'] == 'eval']
pe = [r for r in rows if r['kind'] == 'peval']
if ev:
    print()
    print(f"evaluation: log p(image) and log p(image,label), K={sys.argv[2]} importance samples, "
          f"first {sys.argv[3]} test images, 1 thread")
    print("| MVAE_ISA | mvae s | peer s | speed-up | mvae peak RSS MiB | peer peak RSS MiB | RSS ratio |")
    print("|---|---|---|---|---|---|---|")
    ps, pr = med(pe, 'sec'), med(pe, 'rss')
    for isa in dict.fromkeys(r['isa'] for r in ev):
        e = [r for r in ev if r['isa'] == isa]
        m, mr = med(e, 'sec'), med(e, 'rss')
        print(f"| {isa} | {m:.2f} | {ps:.2f} | **{ps / m:.2f}x** | {mr:.0f} | {pr:.0f} | {mr / pr:.2f} |")
EOF
