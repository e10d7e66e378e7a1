#!/usr/bin/env python3
"""Markdown tables for docs/results/kfs_digits.md from the evaluations of several runs.

usage: kfs_tables.py table|coherence|probe|compare RUN_METRICS.json ... [--names a,b,c]

  table      the given-subset table (-log p per modality, label accuracy), mean +- std over the files
  coherence  classifier-based coherence of every direction, mean +- std, and the classifiers' accuracy
  probe      linear probes (accuracy; R^2 for real targets), mean +- std
  compare    one column per file (--names): label accuracy and coherence per given subset

Each file is a metrics.json / eval_last.json written by `mvae train` or `mvae eval`. The standard
deviation is the sample standard deviation (n - 1) over the files; with one file only the value.
"""
import json
import math
import sys

MODS = ["kannada", "persian", "audio"]


def load(paths):
    return [json.load(open(p))["test"] for p in paths]


def ms(vals, fmt):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    m = sum(vals) / len(vals)
    if len(vals) == 1:
        return fmt.format(m)
    sd = math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1))
    return (fmt + " ± " + fmt).format(m, sd)


def rows_of(t):
    return list(t["subsets"].keys())


def given_name(row):
    return row.replace(",", ", ")


def table(ts):
    out = ["| given | kannada | persian | audio | label accuracy |", "|---|---|---|---|---|"]
    for row in rows_of(ts[0]):
        cells = []
        for k in MODS:
            c = ms([t["subsets"][row]["nll"].get(k) for t in ts], "{:.1f}")
            cells.append("**" + c + "**" if k in row.split(",") else c)
        cells.append(ms([t["subsets"][row]["accuracy"].get("label") for t in ts], "{:.3f}"))
        out.append("| " + given_name(row) + " | " + " | ".join(cells) + " |")
    return "\n".join(out)


def coherence(ts):
    out = ["| given | → kannada | → persian | → audio |", "|---|---|---|---|"]
    for row in rows_of(ts[0]):
        given = row.split(",")
        if len(given) == len(MODS):
            continue
        cells = []
        for k in MODS:
            key = row + "->" + k
            cells.append("(given)" if k in given else ms([t["coherence"].get(key) for t in ts], "{:.3f}"))
        out.append("| " + given_name(row) + " | " + " | ".join(cells) + " |")
    out.append("| *classifier on real test data* | " +
               " | ".join(ms([t["classifier_accuracy"].get(k) for t in ts], "{:.3f}") for k in MODS) + " |")
    return "\n".join(out)


def probe(ts):
    targets = []
    for key in ts[0]["probe"]:
        tgt = key.split("->", 1)[1]
        if tgt not in targets:
            targets.append(tgt)
    out = ["| probe target | from kannada | from persian | from audio |", "|---|---|---|---|"]
    for tgt in targets:
        cells = [ms([t["probe"].get(k + "->" + tgt) for t in ts], "{:.3f}") for k in MODS]
        name = tgt.replace(":r2", " (R²)")
        out.append("| " + name + " | " + " | ".join(cells) + " |")
    return "\n".join(out)


def compare(ts, names):
    out = ["| given | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for row in rows_of(ts[0]):
        out.append("| " + given_name(row) + " → label | " +
                   " | ".join("{:.3f}".format(t["subsets"][row]["accuracy"]["label"]) for t in ts) + " |")
    out.append("| test ELBO (nats, higher is better) | " + " | ".join("{:.1f}".format(t["elbo"]) for t in ts) + " |")
    for key in ts[0]["coherence"]:
        out.append("| " + key.replace("->", " → ").replace(",", ", ") + " (coherence) | " +
                   " | ".join("{:.3f}".format(t["coherence"][key]) if key in t["coherence"] else "-" for t in ts) + " |")
    for key in ts[0]["probe"]:
        if key.endswith(":r2"):
            out.append("| " + key.replace(":r2", " (probe R²)").replace("->", " → ") + " | " +
                       " | ".join("{:.3f}".format(t["probe"][key]) if key in t["probe"] else "-" for t in ts) + " |")
    return "\n".join(out)


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    names = None
    if "--names" in argv:
        i = argv.index("--names")
        names = argv[i + 1].split(",")
        argv = argv[:i] + argv[i + 2:]
    ts = load(argv[2:])
    kind = argv[1]
    if kind == "table":
        print(table(ts))
    elif kind == "coherence":
        print(coherence(ts))
    elif kind == "probe":
        print(probe(ts))
    elif kind == "compare":
        print(compare(ts, names or [str(i) for i in range(len(ts))]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
