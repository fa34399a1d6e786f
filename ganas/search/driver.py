"""The search driver: it alone owns the Optuna study (ask/tell) and keeps the executor's workers busy.

Per trial: ask -> arch -> analytic cost (microseconds) -> budget constraints. Over budget: told at once,
never evaluated. A config seen before: told from the cache. Otherwise it goes to a worker, and the
evaluator's metrics (or its failure) are told when they come back. A measured budget (latency) is applied
then, from the metrics: over it, the trial is told like an over-MAC one (see ganas/search/objectives.py).

``n_trials`` counts finished *evaluations* (trials whose config went to the evaluator, succeeded or
failed). Over-budget and repeated proposals are stored as trials too, so samplers learn from them, but
they cost microseconds and do not count: under a 1/8 MAC budget fewer than 1% of random configs are
feasible, and counting them would leave random search and NSGA-II with almost nothing evaluated. A
sampler stuck proposing such configs stops the run after ``max(FREE_MIN, FREE_PER_TRIAL * n_trials)``.
"""
from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import optuna
from optuna.trial import FrozenTrial, Trial, TrialState
from tqdm import tqdm

from ..arch import Arch
from ..errors import GanasError
from ..space import SearchSpace
from .executors import Done, Executor, make_executor
from .objectives import MEASURED
from .samplers import SAMPLERS, arch_of, distributions, make_sampler, params_of
from .storage import open_storage, open_study, settings

COST_KEYS = ("macs", "macs_true", "params")
# User attrs the driver writes itself; every other user attr of a trial is an evaluator metric.
RESERVED = frozenset(COST_KEYS) | {"arch", "error", "duplicate_of", "interrupted"}
INTERRUPTED = "the search stopped before this trial finished; its config is retried"
FREE_PER_TRIAL, FREE_MIN = 100, 2000


@dataclass
class _Outcome:
    """What evaluating one config gave: metrics, or the reason there are none. Reused for repeats."""
    number: int
    metrics: dict = field(default_factory=dict)
    error: str | None = None


