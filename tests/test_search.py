"""The search driver, in-process: budgets, seeding, cache, failures, resume, samplers, results."""
from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import torch
from optuna.trial import TrialState

from ganas.errors import GanasError
from ganas.search import SAMPLERS, best_trial, distributions, is_feasible, open_storage, pareto_trials, run_search
from search_helpers import cost, factory, logged, small_space, tiny_space

torch.set_num_threads(1)
OBJ = ("l1", "macs")


def search(tmp_path, space, evaluator_factory, **kw):
    kw.setdefault("objectives", OBJ)
    kw.setdefault("budgets", {})
    kw.setdefault("study_name", "s")
    kw.setdefault("show_progress", False)
    return run_search(space, cost, evaluator_factory, run_dir=tmp_path, **kw)


def evaluated(study):
    return [t for t in study.trials if "duplicate_of" not in t.user_attrs and is_feasible(t)]


def test_over_budget_configs_are_recorded_but_never_evaluated(tmp_path):
    space, log = small_space(), tmp_path / "calls.jsonl"
    budget = 0.3 * cost(space.largest())["macs"]
    study = search(tmp_path, space, factory(log), budgets={"macs": budget}, n_trials=8, seed=1)
    calls = logged(log)
    assert len(calls) == 8 == len(evaluated(study))
    assert all(cost(c["arch"])["macs"] <= budget for c in calls)
    over = [t for t in study.trials if t.user_attrs["macs"] > budget]
    assert over, "the largest subnet is over budget, so at least one trial must be"
    called = [c["arch"] for c in calls]
    for t in study.trials:
        assert set(t.constraints) == {"macs"}
        assert t.constraints["macs"] == pytest.approx(t.user_attrs["macs"] / budget - 1)
        assert {"arch", "macs", "macs_true", "params"} <= set(t.user_attrs)
        assert t.user_attrs["macs"] == cost(t.user_attrs["arch"])["macs"]
    for t in over:
        assert t.state == TrialState.COMPLETE and t.values[0] == math.inf and t.values[1] == t.user_attrs["macs"]
        assert t.user_attrs["arch"] not in called and "l1" not in t.user_attrs
    for t in evaluated(study):
        assert t.values == [t.user_attrs["l1"], t.user_attrs["macs"]]
        assert t.user_attrs["domain_fid"] == pytest.approx(100 * t.user_attrs["l1"])


def test_study_is_seeded_with_largest_and_smallest(tmp_path):
    space, log = small_space(), tmp_path / "calls.jsonl"
    budget = 0.5 * cost(space.largest())["macs"]
    study = search(tmp_path, space, factory(log), budgets={"macs": budget}, n_trials=2, sampler="random")
    assert study.trials[0].user_attrs["arch"] == dict(space.largest())
    assert study.trials[1].user_attrs["arch"] == dict(space.smallest())
    assert dict(space.largest()) not in [c["arch"] for c in logged(log)]    # over budget
    assert logged(log)[0]["arch"] == dict(space.smallest())


def test_no_config_is_evaluated_twice(tmp_path):
    space, log = tiny_space(), tmp_path / "calls.jsonl"
    study = search(tmp_path, space, factory(log), n_trials=50, sampler="random")
    archs = [tuple(sorted(c["arch"].items())) for c in logged(log)]
    assert len(archs) == len(set(archs)) == space.size == 4       # n_trials is capped by the space
    repeats = [t for t in study.trials if "duplicate_of" in t.user_attrs]
    assert repeats, "random sampling of 4 configs repeats some"
    for t in repeats:
        first = study.trials[t.user_attrs["duplicate_of"]]
        assert t.user_attrs["arch"] == first.user_attrs["arch"] and t.values == first.values


def test_nan_and_exceptions_fail_the_trial_with_reason(tmp_path):
    space, log = tiny_space(), tmp_path / "calls.jsonl"
    archs = [dict(space.largest()), dict(space.smallest())]
    study = search(tmp_path, space, factory(log, nan_for=[archs[0]], raise_for=[archs[1]]), n_trials=4,
                   sampler="random")
    firsts = [t for t in study.trials if "duplicate_of" not in t.user_attrs]
    by_arch = {tuple(sorted(t.user_attrs["arch"].items())): t for t in firsts}
    nan_trial, raised = (by_arch[tuple(sorted(a.items()))] for a in archs)
    assert nan_trial.state == TrialState.FAIL and "nan" in nan_trial.user_attrs["error"]
    assert raised.state == TrialState.FAIL and "ValueError: boom" in raised.user_attrs["error"]
    assert len(evaluated(study)) == 2
    for t in study.trials:  # repeats of a failed config fail with the same reason, without a new evaluation
        if t.state == TrialState.FAIL:
            assert t.user_attrs["error"] in (nan_trial.user_attrs["error"], raised.user_attrs["error"])
    assert len(logged(log)) == 4


