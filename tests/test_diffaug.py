"""DiffAugment: shapes, parameter ranges, zero-filled shifts, cutout squares, gradient flow, the same transform for
an input and its target, the adaptive probability and its place in the checkpointed state."""

import pytest
import torch

from ganas.config import SupernetConfig
from ganas.errors import GanasError
from ganas.train.diffaug import DiffAugment, apply_params, parse_policy, sample_params
from ganas.train.distill import DistillStep


def images(n=8, c=1, h=32, w=32, seed=0):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_policies_parse_and_bad_ones_are_refused():
    assert parse_policy("color, translation,cutout") == ("color", "translation", "cutout")
    assert parse_policy(["cutout"]) == ("cutout",) and parse_policy("") == () and parse_policy(None) == ()
    with pytest.raises(GanasError, match="flip"):
        parse_policy("color,flip")
    with pytest.raises(GanasError, match="twice"):
        parse_policy("color,color")


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_shapes_are_kept_and_no_policy_is_the_identity(policy):
    x = images(c=3, h=16, w=24)
    y = DiffAugment(policy, generator=torch.Generator().manual_seed(1))(x)
    assert y.shape == x.shape and y.dtype == x.dtype and not torch.equal(y, x)
    assert DiffAugment("")(x) is x


def test_parameters_stay_in_the_papers_ranges():
    p = sample_params(("color", "translation", "cutout"), 2000, 32, 40, generator=torch.Generator().manual_seed(0))
    assert p["brightness"].min() >= -0.5 and p["brightness"].max() <= 0.5
    assert p["saturation"].min() >= 0 and p["saturation"].max() <= 2
    assert p["contrast"].min() >= 0.5 and p["contrast"].max() <= 1.5
    assert p["shift"][:, 0].abs().max() == 4 and p["shift"][:, 1].abs().max() == 5  # 1/8 of 32 and of 40
    assert p["cutout_size"].tolist() == [16, 20]  # half of each side
    # random per image: the values spread over their ranges
    assert p["brightness"].std() > 0.2 and len(set(p["shift"][:, 0].tolist())) == 9


def test_translation_shifts_whole_pixels_and_fills_with_zero():
    x = images(2)
    y = apply_params(x, {"shift": torch.tensor([[3, -2], [0, 0]])})
    assert torch.equal(y[0, :, 3:, :-2], x[0, :, :-3, 2:])
    assert (y[0, :, :3] == 0).all() and (y[0, :, :, -2:] == 0).all()
    assert torch.equal(y[1], x[1])


def test_cutout_zeroes_one_square_of_half_the_side():
    x = torch.ones(64, 1, 32, 32)
    y = DiffAugment("cutout", generator=torch.Generator().manual_seed(0))(x)
    holes = (y == 0).squeeze(1)
    for hole in holes:
        rows, cols = hole.any(1).nonzero().squeeze(1), hole.any(0).nonzero().squeeze(1)
        assert 1 <= len(rows) <= 16 and 1 <= len(cols) <= 16
        # a filled rectangle (a square clipped by the border)
        assert hole.sum() == len(rows) * len(cols) and (rows.diff() == 1).all() and (cols.diff() == 1).all()
    # the centre is uniform over the image, so about (17/32)^2 of the squares lie wholly inside
    assert holes.sum((1, 2)).max() == 256 and (holes.sum((1, 2)) == 256).float().mean() > 0.15


def test_gradients_flow_through_every_policy_to_the_generator():
    gen = torch.nn.Conv2d(1, 1, 3, padding=1)
    z = images(4)
    aug = DiffAugment("color,translation,cutout", generator=torch.Generator().manual_seed(0))
    aug(gen(z)).pow(2).mean().backward()
    assert gen.weight.grad is not None and gen.weight.grad.abs().sum() > 0


def test_an_input_and_its_target_get_the_same_transform():
    x = images(6, c=1)
    aug = DiffAugment("color,translation,cutout", generator=torch.Generator().manual_seed(3))
    a, b = aug(x, x.clone())
    assert torch.equal(a, b)
    geo = DiffAugment("translation,cutout", generator=torch.Generator().manual_seed(3))
    a, b = geo(x, 2 * x)
    assert torch.allclose(b, 2 * a)  # the same pixels moved and cut in both


def test_the_conditional_discriminator_sees_aligned_pairs():
    seen = []

    def D(t):
        seen.append(t)
        return t.mean((1, 2, 3))

    step = DistillStep(None, None, D, None, None, None, SupernetConfig(), paired=True,
                       augment=DiffAugment("color,translation,cutout", generator=torch.Generator().manual_seed(0)))
    edges = images(5)
    step._judge(edges, edges.clone())
    pair = seen[0]
    assert pair.shape[1] == 2 and torch.equal(pair[:, 0], pair[:, 1])
    assert not torch.equal(pair[:, :1], edges)  # it was transformed