def _check_inputs(space: SearchSpace, cost, objectives, budgets, sampler, n_trials, workers) -> dict:
    if sampler not in SAMPLERS:
        raise GanasError(f"unknown sampler {sampler!r}: choose one of {', '.join(SAMPLERS)}")
    if not objectives or len(set(objectives)) != len(objectives):
        raise GanasError(f"search objectives {list(objectives)} must be a non-empty list without repeats")
    if n_trials < 1:
        raise GanasError(f"search n_trials = {n_trials} must be at least 1")
    if workers < 0:
        raise GanasError(f"search workers = {workers} must be 0 (in this process) or more")
    budgets = {k: v for k, v in (budgets or {}).items() if v is not None}
    smallest = space.smallest()
    small_cost = cost(smallest)
    for key, value in budgets.items():
        if key not in small_cost and key not in MEASURED:
            raise GanasError(f"budget {key!r} is not a cost: use one of {', '.join([*small_cost, *MEASURED])}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise GanasError(f"budget {key} = {value!r} must be a positive number")
        if key in small_cost and small_cost[key] > value:
            raise GanasError(f"no config of the search space meets the {key} budget: the smallest "
                             f"({smallest}) needs {small_cost[key]:,.0f} {key} and the budget is {value:,.0f}; "
                             "raise the budget or add smaller widths to the search space")
    return {k: float(v) for k, v in budgets.items()}


def _clean_metrics(result: Any) -> tuple[dict, str | None]:
    """The evaluator's result as floats, or why it cannot be stored (NaN, not a number, not a dict)."""
    if not isinstance(result, Mapping):
        return {}, f"evaluator returned {type(result).__name__}, not a dict of metrics"
    metrics = {}
    for k, v in result.items():
        if str(k) in RESERVED:
            continue  # cost keys come from the analytic cost model, never from the evaluator
        try:
            v = float(v)
        except (TypeError, ValueError):
            return {}, f"evaluator returned {v!r} for {k!r}, not a number"
        if not math.isfinite(v):
            return {}, f"evaluator returned {v} for {k!r}"
        metrics[str(k)] = v
    return metrics, None


class _Search:
    def __init__(self, study: optuna.Study, storage, space: SearchSpace, cost: Callable, objectives: tuple,
                 budgets: dict, n_trials: int):
        self.study, self.storage, self.space, self.cost = study, storage, space, cost
        self.objectives, self.budgets, self.n_trials = objectives, budgets, n_trials
        self.measured = {k: b for k, b in budgets.items() if k in MEASURED}   # applied when metrics come back
        self.target = min(n_trials, space.size)   # a tiny space has fewer configs than n_trials
        self.dists = distributions(space)
        self.cache: dict[Arch, _Outcome] = {}
        self.running: dict[int, tuple[Trial, Arch]] = {}       # trial number -> trial being evaluated
        self.waiting: dict[Arch, list[Trial]] = {}             # repeats of a config being evaluated
        self.done = 0          # evaluations finished, in this run and before (what n_trials counts)
        self.free = 0          # over-budget and repeated proposals told in this run
        self.best: float | None = None
        self.bar: tqdm | None = None

    # -- resume ----------------------------------------------------------------------------------
    def recover(self) -> None:
        """Load what earlier runs finished into the cache; fail and re-queue trials a killed driver left RUNNING."""
        study = self.study
        queued = set()
        for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING)):
            if t.state == TrialState.WAITING:
                queued.add(Arch(t.system_attrs.get("fixed_params", {})))
            else:  # ask/tell has no heartbeat and one driver owns a study, so a RUNNING trial is orphaned
                self._mark_interrupted(t)
        retry = []
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)):
            arch = Arch(t.user_attrs["arch"]) if "arch" in t.user_attrs else None
            if t.user_attrs.get("interrupted"):
                retry.append(arch)
                continue
            self._note_best(t)
            over_cost = any(v > 0 for k, v in t.constraints.items() if k not in MEASURED)
            if arch is None or "duplicate_of" in t.user_attrs or over_cost:
                continue  # never went to the evaluator
            self.done += 1
            if arch in self.cache:
                continue
            if t.state == TrialState.FAIL:
                self.cache[arch] = _Outcome(t.number, error=t.user_attrs.get("error", "failed"))
            else:
                self.cache[arch] = _Outcome(t.number, {k: v for k, v in t.user_attrs.items() if k not in RESERVED})
        for arch in retry:
            if arch is not None and arch not in self.cache and arch not in queued:
                study.enqueue_trial(params_of(arch))
                queued.add(arch)

    def _mark_interrupted(self, t: FrozenTrial) -> None:
        trial_id = self.storage.get_trial_id_from_study_id_trial_number(
            self.storage.get_study_id_from_name(self.study.study_name), t.number)
        self.storage.set_trial_user_attr(trial_id, "interrupted", True)
        self.storage.set_trial_user_attr(trial_id, "error", INTERRUPTED)
        self.study.tell(t.number, state=TrialState.FAIL)

    def seed(self) -> None:
        # skip_if_exists: a resumed study already has them (finished, or queued again by recover()).
        for arch in (self.space.largest(), self.space.smallest()):
            self.study.enqueue_trial(params_of(arch), skip_if_exists=True)

    # -- the loop --------------------------------------------------------------------------------
    def run(self, executor: Executor, show_progress: bool) -> None:
        free_limit = max(FREE_MIN, FREE_PER_TRIAL * self.n_trials)
        self.bar = tqdm(total=self.target, initial=min(self.done, self.target), unit="eval",
                        desc=f"search {self.study.study_name}", disable=not show_progress, dynamic_ncols=True)
        try:
            while True:
                while (self.done + len(self.running) < self.target and self.free < free_limit
                       and executor.free() > 0):
                    self._ask(executor)
                if not self.running and (self.done >= self.target or self.free >= free_limit):
                    break
                for done in executor.wait():
                    self._on_done(done)
            if self.done < self.target:
                warnings.warn(f"search stopped after {free_limit} proposals that were over budget or repeats, "
                              f"with {self.done} of {self.n_trials} configs evaluated: the budget leaves few "
                              "configs, or the space is small", stacklevel=3)
        finally:
            self.bar.close()
            for trial, _ in list(self.running.values()) + [t for ts in self.waiting.values() for t in ts]:
                try:  # tidy for dashboards; a resume would do the same to a trial left RUNNING
                    trial.set_user_attr("interrupted", True)
                    trial.set_user_attr("error", INTERRUPTED)
                    self.study.tell(trial, state=TrialState.FAIL)
                except Exception:  # never hide the error that stopped the loop
                    pass

    def _ask(self, executor: Executor) -> None:
        trial = self.study.ask(self.dists)
        try:
            arch = arch_of(trial.params, self.space)
        except (KeyError, ValueError) as e:
            arch = None
            reason = f"params {trial.params} are not a config of the search space ({e})"
        if arch is None or not self.space.contains(arch):
            trial.set_user_attr("error", reason if arch is None else f"{arch} is not in the search space")
            self._tell(trial, state=TrialState.FAIL, evaluated=False)
            return
        costs = self.cost(arch)
        trial.set_user_attr("arch", arch.to_dict())
        for k in COST_KEYS:
            trial.set_user_attr(k, costs[k])
        # Relative excess (cost / budget - 1): feasible <= 0, and MAC and parameter overshoots add up on one scale.
        excess = {k: costs[k] / b - 1.0 for k, b in self.budgets.items() if k not in MEASURED}
        for k, v in excess.items():
            trial.set_constraint(k, v)
        if any(v > 0 for v in excess.values()):
            # Never evaluated, but told COMPLETE so that samplers learn from it: Optuna 5's TPE, NSGA-II and
            # GP read constraints only from COMPLETE (TPE: also PRUNED) trials and skip FAIL ones, and a
            # multi-objective trial cannot be PRUNED (no intermediate values). Costs are real; quality
            # objectives are +inf, which Optuna accepts (only NaN is refused): TPE and NSGA-II rank
            # infeasible trials by constraint violation alone, and GP clips inf to the worst finite value.
            self._tell(trial, values=[float(costs[o]) if o in costs else math.inf for o in self.objectives],
                       evaluated=False)
        elif arch in self.cache:
            self._tell_outcome(trial, self.cache[arch], duplicate=True)
        elif arch in self.waiting:
            self.waiting[arch].append(trial)
        else:
            self.running[trial.number] = (trial, arch)
            self.waiting[arch] = []
            executor.submit(trial.number, arch.to_dict())

    def _on_done(self, done: Done) -> None:
        trial, arch = self.running.pop(done.key)
        repeats = self.waiting.pop(arch, [])
        if done.error is not None:
            outcome = _Outcome(trial.number, error=done.error)
        else:
            metrics, error = _clean_metrics(done.metrics)
            outcome = _Outcome(trial.number, metrics, error)
            missing = [k for k in self.measured if k not in metrics]
            if not self._over_measured(metrics):  # over a measured budget, quality may be skipped
                missing += [o for o in self.objectives if o not in COST_KEYS and o not in metrics]
            if error is None and missing:
                # A setup error, not this config's fault: marked interrupted so a fixed run retries it.
                self.waiting[arch] = repeats  # run()'s cleanup marks them the same way
                trial.set_user_attr("interrupted", True)
                trial.set_user_attr("error", f"evaluator did not return {missing}")
                self._tell(trial, state=TrialState.FAIL, evaluated=False)
                if missing[0] in self.measured:
                    raise GanasError(f"budget {missing[0]!r} needs the evaluator to measure it, and it returned "
                                     f"only {', '.join(metrics) or 'nothing'}: drop that budget or measure it")
                raise GanasError(f"objective {missing[0]!r} is not a metric the evaluator returns "
                                 f"({', '.join(metrics) or 'none'}): choose objectives from "
                                 f"{', '.join(list(metrics) + list(COST_KEYS))}")
        self.cache[arch] = outcome
        self._tell_outcome(trial, outcome, duplicate=False)
        for t in repeats:
            self._tell_outcome(t, outcome, duplicate=True)

    def _tell_outcome(self, trial: Trial, outcome: _Outcome, duplicate: bool) -> None:
        if duplicate:
            trial.set_user_attr("duplicate_of", outcome.number)
        if outcome.error is not None:
            trial.set_user_attr("error", outcome.error)
            self._tell(trial, state=TrialState.FAIL, evaluated=not duplicate)
            return
        for k, v in outcome.metrics.items():
            trial.set_user_attr(k, v)
        for k, b in self.measured.items():
            trial.set_constraint(k, outcome.metrics[k] / b - 1.0)
        costs = trial.user_attrs
        # A quality an over-latency config was not evaluated for is +inf, as for over-MAC configs (see _ask).
        self._tell(trial, values=[float(outcome.metrics[o]) if o in outcome.metrics else
                                  float(costs[o]) if o in COST_KEYS else math.inf
                                  for o in self.objectives], evaluated=not duplicate)

    def _over_measured(self, metrics: dict) -> bool:
        return any(k in metrics and metrics[k] > b for k, b in self.measured.items())

    def _tell(self, trial: Trial, values=None, state=None, *, evaluated: bool) -> None:
        frozen = self.study.tell(trial, values, state=state)
        self._note_best(frozen)
        if evaluated:
            self.done += 1
            self.bar.update(1)
        else:
            self.free += 1
        self.bar.set_postfix(skipped=self.free, best=f"{self.best:.4g}" if self.best is not None else "-",
                             refresh=evaluated)

    def _note_best(self, t: FrozenTrial) -> None:
        if t.state == TrialState.COMPLETE and all(v <= 0 for v in t.constraints.values()) and math.isfinite(t.values[0]):
            self.best = t.values[0] if self.best is None else min(self.best, t.values[0])


