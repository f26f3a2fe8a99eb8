"""PyTorch side of ganad's benchmarks: the same layers, shapes, batch and thread count.

Run through scripts/bench, which selects OpenBLAS (Debian's torch links the reference BLAS
by default, about 30x slower on transposed convolutions), unsets OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE for this command only (they force AVX2 kernels at half speed), and keeps
freed memory in the process (GLIBC_TUNABLES) so that PyTorch does not pay page faults on
every call. Prints JSON lines: {"bench": ..., "name": ..., "threads": ..., "ms": median}.

Usage: pytorch_reference.py layers|gan|score|latency [--threads 1,2] [--reps 5] [--calls 5000]
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn


def timed(fn, reps, min_time=0.3):
    fn()  # warm-up: allocations, oneDNN primitive creation
    samples = []
    for _ in range(reps):
        n, start = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                break
        samples.append(elapsed / n * 1e3)
    return statistics.median(samples)


def autocast(bf16):
    """PyTorch's one line for bf16 on a CPU (torch.autocast, bf16 products where the CPU has them); off: fp32."""
    return torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=bf16)


def dcgan_layers():
    """(name, module, input shape without batch, needs_dx, discriminator layer) as layers_bench."""
    # Keras 'same' for these shapes: ConvT k4 s2 p1 (7->14, 14->28) and k7 s1 p3; the 5x5
    # stride-2 convolutions pad asymmetrically (SameConv below).
    return [
        ("dense_100_12544", nn.Linear(100, 7 * 7 * 256), (100,), False, False),
        ("convT_256_128_k4s2", nn.ConvTranspose2d(256, 128, 4, 2, 1), (256, 7, 7), True, False),
        ("convT_128_64_k4s2", nn.ConvTranspose2d(128, 64, 4, 2, 1), (128, 14, 14), True, False),
        ("convT_64_1_k7s1", nn.ConvTranspose2d(64, 1, 7, 1, 3), (64, 28, 28), True, False),
        ("conv_1_64_k5s2", SameConv(1, 64), (1, 28, 28), True, True),
        ("conv_64_128_k5s2", SameConv(64, 128), (64, 14, 14), True, True),
        ("dense_6272_1", nn.Linear(6272, 1), (6272,), True, True),
    ]


def bench_layers(threads, reps):
    for name, module, shape, needs_dx, disc in dcgan_layers():
        cases = [(64, "fwd"), (64, "fwdbwd")] + ([(256, "fwd")] if disc else [])
        for batch, kind in cases:
            x = torch.randn(batch, *shape, requires_grad=(kind == "fwdbwd" and needs_dx))
            if kind == "fwd":
                def run():
                    with torch.no_grad():
                        module(x)
            else:
                y = module(x)
                dy = torch.randn_like(y) * 1e-3

                def run():
                    module.zero_grad(set_to_none=False)
                    if x.grad is not None:
                        x.grad = None
                    module(x).backward(dy)
            ms = timed(run, reps)
            print(json.dumps({"bench": "layers", "name": f"{name}/b{batch}/{kind}", "threads": threads, "ms": ms}))
            sys.stdout.flush()


class SameConv(nn.Module):
    """Keras 'same' for a 5x5 stride-2 convolution on even sizes: 1 row/column before, 2 after."""

    def __init__(self, cin, cout):
        super().__init__()
        self.pad = nn.ZeroPad2d((1, 2, 1, 2))
        self.conv = nn.Conv2d(cin, cout, 5, 2)

    def forward(self, x):
        return self.conv(self.pad(x))


