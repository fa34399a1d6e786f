"""Search stage: Optuna studies over a search space, trials evaluated in-process or by Ray actors."""
from .driver import COST_KEYS, run_search
from .executors import Done, Executor, RayExecutor, SerialExecutor, make_executor
from .results import best_trial, is_feasible, pareto_trials
from .samplers import SAMPLERS, distributions, make_sampler
from .storage import open_storage

__all__ = ["run_search", "pareto_trials", "best_trial", "is_feasible", "SAMPLERS", "COST_KEYS", "Executor",
           "SerialExecutor", "RayExecutor", "make_executor", "Done", "distributions", "make_sampler", "open_storage"]
