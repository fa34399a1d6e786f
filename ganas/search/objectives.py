"""Objectives and budgets beyond the analytic costs: what is checked when a study is prepared, and latency.

Quality metrics come from the evaluator (ganas.evaluate.SubnetEvaluator); MACs and parameters from the analytic
cost model, before any evaluation. Latency sits between the two: it is measured, by the worker that evaluates
the config, on that worker's own device, so a latency budget can only be applied after the config reached a
worker. The evaluator times the subnet first and, when it is over the budget, skips the quality evaluation
(the expensive part) and returns the latency alone; the driver records the trial as over budget with the
measured latency and +inf quality, like an over-MAC config, and counts it as an evaluation (it did occupy a
worker). Latencies from workers on different kinds of devices are not comparable: give such a cluster one
kind of worker, or search for MACs and time the front afterwards (the report does).
"""
from __future__ import annotations

from ..errors import GanasError

MEASURED = ("latency",)        # budget keys measured by the workers (milliseconds), not counted analytically
LATENCY_WARMUP, LATENCY_REPEATS = 3, 10


def check_study(study) -> None:
    """Fail before any training when the study's objectives need weight files this machine does not have, or
    a measured budget is not a plain number."""
    s = study.search
    if "fid" in s.objectives:
        from ..metrics.pretrained import INCEPTION, find_weights
        find_weights(INCEPTION, weights_file(study, s.fid_weights), "the fid objective (pytorch-fid's Inception)",
                     "search.fid_weights")
    if "lpips" in s.objectives:
        from ..metrics.lpips_distance import lpips_weights
        lpips_weights(s.lpips_net, weights_file(study, s.lpips_weights))
    for key in MEASURED:
        if key in s.budgets:
            v = s.budgets[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                raise GanasError(f"search.budgets.{key} = {v!r}: give milliseconds per image on a worker's device "
                                 "as a positive number, e.g. 5")
    if s.latency_threads < 1:
        raise GanasError(f"search.latency_threads = {s.latency_threads} must be at least 1")


def weights_file(study, value: str | None) -> str | None:
    """A weights path from the study, relative to the study's folder like its other paths; None: the hub cache."""
    return str(study.resolve(value)) if value else None


def needs_latency(study) -> bool:
    return "latency" in study.search.objectives or "latency" in study.search.budgets


class LatencyProbe:
    """Times a static subnet as it is deployed (the export's inference build) at batch 1 on ``device``: warm-up
    runs, then the median of repeated runs, with ``threads`` CPU threads. One CPU thread is timed by that
    thread's CPU time, so two workers sharing a machine do not inflate each other's figures; otherwise wall
    time (synchronised on a GPU)."""

    def __init__(self, input_shape, device, threads: int = 1, budget: float | None = None,
                 warmup: int = LATENCY_WARMUP, repeats: int = LATENCY_REPEATS):
        import torch

        self.shape = tuple(int(v) for v in input_shape)
        self.device = torch.device(device)
        self.threads, self.budget, self.warmup, self.repeats = int(threads), budget, warmup, repeats
        self.clock = "thread" if self.device.type == "cpu" and self.threads == 1 else "wall"

    def __call__(self, net) -> float:
        from ..export.lean import make_lean
        from ..metrics.latency import measure_latency

        return measure_latency(make_lean(net.eval()), self.shape, device=self.device, threads=self.threads,
                               warmup=self.warmup, repeats=self.repeats, clock=self.clock)["median_ms"]

    def over_budget(self, ms: float) -> bool:
        return self.budget is not None and ms > self.budget


__all__ = ["LATENCY_REPEATS", "LATENCY_WARMUP", "MEASURED", "LatencyProbe", "check_study", "needs_latency",
           "weights_file"]
