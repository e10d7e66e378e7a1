#!/usr/bin/env python3
"""Table of docs/results/compositionality.md from the probe files:
   python3 docs/results/compositionality/summarize.py RUNS_DIR  (RUNS_DIR/<model>_s<seed>/probe.json)
   python3 docs/results/compositionality/summarize.py docs/results/compositionality  (the copies)"""
import json, os, statistics, sys

runs = sys.argv[1] if len(sys.argv) > 1 else "/work/runs/comp"
models = [("image", "image-only VAE"), ("mvae", "MVAE {joint, unimodal}"), ("vaevae", "VAEVAE (PoE q(z|x,y))"),
          ("jmvae", "JMVAE-kl (alpha 0.1)"), ("mopoe", "MoPoE (joint ELBO)")]


def ms(v):
    if not v:
        return "—"
    if len(v) == 1:
        return "%.3f" % v[0]
    return "%.3f ± %.3f" % (statistics.mean(v), statistics.stdev(v))


rows1, rows2, rows3 = [], [], []
real = None
for key, label in models:
    ps = []
    for seed in (1, 2, 3):
        p = os.path.join(runs, "%s_s%d" % (key, seed), "probe.json")
        if not os.path.exists(p):  # the copies in docs/results/compositionality/
            p = os.path.join(runs, "%s_s%d.json" % (key, seed))
        if os.path.exists(p):
            ps.append(json.load(open(p)))
    if not ps:
        continue
    ie = [p["image_encoder"] for p in ps]
    get = lambda f: [f(x) for x in ie]
    rows1.append("| %s | %d | %s | %s | %s | %s | %s |" % (
        label, len(ps), ms(get(lambda x: x["probe"]["role"])), ms(get(lambda x: x["probe"]["gender"])),
        ms(get(lambda x: x["probe"]["tone"])), ms(get(lambda x: x["tre_rel"])), ms(get(lambda x: x["tre_cos"]))))
    rc = [p["image_scores"]["recon_unseen"] for p in ps if "image_scores" in p]
    if rc:
        rows3.append("| %s | %d | %s | %s | %s |" % (label, len(rc), ms([x["role"] for x in rc]), ms([x["gender"] for x in rc]),
                                                  ms([x["tone"] for x in rc])))
        real = ps[0]["image_scores"]["real_unseen"]
    ct = [p["caption_to_image"] for p in ps if "caption_to_image" in p]
    if ct:
        g = lambda f: [f(x) for x in ct]
        rows2.append("| %s | %d | %s | %s | %s | %s | %s |" % (
            label, len(ct), ms(g(lambda x: x["caption_unseen"]["role"])), ms(g(lambda x: x["caption_unseen"]["gender"])),
            ms(g(lambda x: x["caption_unseen"]["tone"])), ms(g(lambda x: x["caption_unseen_all3"])),
            "%s / %s / %s" % (ms(g(lambda x: x["caption_seen"]["role"])), ms(g(lambda x: x["caption_seen"]["gender"])),
                              ms(g(lambda x: x["caption_seen"]["tone"])))))
pix = os.path.join(runs, "pixels_probe.json")
if not os.path.exists(pix):
    pix = os.path.join(runs, "pixels.json")
print("| representation | seeds | probe role | probe gender | probe tone | TRE rel (L1) | TRE cos |")
print("|---|---|---|---|---|---|---|")
if os.path.exists(pix):
    x = json.load(open(pix))["image_encoder"]
    print("| 16x16 pixels (no model) | — | %.3f | %.3f | %.3f | %.3f | %.3f |" % (
        x["probe"]["role"], x["probe"]["gender"], x["probe"]["tone"], x["tre_rel"], x["tre_cos"]))
print("\n".join(rows1))
print()
print("| model | seeds | caption→image role | gender | tone | all three | seen captions (role / gender / tone) |")
print("|---|---|---|---|---|---|---|")
print("\n".join(rows2))
print()
print("| model | seeds | reconstruction of unseen images: role | gender | tone |")
print("|---|---|---|---|---|")
if real:
    print("| real unseen images (the classifiers' own accuracy) | — | %.3f | %.3f | %.3f |" % (real["role"], real["gender"], real["tone"]))
print("\n".join(rows3))
