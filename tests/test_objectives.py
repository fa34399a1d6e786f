"""Search objectives beyond the analytic costs: LPIPS and FID weights (hub cache or a given path, never
downloaded), PSNR, latency measured by the evaluator and applied as a budget by the driver."""
from __future__ import annotations

import functools
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from optuna.trial import TrialState

from ganas.cli import main
from ganas.errors import GanasError
from ganas.metrics.pretrained import INCEPTION, LPIPS_BACKBONES, hub_file, hub_path
from ganas.search import best_trial, is_feasible, pareto_trials, run_search
from search_helpers import cost, logged, small_space

HERE = Path(__file__).parent


@pytest.fixture
def no_download(monkeypatch, tmp_path):
    """An empty torch hub cache, and any download attempt fails the test."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))

    def refuse(url, *a, **k):
        raise AssertionError(f"tried to download {url}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    return tmp_path / "torch_home" / "hub" / "checkpoints"


# -- PSNR ----------------------------------------------------------------------------------------------
def test_psnr_follows_its_definition():
    from ganas.metrics.pixel import psnr

    a = torch.zeros(3, 1, 8, 8)
    assert psnr(a, a + 0.2) == pytest.approx(10 * math.log10(4 / 0.04))   # range 2, MSE 0.04: 20 dB
    b = a.clone()
    b[1] += 0.02                                                          # a mean of per-image PSNRs
    assert psnr(a, b) == pytest.approx((100 + 10 * math.log10(4 / 4e-4) + 100) / 3)


# -- LPIPS ---------------------------------------------------------------------------------------------
def test_lpips_file_names_are_torchvisions():
    from torchvision import models

    urls = {"alex": models.AlexNet_Weights.IMAGENET1K_V1.url, "vgg": models.VGG16_Weights.IMAGENET1K_V1.url,
            "squeeze": models.SqueezeNet1_1_Weights.IMAGENET1K_V1.url}
    assert {k: u.rsplit("/", 1)[-1] for k, u in urls.items()} == LPIPS_BACKBONES


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_missing_lpips_backbone_names_the_file_and_where_it_goes(no_download, net):
    from ganas.metrics.lpips_distance import load_lpips

    with pytest.raises(GanasError) as e:
        load_lpips(net)
    msg = str(e.value)
    assert LPIPS_BACKBONES[net] in msg and str(no_download) in msg and "search.lpips_weights" in msg
    assert "\n" not in msg


def _squeezenet_standin(path: Path) -> Path:
    """torchvision's squeezenet1_1, randomly initialised, saved as its ImageNet weights file would be: the
    right keys and shapes (5 MB; AlexNet's 233 MB and VGG16's 528 MB go through the same code)."""
    from torchvision.models import squeezenet1_1

    torch.manual_seed(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(squeezenet1_1().state_dict(), path)
    return path


def test_lpips_loads_its_backbone_from_the_hub_cache_offline(no_download):
    from ganas.metrics.lpips_distance import lpips_distance, load_lpips

    standin = _squeezenet_standin(no_download / LPIPS_BACKBONES["squeeze"])
    model = load_lpips("squeeze")
    saved = torch.load(standin, weights_only=True)
    assert torch.equal(model.net.slice1[0].weight, saved["features.0.weight"])   # lpips read our file
    g = torch.Generator().manual_seed(0)
    gray = torch.rand(4, 1, 16, 16, generator=g) * 2 - 1                     # grayscale, below AlexNet's size
    assert lpips_distance(model, gray, gray) == pytest.approx(0, abs=1e-6)
    noisy = (gray + 0.5 * torch.randn(gray.shape, generator=g)).clamp(-1, 1)
    assert lpips_distance(model, gray, noisy) > lpips_distance(model, gray, (gray + 0.1).clamp(-1, 1)) > 0


def test_lpips_backbone_from_a_given_path(no_download, tmp_path):
    from ganas.metrics.lpips_distance import load_lpips

    standin = _squeezenet_standin(tmp_path / "elsewhere" / "my_squeezenet.pth")
    before = torch.hub.get_dir()
    model = load_lpips("squeeze", weights=str(standin))
    assert torch.equal(model.net.slice1[0].weight, torch.load(standin, weights_only=True)["features.0.weight"])
    assert torch.hub.get_dir() == before and not hub_path(LPIPS_BACKBONES["squeeze"]).exists()
    with pytest.raises(GanasError, match="search.lpips_weights = .*nope.pth is not a file"):
        load_lpips("squeeze", weights=str(tmp_path / "nope.pth"))


def test_hub_file_restores_the_environment(no_download, tmp_path):
    import os

    f = tmp_path / "x.pth"
    f.write_bytes(b"0")
    home, before = os.environ["TORCH_HOME"], torch.hub.get_dir()
    with hub_file("y.pth", f):
        assert hub_path("y.pth").resolve() == f.resolve()
    assert os.environ["TORCH_HOME"] == home and torch.hub.get_dir() == before


# -- FID -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def inception_standin(tmp_path_factory) -> Path:
    """pytorch-fid's FID Inception with random weights, saved under its weights file's name (95 MB)."""
    import pytorch_fid.inception as pi

    def own_weights(url, **kwargs):  # pytorch-fid asks for the file after building the network: hand it its own
        return sys._getframe(1).f_locals["inception"].state_dict()

    saved = pi.load_state_dict_from_url
    pi.load_state_dict_from_url = own_weights
    try:
        torch.manual_seed(0)
        state = pi.fid_inception_v3().state_dict()
    finally:
        pi.load_state_dict_from_url = saved
    path = tmp_path_factory.mktemp("inception") / INCEPTION
    torch.save(state, path)
    return path


def test_missing_inception_names_the_file_and_where_it_goes(no_download):
    from ganas.metrics.inception_fid import load_inception

    with pytest.raises(GanasError) as e:
        load_inception()
    assert INCEPTION in str(e.value) and str(no_download) in str(e.value) and "search.fid_weights" in str(e.value)


def test_fid_loads_offline_and_caches_the_real_statistics(no_download, inception_standin, tmp_path, monkeypatch):
    import ganas.metrics.inception_fid as fid_mod

    no_download.mkdir(parents=True)
    (no_download / INCEPTION).symlink_to(inception_standin)
    net = fid_mod.load_inception()                                   # from the hub cache
    given = fid_mod.load_inception(weights=str(inception_standin))   # from a given path
    for a, b in zip(net.parameters(), given.parameters()):
        assert torch.equal(a, b)
    g = torch.Generator().manual_seed(0)
    reals = torch.rand(4, 1, 32, 32, generator=g) * 2 - 1            # grayscale: repeated to RGB
    cache = tmp_path / "run" / "fid_real_stats_search.npz"
    mu, sigma = fid_mod.cached_real_stats(net, reals, cache)
    assert cache.is_file() and mu.shape == (2048,) and sigma.shape == (2048, 2048)

    def refuse(*a, **k):
        raise AssertionError("the cached statistics were computed again")

    with monkeypatch.context() as m:
        m.setattr(fid_mod, "inception_stats", refuse)
        mu2, sigma2 = fid_mod.cached_real_stats(net, reals, cache)
    assert np.array_equal(mu, mu2) and np.array_equal(sigma, sigma2)
    other = fid_mod.cached_real_stats(net, reals.flip(0)[:3], cache)   # other images: computed again
    assert other[0].shape == (2048,) and not np.array_equal(other[0], mu)
    # (no FID values here: the 2048x2048 matrix square root takes minutes on this machine's CPU)


# -- the study: checked before anything trains ---------------------------------------------------------
def _study(tmp_path, search: str) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(f"name: s\nrun_dir: {tmp_path}/run\nsupernet: {{search_space: {HERE.parent}/search_spaces/"
                 f"quickstart.yaml}}\nsearch: {search}\n")
    return p


@pytest.mark.parametrize("search, needle", [
    ("{objectives: [fid, macs]}", INCEPTION),
    ("{objectives: [lpips, macs]}", LPIPS_BACKBONES["alex"]),
    ("{objectives: [lpips, macs], lpips_net: vgg}", LPIPS_BACKBONES["vgg"]),
    ("{objectives: [l1, macs], budgets: {latency: '5%'}}", "give milliseconds"),
    ("{objectives: [psnr, macs]}", "choose from"),
])
def test_a_study_is_refused_before_any_training(no_download, tmp_path, capsys, search, needle):
    assert main(["teacher", str(_study(tmp_path, search)), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1
    assert not (tmp_path / "run" / "teacher.pt").exists()


# -- latency: measured by the evaluator, applied as a budget by the driver -------------------------------
class LatencyEvaluator:
    """Latency grows with MACs, as a measured one does; over ``budget`` it skips the quality, like
    SubnetEvaluator. Logs every call so tests count evaluations."""

    def __init__(self, log: str, budget: float | None):
        self.log, self.budget = Path(log), budget

    def evaluate(self, arch: dict) -> dict:
        with open(self.log, "a") as f:
            f.write(json.dumps({"arch": dict(arch)}) + "\n")
        macs = cost(arch)["macs"]
        out = {"latency": macs / 1e5}
        if self.budget is not None and out["latency"] > self.budget:
            return out
        return {**out, "l1": 1e6 / macs}   # bigger is better, so the front trades l1 against latency


def _latency_search(tmp_path, log, budget, n_trials, objectives=("l1", "latency")):
    return run_search(small_space(), cost, functools.partial(LatencyEvaluator, str(log), budget),
                      objectives=objectives, budgets={"latency": budget}, run_dir=tmp_path, study_name="s",
                      n_trials=n_trials, seed=2, show_progress=False, sampler="random")


def test_latency_budget_is_applied_after_measuring(tmp_path):
    space, log = small_space(), tmp_path / "calls.jsonl"
    budget = 0.5 * cost(space.largest())["macs"] / 1e5
    study = _latency_search(tmp_path, log, budget, n_trials=12)
    calls = [tuple(sorted(c["arch"].items())) for c in logged(log)]
    assert len(calls) == len(set(calls)) == 12                    # over-latency configs count as evaluations
    over = [t for t in study.trials if t.user_attrs.get("latency", 0) > budget]
    assert over, "the largest subnet is over the budget"
    for t in study.trials:
        if "latency" not in t.user_attrs:
            continue
        assert t.constraints["latency"] == pytest.approx(t.user_attrs["latency"] / budget - 1)
    for t in over:
        assert t.state == TrialState.COMPLETE and not is_feasible(t)
        assert t.values == [math.inf, t.user_attrs["latency"]] and "l1" not in t.user_attrs
    front = pareto_trials(study)
    assert front and all(t.user_attrs["latency"] <= budget for t in front)
    assert best_trial(study).user_attrs["latency"] <= budget

    resumed = _latency_search(tmp_path, log, budget, n_trials=16)   # the cache holds over-latency configs too
    calls = [tuple(sorted(c["arch"].items())) for c in logged(log)]
    assert len(calls) == len(set(calls)) == 16
    repeats = [t for t in resumed.trials if "duplicate_of" in t.user_attrs and "latency" in t.user_attrs]
    for t in repeats:
        first = resumed.trials[t.user_attrs["duplicate_of"]]
        assert t.constraints["latency"] == first.constraints["latency"] and t.values == first.values


def test_a_latency_budget_the_evaluator_does_not_measure_stops_the_search(tmp_path):
    from search_helpers import factory

    with pytest.raises(GanasError, match="budget 'latency' needs the evaluator to measure it"):
        run_search(small_space(), cost, factory(tmp_path / "c"), objectives=("l1", "macs"),
                   budgets={"latency": 1.0}, run_dir=tmp_path, study_name="s", n_trials=2, show_progress=False)


# -- the real evaluator --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from tiny_run import searched_run
    return searched_run(tmp_path_factory, "objectives")


def _evaluator(study_file, budget):
    from ganas.config import load_study
    from ganas.evaluate import SubnetEvaluator

    budgets = {"macs": "15%", **({"latency": budget} if budget else {})}
    study = load_study(study_file, {"search": {"objectives": ["neg_psnr", "latency"], "budgets": budgets}})
    return SubnetEvaluator(study)


def test_subnet_evaluator_times_the_extracted_subnet(run, monkeypatch):
    import ganas.metrics.latency as latency_mod

    timed = []

    def spy(net, input_shape, **kw):
        timed.append((net, tuple(input_shape), kw))
        return {"median_ms": 1.5}

    monkeypatch.setattr(latency_mod, "measure_latency", spy)
    ev = _evaluator(run[1], budget=None)
    arch = ev.supernet.config["widths"]
    arch = {k: max(1, v // 2) for k, v in arch.items()}
    out = ev.evaluate(arch)
    assert out["latency"] == 1.5 and out["neg_psnr"] == -out["psnr"] and {"l1", "domain_fid"} <= set(out)
    (net, shape, kw), = timed
    assert shape == tuple(ev.inputs.shape[1:]) and kw["threads"] == 1 and kw["device"] == ev.device
    assert not any("Dynamic" in type(m).__name__ for m in net.modules())   # the static subnet, not the supernet
    x = ev.inputs[:2].to(ev.device)
    ev.supernet.set_arch(arch)
    with torch.no_grad():
        assert torch.allclose(net(x), ev.supernet(x), atol=1e-4)


def test_over_the_latency_budget_quality_is_skipped(run):
    ev = _evaluator(run[1], budget=1e-9)          # nothing runs that fast: every config is over
    out = ev.evaluate(ev.supernet.config["widths"])
    assert set(out) == {"latency"} and out["latency"] > 1e-9
    ev = _evaluator(run[1], budget=1e9)
    out = ev.evaluate(ev.supernet.config["widths"])
    assert out["latency"] > 0 and "psnr" in out and "domain_fid" in out
