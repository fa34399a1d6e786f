"""The benchmark studies (not run here) load, and their arithmetic reproduces GAN Compression's published
figures; the Inception FID they search on refuses to run without its weights and works with them."""
import dataclasses
from pathlib import Path

import pytest
import torch

from ganas.config import load_study, parse_budget
from ganas.errors import GanasError
from ganas.models import subnet_cost, teacher_cost
from ganas.models.families import resolve_teacher, supernet_kwargs, teacher_cost_kwargs
from ganas.space import load_space

# study -> (published compressed MACs, space size, paired)
BENCHMARKS = {"edges2shoes": (4.83e9, 7 ** 8, True), "cityscapes": (5.61e9, 7 ** 8, True),
              "horse2zebra": (2.64e9, 5 ** 8, False)}


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_benchmark_study_reproduces_the_published_arithmetic(name):
    macs, space_size, paired = BENCHMARKS[name]
    s = load_study(f"studies/{name}.yaml")
    d = s.data
    assert (d.crop_size, d.preprocess) == (256, "resize_and_crop") and "fid" in s.search.objectives
    assert d.dataset == ("aligned_folder" if paired else "unaligned_folder")
    # the teacher the study states (its checkpoint is the user's; here only its stated architecture)
    tconf = resolve_teacher(dataclasses.replace(s.teacher, checkpoint=None), 3, 3, d.crop_size, d.crop_size)
    tcost = teacher_cost(tconf["family"], **teacher_cost_kwargs(tconf), height=256, width=256)
    assert round(tcost["macs"] / 1e9, 1) == 56.8
    budget = parse_budget(s.search.budgets["macs"], tcost["macs"])
    assert budget == macs
    space = load_space(s.supernet.search_space)
    assert space.size == space_size and space.family == s.supernet.family
    smallest = subnet_cost(space.family, widths=space.smallest(), **supernet_kwargs(space.family, tconf),
                           height=256, width=256)
    assert smallest["macs"] < budget  # the budget leaves candidates
    sup = s.supernet
    expect = (100.0, 1.0, "hinge", 128) if paired else (10.0, 0.01, "lsgan", 64)
    assert (sup.lambda_recon, sup.lambda_distill, sup.gan_loss, sup.ndf) == expect


def test_the_released_edges2shoes_subnet_fits_its_budget():
    # GAN Compression's edges2shoes subnet 32_32_48_32_48_48_16_16 (DESIGN.md) is a point of the pix2pix space
    space = load_space("search_spaces/channels-64-pix2pix.yaml")
    arch = dict(zip(space.layers, (32, 32, 48, 32, 48, 48, 16, 16)))
    assert space.contains(arch)
    assert subnet_cost("mobile_resnet", widths=arch, n_blocks=9, height=256, width=256)["macs"] < 4.83e9


@pytest.mark.parametrize("path", sorted((Path(__file__).parent.parent / "studies").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_study_file_loads_with_a_search_space_of_its_family(path):
    s = load_study(path)
    assert s.name == path.stem
    assert load_space(s.resolve(s.supernet.search_space)).family == s.supernet.family


def test_low_data_diffaug_studies_train_on_100_images_through_every_policy():
    for name in ("fmnist_100shot_diffaug", "edges2shoes_100pairs_diffaug"):
        s = load_study(f"studies/{name}.yaml")
        assert s.data.n_images == 100 and s.diffaug.policy == "color,translation,cutout"


def test_cyclegan_quickstart_loads():
    s = load_study("studies/quickstart_cyclegan.yaml")
    assert s.data.dataset == "fashion_mnist_unpaired" and list(s.data.classes) == [7, 9]
    assert (s.supernet.lambda_recon, s.supernet.gan_loss) == (10.0, "lsgan")


def test_fid_without_weights_names_the_file_and_the_folder(tmp_path, monkeypatch):
    from ganas.metrics.inception_fid import WEIGHTS, load_inception

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(GanasError, match=WEIGHTS) as e:
        load_inception()
    assert str(tmp_path / "hub" / "checkpoints") in str(e.value) and "\n" not in str(e.value)


def test_fid_with_weights_in_the_hub_cache(tmp_path, monkeypatch):
    # Random weights of pytorch-fid's FID Inception layout stand in for the real file (not available offline).
    import pytorch_fid.inception as pi

    from ganas.metrics.inception_fid import WEIGHTS, inception_stats, load_inception

    monkeypatch.setattr(pi, "load_state_dict_from_url", lambda *a, **k: None)
    monkeypatch.setattr(torch.nn.Module, "load_state_dict", lambda self, sd, *a, **k: None)
    torch.manual_seed(0)
    layout = pi.fid_inception_v3()
    monkeypatch.undo()
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(layout.state_dict(), tmp_path / "hub" / "checkpoints" / WEIGHTS)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    net = load_inception()
    real = torch.rand(4, 1, 32, 32) * 2 - 1
    mu, sigma = inception_stats(net, real, batch_size=3)  # grayscale, in two batches
    assert mu.shape == (2048,) and sigma.shape == (2048, 2048)
    rgb_mu, _ = inception_stats(net, real.repeat(1, 3, 1, 1))
    assert torch.allclose(torch.from_numpy(mu), torch.from_numpy(rgb_mu), atol=1e-5)
