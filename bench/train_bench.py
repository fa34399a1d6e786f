"""Supernet training speed, measured in the setting DESIGN.md gives GAN Compression's figures for:
teacher resnet_9blocks ngf 64, student supernet with every layer up to 64 channels, batch 4, pix2pix losses,
one random subnet per step. Prints seconds per step at 32x32 and 256x256 next to the reference's
(0.45 s and 9.4 s on this 2-core machine, torch 2.14.1, 2 threads).

    .venv/bin/python bench/train_bench.py [--steps N] [--sizes 32 256]
"""
from __future__ import annotations

import argparse
import random
import statistics
import time
import types

import torch

from ganas.config import SupernetConfig
from ganas.models import LAYERS, NLayerDiscriminator, create_supernet, create_teacher
from ganas.space import SearchSpace
from ganas.train.common import adam
from ganas.train.distill import DistillStep, make_adapters

REFERENCE = {32: 0.45, 256: 9.4}  # GAN Compression, same machine kind (DESIGN.md)


def bench(size: int, steps: int, warmup: int = 2) -> float:
    torch.manual_seed(0)
    space = SearchSpace("mobile_resnet", {k: (64, 56, 48, 40, 32, 24, 16) for k in LAYERS["mobile_resnet"]})
    teacher = create_teacher("resnet", ngf=64, n_blocks=9).eval().requires_grad_(False)
    G = create_supernet("mobile_resnet", widths=space.largest(), n_blocks=9)
    adapters = make_adapters(G.feature_widths, teacher.feature_widths)
    D = NLayerDiscriminator(6, 128)  # pix2pix setting: conditional D, ndf 128
    cfg = SupernetConfig(gan_loss="hinge", ndf=128)
    step = DistillStep(G, teacher, D, adapters, adam(list(G.parameters()) + list(adapters.parameters()), 2e-4),
                       adam(D.parameters(), 2e-4), cfg)
    rng = random.Random(0)
    x, y = torch.randn(4, 3, size, size), torch.rand(4, 3, size, size) * 2 - 1
    times = []
    for i in range(warmup + steps):
        G.set_arch(space.sample(rng))
        t0 = time.perf_counter()
        step(x, y)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 256])
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {a.threads} threads, batch 4, median of {a.steps} steps")
    for size in a.sizes:
        s = bench(size, a.steps if size < 128 else max(3, a.steps // 3))
        ref = REFERENCE.get(size)
        cmp = f"  reference {ref:.2f} s/step -> {ref / s:.2f}x" if ref else ""
        print(f"{size}x{size}: {s:.3f} s/step{cmp}")


if __name__ == "__main__":
    main()
