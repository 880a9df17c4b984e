#!/usr/bin/env python3
"""PyTorch (CPU, 2 threads) yardstick for the DCGAN of examples/dcgan.rs and benches/generative.rs:
the same generator (width 16) and discriminator (width 32), latent 64, DCGAN initialisation,
the non-saturating BCE loss, Adam(2e-4, betas (0.5, 0.999)), batch 64, no dropout (the
example's defaults). Times training steps (median
of repeated steps, as criterion) and, with --epoch, one full epoch over random data of MNIST's
size (937 steps). Prints a JSON line.

    /work/torchenv/bin/python bench/pytorch_dcgan.py [--epoch]
    /work/torchenv/bin/python bench/pytorch_dcgan.py --layers
    /work/torchenv/bin/python bench/pytorch_dcgan.py --train N --samples FILE [--g-steps K]

--layers times each layer of the two networks alone instead (forward and backward of the sum of
its output, input and parameter gradients, batch 64; the `dcgan_layers` group of
benches/generative.rs).

--train N trains the same GAN on real MNIST (data/mnist) for N epochs with the example's schedule
(constant learning rate, then linear decay to 0 over the second half) and writes 10,000 samples
as raw little-endian f32 pixels in [0, 1] to FILE, for `cargo run --release --example dcgan --
--epochs 0 --score-file FILE` to score with the same classifier. --g-steps K takes K generator
updates per discriminator update (the example's --g-steps).
"""
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)
torch.manual_seed(0)
BATCH, LATENT, G_WIDTH, D_WIDTH, STEPS_PER_EPOCH = 64, 64, 16, 32, 60000 // 64


def generator():
    w = G_WIDTH
    return nn.Sequential(
        nn.Unflatten(1, (LATENT, 1, 1)),
        nn.ConvTranspose2d(LATENT, 4 * w, 7, 1, 0, bias=False), nn.BatchNorm2d(4 * w), nn.ReLU(),
        nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(),
        nn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(),
        nn.Conv2d(w, 1, 3, 1, 1), nn.Tanh())


