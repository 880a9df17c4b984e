#!/usr/bin/env python3
"""Turn criterion's results (target/criterion) and the PyTorch yardstick's JSON into the
markdown table of BENCHMARKS.md.

    cargo bench --bench ops
    /work/torchenv/bin/python bench/pytorch_yardstick.py > bench/results/pytorch.txt
    python3 bench/report.py bench/results/pytorch.txt

Rates are computed from criterion's median time per iteration and the declared throughput:
GFLOP/s for matmul (elements = flops), GB/s = 1e9 bytes/s for memory-bound ops, samples/s for
the training step. PyTorch's figures come from the last line (JSON) of the yardstick's output.
"""
import json
import pathlib
import sys

CRIT = pathlib.Path("target/criterion")

# (criterion group/bench id, label, unit, key in the PyTorch JSON)
ROWS = [
    ("machine/fma_peak_f32", "machine: f32 FMA peak, all cores", "GFLOP/s", None),
    ("machine/copy_bandwidth/64MiB", "machine: copy bandwidth, all cores", "GB/s", None),
    ("matmul/square_f32/64", "matmul 64³ f32", "GFLOP/s", ("matmul_gflops", "64")),
    ("matmul/square_f32/128", "matmul 128³ f32", "GFLOP/s", ("matmul_gflops", "128")),
    ("matmul/square_f32/256", "matmul 256³ f32", "GFLOP/s", ("matmul_gflops", "256")),
    ("matmul/square_f32/512", "matmul 512³ f32", "GFLOP/s", ("matmul_gflops", "512")),
    ("matmul/square_f32/1024", "matmul 1024³ f32", "GFLOP/s", ("matmul_gflops", "1024")),
    ("matmul/square_f32/2048", "matmul 2048³ f32", "GFLOP/s", ("matmul_gflops", "2048")),
    ("matmul/batched_f32/64x128", "batched matmul 64×128³ f32", "GFLOP/s", ("bmm_64x128_gflops",)),
    ("elementwise/add_f32/4M", "add 4M f32", "GB/s", ("add_gbps",)),
    ("elementwise/exp_f32/4M", "exp 4M f32", "GB/s", ("exp_gbps",)),
    ("elementwise/relu_f32/4M", "relu 4M f32", "GB/s", ("relu_gbps",)),
    ("elementwise/add_broadcast_row_f32/2048x2048", "add [2048,2048]+[2048] f32", "GB/s", None),
    ("softmax/softmax_f32/4096x1024", "softmax [4096,1024] f32", "GB/s", ("softmax_4096x1024_gbps",)),
    ("softmax/log_softmax_f32/4096x1024", "log_softmax [4096,1024] f32", "GB/s", None),
    ("mlp/train_step_784_128_10/b64_adam", "MLP 784-128-10 train step, b64, Adam", "samples/s",
     ("mlp_step_samples_per_sec",)),
]


def ours(bench_id):
    # criterion stores "group/function/param" as folders, but a '/' inside a bench_function
    # name becomes '_'; try both.
    d = CRIT / bench_id / "new"
    if not d.exists():
        group, rest = bench_id.split("/", 1)
        d = CRIT / group / rest.replace("/", "_") / "new"
    if not d.exists():
        return None
    est = json.loads((d / "estimates.json").read_text())
    bench = json.loads((d / "benchmark.json").read_text())
    secs = est["median"]["point_estimate"] * 1e-9
    tp = bench.get("throughput") or {}
    amount = tp.get("Elements") or tp.get("Bytes") or 0
    rate = amount / secs
    return rate / 1e9 if "Bytes" in tp or "matmul" in bench_id or "fma" in bench_id else rate


def torch_value(data, key):
    if data is None or key is None:
        return None
    v = data
    for k in key:
        v = v.get(k) if isinstance(v, dict) else None
    return v


def main():
    torch = None
    if len(sys.argv) > 1:
        last = pathlib.Path(sys.argv[1]).read_text().strip().splitlines()[-1]
        torch = json.loads(last)
    print("| benchmark | unit | ferrograd | PyTorch | ratio |")
    print("|---|---|---:|---:|---:|")
    for bench_id, label, unit, key in ROWS:
        a = ours(bench_id)
        b = torch_value(torch, key)
        fmt = (lambda x: f"{x:,.0f}") if unit == "samples/s" else (lambda x: f"{x:.1f}")
        sa = fmt(a) if a is not None else "—"
        sb = fmt(b) if b is not None else "—"
        ratio = f"{a / b:.2f}×" if a is not None and b else "—"
        print(f"| {label} | {unit} | {sa} | {sb} | {ratio} |")


if __name__ == "__main__":
    main()
