"""Search speed and search quality, on the real supernet and real held-out images. Prints its figures.

1. Cost model: analytic MACs + parameters per second (what rejects over-budget configs before any evaluation),
   against torchprofile tracing the extracted subnet.
2. Orchestration: per evaluated trial, the driver's ask/tell (over-budget proposals included) plus the executor's
   round trip, as a share of the evaluator's own time; trials per second in-process and with 1 and 2 Ray workers.
3. Search quality: Pareto hypervolume (quality x MACs, within the MAC budget) after N evaluations for TPE,
   NSGA-II, random, and GAN Compression's evolutionary search with its default settings, over several seeds.

The supernet: runs/quickstart when `ganas run studies/quickstart.yaml` has trained it, else a small one built
here once on real Fashion-MNIST edges->shoes (runs/search_bench, same search space and budget as the quickstart,
shorter training). The evaluator is ganas' own (SubnetEvaluator) on --images held-out images.

    OMP_NUM_THREADS=1 .venv/bin/python bench/search_bench.py [--evals 80] [--seeds 3] [--images 64]
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import logging
import math
import os
import random
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ganas.arch import Arch  # noqa: E402
from ganas.config import load_study  # noqa: E402

BENCH_STUDY = """\
name: search_bench
run_dir: {root}/runs/search_bench
report_dir: {root}/reports/search_bench
data: {{dataset: fashion_mnist_edges2shoes, size: 32, search_holdout: 500, limit_train: 3000, limit_test: 500}}
teacher: {{ngf: 32, n_blocks: 9, steps: 150, batch_size: 16}}
supernet: {{search_space: {root}/search_spaces/quickstart.yaml, steps: 250, batch_size: 16}}
search: {{objectives: [domain_fid, macs], budgets: {{macs: "12.5%"}}, n_trials: 40, workers: 2, eval_images: 200}}
"""

# GAN Compression's evolution_search.py defaults (options/evolution_options.py): population 100, parents the best
# 25%, half of each new generation made by mutation (each layer resampled with probability 0.2), the other half by
# uniform crossover of two parents; 500 generations; candidates over the MAC budget are redrawn, never evaluated;
# one objective (FID); a result cache, so a repeated config costs nothing.
EVOLUTION = dict(population_size=100, parent_ratio=0.25, mutation_ratio=0.5, mutate_prob=0.2)
# With 100 per generation, a search of up to 100 evaluations never leaves its random first generation; the same
# algorithm with a population of 20 (other settings unchanged) gets a few generations in.
EVOLUTION_SMALL = {**EVOLUTION, "population_size": 20}


# -- the supernet and the evaluator --------------------------------------------------------------------------
def find_study():
    quick = ROOT / "runs" / "quickstart"
    if (quick / "supernet.pt").is_file() and (quick / "study.json").is_file():
        where = "the quickstart's supernet (runs/quickstart)"
        path = quick
    else:
        path = ROOT / "runs" / "search_bench" / "bench.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(BENCH_STUDY.format(root=ROOT))
        where = "a small supernet trained here on real edges->shoes (runs/search_bench; the quickstart's is absent)"
    return load_study(path), where


class TimedEvaluator:
    """SubnetEvaluator, with its own time per call returned beside the metrics (stored on each trial)."""

    def __init__(self, study):
        from ganas.evaluate import SubnetEvaluator

        torch.set_num_threads(1)
        self.inner = SubnetEvaluator(study)

    def evaluate(self, arch: dict) -> dict:
        start, t0 = time.time(), time.perf_counter()
        out = self.inner.evaluate(arch)
        return {**out, "eval_s": time.perf_counter() - t0, "t_start": start, "t_end": time.time(), "pid": os.getpid()}


class Memo:
    """One evaluator shared by the sampler comparison: the metrics of a config do not change (fixed supernet,
    fixed images), so each config is evaluated once across every method and seed."""

    def __init__(self, evaluator):
        self.evaluator, self.cache = evaluator, {}

    def evaluate(self, arch: dict) -> dict:
        key = Arch(arch)
        if key not in self.cache:
            self.cache[key] = self.evaluator.evaluate(dict(arch))
        return self.cache[key]


# -- 1. the cost model ---------------------------------------------------------------------------------------
def bench_cost(ctx, n: int = 3000) -> None:
    import torchprofile

    from ganas.train.supernet import load_supernet

    rng = random.Random(0)
    archs = [ctx.space.sample(rng) for _ in range(n)]
    t0 = time.perf_counter()
    costs = [ctx.cost(a) for a in archs]
    analytic = n / (time.perf_counter() - t0)
    sup = load_supernet(ctx.run_dir / "supernet.pt")[0].eval()
    x = ctx.splits.search.inputs[:1]
    t0, k = time.perf_counter(), 5
    for a, c in zip(archs[:k], costs[:k]):
        assert torchprofile.profile_macs(sup.extract(a).eval(), x) == c["macs"]
    traced = k / (time.perf_counter() - t0)
    feasible = sum(c["macs"] <= ctx.budgets["macs"] for c in costs) / n
    print(f"cost model: {analytic:,.0f} configs/s analytic (MACs + params; equal to torchprofile on {k} of them), "
          f"torchprofile {traced:.1f} configs/s; {feasible:.1%} of random configs are within the MAC budget")


# -- 2. orchestration ------------------------------------------------------------------------------------------
def bench_orchestration(ctx, study, n: int, workers: int, tmp: Path) -> dict:
    from optuna.trial import TrialState

    from ganas.search import run_search

    s = study.search
    t0 = time.perf_counter()
    st = run_search(ctx.space, ctx.cost, functools.partial(TimedEvaluator, study), objectives=tuple(s.objectives),
                    budgets=ctx.budgets, sampler="tpe", n_trials=n, run_dir=tmp, study_name=f"w{workers}", seed=0,
                    workers=workers, show_progress=False)
    wall = time.perf_counter() - t0
    ev = [t for t in st.trials if t.state == TrialState.COMPLETE and "eval_s" in t.user_attrs
          and "duplicate_of" not in t.user_attrs]
    span = max(t.user_attrs["t_end"] for t in ev) - min(t.user_attrs["t_start"] for t in ev)
    busy = sum(t.user_attrs["eval_s"] for t in ev)
    # Orchestration per trial: the time each worker was up but not evaluating (waiting for the driver's ask/tell
    # and the executor's round trip), summed over workers and spread over the trials.
    idle = 0.0
    for pid in {t.user_attrs["pid"] for t in ev}:
        mine = [t.user_attrs for t in ev if t.user_attrs["pid"] == pid]
        idle += max(a["t_end"] for a in mine) - min(a["t_start"] for a in mine) - sum(a["eval_s"] for a in mine)
    overhead = max(idle, 0.0) / (len(ev) - 1)
    mean_eval = busy / len(ev)
    return {"workers": workers, "evaluated": len(ev), "proposals": len(st.trials), "span_s": span,
            "startup_s": wall - span, "trials_per_s": len(ev) / span, "eval_ms": 1e3 * mean_eval,
            "overhead_ms": 1e3 * overhead, "overhead_share": overhead / mean_eval}


# -- 3. search quality -----------------------------------------------------------------------------------------
class _Exhausted(Exception):
    pass


def evolution(space, cost, budget: float, evaluate, n_evals: int, seed: int, population_size: int,
              parent_ratio: float, mutation_ratio: float, mutate_prob: float) -> list[tuple[float, float]]:
    """GAN Compression's evolutionary search, as its evolution_search.py runs it, stopped after ``n_evals``
    distinct configs were evaluated. Returns (quality, MACs) of every evaluated config.

    A loop of its own rather than an Optuna sampler: its generations are evaluated as wholes, its candidates are
    redrawn until they fit the budget (an Optuna sampler would have to tell every redraw as a trial) and only
    its result cache, not the search, counts evaluations. Kept as in the reference: the first generation is
    uniform; the next population is the parents plus the *mutated* children only (the crossover children are
    evaluated but not kept: `population.append` runs over the first `mutation_numbers` results).
    """
    rng = random.Random(seed)
    results: dict[Arch, float] = {}

    def score(arch: Arch) -> float:
        if arch not in results:
            if len(results) >= n_evals:
                raise _Exhausted
            results[arch] = evaluate(dict(arch))
        return results[arch]

    def within(make) -> Arch:
        while True:
            arch = make()
            if cost(arch)["macs"] <= budget:
                return arch

    def mutate(arch: Arch) -> Arch:
        return Arch({k: rng.choice(space.choices[k]) if rng.random() < mutate_prob else v for k, v in arch.items()})

    def crossover(a: Arch, b: Arch) -> Arch:
        return Arch({k: rng.choice([a[k], b[k]]) for k in a})

    n_mut, n_par = round(mutation_ratio * population_size), round(parent_ratio * population_size)
    try:
        first = [within(lambda: space.sample(rng)) for _ in range(population_size)]
        population = [(score(a), a) for a in first]
        while True:
            parents = sorted(population, key=lambda p: p[0])[:n_par]
            mutated = [within(lambda: mutate(rng.choice(parents)[1])) for _ in range(n_mut)]
            crossed = [within(lambda: crossover(rng.choice(parents)[1], rng.choice(parents)[1]))
                       for _ in range(population_size - n_mut)]
            scores = [score(a) for a in mutated + crossed]
            population = parents + list(zip(scores[:n_mut], mutated))
    except _Exhausted:
        pass
    return [(q, cost(a)["macs"]) for a, q in results.items()]


def hypervolume(points, reference) -> float:
    """The area the (quality, MACs) points dominate up to ``reference``, both normalised by it (so 0..1)."""
    # optuna's implementation (private module, the same one its hypervolume history plot uses)
    import numpy as np
    from optuna._hypervolume import compute_hypervolume

    pts = np.array([[q / reference[0], m / reference[1]] for q, m in points
                    if q < reference[0] and m <= reference[1]], dtype=float)
    return float(compute_hypervolume(pts, np.ones(2))) if len(pts) else 0.0


def bench_samplers(ctx, study, n: int, seeds: int, tmp: Path) -> None:
    from ganas.search import run_search
    from ganas.search.results import is_feasible

    quality = study.search.objectives[0]
    budget = ctx.budgets["macs"]
    memo = Memo(TimedEvaluator(study))
    runs: dict[str, list[list[tuple[float, float]]]] = {}
    times: dict[str, float] = {}
    for sampler in ("tpe", "nsga2", "random"):
        for seed in range(seeds):
            t0 = time.perf_counter()
            st = run_search(ctx.space, ctx.cost, lambda: memo, objectives=(quality, "macs"), budgets={"macs": budget},
                            sampler=sampler, n_trials=n, run_dir=tmp, study_name=f"{sampler}-{seed}", seed=seed,
                            show_progress=False)
            times[sampler] = times.get(sampler, 0.0) + time.perf_counter() - t0
            pts = [(t.values[0], t.values[1]) for t in st.trials if is_feasible(t) and "duplicate_of" not in t.user_attrs]
            runs.setdefault(sampler, []).append(pts)
    for name, settings in (("evolution, GAN Compression", EVOLUTION), ("evolution, population 20", EVOLUTION_SMALL)):
        for seed in range(seeds):
            t0 = time.perf_counter()
            pts = evolution(ctx.space, ctx.cost, budget, lambda a: memo.evaluate(a)[quality], n, seed, **settings)
            times[name] = times.get(name, 0.0) + time.perf_counter() - t0
            runs.setdefault(name, []).append(pts)
    # One reference for every method: the MAC budget, and 10% beyond the worst quality any method evaluated.
    worst = max(q for method in runs.values() for pts in method for q, _ in pts)
    reference = (worst * 1.1, budget)
    print(f"\nPareto hypervolume after {n} evaluations ({quality} x MACs <= budget, normalised to the reference "
          f"({reference[0]:.4g}, {budget / 1e6:.2f}M); higher is better; {seeds} seeds; "
          f"{len(memo.cache)} distinct configs evaluated in all)")
    print(f"  {'method':28s} {'mean':>7s} {'min':>7s} {'max':>7s}  {'best ' + quality:>16s}  {'evaluated':>9s}  "
          f"{'search s/seed':>13s}")
    for method, method_runs in runs.items():
        hv = [hypervolume(p, reference) for p in method_runs]
        best = statistics.mean(min(q for q, _ in p) for p in method_runs)
        count = statistics.mean(len(p) for p in method_runs)
        print(f"  {method:28s} {statistics.mean(hv):7.4f} {min(hv):7.4f} {max(hv):7.4f}  {best:16.4g}  "
              f"{count:9.0f}  {times[method] / seeds:13.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--evals", type=int, default=80, help="evaluations per method and seed (hypervolume)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--throughput-evals", type=int, default=40, help="evaluations per throughput run")
    ap.add_argument("--images", type=int, default=64, help="held-out images each evaluation scores")
    ap.add_argument("--skip", nargs="*", default=[], choices=["cost", "orchestration", "samplers"])
    a = ap.parse_args()
    logging.getLogger("ray").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)

    from ganas import pipeline

    base, where = find_study()
    print(f"search bench: {where}; {a.images} held-out images per evaluation; torch {torch.__version__}, "
          f"{os.cpu_count()} CPUs, 1 thread per evaluator; load average {os.getloadavg()[0]:.1f} at the start "
          "(other processes share the machine: figures scale with it)")
    ctx = pipeline.prepare(base)  # writes the run's study.json: the study as it is, not this bench's variant
    study = dataclasses.replace(base, search=dataclasses.replace(base.search, eval_images=a.images))
    if not (ctx.run_dir / "supernet.pt").is_file():
        print("building the supernet once (a few minutes) ...")
        pipeline.stage_classifier(ctx, show_progress=False)
        pipeline.stage_supernet(ctx, show_progress=False)
    else:
        pipeline.stage_classifier(ctx, show_progress=False)
    print(f"space: {ctx.space.size:,} configs; budget: MACs <= {ctx.budgets['macs'] / 1e6:.2f}M "
          f"({ctx.budgets['macs'] / ctx.teacher_cost['macs']:.1%} of the teacher)")
    with tempfile.TemporaryDirectory(prefix="ganas-search-bench-") as tmp:
        if "cost" not in a.skip:
            bench_cost(ctx)
        if "orchestration" not in a.skip:
            print(f"\norchestration (TPE, {a.throughput_evals} evaluations per run; start-up = Ray and the "
                  "workers loading the supernet and images, excluded from the rates)")
            print(f"  {'executor':18s} {'trials/s':>8s} {'eval ms':>8s} {'overhead ms':>11s} {'share':>7s} "
                  f"{'start-up s':>10s} {'proposals':>9s}")
            for workers in (0, 1, 2):
                r = bench_orchestration(ctx, study, a.throughput_evals, workers, Path(tmp) / f"o{workers}")
                label = "in-process" if workers == 0 else f"Ray, {workers} worker{'s' * (workers > 1)}"
                print(f"  {label:18s} {r['trials_per_s']:8.2f} {r['eval_ms']:8.1f} {r['overhead_ms']:11.1f} "
                      f"{r['overhead_share']:7.1%} {r['startup_s']:10.1f} {r['proposals']:9d}")
                sys.stdout.flush()
        if "samplers" not in a.skip:
            bench_samplers(ctx, study, a.evals, a.seeds, Path(tmp) / "samplers")
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
