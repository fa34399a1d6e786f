"""Latency of the teacher and the Pareto subnets for the report, cached in the run folder.

Every network is timed as it is exported: the TorchScript file (frozen inference build) and the ONNX file
(ONNX Runtime), at the study's input size, batch 1, one CPU thread; its latency is the faster of the two.
On a GPU the inference build is timed in eager PyTorch (the ONNX check runs ONNX Runtime on the CPU).
Results are cached in the run folder, so re-reports only time subnets that are new on the front.
"""
from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..io import device as default_device, write_json
from ..metrics.latency import measure_latency

CACHE = "latency.json"
VERSION = 2          # bump when the inference build changes, so cached figures are measured again
REPEATS, WARMUP = 15, 3


def settings() -> dict:
    dev = default_device()
    return {"device": str(dev), "threads": 1, "clock": "thread" if dev.type == "cpu" else "wall",
            "repeats": REPEATS, "warmup": WARMUP}


def describe(s: dict, shape) -> str:
    clock = "CPU time of the one thread" if s["clock"] == "thread" else "wall clock"
    runtimes = ("the faster of the exported TorchScript and ONNX (ONNX Runtime) files" if s["device"] == "cpu"
                else "the inference build in eager PyTorch")
    return (f"median of {s['repeats']} runs after {s['warmup']} warm-up runs, batch 1, input "
            f"{'x'.join(str(v) for v in shape)}, {s['device']}, {s['threads']} thread ({clock}), inference mode; "
            f"{runtimes}")


class LatencyCache:
    """``get(key, build)`` returns the cached measurement of ``key`` or builds the network and times it."""

    def __init__(self, run_dir, input_shape):
        self.path = run_dir / CACHE
        self.shape = (1, *(int(v) for v in input_shape))
        self.settings = settings()
        try:
            self.data = json.loads(self.path.read_text()) if self.path.exists() else {}
        except json.JSONDecodeError:
            self.data = {}  # a cache: measure again

    def key(self, name: str) -> str:
        s = self.settings
        return f"{name}|{'x'.join(map(str, self.shape[1:]))}|{s['device']}|threads={s['threads']}|v{VERSION}"

    def get(self, name: str, build: Callable[[], nn.Module]) -> dict:
        """``{"median_ms", "format", <format>: measurement...}`` for the network ``build()`` makes."""
        key = self.key(name)
        if key not in self.data:
            s = self.settings
            timed = {fmt: measure_latency(runner, self.shape, device=s["device"], threads=s["threads"],
                                          warmup=s["warmup"], repeats=s["repeats"], clock=s["clock"])
                     for fmt, runner in self._runners(build().cpu().eval()).items()}
            best = min(timed, key=lambda f: timed[f]["median_ms"])
            self.data[key] = {"median_ms": timed[best]["median_ms"], "format": best, **timed}
            write_json(self.path, self.data)
        return self.data[key]

    def _runners(self, net: nn.Module) -> dict:
        from ..export.formats import OnnxRunner, load_torchscript, onnx_bytes, torchscript_bytes
        from ..export.lean import make_lean

        if self.settings["device"] != "cpu":
            return {"pytorch": make_lean(net)}
        example = torch.randn(1, *self.shape[1:])
        runners = {}
        # A family an exporter cannot express is timed in the formats that work (export reports the failure).
        with contextlib.suppress(Exception), tempfile.TemporaryDirectory(prefix="ganas-latency-") as tmp:
            path = Path(tmp) / "model.pt"
            path.write_bytes(torchscript_bytes(net, example))
            runners["torchscript"] = load_torchscript(path)
        with contextlib.suppress(Exception):
            runners["onnx"] = OnnxRunner(onnx_bytes(net, example, size_free=False), threads=self.settings["threads"])
        return runners or {"pytorch": make_lean(net)}
