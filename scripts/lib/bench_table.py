"""Turns Google Benchmark JSON from benchmarks/*_bench into the tables scripts/bench prints."""
import json
import sys


def medians(path):
    data = json.load(open(path))
    rows = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name") != "median":
            continue
        rows[b["run_name"]] = b
    return data["context"], rows


def gemm_table(path):
    context, rows = medians(path)
    peak = next(b for name, b in rows.items() if name.startswith("peak/"))["GFLOPS"]
    print(f"GEMM, row-major C = A * B, float; single-core FMA peak measured in this run: {peak:.1f} GFLOP/s")
    print(f"{'shape (M x N x K)':44} {'thr':>3} {'ganad':>8} {'Eigen':>8} {'ratio':>6} {'% peak':>7}")
    for name, b in rows.items():
        if not name.startswith("gemm/ganad/"):
            continue
        rest = name[len("gemm/ganad/"):]
        eigen = rows.get("gemm/eigen/" + rest)
        shape, dims, threads = rest.split("/")[:3]
        t = int(threads[1:])
        g = b["GFLOPS"]
        e = eigen["GFLOPS"] if eigen else float("nan")
        print(f"{shape + ' ' + dims:44} {t:>3} {g:8.1f} {e:8.1f} {g / e:6.2f} {100 * g / (peak * t):6.1f}%")
    print(f"(GFLOP/s, medians; {context.get('num_cpus')} CPUs, {context.get('mhz_per_cpu')} MHz)")


if __name__ == "__main__":
    {"gemm": gemm_table}[sys.argv[1]](sys.argv[2])
