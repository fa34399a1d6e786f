"""A tiny real supernet evaluator and a small space for the search tests.

The evaluator runs a 3-block mobile ResNet supernet on fixed random tensors and logs every call (pid,
node, arch) to a file, so tests count evaluations across processes and Ray actors.
"""
from __future__ import annotations

import functools
import json
import math
import os
import time
from pathlib import Path

import torch

from ganas.models.mobile_resnet import LAYERS, MobileResnetGenerator, count_cost
from ganas.space import SearchSpace

N_BLOCKS, SIZE = 3, 16


def small_space(widths=(16, 12, 8, 4), fixed: dict | None = None) -> SearchSpace:
    fixed = fixed or {}
    return SearchSpace("mobile_resnet", {k: (fixed[k],) if k in fixed else tuple(widths) for k in LAYERS})


def tiny_space() -> SearchSpace:
    """Four configs: only blocks1 and up2 vary."""
    return SearchSpace("mobile_resnet", {k: (8, 4) if k in ("blocks1", "up2") else (8,) for k in LAYERS})


cost = functools.partial(count_cost, n_blocks=N_BLOCKS, height=SIZE, width=SIZE)


def logged(log: Path) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


class SupernetEvaluator:
    """Loads the supernet once (like the real one), scores a subnet by L1 to a fixed target.

    ``nan_for`` / ``raise_for``: configs (as sorted item tuples) that return NaN / raise.
    ``die_once_for``: the first call on that config kills the worker process (a marker file makes
    it die only once). ``interrupt_for``: that config raises KeyboardInterrupt. ``sleep``: seconds per call, so parallel workers overlap.
    """

    def __init__(self, log: str, sleep: float = 0.0, nan_for=(), raise_for=(), die_once_for=None,
                 marker: str | None = None, metrics=("l1", "domain_fid"), interrupt_for=None):
        torch.manual_seed(0)
        torch.set_num_threads(1)
        widths = {k: 16 for k in LAYERS}
        self.net = MobileResnetGenerator(widths, n_blocks=N_BLOCKS, dynamic=True).eval()
        self.x = torch.randn(2, 3, SIZE, SIZE)
        self.target = torch.rand(2, 3, SIZE, SIZE) * 2 - 1
        self.log, self.sleep, self.metrics = Path(log), sleep, tuple(metrics)
        self.nan_for = {tuple(sorted(a.items())) for a in nan_for}
        self.raise_for = {tuple(sorted(a.items())) for a in raise_for}
        self.die_once_for = tuple(sorted(die_once_for.items())) if die_once_for else None
        self.marker = Path(marker) if marker else None
        self.interrupt_for = tuple(sorted(interrupt_for.items())) if interrupt_for else None

    def evaluate(self, arch: dict) -> dict:
        key = tuple(sorted(arch.items()))
        try:
            import ray
            node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
        except Exception:
            node = None
        with open(self.log, "a") as f:
            f.write(json.dumps({"pid": os.getpid(), "node": node, "arch": dict(arch)}) + "\n")
        if self.sleep:
            time.sleep(self.sleep)
        if key == self.die_once_for and self.marker and not self.marker.exists():
            self.marker.write_text("died")
            os._exit(1)
        if key == self.interrupt_for:
            raise KeyboardInterrupt  # the user pressing Ctrl-C mid-evaluation
        if key in self.raise_for:
            raise ValueError("boom from the evaluator")
        with torch.no_grad():
            self.net.set_arch(arch)
            l1 = (self.net(self.x) - self.target).abs().mean().item()
        if key in self.nan_for:
            l1 = math.nan
        out = {"l1": l1, "domain_fid": 100 * l1}
        return {k: v for k, v in out.items() if k in self.metrics}


def factory(log: Path, **kwargs):
    return functools.partial(SupernetEvaluator, str(log), **kwargs)


class BrokenFactory:
    """A factory whose evaluator cannot be built (e.g. the supernet checkpoint is missing)."""

    def __call__(self):
        from ganas.errors import GanasError
        raise GanasError("supernet checkpoint runs/x/supernet.pt does not exist: run the supernet stage first")
