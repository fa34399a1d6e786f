"""MACs and measured CPU latency of each resolution exit of the stylegan_32 family (Anycost GAN's low-resolution
previews stop the forward pass early), for the full network and uniform channel ratios.

    .venv/bin/python bench/exit_latency.py [--threads 2] [--batch 1] [--repeats 200]

The networks are the static exported kind (what `ganas export` ships), random weights: latency does not depend on
them. MACs are ganas's analytic count, checked here against torchprofile on each network.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torchprofile

from ganas.models import create_subnet, subnet_cost
from ganas.space import load_space

ROOT = Path(__file__).resolve().parent.parent


def latency_ms(net, z, repeats: int) -> float:
    with torch.inference_mode():
        for _ in range(10):
            net(z)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            net(z)
            times.append(time.perf_counter() - t)
    return min(times) * 1e3  # the least disturbed run: other processes only ever add time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default=str(ROOT / "search_spaces" / "stylegan_32.yaml"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=200)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    space = load_space(args.space)
    layers = [k for k in space.choices if k != "resolution"]
    n_ratios = len(space.choices[layers[0]])
    sides = sorted(space.choices.get("resolution", (32,)), reverse=True)
    full = None
    print(f"{space.family}, batch {args.batch}, {args.threads} threads, best of {args.repeats} runs")
    print(f"{'ratio':>6} {'exit':>5} {'MACs':>9} {'x fewer':>8} {'latency ms':>11} {'x faster':>9}")
    for i in range(n_ratios):
        widths = {k: space.choices[k][i] for k in layers}
        ratio = widths[layers[-1]] / space.choices[layers[-1]][0]
        for side in sides:
            arch = {**widths, "resolution": side}
            net = create_subnet(space.family, widths=arch, z_dim=64, n_mlp=2, output_nc=1).eval()
            macs = subnet_cost(space.family, widths=arch)["macs"]
            assert macs == torchprofile.profile_macs(net, torch.randn(1, 64)), "analytic MACs differ from torchprofile"
            ms = latency_ms(net, torch.randn(args.batch, 64), args.repeats)
            full = full or (macs, ms)
            print(f"{ratio:>6.2f} {side:>5} {macs / 1e6:>8.2f}M {full[0] / macs:>8.1f} {ms:>11.3f} {full[1] / ms:>9.1f}")


if __name__ == "__main__":
    main()
