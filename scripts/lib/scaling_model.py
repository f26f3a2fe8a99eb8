#!/usr/bin/env python3
"""The scaling model of docs/distributed.md, on paper: step time and efficiency of data-parallel
training at P ranks, from one rank's measured step time and the models' parameter counts.

Reads distributed_bench's JSON lines (one per model, ranks = 1, one thread) on stdin; prints a
Markdown table: per cell, the step time, the efficiency without overlap and (in brackets) with.

Weak scaling: every rank keeps a batch of 64, so compute time per step stays one rank's,
t1. A step adds ganad's allreduces:
  - the gradients of D, then of G, each a ring: 2 (P - 1) messages of S / P bytes, costing
    2 (P - 1) alpha + 2 (P - 1) / P * S / beta;
  - a few short sums and allgathers (batch sizes, the loss statistics, BatchNorm's running
    statistics): an allgather each, log2(P) rounds: log2(P) alpha + (P - 1) s / beta.
Without overlap, step = t1 + comm and efficiency = t1 / step. With the gradient allreduce
overlapped with backward (buckets reduced as backward produces them, as PyTorch DDP does), up
to the backward time is hidden: step = t1 + max(0, comm - backward), with backward taken as
BACKWARD_SHARE of t1.
"""
import json
import math
import sys

NETWORKS = {  # name: (alpha seconds per message, beta bytes per second achieved)
    "10 Gbit/s (TCP)": (25e-6, 1.17e9),
    "100 Gbit/s (RDMA)": (2e-6, 11.5e9),
}
RANKS = [8, 64, 256]
SHORT_SUMS = 4          # per step: batch sizes, D's and G's statistics, BatchNorm's running statistics
SHORT_BYTES = 64        # each rank's contribution to one of them (BatchNorm's: a few KB; see below)
BACKWARD_SHARE = 0.55   # of a step: D's two backward passes, and G's backward through D
CORES_PER_RANK = [1, 16]  # t1 is measured on one core; 16 assumes a perfect speed-up


def ring(p, size, alpha, beta):
    return 2 * (p - 1) * alpha + 2 * (p - 1) / p * size / beta


def allgather(p, size, alpha, beta):
    return math.ceil(math.log2(p)) * alpha + (p - 1) * size / beta


def main():
    rows = [json.loads(line) for line in sys.stdin if line.strip().startswith("{")]
    head = " | ".join(f"{p} ranks" for p in RANKS)
    print(f"| model (gradients per step) | cores per rank | network | {head} |")
    print("|---|---|---|" + "---|" * len(RANKS))
    for r in rows:
        grads = 4 * (r["g_params"] + r["d_params"])
        for cores in CORES_PER_RANK:
            t1 = r["median_ms"] / 1e3 / cores  # linear speed-up inside a rank: the optimistic case for compute
            for net, (alpha, beta) in NETWORKS.items():
                cells = []
                for p in RANKS:
                    comm = ring(p, 4 * r["d_params"], alpha, beta) + ring(p, 4 * r["g_params"], alpha, beta)
                    comm += SHORT_SUMS * allgather(p, SHORT_BYTES, alpha, beta)
                    step = t1 + comm
                    hidden = t1 + max(0.0, comm - BACKWARD_SHARE * t1)
                    cells.append(f"{1e3 * step:.0f} ms, {100 * t1 / step:.0f}% ({100 * t1 / hidden:.0f}%)")
                print(f"| {r['model']} ({grads / 1e6:.1f} MB) | {cores} | {net} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
