"""Contract tests run over every registered supernet family: the extracted subnet equals the supernet slice,
and the analytic cost equals torchprofile's count of the extracted network."""
import random

import pytest
import torch
import torchprofile

from ganas.arch import Arch
from ganas.models import LAYERS, SUPERNETS, UNCONDITIONAL, create_subnet, create_supernet, subnet_cost, teacher_cost
from ganas.models.resnet import ResnetGenerator, block_group_ends
from ganas.models.unet import DEPTHS as UNET_DEPTHS

FAMILY_CONFIGS = {"mobile_resnet": dict(n_blocks=4, input_nc=3, output_nc=3),
                  **{f: dict(input_nc=3, output_nc=3) for f in UNET_DEPTHS},
                  **{f: dict(z_dim=8, n_mlp=2, output_nc=3) for f in UNCONDITIONAL}}


def example_input(family, n, size):
    """What the family's generators take: images, or latent codes for unconditional families (whose output side
    is their own, whatever ``size``)."""
    if family in UNCONDITIONAL:
        return torch.randn(n, FAMILY_CONFIGS[family]["z_dim"])
    return torch.randn(n, 3, *size)


def random_arch(family, rng, top=16):
    return Arch({k: rng.randint(1, top) for k in LAYERS[family]})


def n_params(net):
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("family", sorted(SUPERNETS))
def test_extracted_subnet_equals_supernet_slice(family):
    rng = random.Random(0)
    sup = create_supernet(family, widths={k: 16 for k in LAYERS[family]}, **FAMILY_CONFIGS[family]).eval()
    x = example_input(family, 2, (24, 40))
    for _ in range(4):
        arch = random_arch(family, rng)
        sup.set_arch(arch)
        sub = sup.extract(arch).eval()
        assert not any("Dynamic" in type(m).__name__ for m in sub.modules())
        assert torch.allclose(sup(x), sub(x), atol=1e-6)
        # a plain rebuild from the config + state_dict gives the same network
        again = create_subnet(family, **sub.config)
        again.load_state_dict(sub.state_dict())
        assert torch.equal(again.eval()(x), sub(x))


@pytest.mark.parametrize("family", sorted(SUPERNETS))
@pytest.mark.parametrize("size", [(32, 32), (24, 40), (30, 18)])
def test_analytic_cost_matches_torchprofile(family, size):
    rng = random.Random(hash(size))
    cfg = FAMILY_CONFIGS[family]
    for _ in range(3):
        arch = random_arch(family, rng)
        net = create_subnet(family, widths=arch, **cfg).eval()
        cost = subnet_cost(family, widths=arch, height=size[0], width=size[1], **cfg)
        assert cost["macs"] == torchprofile.profile_macs(net, example_input(family, 1, size))
        assert cost["params"] == n_params(net)
        if family not in UNCONDITIONAL:  # they have no transposed convs
            assert cost["macs_true"] < cost["macs"]  # the transposed convs count 4x under torchprofile


def test_teacher_macs_reproduce_the_published_figure():
    # GAN Compression: the ResNet-9 generator at 256x256 costs 56.8G MACs under torchprofile's convention.
    assert round(teacher_cost("resnet", ngf=64, n_blocks=9, height=256, width=256)["macs"] / 1e9, 1) == 56.8
    for norm in ("instance", "batch"):
        net = ResnetGenerator(ngf=8, n_blocks=6, norm=norm).eval()
        cost = teacher_cost("resnet", ngf=8, n_blocks=6, height=36, width=20, norm=norm)
        assert cost["macs"] == torchprofile.profile_macs(net, torch.randn(1, 3, 36, 20))
        assert cost["params"] == n_params(net)


@pytest.mark.parametrize("n_blocks,ends", [(9, [3, 6, 9]), (6, [2, 4, 6]), (4, [2, 3, 4]), (1, [1])])
def test_distilled_points_follow_the_block_count(n_blocks, ends):
    assert block_group_ends(n_blocks) == ends
    t = ResnetGenerator(ngf=4, n_blocks=n_blocks)
    out, feats = t(torch.randn(1, 3, 16, 16), with_features=True)
    assert len(feats) == 1 + len(ends) and out.shape == (1, 3, 16, 16)


def test_set_arch_rejects_widths_outside_the_supernet():
    sup = create_supernet("mobile_resnet", widths={k: 8 for k in LAYERS["mobile_resnet"]}, n_blocks=3)
    with pytest.raises(ValueError):
        sup.set_arch({**{k: 8 for k in LAYERS["mobile_resnet"]}, "stem": 9})


def test_arch_is_an_immutable_hashable_mapping():
    a = Arch({"x": 3, "y": 4})
    assert a == {"x": 3, "y": 4} and hash(a) == hash(Arch({"y": 4, "x": 3})) and str(a) == "3_4"
    with pytest.raises(AttributeError):
        a.z = 1
    with pytest.raises(ValueError):
        Arch({"x": 0})