def run_search(space: SearchSpace, cost: Callable[[Arch], dict], evaluator_factory: Callable[[], Any], *,
               objectives, budgets, sampler: str = "tpe", n_trials: int = 40, storage=None, run_dir: Path,
               study_name: str, seed: int = 0, workers: int = 0, cpus_per_worker: float = 1.0,
               gpus_per_worker: float = 0.0, ray_address: str | None = None, show_progress: bool = True) -> optuna.Study:
    """Search ``space`` until ``n_trials`` configs have been evaluated, resuming whatever the storage holds.

    ``workers=0`` evaluates in this process; otherwise a pool of Ray actors (see RayExecutor).
    Every trial stores user attrs ``arch`` (layer -> width), ``macs``, ``macs_true``, ``params``, each
    evaluator metric, and ``error`` when it failed; its values are ``objectives`` in order (all minimised).
    """
    objectives = tuple(objectives)
    budgets = _check_inputs(space, cost, objectives, budgets, sampler, n_trials, workers)
    optuna_sampler = make_sampler(sampler, space, seed=seed, n_trials=n_trials, workers=workers)
    store, where = open_storage(storage, Path(run_dir))
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(logging.WARNING)  # one INFO line per trial would break the progress bar
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Clip non-finite values")  # GP and our inf placeholders
            warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
            study = open_study(store, where, study_name, optuna_sampler, settings(objectives, budgets, space))
            search = _Search(study, store, space, cost, objectives, budgets, n_trials)
            search.recover()
            search.seed()
            if search.done < search.target:
                with make_executor(evaluator_factory, workers=workers, cpus_per_worker=cpus_per_worker,
                                   gpus_per_worker=gpus_per_worker, ray_address=ray_address) as executor:
                    search.run(executor, show_progress)
    finally:
        optuna.logging.set_verbosity(verbosity)
    return study
