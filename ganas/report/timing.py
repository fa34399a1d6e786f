"""Latency of the teacher and the Pareto subnets for the report, cached in the run folder.

Every network is timed as its exported inference build (ganas.export.lean) at the study's input size, batch
1, one CPU thread (on a GPU when there is one), so re-reports only time subnets that are new on the front.
"""
from __future__ import annotations

import json
from typing import Callable

from torch import nn

from ..io import device as default_device, write_json
from ..metrics.latency import measure_latency

CACHE = "latency.json"
VERSION = 1          # bump when the inference build changes, so cached figures are measured again
REPEATS, WARMUP = 15, 3


def settings() -> dict:
    dev = default_device()
    return {"device": str(dev), "threads": 1, "clock": "thread" if dev.type == "cpu" else "wall",
            "repeats": REPEATS, "warmup": WARMUP}


def describe(s: dict, shape) -> str:
    clock = "CPU time of the one thread" if s["clock"] == "thread" else "wall clock"
    return (f"median of {s['repeats']} runs after {s['warmup']} warm-up runs, batch 1, input "
            f"{'x'.join(str(v) for v in shape)}, {s['device']}, {s['threads']} thread ({clock}), inference mode, "
            "exported inference build")


class LatencyCache:
    """``get(key, build)`` returns the cached measurement of ``key`` or builds the network and times it."""

    def __init__(self, run_dir, input_shape):
        self.path = run_dir / CACHE
        self.shape = tuple(int(v) for v in input_shape)
        self.settings = settings()
        try:
            self.data = json.loads(self.path.read_text()) if self.path.exists() else {}
        except json.JSONDecodeError:
            self.data = {}  # a cache: measure again

    def key(self, name: str) -> str:
        s = self.settings
        return f"{name}|{'x'.join(map(str, self.shape))}|{s['device']}|threads={s['threads']}|v{VERSION}"

    def get(self, name: str, build: Callable[[], nn.Module]) -> dict:
        from ..export.lean import make_lean

        key = self.key(name)
        if key not in self.data:
            s = self.settings
            self.data[key] = measure_latency(make_lean(build()), self.shape, device=s["device"], threads=s["threads"],
                                             warmup=s["warmup"], repeats=s["repeats"], clock=s["clock"])
            write_json(self.path, self.data)
        return self.data[key]
