"""The search on a two-node Ray cluster (ray.cluster_utils.Cluster, CPU only), joined by address."""
from __future__ import annotations

import threading
import time

import pytest

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

import search_helpers  # noqa: E402
from ganas.search import is_feasible, run_search  # noqa: E402
from search_helpers import cost, factory, logged, small_space  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    ray.cloudpickle.register_pickle_by_value(search_helpers)
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
    worker = c.add_node(num_cpus=1)
    c.wait_for_nodes()
    yield c, worker
    if ray.is_initialized():
        ray.shutdown()
    c.shutdown()


def test_search_spreads_over_nodes_and_survives_losing_one(cluster, tmp_path):
    c, worker = cluster
    log = tmp_path / "calls.jsonl"
    lost = {}

    def remove_worker_node_mid_run():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            nodes = {e["node"] for e in logged(log)}
            if len(nodes) == 2:       # both nodes have evaluated: now lose the second one
                lost["nodes_before"] = nodes
                c.remove_node(worker)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=remove_worker_node_mid_run)
    killer.start()
    study = run_search(small_space(), cost, factory(log, sleep=0.3), objectives=("l1", "macs"), budgets={},
                       n_trials=8, run_dir=tmp_path, study_name="s", workers=2, ray_address=c.address,
                       show_progress=False)
    killer.join()
    assert len(lost.get("nodes_before", ())) == 2, "both nodes ran evaluations"
    done = [t for t in study.trials if is_feasible(t) and "duplicate_of" not in t.user_attrs]
    assert len(done) == 8
    # An evaluation cut off with its node is run again on the head (9 calls then), never lost.
    called = {tuple(sorted(e["arch"].items())) for e in logged(log)}
    assert called == {tuple(sorted(t.user_attrs["arch"].items())) for t in done}
    assert not ray.is_initialized(), "run_search disconnects from a cluster it joined"


def test_without_address_a_fresh_local_ray_is_started_and_stopped(cluster, tmp_path, monkeypatch):
    """Even with a cluster running on this machine, no address means a private local Ray."""
    c, _ = cluster
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert not ray.is_initialized()
    cluster_nodes = {n.node_id for n in c.list_all_nodes()}
    log = tmp_path / "calls.jsonl"
    run_search(small_space(), cost, factory(log), objectives=("l1", "macs"), budgets={}, n_trials=2,
               run_dir=tmp_path, study_name="s", workers=1, show_progress=False)
    nodes = {e["node"] for e in logged(log)}
    assert len(nodes) == 1 and not nodes & cluster_nodes
    assert cluster_nodes and all(len(n) == len(next(iter(nodes))) for n in cluster_nodes)  # same id format
    assert not ray.is_initialized(), "a Ray that run_search started is shut down"
