#!/usr/bin/env bash
# quality.sh — train experiments/fashion_mnist_mlp.yaml with mvae and with the PyTorch peer
# (/work/shared/bench/peer_mvae.py, --variant shared) under the same settings, evaluate both on
# the test split and print the results side by side (Markdown table, mean ± std over seeds).
#
#   bench/quality.sh                                   # 10 epochs, seeds 1 2, K=1000, N=10000
#   EPOCHS=1 SEEDS=1 K=20 N=200 MAX_BATCHES=50 bench/quality.sh      # smoke test, ~1 minute
#   bench/quality.sh --epochs 5 --seeds "1 2 3" --k 200 --n 2000 --threads 1 --out runs/quality
#
# Settings (environment variable or flag; flags win):
#   EPOCHS       --epochs       training epochs (default 10)
#   SEEDS        --seeds        space-separated seeds (default "1 2")
#   K            --k            importance samples for log p(image) (default 1000)
#   N            --n            test images for log p(image) (default 10000 = the whole test split)
#   THREADS      --threads      OpenBLAS threads for both (default 1)
#   MAX_BATCHES  --max-batches  batches per epoch, 0 = full epochs (default 0); mvae gets
#                               --set train.max_batches, the peer --batches
#   OUT          --out          directory for the runs and logs (default: a new mktemp -d)
#   PARALLEL     --parallel     1: run mvae and the peer of a seed at the same time (only sensible
#                               with THREADS=1 on this 2-core machine; throughput figures are then
#                               not comparable to solo runs). Default 0.
#   MVAE                        the mvae binary (default build/mvae, else build-b/mvae)
#   PEER                        the peer script (default /work/shared/bench/peer_mvae.py)
#   PEER_PYTHON                 the peer's interpreter (default /usr/bin/python3: torch lives there)
#
# Both use: KL annealed linearly per batch over 200 epochs, label weight 50, batch 100, Adam 1e-3,
# latent 64, swish (the experiment file; the peer's flags --annealing-epochs 200 --lambda-text 50).
# The peer gets glibc malloc tuning from its README (MALLOC_*), and OMP_WAIT_POLICY=PASSIVE.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

EPOCHS=${EPOCHS:-10}
SEEDS=${SEEDS:-"1 2"}
K=${K:-1000}
N=${N:-10000}
THREADS=${THREADS:-1}
MAX_BATCHES=${MAX_BATCHES:-0}
OUT=${OUT:-}
PARALLEL=${PARALLEL:-0}
PEER=${PEER:-/work/shared/bench/peer_mvae.py}
PEER_PYTHON=${PEER_PYTHON:-/usr/bin/python3}
EXP=${EXP:-$root/experiments/fashion_mnist_mlp.yaml}

usage() { sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --epochs) EPOCHS=$2; shift 2 ;;
        --seeds) SEEDS=$2; shift 2 ;;
        --k) K=$2; shift 2 ;;
        --n) N=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --max-batches) MAX_BATCHES=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --parallel) PARALLEL=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "quality.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

if [ -z "${MVAE:-}" ]; then
    for c in "$root/build/mvae" "$root/build-b/mvae"; do
        if [ -x "$c" ]; then MVAE=$c; break; fi
    done
fi
if [ -z "${MVAE:-}" ] || [ ! -x "$MVAE" ]; then
    echo "quality.sh: no mvae binary (build it, or set MVAE=path)" >&2
    exit 1
fi
[ -f "$PEER" ] || { echo "quality.sh: peer script '$PEER' not found (set PEER=path)" >&2; exit 1; }
"$PEER_PYTHON" -c 'import torch' 2>/dev/null || { echo "quality.sh: $PEER_PYTHON cannot import torch" >&2; exit 1; }
[ -n "$OUT" ] || OUT=$(mktemp -d /tmp/mvae-quality.XXXXXX)
mkdir -p "$OUT"

