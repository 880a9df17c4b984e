#!/usr/bin/env python3
"""PyTorch (CPU, 2 threads) yardstick for benches/sequence.rs: one LSTM layer (input 64,
hidden 128, 50 steps, batch 32, batch_first) forward and forward+backward of sum(output), the
same for the size of char_lstm's second layer (input 512, hidden 512, 100 steps, batch 32), and
one pre-norm causal Transformer block (seq 128, d 128, 4 heads, d_ff 512, GELU, batch 16)
forward+backward. Median of repeated runs; prints a table and a JSON line.

    /work/torchenv/bin/python bench/pytorch_sequence.py
"""
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)


def median_time(fn, seconds=2.0, warmup=5):
    for _ in range(warmup):
        fn()
    times = []
    end = time.perf_counter() + seconds
    while len(times) < 5 or time.perf_counter() < end:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def lstm(b=32, t=50, i=64, h=128):
    layer = nn.LSTM(i, h, batch_first=True)
    x = torch.randn(b, t, i, requires_grad=True)

    def fwd():
        with torch.no_grad():
            layer(x)

    def fwd_bwd():
        layer.zero_grad()
        x.grad = None
        layer(x)[0].sum().backward()

    return median_time(fwd) * 1e3, median_time(fwd_bwd) * 1e3


class Block(nn.Module):
    """The same pre-norm block as ferrograd's TransformerBlock (decoder-only)."""

    def __init__(self, d, heads):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ff_in, self.ff_out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        t = x.shape[1]
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool), 1)
        h = self.ln1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.ff_out(F.gelu(self.ff_in(self.ln2(x))))


def transformer():
    block = Block(128, 4)
    x = torch.randn(16, 128, 128, requires_grad=True)

    def fwd_bwd():
        block.zero_grad()
        x.grad = None
        block(x).sum().backward()

    return median_time(fwd_bwd) * 1e3


if __name__ == "__main__":
    f, fb = lstm()
    lf, lfb = lstm(32, 100, 512, 512)
    tb = transformer()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"lstm fwd      in64 h128 T50 B32: {f:8.3f} ms")
    print(f"lstm fwd+bwd  in64 h128 T50 B32: {fb:8.3f} ms")
    print(f"lstm fwd      in512 h512 T100 B32: {lf:8.3f} ms")
    print(f"lstm fwd+bwd  in512 h512 T100 B32: {lfb:8.3f} ms")
    print(f"transformer block fwd+bwd T128 d128 h4 B16: {tb:8.3f} ms")
    print(json.dumps({"torch": torch.__version__, "lstm_fwd_ms": f, "lstm_fwd_bwd_ms": fb,
                      "lstm512_fwd_ms": lf, "lstm512_fwd_bwd_ms": lfb, "transformer_fwd_bwd_ms": tb}))
