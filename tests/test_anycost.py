"""AnyCost mode on the unconditional family: importance sorting keeps the full network's function, early exits
cost only what runs, the conditioned discriminator uses the architecture code, the LPIPS weights check, and the
supernet stage trains every exit and resumes exactly."""
import random
import subprocess
import sys
import types

import pytest
import torch
import torchprofile

from ganas.config import DiffAugConfig, StudyConfig, SupernetConfig, TeacherConfig
from ganas.data.unconditional import LatentImages
from ganas.errors import GanasError
from ganas.models import MultiResDiscriminator, create_subnet, create_supernet, subnet_cost
from ganas.models.stylegan import layer_names
from ganas.space import SearchSpace
from ganas.train.anycost import arch_code, code_length, sample_widths, train_anycost
from ganas.train.perceptual import DomainDistance, check_perceptual, make_perceptual
from ganas.train.unconditional import train_full_generator

FAMILY = "stylegan_32"
WIDTHS = {"const": 16, "r4": 16, "r8_up": 12, "r8": 12, "r16_up": 8, "r16": 8, "r32_up": 8, "r32": 8}
CFG = dict(z_dim=16, n_mlp=1, output_nc=1)


def supernet():
    return create_supernet(FAMILY, widths=WIDTHS, **CFG).eval()


