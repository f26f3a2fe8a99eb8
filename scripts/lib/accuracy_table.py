#!/usr/bin/python3
"""Summarises scoring runs: for each folder given, every results JSON in it (one per seed or
split) as one markdown table, each scorer's AUROC mean (min-max), and the means of AUPRC, TPR at
5% FPR and the calibrated threshold's false-positive rate on the test normals. Reads the JSON
that examples/scoring_study and examples/mnist_detector write, and baselines.json when the
folder's data set has one (data/sklearn/<set>/baselines.json)."""
import glob
import json
import os
import statistics
import sys


def span(values):
    return f"{statistics.mean(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def table(folder):
    runs = runs_of(folder)
    if not runs:
        print(f"{folder}: no results")
        return
    print(f"\n### {os.path.basename(folder.rstrip('/'))}: {len(runs)} runs")
    if "train_seconds" in runs[0]:
        print(f"GAN training {statistics.mean(r['train_seconds'] for r in runs):.2f} s mean")
    kinds = "auroc_by_kind" in next(iter(runs[0]["scorers"].values()))
    kind_names = list(next(iter(runs[0]["scorers"].values())).get("auroc_by_kind", {}))
    head = "| scorer | AUROC mean (range) | AUPRC | TPR at 5% FPR | test FPR at the threshold |" + "".join(f" {k} |" for k in kind_names)
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for name in runs[0]["scorers"]:
        rs = [r["scorers"][name] for r in runs if name in r["scorers"]]
        line = (f"| {name} | {span([r['auroc'] for r in rs])} | {statistics.mean(r['auprc'] for r in rs):.3f} | "
                f"{statistics.mean(r['tpr_at_5_fpr'] for r in rs):.3f} | {100 * statistics.mean(r['test_fpr'] for r in rs):.1f}% |")
        if kinds:
            line += "".join(f" {statistics.mean(r['auroc_by_kind'][k] for r in rs):.3f} |" for k in kind_names)
        print(line)
    set_name = runs[0].get("set")
    base = f"data/sklearn/{set_name}/baselines.json" if set_name else None
    if base and os.path.exists(base):
        b = json.load(open(base))
        for name in ("raw_knn", "isolation_forest"):
            rs = [b[s][name] for s in b]
            print(f"| baseline: {name} (scikit-learn) | {span([r['auroc'] for r in rs])} | {statistics.mean(r['auprc'] for r in rs):.3f} | "
                  f"{statistics.mean(r['tpr_at_5_fpr'] for r in rs):.3f} | - |")


def runs_of(folder):
    return [json.load(open(p)) for p in sorted(glob.glob(os.path.join(folder, "*.json")) + glob.glob(os.path.join(folder, "*/results.json")))]


def summary(folders):
    """One table, scorer x data set: AUROC mean (range) over each folder's runs."""
    sets = [(os.path.basename(f.rstrip("/")), runs_of(f)) for f in folders]
    sets = [(n, r) for n, r in sets if r]
    names = []
    for _, runs in sets:
        for name in runs[0]["scorers"]:
            if name not in names:
                names.append(name)
    print("\n| scorer | " + " | ".join(n for n, _ in sets) + " |")
    print("|---|" + "---|" * len(sets))
    for name in names:
        cells = []
        for _, runs in sets:
            a = [r["scorers"][name]["auroc"] for r in runs if name in r["scorers"]]
            cells.append(span(a) if a else "-")
        print(f"| {name} | " + " | ".join(cells) + " |")


folders = sys.argv[1:]
for f in folders:
    table(f)
if len(folders) > 1:
    summary(folders)