def test_missing_objective_raises(tmp_path):
    with pytest.raises(GanasError, match="'domain_fid' is not a metric the evaluator returns"):
        search(tmp_path, tiny_space(), factory(tmp_path / "c", metrics=("l1",)), n_trials=2,
               objectives=("domain_fid", "macs"))
    study = optuna.load_study(study_name="s", storage=open_storage(None, tmp_path)[0])
    (trial,) = study.trials[:1]
    assert trial.state == TrialState.FAIL and trial.user_attrs["interrupted"]   # retried once fixed
    assert "did not return ['domain_fid']" in trial.user_attrs["error"]
    fixed = search(tmp_path, tiny_space(), factory(tmp_path / "c"), n_trials=2, objectives=("domain_fid", "macs"))
    assert len(evaluated(fixed)) == 2


@pytest.mark.parametrize("kw, match", [
    (dict(sampler="bayes"), "unknown sampler 'bayes': choose one of tpe, nsga2, random, gp, grid"),
    (dict(budgets={"macs": 10.0}), "no config of the search space meets the macs budget"),
    (dict(budgets={"energy": 1.0}), "budget 'energy' is not a cost: use one of macs, macs_true, params, latency"),
    (dict(budgets={"latency": -1.0}), "budget latency = -1.0 must be a positive number"),
    (dict(objectives=()), "non-empty"),
])
def test_bad_input_raises_one_line(tmp_path, kw, match):
    with pytest.raises(GanasError, match=match) as e:
        search(tmp_path, small_space(), factory(tmp_path / "c"), n_trials=2, **kw)
    assert "\n" not in str(e.value)


def test_resume_after_driver_crash(tmp_path):
    """A trial left RUNNING (the driver was killed mid-evaluation) is failed and its config retried."""
    space, log = small_space(), tmp_path / "calls.jsonl"
    search(tmp_path, space, factory(log), n_trials=4, seed=3)
    assert len(logged(log)) == 4
    study = optuna.load_study(study_name="s", storage=open_storage(None, tmp_path)[0])
    seen = {tuple(sorted(c["arch"].items())) for c in logged(log)}
    orphan_arch = next(a for a in (space.sample(__import__("random").Random(i)) for i in range(99))
                       if tuple(sorted(a.items())) not in seen)
    study.enqueue_trial(dict(orphan_arch))
    orphan = study.ask(distributions(space))           # now killed: stays RUNNING
    orphan.set_user_attr("arch", dict(orphan_arch))

    study = search(tmp_path, space, factory(log), n_trials=6, seed=3)
    calls = [tuple(sorted(c["arch"].items())) for c in logged(log)]
    assert len(calls) == len(set(calls)) == 6                          # nothing finished was re-run
    assert tuple(sorted(orphan_arch.items())) in calls[4:]
    first = study.trials[orphan.number]
    assert first.state == TrialState.FAIL and first.user_attrs["interrupted"]
    assert len(evaluated(study)) == 6
    again = search(tmp_path, space, factory(log), n_trials=6, seed=3)  # complete: nothing to do
    assert len(logged(log)) == 6 and len(again.trials) == len(study.trials)


def test_resume_after_sigkill_of_the_driver(tmp_path):
    """Kill -9 a real driver process mid-search; the resumed search loses and repeats nothing."""
    log = tmp_path / "calls.jsonl"
    script = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
              "from search_helpers import *\nfrom ganas.search import run_search\n"
              f"run_search(small_space(), cost, factory({str(log)!r}, sleep=0.4), objectives={OBJ!r}, "
              f"budgets={{}}, n_trials=30, run_dir={str(tmp_path)!r}, study_name='s', show_progress=False)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 60
    while len(logged(log)) < 4 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = logged(log)
    assert len(before) >= 4
    storage = open_storage(None, tmp_path)[0]
    killed = optuna.load_study(study_name="s", storage=storage)
    done_before = {tuple(sorted(t.user_attrs["arch"].items())) for t in killed.trials if t.state.is_finished()}
    assert any(t.state == TrialState.RUNNING for t in killed.trials)

    study = search(tmp_path, small_space(), factory(log), n_trials=len(before) + 2)
    after = [tuple(sorted(c["arch"].items())) for c in logged(log)[len(before):]]
    assert not done_before & set(after)
    assert len(evaluated(study)) == len(before) + 2
    assert not any(t.state == TrialState.RUNNING for t in study.trials)