def discriminator():
    w = D_WIDTH
    return nn.Sequential(
        nn.Conv2d(1, w, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(2 * w * 49, 1))


def dcgan_init(m):
    for name, p in m.named_parameters():
        with torch.no_grad():
            if name.endswith("bias"):
                p.zero_()
            elif p.dim() == 1:
                p.normal_(1.0, 0.02)
            else:
                p.normal_(0.0, 0.02)


def make_step(g, d, opt_g, opt_d, g_steps=1):
    """One training step of the non-saturating GAN on a real batch, as gan_train_step, then
    g_steps - 1 more generator updates on fresh noise, as generator_step."""
    ones, zeros = torch.ones(BATCH, 1), torch.zeros(BATCH, 1)

    def step(real):
        fake = g(torch.randn(BATCH, LATENT))
        d_loss = F.binary_cross_entropy_with_logits(d(real), ones) + \
            F.binary_cross_entropy_with_logits(d(fake.detach()), zeros)
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        for s in range(g_steps):
            if s > 0:
                fake = g(torch.randn(BATCH, LATENT))
            g_loss = F.binary_cross_entropy_with_logits(d(fake), ones)
            if s == 0:
                first = g_loss.item()
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
        return d_loss.item(), first

    return step


def networks():
    g, d = generator(), discriminator()
    dcgan_init(g)
    dcgan_init(d)
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    return g, d, opt_g, opt_d


def load_mnist_pixels():
    import gzip
    import os
    path = os.path.join(os.path.dirname(__file__), "..", "data", "mnist", "train-images-idx3-ubyte.gz")
    with gzip.open(path, "rb") as f:
        data = f.read()
    images = torch.frombuffer(bytearray(data[16:]), dtype=torch.uint8).reshape(-1, 1, 28, 28)
    return images.float() / 255.0


def train(epochs, samples_path, g_steps=1):
    g, d, opt_g, opt_d = networks()
    step = make_step(g, d, opt_g, opt_d, g_steps)
    pixels = load_mnist_pixels() * 2 - 1
    total, done = epochs * STEPS_PER_EPOCH, 0
    for epoch in range(epochs):
        t0 = time.perf_counter()
        order = torch.randperm(pixels.shape[0])
        for b in range(STEPS_PER_EPOCH):
            lr = 2e-4 * min(1.0, 2.0 * (1.0 - done / total))
            for opt in (opt_g, opt_d):
                for group in opt.param_groups:
                    group["lr"] = lr
            done += 1
            d_loss, g_loss = step(pixels[order[b * BATCH:(b + 1) * BATCH]])
        print(f"epoch {epoch + 1}: D {d_loss:.4f} G {g_loss:.4f} {time.perf_counter() - t0:.1f}s", flush=True)
    g.eval()
    with torch.no_grad():
        samples = (g(torch.randn(10000, LATENT)) + 1) / 2
    samples.reshape(10000, 784).numpy().astype("<f4").tofile(samples_path)
    print(f"wrote {samples_path}")


def median_ms(f, seconds=2.0):
    """The median time of `f()` in ms over at least 20 runs and `seconds`, after 5 warm-ups."""
    for _ in range(5):
        f()
    times, end = [], time.perf_counter() + seconds
    while len(times) < 20 or time.perf_counter() < end:
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def layers():
    """Forward + backward of each DCGAN layer alone, as `cargo bench --bench generative -- dcgan_layers`."""
    w, dw = G_WIDTH, D_WIDTH
    cases = [
        ("g_convt_1_to_7", nn.ConvTranspose2d(LATENT, 4 * w, 7, 1, 0, bias=False), (LATENT, 1, 1)),
        ("g_convt_7_to_14", nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1, bias=False), (4 * w, 7, 7)),
        ("g_convt_14_to_28", nn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=False), (2 * w, 14, 14)),
        ("g_conv_out_28", nn.Conv2d(w, 1, 3, 1, 1), (w, 28, 28)),
        ("g_batchnorm_relu_28", nn.Sequential(nn.BatchNorm2d(w), nn.ReLU()), (w, 28, 28)),
        ("d_conv_28_to_14", nn.Conv2d(1, dw, 4, 2, 1), (1, 28, 28)),
        ("d_conv_14_to_7", nn.Conv2d(dw, 2 * dw, 4, 2, 1, bias=False), (dw, 14, 14)),
        ("d_leaky_relu_14", nn.LeakyReLU(0.2), (dw, 14, 14)),
    ]
    result = {}
    for name, layer, shape in cases:
        x = torch.randn(BATCH, *shape, requires_grad=True)

        def run():
            x.grad = None
            layer.zero_grad()
            layer(x).sum().backward()

        result[name + "_ms"] = round(median_ms(run), 3)
    print(json.dumps(result))


def main():
    if "--layers" in sys.argv:
        layers()
        return
    if "--train" in sys.argv:
        i = sys.argv.index("--train")
        g_steps = int(sys.argv[sys.argv.index("--g-steps") + 1]) if "--g-steps" in sys.argv else 1
        train(int(sys.argv[i + 1]), sys.argv[sys.argv.index("--samples") + 1], g_steps)
        return
    real = torch.rand(BATCH, 1, 28, 28) * 2 - 1
    train_step = make_step(*networks())

    def step():
        train_step(real)

    for _ in range(5):
        step()
    times = []
    end = time.perf_counter() + 8.0
    while len(times) < 20 or time.perf_counter() < end:
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    result = {"torch": torch.__version__, "threads": torch.get_num_threads(), "batch": BATCH,
              "step_ms": round(median * 1e3, 3), "epoch_s_from_steps": round(median * STEPS_PER_EPOCH, 2)}
    if "--epoch" in sys.argv:
        t0 = time.perf_counter()
        for _ in range(STEPS_PER_EPOCH):
            step()
        result["epoch_s"] = round(time.perf_counter() - t0, 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
