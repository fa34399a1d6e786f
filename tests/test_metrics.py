from pathlib import Path

import numpy as np
import pytest
import torch

from ganas.config import DataConfig
from ganas.data import idx, load_data
from ganas.errors import GanasError
from ganas.io import save_checkpoint
from ganas.metrics import (METRICS, DomainClassifier, feature_stats, frechet_distance, load_or_train_classifier,
                           score)

pytestmark = pytest.mark.skipif(not Path(idx.DEFAULT_PATH).is_dir(),
                                reason="needs apt-get install dataset-fashion-mnist")
# 2000 training images and 150 steps: seconds on one core; the accuracy is measured on 1000 unseen test images
QUICK = DataConfig(limit_train=2000, limit_test=1000, search_holdout=300)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("clf") / "classifier.pt"
    rng_before = torch.get_rng_state()
    net = load_or_train_classifier(path, QUICK, seed=0, device="cpu", min_steps=150, show_progress=False)
    assert torch.equal(rng_before, torch.get_rng_state())  # seeded locally, the caller's RNG untouched
    return path, net


@pytest.fixture(scope="module")
def search():
    return load_data(QUICK, seed=0).search


def _gaussian(seed, n=400, d=16, shift=0.0):
    x = np.random.default_rng(seed).standard_normal((n, d)) + shift
    return x.mean(0), np.cov(x, rowvar=False)


def test_frechet_distance_is_zero_for_equal_stats_and_grows_with_a_shift():
    a = _gaussian(0)
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-6)
    mu, sigma = a
    # with equal covariances the distance is exactly the squared distance of the means
    assert frechet_distance(a, (mu + 0.5, sigma)) == pytest.approx(16 * 0.25, rel=1e-6)
    near, far = frechet_distance(a, _gaussian(1, shift=0.2)), frechet_distance(a, _gaussian(1, shift=1.0))
    assert 0 < near < far
    wide = frechet_distance(a, (mu, sigma * 4))  # same mean, twice the spread: sum of (2 - 1)^2 * eigenvalues
    assert wide == pytest.approx(np.trace(sigma), rel=1e-3)


def test_classifier_beats_chance_on_held_out_images(trained):
    path, net = trained
    assert net.test_accuracy > 0.6  # chance is 0.1
    assert path.is_file()
    x = torch.randn(3, 1, 32, 32)
    assert net.features(x).shape == (3, 128) and net(x).shape == (3, 10)


def test_saved_classifier_loads_back_identically(trained):
    path, net = trained
    again = load_or_train_classifier(path, QUICK, device="cpu")  # loads: no training, no data needed
    x = torch.randn(4, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(net(x), again(x))
    assert again.test_accuracy == net.test_accuracy


def test_score_of_the_targets_themselves(trained, search):
    _, net = trained
    s = score(search.targets, search.targets, search.labels, net)
    assert set(s) == set(METRICS)
    assert s["domain_fid"] == pytest.approx(0, abs=1e-3)
    assert s["l1"] == 0 and s["accuracy"] > 0.6 and s["accuracy_error"] == pytest.approx(1 - s["accuracy"])
    stats = feature_stats(net, search.targets)
    assert stats[0].shape == (128,) and stats[1].shape == (128, 128)
    assert score(search.targets, search.targets, search.labels, net, stats) == s


def test_score_ranks_worse_images_worse(trained, search):
    _, net = trained
    stats = feature_stats(net, search.targets)
    noise = torch.rand(len(search.targets), 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    blurred = torch.nn.functional.avg_pool2d(search.targets, 3, 1, 1)
    real, soft, bad = (score(x, search.targets, search.labels, net, stats)
                       for x in (search.targets, blurred, noise))
    assert real["domain_fid"] < soft["domain_fid"] < bad["domain_fid"]
    assert real["l1"] < soft["l1"] < bad["l1"]
    assert bad["accuracy"] < real["accuracy"]
    assert all(METRICS[k] in ("min", "max") for k in METRICS)


def test_too_few_images_for_a_covariance(trained, search):
    with pytest.raises(GanasError, match="at least 2 images"):
        feature_stats(trained[1], search.targets[:1])


@pytest.mark.parametrize("content", ["garbage", "other_kind", "other_size"])
def test_bad_classifier_file_says_delete_it(tmp_path, content):
    path = tmp_path / "classifier.pt"
    if content == "garbage":
        path.write_bytes(b"\x80\x02 not a checkpoint")
    elif content == "other_kind":
        save_checkpoint({"kind": "teacher", "state_dict": {}}, path)
    else:
        net = DomainClassifier()
        save_checkpoint({"kind": "ganas-domain-classifier", "config": net.config, "size": 64,
                         "state_dict": net.state_dict()}, path)
    with pytest.raises(GanasError, match="delete"):
        load_or_train_classifier(path, QUICK, device="cpu")