def test_ctrl_c_leaves_a_resumable_study(tmp_path):
    space, log = small_space(), tmp_path / "calls.jsonl"
    victim = dict(space.smallest())
    with pytest.raises(KeyboardInterrupt):
        search(tmp_path, space, factory(log, interrupt_for=victim), n_trials=3)
    study = optuna.load_study(study_name="s", storage=open_storage(None, tmp_path)[0])
    (trial,) = [t for t in study.trials if t.user_attrs.get("arch") == victim]
    assert trial.state == TrialState.FAIL and trial.user_attrs["interrupted"]
    study = search(tmp_path, space, factory(log), n_trials=3)
    assert len(evaluated(study)) == 3 and victim in [t.user_attrs["arch"] for t in evaluated(study)]


def test_resume_with_other_budgets_is_refused(tmp_path):
    space = small_space()
    budget = cost(space.largest())["macs"]
    search(tmp_path, space, factory(tmp_path / "c"), n_trials=1, budgets={"macs": budget})
    with pytest.raises(GanasError, match="searched with other budgets"):
        search(tmp_path, space, factory(tmp_path / "c"), n_trials=2, budgets={"macs": budget / 2})


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_sampler_runs(tmp_path, sampler):
    space, log = small_space(), tmp_path / "calls.jsonl"
    budget = 0.4 * cost(space.largest())["macs"]
    study = search(tmp_path, space, factory(log), sampler=sampler, n_trials=4, budgets={"macs": budget})
    assert len(logged(log)) == 4 == len(evaluated(study))
    assert all(cost(c["arch"])["macs"] <= budget for c in logged(log))


def test_gp_past_its_random_startup(tmp_path):
    """GP fits its models only after 10 complete trials: run past that, with a budget (inf placeholders)."""
    space, log = small_space(), tmp_path / "calls.jsonl"
    budget = 0.3 * cost(space.largest())["macs"]
    study = search(tmp_path, space, factory(log), sampler="gp", n_trials=12, budgets={"macs": budget})
    assert len(evaluated(study)) == 12 and all(cost(c["arch"])["macs"] <= budget for c in logged(log))
    assert sum(t.state == TrialState.COMPLETE for t in study.trials) > 10


def test_sqlite_storage_keeps_infeasible_values(tmp_path):
    space = small_space()
    url = f"sqlite:///{tmp_path}/study.db"
    budget = 0.4 * cost(space.largest())["macs"]
    search(tmp_path, space, factory(tmp_path / "c"), n_trials=2, budgets={"macs": budget}, storage=url)
    study = optuna.load_study(study_name="s", storage=url)
    assert study.trials[0].values[0] == math.inf and study.trials[0].constraints["macs"] > 0
    assert len(evaluated(study)) == 2


def test_pareto_and_best_trial(tmp_path):
    space = small_space()
    budget = 0.5 * cost(space.largest())["macs"]
    study = search(tmp_path, space, factory(tmp_path / "c"), n_trials=12, budgets={"macs": budget}, seed=5)
    front = pareto_trials(study)
    feasible = evaluated(study)
    assert front and all(is_feasible(t) for t in front)
    for t in front:
        assert not any(all(a <= b for a, b in zip(o.values, t.values)) and o.values != t.values for o in feasible)
    for t in feasible:
        if t not in front:
            assert any(all(a <= b for a, b in zip(f.values, t.values)) for f in front)
    best = best_trial(study)
    assert best.values[0] == min(t.values[0] for t in feasible)
    tight = sorted(t.user_attrs["macs"] for t in feasible)[1]
    best_tight = best_trial(study, {"macs": tight})
    assert best_tight.user_attrs["macs"] <= tight
    assert best_tight.values[0] == min(t.values[0] for t in feasible if t.user_attrs["macs"] <= tight)
    assert best_trial(study, {"macs": 1.0}) is None


def test_resume_forces_the_journal_lock_a_killed_driver_left(tmp_path):
    """A driver killed mid-append leaves study.journal.lock; the next run forces it after a short grace period
    (Optuna's default one alone is 30 s)."""
    from ganas.search.storage import LOCK_GRACE_S

    search(tmp_path, small_space(), factory(tmp_path / "c"), n_trials=2)
    os.symlink(tmp_path / "study.journal", tmp_path / "study.journal.lock")   # what a kill -9 mid-append leaves
    start = time.monotonic()
    study = search(tmp_path, small_space(), factory(tmp_path / "c"), n_trials=3)
    assert len(evaluated(study)) == 3 and not (tmp_path / "study.journal.lock").exists()
    assert time.monotonic() - start < LOCK_GRACE_S + 20
