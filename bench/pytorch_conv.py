#!/usr/bin/env python3
"""PyTorch (CPU, 2 threads) yardstick for benches/conv.rs: the same shapes, fwd+bwd of
sum(conv2d(x, w)) (output, input grad, weight grad), max_pool2d 2x2 fwd+bwd, and one training
step of the MNIST CNN (batch 64, Adam). Median of repeated runs; prints a table and a JSON line.

    /work/torchenv/bin/python bench/pytorch_conv.py
"""
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)


def median_time(fn, seconds=1.5, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    end = time.perf_counter() + seconds
    while len(times) < 5 or time.perf_counter() < end:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def conv_case(n, c, hw, out, pad):
    x = torch.randn(n, c, hw, hw, requires_grad=True)
    w = (torch.randn(out, c, 3, 3) * 0.1).requires_grad_()

    def step():
        x.grad = None
        w.grad = None
        F.conv2d(x, w, padding=pad).sum().backward()

    t = median_time(step)
    oh = hw + 2 * pad - 2
    flops = n * out * oh * oh * c * 9 * 2 * 3
    return t * 1e3, flops / t / 1e9


def pool_case():
    x = torch.randn(64, 32, 26, 26, requires_grad=True)

    def step():
        x.grad = None
        F.max_pool2d(x, 2).sum().backward()

    return median_time(step) * 1e3


def cnn_step():
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(64, 1, 28, 28)
    y = torch.randint(0, 10, (64,))

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    return 64 / median_time(step, seconds=3)


res = {}
for name, args in [("n64_c1_28_to_32", (64, 1, 28, 32, 0)), ("n64_c32_13_to_64", (64, 32, 13, 64, 0)),
                   ("n32_c64_56_to_64_pad1", (32, 64, 56, 64, 1))]:
    ms, gf = conv_case(*args)
    res[name] = {"ms": round(ms, 3), "gflops": round(gf, 1)}
    print(f"conv fwd+bwd {name:24s} {ms:8.2f} ms  {gf:7.1f} GFLOP/s")
res["max_pool2d_ms"] = round(pool_case(), 3)
print(f"max_pool2d 2x2 fwd+bwd n64 c32 26   {res['max_pool2d_ms']:8.2f} ms")
res["cnn_samples_per_sec"] = round(cnn_step(), 1)
print(f"MNIST CNN train step b64 Adam       {res['cnn_samples_per_sec']:8.0f} samples/s")
res["torch_version"] = torch.__version__
print(json.dumps(res))
