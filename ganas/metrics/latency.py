"""Inference latency of one network: batch 1 by default, warm-up, then the median of repeated timed runs.

Generic on purpose: the report times the teacher and the Pareto subnets with it, the export benchmark times
every exported format with it, and a search may use it as an objective. ``net`` is any callable that takes
one tensor: an ``nn.Module``, a TorchScript module, or a wrapper around an ONNX Runtime session.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable, Sequence

import torch

CLOCKS = ("wall", "thread")


def measure_latency(net: Callable[[torch.Tensor], object], input_shape: Sequence[int], device=None,
                    threads: int | None = None, warmup: int = 3, repeats: int = 20, clock: str = "wall",
                    seed: int = 0) -> dict:
    """Time ``net`` on a random input of ``input_shape`` and return milliseconds per call.

    ``input_shape`` is one sample's shape (C, H, W), timed at batch 1, or a full shape with its batch.
    ``device``: where the network and input live (default: cuda when present, else cpu); a module is moved
    there, other callables are given a tensor on it. ``threads``: intra-op CPU threads during the timing
    (default: the current setting; restored afterwards). Every call runs in inference mode and, on a GPU,
    is synchronised before the clock stops.

    ``clock="thread"`` counts the CPU time of the calling thread instead of wall time: with one thread on a
    CPU that equals the wall latency of an idle core and ignores time other processes take, so figures stay
    comparable on a shared machine. It refuses more threads or a GPU, where it would miss work.

    Returns ``median_ms`` (the figure to use), ``mean_ms``, ``min_ms``, ``max_ms``, ``stdev_ms``, and what
    was measured: ``repeats``, ``warmup``, ``threads``, ``device``, ``input_shape``, ``clock``.
    """
    if clock not in CLOCKS:
        raise ValueError(f"clock {clock!r}: choose one of {', '.join(CLOCKS)}")
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats = {repeats} must be >= 1 and warmup = {warmup} >= 0")
    device = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
    shape = tuple(int(s) for s in input_shape)
    if len(shape) in (1, 3):  # one sample: a latent vector or an image
        shape = (1, *shape)
    old_threads = torch.get_num_threads()
    threads = old_threads if threads is None else int(threads)
    if clock == "thread" and (threads != 1 or device.type != "cpu"):
        raise ValueError("clock='thread' needs threads=1 on the cpu: other threads and GPUs do work it cannot see")
    if isinstance(net, torch.nn.Module):
        net = net.to(device).eval()
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    now = time.thread_time if clock == "thread" else time.perf_counter
    times = []
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            for _ in range(warmup):
                net(x)
            sync()
            for _ in range(repeats):
                start = now()
                net(x)
                sync()
                times.append((now() - start) * 1e3)
    finally:
        torch.set_num_threads(old_threads)
    return {"median_ms": statistics.median(times), "mean_ms": statistics.fmean(times), "min_ms": min(times),
            "max_ms": max(times), "stdev_ms": statistics.stdev(times) if len(times) > 1 else 0.0,
            "repeats": repeats, "warmup": warmup, "threads": threads, "device": str(device),
            "input_shape": list(shape), "clock": clock}
