"""Importing pytorch-CycleGAN-and-pix2pix generator checkpoints.

The original code is not installed here, so the reference networks below are written from its published
architecture with torch.nn primitives only (a recursive U-Net, pix2pix's in-place LeakyReLU included),
independently of ganas.models; their state_dicts are saved in that code's key format and imported.
"""
import pytest
import torch
from torch import nn

from ganas.errors import GanasError
from ganas.models.pix2pix_import import import_teacher, infer_config, read_state_dict


def _norm(kind):
    if kind == "batch":
        return lambda c: nn.BatchNorm2d(c, affine=True)
    return lambda c: nn.InstanceNorm2d(c, affine=False, track_running_stats=False)


class _Wrap(nn.Module):
    """Holds a module under the attribute name ``model``, as every level of the original code does."""

    def __init__(self, inner):
        super().__init__()
        self.model = inner

    def forward(self, x):
        return self.model(x)


class _Residual(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv_block(x)


class _SkipCat(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        # The LeakyReLU heading self.model is in place, so ``x`` is already activated when it is concatenated.
        return torch.cat([x, self.model(x)], 1)


def reference_resnet(input_nc, output_nc, ngf, n_blocks, norm, dropout):
    N, bias = _norm(norm), norm != "batch"

    def conv_norm_relu(cin, cout, k, stride=1, padding=0):
        return [nn.Conv2d(cin, cout, k, stride, padding, bias=bias), N(cout), nn.ReLU(True)]

    def residual(c):
        def half():
            return [nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3, bias=bias), N(c)]
        return _Residual(half() + [nn.ReLU(True)] + ([nn.Dropout(0.5)] if dropout else []) + half())

    layers = [nn.ReflectionPad2d(3)] + conv_norm_relu(input_nc, ngf, 7)
    layers += conv_norm_relu(ngf, 2 * ngf, 3, 2, 1) + conv_norm_relu(2 * ngf, 4 * ngf, 3, 2, 1)
    layers += [residual(4 * ngf) for _ in range(n_blocks)]
    for c in (4 * ngf, 2 * ngf):
        layers += [nn.ConvTranspose2d(c, c // 2, 3, 2, 1, output_padding=1, bias=bias), N(c // 2), nn.ReLU(True)]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
    return _Wrap(nn.Sequential(*layers))


def reference_unet(input_nc, output_nc, num_downs, ngf, norm, dropout):
    N, bias = _norm(norm), norm != "batch"

    def width(level):  # encoder output width of a level (1 = outermost)
        return ngf * 2 ** min(level - 1, 3)

    def down(cin, cout):
        return nn.Conv2d(cin, cout, 4, 2, 1, bias=bias)

    def up(cin, cout, b=bias):
        return nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=b)

    def level(i):
        inner = width(i)
        if i == 1:
            return _Wrap(nn.Sequential(down(input_nc, inner), level(2), nn.ReLU(True), up(2 * inner, output_nc, True),
                                       nn.Tanh()))
        outer = width(i - 1)
        if i == num_downs:
            return _SkipCat([nn.LeakyReLU(0.2, True), down(outer, inner), nn.ReLU(True), up(inner, outer), N(outer)])
        layers = [nn.LeakyReLU(0.2, True), down(outer, inner), N(inner), level(i + 1), nn.ReLU(True),
                  up(2 * inner, outer), N(outer)]
        return _SkipCat(layers + ([nn.Dropout(0.5)] if dropout and i >= 5 else []))

    return _Wrap(level(1))


NETS = {  # netG -> (builder, architecture argument, smallest input side it runs exactly)
    "resnet_9blocks": (reference_resnet, 9, 20),
    "resnet_6blocks": (reference_resnet, 6, 20),
    "unet_256": (reference_unet, 8, 256),
    "unet_128": (reference_unet, 7, 128),
}


def make_reference(netG, norm, dropout, ngf=4, input_nc=3, output_nc=2, seed=0):
    torch.manual_seed(seed)
    build, depth, side = NETS[netG]
    if build is reference_resnet:
        net = build(input_nc, output_nc, ngf, depth, norm, dropout)
    else:
        net = build(input_nc, output_nc, depth, ngf, norm, dropout)
    for m in net.modules():  # running statistics and affine terms away from their defaults, so they matter
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return net.eval(), side


def save(net, path, fmt):
    state = net.state_dict()
    if fmt == "old_instance_norm":  # checkpoints written before PyTorch 0.4 keep InstanceNorm running stats
        for name, m in net.named_modules():
            if isinstance(m, nn.InstanceNorm2d):
                state[f"{name}.running_mean"] = torch.randn(m.num_features)
                state[f"{name}.running_var"] = torch.rand(m.num_features) + 0.5
                state[f"{name}.num_batches_tracked"] = torch.tensor(3)
    if fmt == "data_parallel":
        state = {f"module.{k}": v for k, v in state.items()}
    torch.save(state, path)
    return path


@pytest.mark.parametrize("fmt", ["plain", "data_parallel", "old_instance_norm"])
@pytest.mark.parametrize("dropout", [False, True])
@pytest.mark.parametrize("norm", ["instance", "batch"])
@pytest.mark.parametrize("netG", sorted(NETS))
def test_imported_generator_matches_the_original(tmp_path, netG, norm, dropout, fmt):
    if fmt == "old_instance_norm" and norm == "batch":
        pytest.skip("only InstanceNorm had stale running statistics")
    ref, side = make_reference(netG, norm, dropout)
    name = "latest_net_G_A.pth" if fmt == "data_parallel" else "latest_net_G.pth"
    net, config = import_teacher(save(ref, tmp_path / name, fmt))
    family = "unet" if netG.startswith("unet") else "resnet"
    depth_key = "num_downs" if family == "unet" else "n_blocks"
    expected = {"family": family, "input_nc": 3, "output_nc": 2, "ngf": 4, "norm": norm,
                depth_key: NETS[netG][1], "dropout": dropout if family == "resnet" else False}
    assert config == expected
    assert not net.training
    x = torch.randn(2, 3, side, side + (0 if family == "unet" else 8))
    with torch.no_grad():
        want, got = ref(x.clone()), net(x)
    assert got.shape == want.shape
    assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()


def test_study_fields_fill_in_what_keys_cannot_tell_and_are_checked(tmp_path):
    ref, _ = make_reference("unet_128", "batch", True)
    path = save(ref, tmp_path / "latest_net_G.pth", "plain")
    # A U-Net's dropout sits after the last key of its level, so only the study can say it is there.
    net, config = import_teacher(path, {"netG": "unet_128", "ngf": 4, "dropout": True, "norm": None})
    assert config["dropout"] is True and config["num_downs"] == 7
    assert sum(isinstance(m, nn.Dropout) for m in net.modules()) == 2  # levels 5 and 6 of 7
    with pytest.raises(GanasError, match="ngf=4 but the study says 8"):
        import_teacher(path, {"ngf": 8})
    with pytest.raises(GanasError, match="unet generator but the study says resnet"):
        import_teacher(path, {"family": "resnet"})
    with pytest.raises(GanasError, match="num_downs=7 but the study says 8"):
        import_teacher(path, {"netG": "unet_256"})
    with pytest.raises(GanasError, match="'n_blocks' does not apply"):
        import_teacher(path, {"n_blocks": 9})
    with pytest.raises(GanasError, match="unknown netG"):
        import_teacher(path, {"netG": "unet_100"})


def _one_line(excinfo):
    assert "\n" not in str(excinfo.value)
    return str(excinfo.value)


def test_mismatched_checkpoints_name_the_keys(tmp_path):
    ref, _ = make_reference("resnet_6blocks", "batch", False)
    state = ref.state_dict()

    broken = dict(state)
    del broken["model.11.conv_block.1.weight"]
    with pytest.raises(GanasError) as e:
        import_teacher(save_state(broken, tmp_path / "a.pth"))
    assert "missing (1): model.11.conv_block.1.weight" in _one_line(e)

    broken = dict(state, **{"model.12.conv_block.5.weight": torch.zeros(16, 16, 1, 1)})
    with pytest.raises(GanasError) as e:
        import_teacher(save_state(broken, tmp_path / "b.pth"))
    assert "wrong shape" in _one_line(e)
    assert "model.12.conv_block.5.weight (16, 16, 1, 1) vs (16, 16, 3, 3)" in str(e.value)

    broken = dict(state, **{"model.3.alpha": torch.zeros(1), "model.6.alpha": torch.zeros(1)})
    with pytest.raises(GanasError) as e:
        import_teacher(save_state(broken, tmp_path / "c.pth"))
    assert "unexpected (2): model.3.alpha, model.6.alpha" in _one_line(e)

    # 6 residual blocks in the file, 9 in the study
    with pytest.raises(GanasError, match="n_blocks=6 but the study says 9"):
        import_teacher(save_state(state, tmp_path / "d.pth"), {"netG": "resnet_9blocks"})


def save_state(state, path):
    torch.save(state, path)
    return path


def test_files_that_are_not_generators_are_refused_in_one_line(tmp_path):
    disc = nn.Sequential(nn.Conv2d(6, 8, 4, 2, 1), nn.LeakyReLU(0.2, True), nn.Conv2d(8, 1, 4, 1, 1))
    with pytest.raises(GanasError) as e:
        import_teacher(save_state(_Wrap(disc).state_dict(), tmp_path / "latest_net_D.pth"))
    assert "no pytorch-CycleGAN-and-pix2pix generator" in _one_line(e) and "discriminator" in str(e.value)
    with pytest.raises(GanasError) as e:
        import_teacher(tmp_path / "nope.pth")
    assert "does not exist" in _one_line(e)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(GanasError) as e:
        import_teacher(tmp_path / "junk.pth")
    assert "cannot be read" in _one_line(e)
    with pytest.raises(GanasError) as e:
        import_teacher(save_state({"epoch": 3}, tmp_path / "meta.pth"))
    assert "not a state_dict of tensors" in _one_line(e)


def test_wrapped_state_dicts_and_inference_without_building(tmp_path):
    ref, _ = make_reference("unet_128", "instance", False, ngf=2, input_nc=1, output_nc=3)
    path = save_state({"state_dict": ref.state_dict(), "epoch": 5}, tmp_path / "wrapped.pth")
    assert infer_config(read_state_dict(path)) == {"family": "unet", "input_nc": 1, "output_nc": 3, "num_downs": 7,
                                                   "ngf": 2, "norm": "instance"}
    assert import_teacher(path)[1]["ngf"] == 2
