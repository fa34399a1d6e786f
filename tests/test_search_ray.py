"""The search driver on Ray actors: a pool of workers, a worker killed mid-trial, a factory that fails.

One local Ray session is shared by the module (starting Ray costs seconds); run_search reuses it.
"""
from __future__ import annotations

import time

import pytest

ray = pytest.importorskip("ray")

import search_helpers  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

from ganas.errors import GanasError  # noqa: E402
from ganas.search import RayExecutor, is_feasible, run_search  # noqa: E402
from search_helpers import BrokenFactory, cost, factory, logged, small_space  # noqa: E402

OBJ = ("l1", "macs")


@pytest.fixture(scope="module")
def local_ray():
    # Workers cannot import this test folder: send the helpers' code along with the factory.
    ray.cloudpickle.register_pickle_by_value(search_helpers)
    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def search(tmp_path, factory_, **kw):
    kw.setdefault("objectives", OBJ)
    kw.setdefault("budgets", {"macs": 0.5 * cost(small_space().largest())["macs"]})
    return run_search(small_space(), cost, factory_, run_dir=tmp_path, study_name="s", show_progress=False, **kw)


def test_two_workers_share_the_trials(local_ray, tmp_path):
    log = tmp_path / "calls.jsonl"
    study = search(tmp_path, factory(log, sleep=0.3), workers=2, n_trials=6)
    calls = logged(log)
    assert len(calls) == 6 and len({c["pid"] for c in calls}) == 2
    archs = [tuple(sorted(c["arch"].items())) for c in calls]
    assert len(set(archs)) == 6
    done = [t for t in study.trials if is_feasible(t) and "duplicate_of" not in t.user_attrs]
    assert len(done) == 6 and all(t.values == [t.user_attrs["l1"], t.user_attrs["macs"]] for t in done)
    assert ray.is_initialized(), "a Ray the caller started is left running"


def test_killed_worker_is_replaced_and_its_trial_retried(local_ray, tmp_path):
    log, marker = tmp_path / "calls.jsonl", tmp_path / "died"
    victim = dict(small_space().smallest())      # seeded, so it is among the first two evaluations
    study = search(tmp_path, factory(log, sleep=0.2, die_once_for=victim, marker=str(marker)),
                   workers=2, n_trials=5)
    assert marker.exists()
    tries = [c for c in logged(log) if c["arch"] == victim]
    assert len(tries) == 2 and tries[0]["pid"] != tries[1]["pid"]     # on a new worker process
    trials = [t for t in study.trials if t.user_attrs.get("arch") == victim]
    assert len(trials) == 1 and trials[0].state == TrialState.COMPLETE
    assert sum(is_feasible(t) and "duplicate_of" not in t.user_attrs for t in study.trials) == 5


def test_worker_killed_from_outside(local_ray, tmp_path):
    """ray.kill on a busy actor: the executor starts a replacement and re-runs the job."""
    ex = RayExecutor(factory(tmp_path / "calls.jsonl", sleep=1.0), 2)
    try:
        while ex.free() < 2:
            ex.wait()
        ex.submit("a", dict(small_space().smallest()))
        ex.submit("b", dict(small_space().largest()))
        while len(logged(tmp_path / "calls.jsonl")) < 2:  # both evaluations under way
            time.sleep(0.02)
        victim, _job = next(iter(ex._running.values()))
        ray.kill(victim)
        done = []
        while len(done) < 2:
            done += ex.wait()
        assert sorted(d.key for d in done) == ["a", "b"] and all(d.error is None for d in done)
        assert len(logged(tmp_path / "calls.jsonl")) == 3
    finally:
        ex.close()


def test_factory_error_reaches_the_caller(local_ray, tmp_path):
    with pytest.raises(GanasError, match="supernet checkpoint .* does not exist"):
        search(tmp_path, BrokenFactory(), workers=2, n_trials=2)
    study_file = tmp_path / "study.journal"
    assert study_file.exists()


def test_gpu_request_without_gpu_is_dropped(local_ray, tmp_path):
    if ray.cluster_resources().get("GPU"):
        pytest.skip("this machine has a GPU")
    log = tmp_path / "calls.jsonl"
    with pytest.warns(UserWarning, match="no GPU"):
        search(tmp_path, factory(log), workers=1, gpus_per_worker=1.0, n_trials=2)
    assert len(logged(log)) == 2


def test_a_busy_worker_has_its_next_job_waiting(local_ray, tmp_path):
    """prefetch: one job queues per busy worker and is sent the moment it finishes, so a worker does not idle
    while the driver tells a result and asks the next config."""
    log = tmp_path / "calls.jsonl"
    ex = RayExecutor(factory(log, sleep=0.3), 1)
    try:
        while ex.free() < 1:
            ex.wait()
        ex.submit("a", dict(small_space().smallest()))
        assert ex.free() == 1                        # the worker is busy, and one more job may wait for it
        ex.submit("b", dict(small_space().largest()))
        assert ex.free() == 0
        first = ex.wait()
        assert [d.key for d in first] == ["a"] and len(ex._running) == 1   # b went to the worker at once
        assert [d.key for d in ex.wait()] == ["b"]
        assert len({c["pid"] for c in logged(log)}) == 1
    finally:
        ex.close()