def test_sorting_channels_keeps_the_full_output_and_orders_by_importance():
    torch.manual_seed(0)
    net = supernet()
    z = torch.randn(8, 16)
    before = net(z, all_exits=True)
    net.sort_channels(n_latents=512, generator=torch.Generator().manual_seed(0))
    after = net(z, all_exits=True)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(before, after))
    # the r8 layer's channels are now ordered by the L1 norm of the kernels reading them (style-weighted)
    w = net.style(torch.randn(512, 16, generator=torch.Generator().manual_seed(0)))
    importance = sum(m.weight.abs().sum((0, 2, 3)) * torch.nn.functional.linear(w, m.affine.weight, m.affine.bias)
                     .abs().mean(0) for m in (net.convs["r16_up"], net.to_rgbs["r8"]))
    assert (importance.diff() <= 1e-4).all()
    # so a half-width subnet is closer to the full network than before sorting (it keeps the important half)
    torch.manual_seed(0)
    unsorted = supernet()
    half = {k: v // 2 for k, v in WIDTHS.items()}

    def gap(n):
        full = n(z)
        n.set_arch(half)
        out = n(z)
        n.set_arch(WIDTHS)
        return (out - full).pow(2).mean()
    assert gap(net) < gap(unsorted)


@pytest.mark.parametrize("side", [4, 8, 16, 32])
def test_an_early_exit_costs_only_what_runs(side):
    rng = random.Random(side)
    arch = {k: rng.randint(1, v) for k, v in WIDTHS.items()}
    sub = create_subnet(FAMILY, widths={**arch, "resolution": side}, **CFG).eval()
    cost = subnet_cost(FAMILY, widths={**arch, "resolution": side}, **CFG)
    assert sub(torch.randn(2, 16)).shape == (2, 1, side, side)
    assert cost["macs"] == torchprofile.profile_macs(sub, torch.randn(1, 16))
    assert cost["params"] == sum(p.numel() for p in sub.parameters())
    if side < 32:  # stopping earlier is cheaper
        assert cost["macs"] < subnet_cost(FAMILY, widths={**arch, "resolution": side * 2}, **CFG)["macs"]
    # the supernet stops at the same exit and equals the extracted preview network
    sup = supernet()
    sup.set_arch({**arch, "resolution": side})
    z = torch.randn(3, 16)
    assert torch.allclose(sup(z), sup.extract().eval()(z), atol=1e-6)


def test_conditioned_discriminator_uses_the_architecture_code():
    torch.manual_seed(0)
    space = SearchSpace(FAMILY, {k: (v, v // 2) for k, v in WIDTHS.items()})
    D = MultiResDiscriminator(32, 1, 8, exits=(8, 16, 32), code_len=code_length(space))
    x = torch.randn(4, 1, 32, 32)
    big, small = arch_code(space.largest(), space), arch_code(space.smallest(), space)
    assert big.shape == (2 * len(WIDTHS),) and big.sum() == len(WIDTHS)
    assert not torch.allclose(D(x, big), D(x, small))
    D(x, small).sum().backward()
    mods = [m for m in D.modules() if type(m).__name__ == "ArchModulation"]
    assert len(mods) == 4  # both convs of the last two blocks
    assert all(m.scale.weight.grad.abs().sum() > 0 and m.bias.weight.grad.abs().sum() > 0 for m in mods)
    # each exit enters at its own side
    assert D(torch.randn(4, 1, 8, 8), big).shape == (4, 1)
    # without a code it is a plain discriminator (the teacher stage uses it that way)
    assert D(x).shape == (4, 1)


def test_uniform_sampling_takes_one_ratio_for_every_layer():
    space = SearchSpace(FAMILY, {k: (v, 3 * v // 4, v // 2, v // 4) for k, v in WIDTHS.items()})
    rng = random.Random(0)
    for _ in range(20):
        arch = sample_widths(space, "uniform", rng)
        assert len({space.choices[k].index(arch[k]) for k in arch}) == 1
    per_layer = [sample_widths(space, "per_layer", rng) for _ in range(20)]
    assert any(len({space.choices[k].index(a[k]) for k in a}) > 1 for a in per_layer)


def test_lpips_without_its_weights_fails_at_once_naming_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(GanasError, match="vgg16-397923af.pth") as e:
        check_perceptual("lpips")
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in str(e.value) and "perceptual: domain" in str(e.value)
    check_perceptual("domain")  # offline choices need nothing


def test_a_study_asking_for_lpips_stops_before_training(tmp_path):
    study = tmp_path / "s.yaml"
    study.write_text(f"""name: s
run_dir: {tmp_path}/run
data: {{dataset: fashion_mnist_images, classes: [7], search_holdout: 100, n_images: 100}}
teacher: {{family: {FAMILY}}}
supernet: {{family: {FAMILY}, mode: anycost, search_space: search_spaces/stylegan_32.yaml, perceptual: lpips}}
""")
    import os
    env = {**os.environ, "TORCH_HOME": str(tmp_path / "torch")}
    r = subprocess.run([sys.executable, "-m", "ganas", "supernet", str(study)], capture_output=True, text=True,
                       env=env, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert r.returncode == 2 and "vgg16-397923af.pth" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "run" / "teacher.pt").exists()


def test_mode_and_family_must_fit(tmp_path):
    from ganas.config import load_study
    from ganas.pipeline import prepare
    p = tmp_path / "s.yaml"
    p.write_text(f"name: s\nrun_dir: {tmp_path}/run\nsupernet: {{mode: anycost}}\ndata: {{limit_train: 50, search_holdout: 20}}\n")
    with pytest.raises(GanasError, match="distill"):
        prepare(load_study(p))
    p.write_text(f"""name: s
run_dir: {tmp_path}/run
data: {{dataset: fashion_mnist_images, classes: [7], search_holdout: 100}}
teacher: {{family: {FAMILY}}}
supernet: {{family: {FAMILY}, search_space: search_spaces/stylegan_32.yaml}}
""")
    with pytest.raises(GanasError, match="mode: anycost"):
        prepare(load_study(p))


def test_domain_distance_is_zero_for_equal_images_and_differentiable():
    from ganas.metrics import DomainClassifier
    torch.manual_seed(0)
    d = make_perceptual("domain", 32, DomainClassifier().eval())
    assert isinstance(d, DomainDistance)
    a = torch.rand(3, 1, 16, 16, requires_grad=True)
    b = torch.rand(3, 1, 32, 32)
    assert float(d(b, b)) == pytest.approx(0.0, abs=1e-6)
    dist = d(a, b)
    dist.backward()
    assert dist > 0 and a.grad.abs().sum() > 0


def fake_splits(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)

    def part():
        return LatentImages(torch.randn(n, 16, generator=g), torch.rand(n, 1, 32, 32, generator=g) * 2 - 1,
                            torch.zeros(n, dtype=torch.long))
    return types.SimpleNamespace(train=part(), search=part(), test=part(), input_nc=16, output_nc=1, size=(32, 32))


SPACE = SearchSpace(FAMILY, {**{k: (v, v // 2) for k, v in WIDTHS.items()}, "resolution": (32, 16, 8)})


def study(t_steps=3, s_steps=4):
    return StudyConfig(name="t", teacher=TeacherConfig(family=FAMILY, steps=t_steps, batch_size=4, ndf=4,
                                                       gan_loss="vanilla"),
                       supernet=SupernetConfig(family=FAMILY, mode="anycost", steps=s_steps, batch_size=4, ndf=4,
                                               gan_loss="vanilla", perceptual="none"),
                       diffaug=DiffAugConfig(policy="color,translation,cutout", adaptive=True, speed=8, interval=1))


def weights(net):
    return {k: v.clone() for k, v in net.state_dict().items()}


def test_anycost_supernet_trains_every_exit_and_resumes_exactly(tmp_path):
    splits = fake_splits()
    teacher = train_full_generator(study(), splits, SPACE, tmp_path / "a", show_progress=False)
    assert teacher.config["z_dim"] == 16 and not teacher.dynamic
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "teacher.pt").write_bytes((tmp_path / "a" / "teacher.pt").read_bytes())
    full = train_anycost(study(s_steps=6), splits, teacher, SPACE, tmp_path / "a", show_progress=False)
    changed = {k for k, v in full.state_dict().items() if not torch.equal(v, teacher.state_dict()[k])}
    assert any(k.startswith("to_rgbs.r8") for k in changed) and any(k.startswith("convs.r32") for k in changed)
    train_anycost(study(s_steps=3), splits, teacher, SPACE, tmp_path / "b", show_progress=False)
    (tmp_path / "b" / "supernet.pt").unlink()  # as if killed after step 3
    resumed = train_anycost(study(s_steps=6), splits, teacher, SPACE, tmp_path / "b", show_progress=False)
    a, b = weights(full), weights(resumed)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    from ganas.io import load_checkpoint
    p_a = load_checkpoint(tmp_path / "a" / "supernet.state.pt")["modules"]["augment"]["p"]
    p_b = load_checkpoint(tmp_path / "b" / "supernet.state.pt")["modules"]["augment"]["p"]
    assert float(p_a) == float(p_b)  # the adaptive probability is part of the resumed state
    assert set(layer_names(32)) == set(WIDTHS)


def test_r1_penalises_the_gradient_at_the_reals_every_r1_every_th_step():
    from torch import nn

    from ganas.train.anycost import UnconditionalGanStep
    from ganas.train.diffaug import DiffAugment
    from ganas.train.loop import Rng

    class LinearD(nn.Module):  # D(x) = <w, x>: its gradient at any image is w, so R1 = |w|^2 per image
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.full((1, 1, 32, 32), 0.01))

        def forward(self, x, code=None):
            return (x * self.w).sum((1, 2, 3))

    reals = torch.rand(4, 1, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    G = supernet()  # not trained (lr 0): every call sees the same fakes

    def d_after_one_step(gamma, step):
        D = LinearD()
        opt_g, opt_d = torch.optim.SGD(G.parameters(), lr=0.0), torch.optim.SGD(D.parameters(), lr=1.0)
        logs = UnconditionalGanStep(G, D, opt_g, opt_d, DiffAugment(), Rng(0), gan_loss="vanilla", sides=(32,),
                                    r1_gamma=gamma, r1_every=4)(reals, step)
        return D.w.detach().clone(), logs

    plain, logs = d_after_one_step(0.0, 0)
    assert "r1" not in logs
    regularised, logs = d_after_one_step(0.5, 0)
    assert logs["r1"] == pytest.approx(32 * 32 * 0.01 ** 2, rel=1e-5)
    # d/dw of gamma/2 x every x |w|^2 = gamma x every x w; SGD with lr 1 moves w by minus that
    assert torch.allclose(plain - regularised, torch.full_like(plain, 0.5 * 4 * 0.01), atol=1e-6)
    off_step, logs = d_after_one_step(0.5, 1)  # lazy: not on this step
    assert "r1" not in logs and torch.equal(off_step, plain)
