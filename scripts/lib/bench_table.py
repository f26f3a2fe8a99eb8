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
    print(f"{'shape (M x N x K)':44} {'thr':>3} {'ganad':>8} {'Eigen':>8} {'ratio':>6} {'% peak':>7} {'bf16':>8} {'x fp32':>7}")
    for name, b in rows.items():
        if not name.startswith("gemm/ganad/"):
            continue
        rest = name[len("gemm/ganad/"):]
        eigen = rows.get("gemm/eigen/" + rest)
        bf16 = rows.get("gemm/ganad_bf16/" + rest)  # bf16 products, where the machine has them
        shape, dims, threads = rest.split("/")[:3]
        t = int(threads[1:])
        g = b["GFLOPS"]
        e = eigen["GFLOPS"] if eigen else float("nan")
        extra = f" {bf16['GFLOPS']:8.1f} {bf16['GFLOPS'] / g:7.2f}" if bf16 else ""
        print(f"{shape + ' ' + dims:44} {t:>3} {g:8.1f} {e:8.1f} {g / e:6.2f} {100 * g / (peak * t):6.1f}%{extra}")
    print(f"(GFLOP/s, medians; {context.get('num_cpus')} CPUs, {context.get('mhz_per_cpu')} MHz)")


def pytorch_times(path):
    info, times = {}, {}
    for line in open(path):
        rec = json.loads(line)
        if rec["bench"] == "info":
            info = rec
        else:
            times[(rec["name"], rec["threads"])] = rec["ms"]
    return info, times


def side_by_side(prefix, json_path, torch_path, title):
    context, rows = medians(json_path)
    info, torch_ms = pytorch_times(torch_path)
    peak = None
    print(title)
    print(f"PyTorch {info.get('torch')} (BLAS {info.get('blas')}, oneDNN {info.get('mkldnn')}), same batch and threads")
    print(f"{'case':40} {'thr':>3} {'ganad ms':>9} {'torch ms':>9} {'speedup':>8} {'GFLOP/s':>8} {'% peak':>7}")
    for name, b in rows.items():
        if not name.startswith(prefix):
            continue
        case, threads = name[len(prefix):].rsplit("/t", 1)
        threads = int(threads.split("/")[0])
        ms = b["real_time"] if b.get("time_unit") == "ms" else b["real_time"] / 1e6
        t = torch_ms.get((case, threads))
        speedup = f"{t / ms:8.2f}" if t else "       -"
        tstr = f"{t:9.2f}" if t else "        -"
        if "peak_GFLOPS" in b:
            peak = b["peak_GFLOPS"] / threads
            flops = f"{b['GFLOPS']:8.1f} {100 * b['GFLOPS'] / b['peak_GFLOPS']:6.1f}%"
        else:
            flops = f"{'-':>8} {'-':>7}"
        print(f"{case:40} {threads:>3} {ms:9.2f} {tstr} {speedup} {flops}")
        for suffix in ("_bf16", "_mixed"):  # ganad in bf16 against PyTorch in fp32 too
            fp32 = torch_ms.get((case.replace(suffix, ""), threads)) if suffix in case else None
            if fp32:
                print(f"{'  (vs PyTorch fp32)':40} {threads:>3} {ms:9.2f} {fp32:9.2f} {fp32 / ms:8.2f}")
    if peak:
        print(f"(medians; single-core FMA peak measured in the ganad run: {peak:.1f} GFLOP/s; speedup = PyTorch ms / ganad ms)")


if __name__ == "__main__":
    if sys.argv[1] == "gemm":
        gemm_table(sys.argv[2])
    elif sys.argv[1] == "gan":
        side_by_side("gan/", sys.argv[2], sys.argv[3], "One DCGAN training iteration at batch 64 (32.8 GFLOP)")
        _, rows = medians(sys.argv[2])
        for name, b in rows.items():
            print(f"{name}: {b.get('images_per_s', 0):.0f} images/s, peak RSS {b.get('peak_rss_MB', 0):.0f} MB, "
                  f"{b.get('allocs_per_iter', 0):.2f} buffer allocations per iteration after the first")
    elif sys.argv[1] == "score":
        side_by_side("score/", sys.argv[2], sys.argv[3], "Scoring (eval mode, no gradients)")
        _, rows = medians(sys.argv[2])
        for name, b in rows.items():
            print(f"{name}: {b.get('images_per_s', 0):.0f} images/s")
    elif sys.argv[1] == "layers":
        side_by_side("layer/", sys.argv[2], sys.argv[3], "Layers of the seed's DCGAN (forward; forward + backward as training runs it)")
