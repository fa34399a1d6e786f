"""Reading a finished study: feasible trials, the Pareto front, the best trial under budgets."""
from __future__ import annotations

import math
from typing import Mapping

import optuna
from optuna.trial import FrozenTrial, TrialState


def is_feasible(trial: FrozenTrial) -> bool:
    """Within every budget the search was given (``set_constraint`` values <= 0) and really evaluated."""
    return (trial.state == TrialState.COMPLETE and all(v <= 0 for v in trial.constraints.values())
            and all(math.isfinite(v) for v in trial.values))


def _within(trial: FrozenTrial, budgets: Mapping[str, float] | None) -> bool:
    return all(trial.user_attrs.get(k, math.inf) <= float(v) for k, v in (budgets or {}).items() if v is not None)


def _first_per_arch(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """Repeats of a config (answered from the cache) carry the same values; keep the first."""
    seen, out = set(), []
    for t in sorted(trials, key=lambda t: t.number):
        key = tuple(sorted(t.user_attrs.get("arch", t.params).items()))
        if key not in seen:
            seen.add(key)
            out.append(t)
    return out


def pareto_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Feasible, complete, non-dominated trials (one per config), ordered by the first objective."""
    # Optuna's best_trials already drops infeasible trials and keeps the non-dominated ones.
    front = [t for t in study.best_trials if is_feasible(t)]
    return sorted(_first_per_arch(front), key=lambda t: tuple(t.values))


def best_trial(study: optuna.Study, budgets: Mapping[str, float] | None = None) -> FrozenTrial | None:
    """The feasible trial with the lowest first objective, optionally also within tighter ``budgets``
    (keys macs / params / macs_true, read from the trial's user attrs); None when there is none."""
    trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
              if is_feasible(t) and _within(t, budgets)]
    trials = _first_per_arch(trials)
    return min(trials, key=lambda t: (t.values[0], tuple(t.values[1:]), t.number)) if trials else None
