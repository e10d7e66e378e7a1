#!/usr/bin/env python3
"""Tables of docs/results/impartial.md from a sweep directory of sweeps/impartial_fusions.yaml:
per fusion and method, mean +- sample std over seeds of the given-subset table (-log p(x_k | mean
q(z | x_S)), eval.subsets), the importance-sampled log-likelihoods, cross and joint coherence, the
linear probe, and the training time per epoch relative to `none` (same fusion).
    python3 scripts/impartial_tables.py SWEEP_DIR > tables.md
Runs without metrics.json are skipped; a joint coherence missing from metrics.json (runs evaluated
before it existed) is read from the run's eval_last.json (`mvae eval RUN`)."""
import json, os, statistics, sys

def load(d):
    out = {}
    for name in sorted(os.listdir(d)):
        p = os.path.join(d, name)
        if not os.path.isfile(os.path.join(p, 'metrics.json')):
            continue
        axes = dict(kv.split('=', 1) for kv in name.split(','))
        m = json.load(open(os.path.join(p, 'metrics.json')))
        t = m['test']
        coh = dict(t.get('coherence', {}))
        if 'prior->image' not in coh and os.path.isfile(os.path.join(p, 'eval_last.json')):
            e = json.load(open(os.path.join(p, 'eval_last.json')))
            c2 = e.get('test', e).get('coherence', {})
            if 'prior->image' in c2:
                coh['prior->image'] = c2['prior->image']
        secs = [json.loads(l)['seconds'] for l in open(os.path.join(p, 'metrics.jsonl')) if l.strip()]
        s = t.get('subsets', {})
        row = {
            'nll image|image': s.get('image', {}).get('nll', {}).get('image'),
            'nll image|label': s.get('label', {}).get('nll', {}).get('image'),
            'nll image|both': s.get('image,label', {}).get('nll', {}).get('image'),
            'nll label|image': s.get('image', {}).get('nll', {}).get('label'),
            'nll label|label': s.get('label', {}).get('nll', {}).get('label'),
            'nll label|both': s.get('image,label', {}).get('nll', {}).get('label'),
            'acc label|image': s.get('image', {}).get('accuracy', {}).get('label'),
            'acc label|both': s.get('image,label', {}).get('accuracy', {}).get('label'),
            'log p(image)': t['log_p'].get('image'),
            'log p(image,label)': t['log_p'].get('image,label'),
            'log p(image|label)': t['log_p'].get('image|label'),
            'coh label->image': coh.get('label->image'),
            'coh joint': coh.get('prior->image'),
            'probe': t.get('probe', {}).get('image->label'),
            's/epoch': sum(secs) / len(secs),
        }
        key = (axes['fusion.plugin'], axes['train.impartial.method'])
        out.setdefault(key, []).append(row)
    return out

def ms(vals, fmt):
    vals = [v for v in vals if v is not None]
    if not vals:
        return '—'
    if len(vals) == 1:
        return (fmt % vals[0]) + ' (1 seed)'
    return (fmt % statistics.mean(vals)) + ' ± ' + (fmt % statistics.stdev(vals))

def main():
    d = sys.argv[1]
    runs = load(d)
    order = ['none', 'pcgrad', 'imtl_g', 'mgda', 'gradnorm', 'cagrad', 'graddrop', 'gradvac', 'nash_mtl', 'aligned_mtl']
    for fusion in ['poe', 'moe', 'mopoe']:
        meths = [m for m in order if (fusion, m) in runs]
        if not meths:
            continue
        base = statistics.mean(r['s/epoch'] for r in runs.get((fusion, 'none'), [{'s/epoch': float('nan')}]))
        print(f'\n### {fusion}\n')
        print('Given-subset table: -log p(x_k | mean q(z | x_S)) in nats (lower is better), and the label accuracy.\n')
        print('| method | image\\|image | image\\|label | image\\|both | label\\|image | label\\|label | label\\|both | acc label\\|image | acc label\\|both |')
        print('|---|---|---|---|---|---|---|---|---|')
        for m in meths:
            r = runs[(fusion, m)]
            print(f'| {m} (n={len(r)}) | ' + ' | '.join(ms([x[k] for x in r], f) for k, f in [
                ('nll image|image', '%.1f'), ('nll image|label', '%.1f'), ('nll image|both', '%.1f'),
                ('nll label|image', '%.3f'), ('nll label|label', '%.3f'), ('nll label|both', '%.3f'),
                ('acc label|image', '%.3f'), ('acc label|both', '%.3f')]) + ' |')
        print('\nImportance-sampled log-likelihoods (K = 20, 300 test points), coherence, probe, cost.\n')
        print('| method | log p(image) | log p(image,label) | log p(image\\|label) | coherence label→image | joint coherence | linear probe | s/epoch | cost vs none |')
        print('|---|---|---|---|---|---|---|---|---|')
        for m in meths:
            r = runs[(fusion, m)]
            cost = statistics.mean(x['s/epoch'] for x in r) / base
            print(f'| {m} | ' + ' | '.join(ms([x[k] for x in r], f) for k, f in [
                ('log p(image)', '%.1f'), ('log p(image,label)', '%.1f'), ('log p(image|label)', '%.1f'),
                ('coh label->image', '%.3f'), ('coh joint', '%.3f'), ('probe', '%.3f'), ('s/epoch', '%.1f')]) +
                  f' | {cost:.2f} |')

main()