echo "quality: epochs=$EPOCHS seeds=[$SEEDS] K=$K N=$N threads=$THREADS max_batches=$MAX_BATCHES parallel=$PARALLEL"
echo "quality: mvae=$MVAE peer=$PEER out=$OUT"
echo "quality: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-unset} nproc=$(nproc)"

run_mvae() { # seed
    local s=$1 dir="$OUT/mvae-seed$1"
    rm -rf "$dir"
    local extra=()
    [ "$MAX_BATCHES" -gt 0 ] && extra+=(--set "train.max_batches=$MAX_BATCHES")
    local t0=$SECONDS
    OPENBLAS_NUM_THREADS=$THREADS "$MVAE" train "$EXP" --set "seed=$s" --set "train.epochs=$EPOCHS" \
        --set "train.threads=$THREADS" --set "eval.log_likelihood.samples=$K" \
        --set "eval.log_likelihood.max_test=$N" --set eval.pictures=false "${extra[@]}" \
        --out "$dir" --quiet >"$OUT/mvae-seed$s.log" 2>&1 || {
        echo "quality.sh: mvae failed for seed $s; last lines of $OUT/mvae-seed$s.log:" >&2
        tail -n 20 "$OUT/mvae-seed$s.log" >&2
        return 1
    }
    echo "$((SECONDS - t0))" >"$OUT/mvae-seed$s.wall"
}

run_peer() { # seed
    local s=$1
    local extra=()
    [ "$MAX_BATCHES" -gt 0 ] && extra+=(--batches "$MAX_BATCHES")
    local t0=$SECONDS
    OPENBLAS_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS OMP_WAIT_POLICY=PASSIVE \
    MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=17179869184 MALLOC_TOP_PAD_=536870912 \
        "$PEER_PYTHON" "$PEER" --arch mlp --variant shared --epochs "$EPOCHS" --eval --eval-k "$K" \
        --eval-n "$N" --annealing-epochs 200 --lambda-text 50 --seed "$s" --threads "$THREADS" \
        "${extra[@]}" >"$OUT/peer-seed$s.log" 2>&1 || {
        echo "quality.sh: the peer failed for seed $s; last lines of $OUT/peer-seed$s.log:" >&2
        tail -n 20 "$OUT/peer-seed$s.log" >&2
        return 1
    }
    echo "$((SECONDS - t0))" >"$OUT/peer-seed$s.wall"
}

for s in $SEEDS; do
    echo "quality: seed $s: training mvae and the peer ..."
    if [ "$PARALLEL" = 1 ]; then
        run_mvae "$s" & pm=$!
        run_peer "$s" & pp=$!
        rc=0
        wait $pm || rc=1
        wait $pp || rc=1
        [ $rc = 0 ] || exit 1
    else
        run_mvae "$s"
        run_peer "$s"
    fi
    echo "quality: seed $s: done (mvae $(cat "$OUT/mvae-seed$s.wall") s, peer $(cat "$OUT/peer-seed$s.wall") s)"
done

# Any python3 parses the results (json + the peer's key=value lines).
python3 - "$OUT" "$SEEDS" "$EPOCHS" "$K" "$N" "$THREADS" "$MAX_BATCHES" <<'EOF'
import json, math, os, re, statistics, sys

out, seeds, epochs, K, N, threads, max_batches = sys.argv[1:]
seeds = seeds.split()

def kv(line):
    return dict(re.findall(r'(\S+?)=(\S+)', line))

ORDER = ['mvae test ELBO (joint, nats; higher is better)',
         'peer test_loss (sum of 3 ELBO losses, z = mu; lower is better)',
         'log p(image), importance-sampled (nats)',
         'accuracy image->label, z ~ q',
         'accuracy image->label, z = mean',
         'train samples/s (noisy)',
         'wall seconds, train + eval (noisy)']
