"""Search space -> Optuna distributions, and the samplers a study file can name."""
from __future__ import annotations

import warnings
from typing import Mapping

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution

from ..arch import Arch
from ..errors import GanasError
from ..space import SearchSpace

SAMPLERS = ("tpe", "nsga2", "random", "gp", "grid")
# GridSampler lists every config in memory (about 150 bytes each) and rescans them on every ask.
GRID_MAX_CONFIGS = 2_000_000


def distributions(space: SearchSpace) -> dict[str, BaseDistribution]:
    """One parameter per layer, named after the layer, whose value is the width itself.

    Evenly spaced widths become an IntDistribution with that step, so TPE and GP see that 40 lies
    between 32 and 48; other lists stay categorical (Optuna has no ordinal type for uneven steps).
    """
    out: dict[str, BaseDistribution] = {}
    for layer, widths in space.choices.items():
        w = sorted(widths)
        steps = {b - a for a, b in zip(w, w[1:])}
        if len(steps) <= 1:
            out[layer] = IntDistribution(w[0], w[-1], step=steps.pop() if steps else 1)
        else:
            out[layer] = CategoricalDistribution(w)
    return out


def params_of(arch: Mapping[str, int]) -> dict[str, int]:
    return {k: int(v) for k, v in arch.items()}


def arch_of(params: Mapping[str, int], space: SearchSpace) -> Arch:
    return Arch({k: int(params[k]) for k in space.layers})


class _GridSampler(optuna.samplers.GridSampler):
    """GridSampler whose after_trial does not call ``study.stop()``.

    Optuna's version stops the study once the grid is exhausted, which only works inside
    ``study.optimize``; under ask/tell it raises in ``tell`` before the trial is stored, leaving it
    RUNNING. The driver stops by itself (n_trials), and repeats are answered from its cache.
    """

    def after_trial(self, study, trial, state, values) -> None:
        return None


def make_sampler(name: str, space: SearchSpace, *, seed: int, n_trials: int, workers: int) -> optuna.samplers.BaseSampler:
    if name not in SAMPLERS:
        raise GanasError(f"unknown sampler {name!r}: choose one of {', '.join(SAMPLERS)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "tpe":
            # multivariate: layer widths interact (the trunk width sets every block's cost);
            # constant_liar: with Ray workers several trials run at once (each worker also has one queued:
            # RayExecutor's prefetch); they count as bad so that they are not re-proposed.
            return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=workers > 0)
        if name == "nsga2":
            # Optuna's default population (50) would never breed within a quickstart's 40 trials.
            return optuna.samplers.NSGAIISampler(seed=seed, population_size=max(4, min(50, n_trials // 4)))
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if name == "gp":
            # A subnet is scored on fixed held-out images: the objective has no noise to model.
            return optuna.samplers.GPSampler(seed=seed, deterministic_objective=True)
    if space.size > GRID_MAX_CONFIGS:
        raise GanasError(f"sampler 'grid' lists all {space.size:,} configs of this space (at most "
                         f"{GRID_MAX_CONFIGS:,}): use tpe, nsga2, random or gp, or a smaller search space")
    return _GridSampler({k: sorted(v) for k, v in space.choices.items()}, seed=seed)
