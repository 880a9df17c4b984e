#!/usr/bin/env python3
"""PyTorch (CPU) yardstick for ferrograd.

Measures the same workloads ferrograd benchmarks, with stock PyTorch on the
same machine, so ferrograd's numbers have something to be compared against.

Run (from the repository root):
    /work/torchenv/bin/python bench/pytorch_yardstick.py            # full (~15 s)
    /work/torchenv/bin/python bench/pytorch_yardstick.py --quick    # ~10x shorter
    /work/torchenv/bin/python bench/pytorch_yardstick.py --medium   # bfloat16 matmuls only

The venv is made with `python3 -m venv /work/torchenv &&
/work/torchenv/bin/pip install torch numpy` (PyPI wheel, MKL/oneDNN inside).

Method:
  * torch.set_num_threads(2): the development machine has 2 cores.
  * Every op runs a few warm-up calls first, then is timed with
    time.perf_counter in samples of several back-to-back calls (so one sample
    lasts >= ~1 ms and timer overhead is negligible), for ~0.75 s per case
    (~0.075 s with --quick). The reported time per call is the MEDIAN sample
    divided by the calls per sample.
  * All ops are out-of-place (`a @ b`, `a + b`, `torch.exp(a)`, ...), i.e. what
    user code writes; the cost of allocating the result is included.
  * Inputs are fresh torch.randn float32 tensors.
  * Rates: matmul GFLOP/s = 2*n^3 / t; elementwise/softmax GB/s =
    bytes moved / t with bytes = 4 * numel * (inputs + outputs).

Output: a readable table, then ONE JSON object on the last line of stdout.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

THREADS = 2


def time_per_call(fn, budget_s, warmup=3):
    """Median seconds per call of fn(), measured for about budget_s seconds."""
    for _ in range(warmup):
        fn()
    # Calibrate: how many calls make one sample of at least ~1 ms.
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    per_sample = max(1, int(1e-3 / one))
    samples = []
    deadline = time.perf_counter() + budget_s
    # At least 5 samples, even when a single call is longer than the budget.
    while len(samples) < 5 or time.perf_counter() < deadline:
        t0 = time.perf_counter()
        for _ in range(per_sample):
            fn()
        samples.append((time.perf_counter() - t0) / per_sample)
    return statistics.median(samples)


def bench_matmul(budget):
    res = {}
    for n in (64, 128, 256, 512, 1024, 2048):
        a, b = torch.randn(n, n), torch.randn(n, n)
        t = time_per_call(lambda: a @ b, budget)
        res[str(n)] = 2 * n**3 / t / 1e9
    return res


def bench_matmul_medium(budget):
    """The products of ferrograd's `square_medium` and `projection_*` benches at reduced
    precision: bfloat16 operands (`a.bfloat16() @ b.bfloat16()`, cast beforehand, bfloat16
    result: oneDNN's native kernel), and f32 operands with oneDNN allowed to compute in bfloat16
    (`torch.backends.mkldnn.matmul.fp32_precision = "bf16"`, where this PyTorch has it)."""
    shapes = {"512": (512, 512, 512), "1024": (1024, 1024, 1024), "2048": (2048, 2048, 2048),
              "projection_2048x128x512": (2048, 128, 512)}
    res = {}
    mkldnn = getattr(torch.backends.mkldnn, "matmul", None)
    for name, (m, k, n) in shapes.items():
        a, b = torch.randn(m, k), torch.randn(k, n)
        flops = 2 * m * k * n
        res[f"f32_{name}"] = flops / time_per_call(lambda: a @ b, budget) / 1e9
        ab, bb = a.bfloat16(), b.bfloat16()
        res[f"bf16_{name}"] = flops / time_per_call(lambda: ab @ bb, budget) / 1e9
        if mkldnn is not None and hasattr(mkldnn, "fp32_precision"):
            old = mkldnn.fp32_precision
            mkldnn.fp32_precision = "bf16"
            res[f"f32_as_bf16_{name}"] = flops / time_per_call(lambda: a @ b, budget) / 1e9
            mkldnn.fp32_precision = old
    return res


def bench_bmm(budget):
    # 64 independent 128x128 @ 128x128 products in one call.
    a, b = torch.randn(64, 128, 128), torch.randn(64, 128, 128)
    t = time_per_call(lambda: torch.bmm(a, b), budget)
    return 64 * 2 * 128**3 / t / 1e9


def bench_elementwise(budget):
    n = 1 << 22  # 4M float32 = 16 MiB per tensor
    a, b = torch.randn(n), torch.randn(n)
    gbps = lambda t, tensors: tensors * 4 * n / t / 1e9
    return {
        "add_gbps": gbps(time_per_call(lambda: a + b, budget), 3),  # 2 reads + 1 write
        "exp_gbps": gbps(time_per_call(lambda: torch.exp(a), budget), 2),  # 1 read + 1 write
        "relu_gbps": gbps(time_per_call(lambda: torch.relu(a), budget), 2),
    }


def bench_softmax(budget):
    x = torch.randn(4096, 1024)
    t = time_per_call(lambda: torch.softmax(x, dim=-1), budget)
    return 2 * 4 * x.numel() / t / 1e9  # counted as read once + write once


def bench_mlp(steps, warmup):
    """One full training step of a 784-128-10 MLP: forward, CE loss, backward, Adam."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch = 64
    # A few pre-generated random batches, cycled, so data generation is not timed.
    xs = [torch.randn(batch, 784) for _ in range(8)]
    ys = [torch.randint(0, 10, (batch,), dtype=torch.int64) for _ in range(8)]

    def step(i):
        x, y = xs[i % 8], ys[i % 8]
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for i in range(warmup):
        step(i)
    t0 = time.perf_counter()
    for i in range(steps):
        loss = step(i)
    loss.item()  # make sure all work is done (CPU is synchronous anyway)
    dt = (time.perf_counter() - t0) / steps
    return batch / dt, dt * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="~10x shorter measurements")
    ap.add_argument("--medium", action="store_true",
                    help="only the reduced-precision (bfloat16) matmuls, beside f32")
    args = ap.parse_args()
    scale = 0.1 if args.quick else 1.0
    budget = 0.75 * scale  # seconds per measured case

    torch.set_num_threads(THREADS)
    torch.manual_seed(0)

    r = {"torch_version": torch.__version__, "threads": torch.get_num_threads()}
    if args.medium:
        r["matmul_medium_gflops"] = {k: round(v, 1) for k, v in bench_matmul_medium(budget).items()}
        for name, g in r["matmul_medium_gflops"].items():
            print(f"  matmul {name:<32} {g:10.2f} GFLOP/s")
        print(json.dumps(r))
        return
    r["matmul_gflops"] = bench_matmul(budget)
    r["bmm_64x128_gflops"] = bench_bmm(budget)
    r.update(bench_elementwise(budget))
    r["softmax_4096x1024_gbps"] = bench_softmax(budget)
    sps, ms = bench_mlp(steps=int(2000 * scale), warmup=int(100 * scale))
    r["mlp_step_samples_per_sec"] = sps
    r["mlp_step_ms"] = ms

    # Readable table.
    print(f"PyTorch {r['torch_version']}, {r['threads']} threads{' (quick)' if args.quick else ''}")
    for n, g in r["matmul_gflops"].items():
        print(f"  matmul {n:>4}x{n:<4} f32          {g:10.2f} GFLOP/s")
    print(f"  bmm 64 x 128x128 f32          {r['bmm_64x128_gflops']:10.2f} GFLOP/s")
    print(f"  add  4M f32 (a + b)           {r['add_gbps']:10.2f} GB/s")
    print(f"  exp  4M f32                   {r['exp_gbps']:10.2f} GB/s")
    print(f"  relu 4M f32                   {r['relu_gbps']:10.2f} GB/s")
    print(f"  softmax [4096,1024] last dim  {r['softmax_4096x1024_gbps']:10.2f} GB/s")
    print(f"  MLP 784-128-10 Adam step b64  {sps:10.0f} samples/s ({ms:.3f} ms/step)")

    # Machine-readable result: the last line of stdout.
    rounded = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}
    rounded["matmul_gflops"] = {k: round(v, 3) for k, v in r["matmul_gflops"].items()}
    print(json.dumps(rounded))


if __name__ == "__main__":
    main()