def test_adaptive_probability_follows_the_overfitting_signal_and_is_saved():
    aug = DiffAugment("color", adaptive=True, target=0.6, speed=64, interval=2)
    assert float(aug.p) == 0.0
    for _ in range(4):  # D sure of every real image: r_t = 1 > 0.6, so p rises by 2 x 8 / 64 per update
        aug.observe(torch.full((8, 1), 3.0))
    assert float(aug.p) == pytest.approx(0.5)
    for _ in range(2):  # D unsure: r_t = 0 < 0.6, p falls
        aug.observe(torch.tensor([[1.0], [-1.0]] * 4))
    assert float(aug.p) == pytest.approx(0.25)
    again = DiffAugment("color", adaptive=True)
    again.load_state_dict(aug.state_dict())
    assert float(again.p) == pytest.approx(0.25)
    # p = 0 leaves every image alone; the fixed (non-adaptive) DiffAugment always applies
    x = images(16)
    assert torch.equal(DiffAugment("color,translation,cutout", adaptive=True)(x), x)
    assert float(DiffAugment("color").p) == 1.0


def test_a_seeded_generator_reproduces_the_transform():
    x = images(4)
    a = DiffAugment("color,translation,cutout", generator=torch.Generator().manual_seed(7))(x)
    b = DiffAugment("color,translation,cutout", generator=torch.Generator().manual_seed(7))(x)
    assert torch.equal(a, b)


def test_study_file_short_and_long_forms(tmp_path):
    from ganas.config import load_study
    p = tmp_path / "s.yaml"
    p.write_text("name: s\ndiffaug: translation,cutout\n")
    assert load_study(p).diffaug.policy == "translation,cutout"
    p.write_text("name: s\ndiffaug: {policy: color, adaptive: true, target: 0.5}\n")
    d = load_study(p).diffaug
    assert (d.policy, d.adaptive, d.target) == ("color", True, 0.5)
    p.write_text("name: s\ndiffaug: color,rotate\n")
    with pytest.raises(GanasError, match="rotate"):
        load_study(p)


@pytest.mark.parametrize("paired", [True, False])
def test_every_adversarial_stage_of_a_conditional_study_trains_through_it(tmp_path, monkeypatch, paired):
    """pix2pix / CycleGAN teacher and the distilled supernet: their discriminators see transformed images (for the
    conditional one, 2-channel pairs), and the adaptive state is part of each stage's checkpointed state."""
    from conftest import fake_splits
    from ganas.config import DiffAugConfig, StudyConfig, TeacherConfig
    from ganas.io import load_checkpoint
    from ganas.space import SearchSpace
    from ganas.train import diffaug
    from ganas.train.supernet import train_supernet
    from ganas.train.teacher import train_teacher

    seen = []

    def counting(x, params):
        seen.append(x.shape[1])
        return apply_params(x, params)

    monkeypatch.setattr(diffaug, "apply_params", counting)
    splits = fake_splits(n=12)
    if not paired:
        for part in (splits.train, splits.search, splits.test):
            part.targets, part.paired = torch.rand(9, 1, 32, 32) * 2 - 1, False
    study = StudyConfig(name="d", teacher=TeacherConfig(ngf=4, n_blocks=2, steps=2, batch_size=4, ndf=4, pool_size=2),
                        supernet=SupernetConfig(steps=2, batch_size=4, ndf=4),
                        diffaug=DiffAugConfig(policy="color,translation", adaptive=True, interval=1000))
    monkeypatch.setattr(DiffAugment, "forward", _always_on(DiffAugment.forward))
    teacher = train_teacher(study, splits, tmp_path, show_progress=False)
    assert seen, "the teacher's discriminator saw no augmented image"
    n_teacher = len(seen)
    space = SearchSpace("mobile_resnet", {k: (4, 2) for k in
                                          ("stem", "down1", "down2", "blocks1", "blocks2", "blocks3", "up1", "up2")})
    train_supernet(study, splits, teacher, space, tmp_path, show_progress=False)
    assert len(seen) > n_teacher, "the supernet's discriminator saw no augmented image"
    assert set(seen) == {1}  # a pair is concatenated after its (shared) transform; each image has one channel
    for stage in ("teacher", "supernet"):
        state = load_checkpoint(tmp_path / f"{stage}.state.pt", "state")["modules"]["augment"]
        assert float(state["signal"][1]) > 0  # observe() saw the real scores (p updates every 1000 calls)


def _always_on(forward):
    """Adaptive DiffAugment starts at p = 0 (no transform); hold p at 1 so that every call transforms."""
    def wrapped(self, *images):
        self.p.fill_(1.0)
        return forward(self, *images)
    return wrapped
