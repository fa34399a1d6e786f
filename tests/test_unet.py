"""The U-Net teacher and supernet family beyond the registry-wide contract tests (tests/test_models.py)."""
import pytest
import torch
import torchprofile

from ganas.models import LAYERS, create_supernet, create_teacher, teacher_cost
from ganas.models.unet import UnetGenerator, teacher_widths


def n_params(net):
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("norm", ["instance", "batch"])
@pytest.mark.parametrize("size", [(64, 64), (48, 80), (37, 22)])
def test_teacher_cost_matches_torchprofile(norm, size):
    cfg = dict(input_nc=1, output_nc=3, num_downs=6, ngf=4, norm=norm, dropout=True)
    net = create_teacher("unet", **cfg).eval()
    cost = teacher_cost("unet", height=size[0], width=size[1], **cfg)
    assert cost["macs"] == torchprofile.profile_macs(net, torch.randn(1, 1, *size))
    assert cost["params"] == n_params(net)
    assert cost["macs_true"] < cost["macs"]


def test_teacher_parameters_reproduce_pix2pix_unet_256():
    # pytorch-CycleGAN-and-pix2pix prints "[Network G] Total number of parameters : 54.414 M" for unet_256
    # with batch norm (its pix2pix default).
    assert round(teacher_cost("unet", ngf=64, num_downs=8, height=256, width=256, norm="batch")["params"] / 1e6, 3) \
        == 54.414


def test_supernet_at_teacher_widths_is_pix2pix_unet():
    # Same keys and shapes as the instance-norm teacher, so teacher weights run unchanged in the family.
    teacher = UnetGenerator(num_downs=6, ngf=4, norm="instance").eval()
    widths = dict(zip(LAYERS["unet_64"], teacher_widths(4, 6)))
    sub = create_supernet("unet_64", widths=widths).extract(widths).eval()
    assert {k: v.shape for k, v in sub.state_dict().items()} == {k: v.shape for k, v in teacher.state_dict().items()}
    sub.load_state_dict(teacher.state_dict())
    x = torch.randn(2, 3, 64, 32)
    assert torch.allclose(sub(x), teacher(x), atol=1e-6)


@pytest.mark.parametrize("size", [(64, 64), (40, 24), (33, 70), (5, 3), (1, 2)])
def test_features_pair_up_between_teacher_and_student_at_any_size(size):
    teacher = UnetGenerator(num_downs=5, ngf=4, norm="batch").eval()
    student = create_supernet("unet_32", widths={k: 6 for k in LAYERS["unet_32"]})
    student.set_arch({k: w for k, w in zip(LAYERS["unet_32"], (2, 3, 4, 5, 6))})
    x = torch.randn(2, 3, *size)
    t_out, t_feats = teacher(x, with_features=True)
    s_out, s_feats = student.train()(x, with_features=True)  # train mode: instance norm never sees a 1x1 map
    assert t_out.shape == s_out.shape == (2, 3, *size)
    assert len(t_feats) == len(s_feats) == teacher.levels == 5
    assert [f.shape[1] for f in t_feats] == teacher.feature_widths == [32, 32, 16, 8, 4]
    assert [f.shape[1] for f in s_feats] == [6, 5, 4, 3, 2]
    assert student.feature_widths == [6] * 5  # what adapters are built for: the largest widths
    assert [f.shape[2:] for f in t_feats] == [f.shape[2:] for f in s_feats]


def test_sides_divisible_by_two_to_the_depth_run_unpadded():
    teacher = UnetGenerator(num_downs=5, ngf=4)
    _, feats = teacher(torch.randn(1, 3, 64, 96), with_features=True)
    assert [tuple(f.shape[2:]) for f in feats] == [(2, 3), (4, 6), (8, 12), (16, 24), (32, 48)]


def test_set_arch_and_widths_are_checked():
    sup = create_supernet("unet_32", widths={k: 8 for k in LAYERS["unet_32"]})
    with pytest.raises(ValueError):
        sup.set_arch({**{k: 8 for k in LAYERS["unet_32"]}, "down3": 9})
    with pytest.raises(ValueError, match="down5"):
        create_supernet("unet_32", widths={k: 8 for k in LAYERS["unet_32"][:4]})