def dcgan():
    """The seed's DCGAN as design.md writes it (ganad's models::DcganGenerator/Discriminator)."""
    g = nn.Sequential(
        nn.Linear(100, 7 * 7 * 256), nn.LeakyReLU(0.2), nn.Unflatten(1, (256, 7, 7)),
        nn.ConvTranspose2d(256, 128, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.ConvTranspose2d(64, 1, 7, 1, 3), nn.Tanh())
    d = nn.Sequential(
        SameConv(1, 64), nn.LeakyReLU(0.2),
        SameConv(64, 128), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(6272, 1))
    return g, d


def bench_gan(threads, reps):
    g, d = dcgan()
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loss = nn.BCEWithLogitsLoss()
    batch = 64
    real = torch.rand(batch, 1, 28, 28) * 2 - 1
    ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)

    def step(bf16):
        with autocast(bf16):
            z = torch.randn(batch, 100)
            fake = g(z)
            opt_d.zero_grad()
            err_d = loss(d(real), ones) + loss(d(fake.detach()), zeros)
        err_d.backward()
        opt_d.step()
        with autocast(bf16):
            opt_g.zero_grad()
            err_g = loss(d(fake), ones)
        err_g.backward()
        opt_g.step()

    for bf16, name in ((False, "dcgan_step/b64"), (True, "dcgan_step_mixed/b64")):
        ms = timed(lambda: step(bf16), reps, min_time=2.0)
        print(json.dumps({"bench": "gan", "name": name, "threads": threads, "ms": ms}))


def bench_score(threads, reps):
    g, d = dcgan()
    # The reconstruction scorer's default encoder: D's body, then Linear(6272, 100) and Tanh.
    e = nn.Sequential(*list(d.children())[:-1], nn.Linear(6272, 100), nn.Tanh())
    g.eval(), d.eval(), e.eval()
    for batch in (64, 256):
        x = torch.rand(batch, 1, 28, 28) * 2 - 1

        def disc(bf16):
            with torch.no_grad(), autocast(bf16):
                torch.sigmoid(-d(x))

        for bf16, name in ((False, "discriminator"), (True, "discriminator_bf16")):
            ms = timed(lambda: disc(bf16), reps)
            print(json.dumps({"bench": "score", "name": f"{name}/b{batch}", "threads": threads, "ms": ms}))
    x = torch.rand(256, 1, 28, 28) * 2 - 1
    feat = nn.Sequential(*list(d.children())[:-1])

    def recon():
        with torch.no_grad():
            xr = g(e(x))
            ((x - xr) ** 2).flatten(1).mean(1) + ((feat(x) - feat(xr)) ** 2).mean(1)

    ms = timed(recon, reps)
    print(json.dumps({"bench": "score", "name": "reconstruction/b256", "threads": threads, "ms": ms}))


def bench_latency(threads, calls):
    """One image scored on arrival by the seed's D (sigmoid(-D(x)) under no_grad): p50, p99."""
    _, d = dcgan()
    d.eval()
    xs = torch.rand(64, 1, 1, 28, 28) * 2 - 1
    with torch.no_grad():
        for i in range(200):
            torch.sigmoid(-d(xs[i % 64]))
        us = []
        for i in range(calls):
            t0 = time.perf_counter()
            s = torch.sigmoid(-d(xs[i % 64]))
            float(s[0, 0])
            us.append((time.perf_counter() - t0) * 1e6)
    us.sort()
    at = lambda q: us[int(q * (calls - 1))]
    print(json.dumps({"bench": "latency", "impl": "pytorch", "threads": threads, "calls": calls,
                      "p50_us": round(at(0.5), 1), "p99_us": round(at(0.99), 1)}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["layers", "gan", "score", "latency"])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--calls", type=int, default=5000)
    args = ap.parse_args()
    info = {"bench": "info", "torch": torch.__version__, "blas": os.environ.get("GANAD_BLAS", "default"),
            "mkldnn": torch.backends.mkldnn.is_available()}
    print(json.dumps(info))
    torch.manual_seed(0)
    for t in [int(v) for v in args.threads.split(",")]:
        torch.set_num_threads(t)
        if args.what == "latency":
            bench_latency(t, args.calls)
        else:
            {"layers": bench_layers, "gan": bench_gan, "score": bench_score}[args.what](t, args.reps)


if __name__ == "__main__":
    main()