rows = {k: {'mvae': [], 'peer': []} for k in ORDER}  # metric -> {'mvae': [...], 'peer': [...]}
def add(metric, who, v):
    rows.setdefault(metric, {'mvae': [], 'peer': []})[who].append(float(v))

for s in seeds:
    with open(os.path.join(out, f'mvae-seed{s}', 'metrics.json')) as f:
        m = json.load(f)
    t = m['test']
    add('mvae test ELBO (joint, nats; higher is better)', 'mvae', t['elbo'])
    add('log p(image), importance-sampled (nats)', 'mvae', t['log_p']['image'])
    add('accuracy image->label, z ~ q', 'mvae', t['accuracy']['image->label'])
    add('accuracy image->label, z = mean', 'mvae', t['accuracy_mean_z']['image->label'])
    sps = m.get('train', {}).get('samples_per_sec')
    if sps is not None:
        add('train samples/s (noisy)', 'mvae', sps)
    add('wall seconds, train + eval (noisy)', 'mvae', open(os.path.join(out, f'mvae-seed{s}.wall')).read())

    ev, rates = None, []
    for line in open(os.path.join(out, f'peer-seed{s}.log')):
        if line.startswith('eval '):
            ev = kv(line)
        elif line.startswith('epoch='):
            rates.append(float(kv(line)['steady_samples_per_sec']))
    if ev is None:
        sys.exit(f'quality.sh: no eval line in {out}/peer-seed{s}.log')
    add('peer test_loss (sum of 3 ELBO losses, z = mu; lower is better)', 'peer', ev['test_loss'])
    add('log p(image), importance-sampled (nats)', 'peer', ev['logpx_qx'])
    add('accuracy image->label, z ~ q', 'peer', ev['acc_zsample'])
    add('accuracy image->label, z = mean', 'peer', ev['acc_zmu'])
    if rates:
        add('train samples/s (noisy)', 'peer', statistics.median(rates))
    add('wall seconds, train + eval (noisy)', 'peer', open(os.path.join(out, f'peer-seed{s}.wall')).read())

def ms(v, pct=False):
    if not v:
        return '—'
    f = (lambda x: f'{100 * x:.2f}') if pct else (lambda x: f'{x:.2f}' if abs(x) < 1e4 else f'{x:.0f}')
    if len(v) == 1:
        return f(v[0])
    return f'{f(statistics.mean(v))} ± {f(statistics.stdev(v))}'

print()
print(f'## mvae vs PyTorch peer: Fashion-MNIST MLP MVAE, {epochs} epoch{"s" if epochs != "1" else ""}'
      f'{", " + max_batches + " batches/epoch" if max_batches != "0" else ""}, seeds {" ".join(seeds)}, '
      f'K={K}, N={N}, threads={threads}')
print()
print('mean ± std over seeds (accuracy in %). The ELBO rows are different quantities and are not compared.')
print()
print('| metric | mvae | peer | mvae − peer |')
print('|---|---|---|---|')
checks = []
for metric, d in rows.items():
    pct = metric.startswith('accuracy')
    diff = '—'
    if d['mvae'] and d['peer'] and not metric.startswith(('train', 'wall')):
        dm = statistics.mean(d['mvae']) - statistics.mean(d['peer'])
        diff = f'{100 * dm:+.2f}' if pct else f'{dm:+.2f}'
        if metric.startswith('log p'):
            checks.append((f'log p(image) within 1 nat (|{dm:+.2f}| <= 1)', abs(dm) <= 1.0))
        elif pct:
            checks.append((f'{metric} within 2 points (|{100 * dm:+.2f}| <= 2)', abs(100 * dm) <= 2.0))
    print(f'| {metric} | {ms(d["mvae"], pct)} | {ms(d["peer"], pct)} | {diff} |')
print()
for name, ok in checks:
    print(f'- {name}: **{"yes" if ok else "no"}**')
print()
print(f'runs and logs: {out}')
EOF
