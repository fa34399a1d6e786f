"""Unpaired compression: the CycleGAN teacher (image pool, resume), GAN Compression's unpaired distillation, and
sneaker -> ankle boot on real Fashion-MNIST images end to end through the CLI."""
import json
from pathlib import Path

import pytest
import torch

from conftest import fake_splits
from ganas.cli import main
from ganas.config import DataConfig, StudyConfig, SupernetConfig, TeacherConfig, load_study
from ganas.data import load_data
from ganas.export import load_exported
from ganas.io import load_checkpoint
from ganas.metrics import load_or_train_classifier
from ganas.models import NLayerDiscriminator, create_supernet, create_teacher
from ganas.train.common import infinite_batches
from ganas.train.cyclegan import ImagePool
from ganas.train.distill import DistillStep, make_adapters
from ganas.train.loop import Rng
from ganas.train.teacher import train_teacher

HERE = Path(__file__).parent


def unpaired(n_a=20, n_b=13, size=(32, 32)):
    s = fake_splits(n=n_a, size=size)
    for part in (s.train, s.search, s.test):
        part.targets = torch.rand(n_b, 1, *size) * 2 - 1
        part.paired = False
    return s


def test_image_pool_fills_then_swaps_half_and_is_saved():
    pool = ImagePool(4, (1, 2, 2))
    g = torch.Generator().manual_seed(0)
    first = torch.arange(4.).view(4, 1, 1, 1).expand(4, 1, 2, 2)
    assert torch.equal(pool.query(first, g), first)  # filling: shown as they are
    later = 10 + torch.arange(400.).view(400, 1, 1, 1).expand(400, 1, 2, 2)
    out = pool.query(later, g)
    swapped = (out != later).flatten(1).any(1).float().mean()
    assert 0.4 < swapped < 0.6  # half of the fakes come back as an older one
    state = pool.state_dict()
    again = ImagePool(4, (1, 2, 2))
    again.load_state_dict(state)
    assert torch.equal(again.images, pool.images) and int(again.count) == 4
    assert torch.equal(ImagePool(0, (1, 2, 2)).query(later, g), later)


def test_unpaired_batches_draw_each_domain_on_its_own():
    s = unpaired()
    x, y = next(infinite_batches(s.train, 8, Rng(0), "cpu"))
    rows_x = [int((s.train.inputs == r).flatten(1).all(1).nonzero()) for r in x]
    rows_y = [int((s.train.targets == r).flatten(1).all(1).nonzero()) for r in y]
    assert rows_x != rows_y and max(rows_y) < 13


def study(steps=4):
    return StudyConfig(name="c", teacher=TeacherConfig(ngf=4, n_blocks=2, steps=steps, batch_size=4, ndf=4,
                                                        pool_size=3))


def test_cyclegan_teacher_resumes_exactly_with_its_pool(tmp_path):
    s = unpaired()
    full = train_teacher(study(6), s, tmp_path / "a", show_progress=False).state_dict()
    train_teacher(study(3), s, tmp_path / "b", show_progress=False)
    (tmp_path / "b" / "teacher.pt").unlink()  # killed after step 3: only the training state remains
    resumed = train_teacher(study(6), s, tmp_path / "b", show_progress=False).state_dict()
    assert all(torch.allclose(full[k], resumed[k], atol=1e-6) for k in full)
    ckpt = load_checkpoint(tmp_path / "a" / "teacher.pt", "teacher")
    assert ckpt["trained_as"] == "cyclegan" and "reverse_generator" in ckpt
    assert ckpt["discriminator"]["model.0.weight"].shape[1] == 1  # D_A judges B images alone


def test_unpaired_distillation_targets_the_teacher_and_judges_real_images():
    torch.manual_seed(0)
    teacher = create_teacher("resnet", input_nc=1, output_nc=1, ngf=4, n_blocks=3).eval()
    widths = {k: 4 for k in ("stem", "down1", "down2", "blocks1", "blocks2", "blocks3", "up1", "up2")}
    student = create_supernet("mobile_resnet", widths=widths, n_blocks=3, input_nc=1, output_nc=1)
    adapters = make_adapters(student.feature_widths, teacher.feature_widths)
    seen = []
    D = NLayerDiscriminator(1, 4)
    D.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[1]))
    opt = torch.optim.SGD(list(student.parameters()) + list(adapters.parameters()), lr=0.0)
    step = DistillStep(student, teacher, D, adapters, opt, torch.optim.SGD(D.parameters(), lr=0.0),
                       SupernetConfig(gan_loss="lsgan"), paired=False)
    x, real = torch.rand(2, 1, 32, 32), torch.rand(3, 1, 32, 32)
    logs = step(x, real)
    with torch.no_grad():
        expect = (student(x) - teacher(x)).abs().mean().item()
    assert logs["l1"] == pytest.approx(expect, rel=1e-5) and set(seen) == {1}


def test_unpaired_studies_get_gan_compressions_cyclegan_losses(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("name: s\ndata: {dataset: fashion_mnist_unpaired, classes: [7, 9]}\nsupernet: {ndf: 16}\n")
    s = load_study(p).supernet
    assert (s.lambda_recon, s.lambda_distill, s.gan_loss, s.ndf) == (10.0, 0.01, "lsgan", 16)
    assert load_study("studies/quickstart.yaml").supernet.lambda_recon == 100.0


def test_sneakers_and_boots_are_disjoint_domains():
    cfg = DataConfig(dataset="fashion_mnist_unpaired", classes=(7, 9), limit_train=200, limit_test=30,
                     search_holdout=20)
    s = load_data(cfg)
    assert not s.train.paired and s.train.inputs.shape == (200, 1, 32, 32) and len(s.search.targets) == 20
    assert set(s.test.labels.tolist()) == {9}  # outputs are judged as ankle boots
    back = load_data(DataConfig(**{**cfg.__dict__, "direction": "BtoA"}))
    assert torch.equal(back.train.inputs, s.train.targets) and set(back.test.labels.tolist()) == {7}
    with pytest.raises(Exception, match="two different Fashion-MNIST labels"):
        load_data(DataConfig(dataset="fashion_mnist_unpaired"))


def test_sneaker_to_boot_end_to_end_through_the_cli(tmp_path):
    run = tmp_path / "run"
    data = "{dataset: fashion_mnist_unpaired, classes: [7, 9], limit_train: 200, limit_test: 48, search_holdout: 48}"
    (tmp_path / "s.yaml").write_text(f"""
name: cg
run_dir: {run}
report_dir: {tmp_path}/report
data: {data}
teacher: {{ngf: 4, n_blocks: 3, steps: 6, batch_size: 8, ndf: 8}}
supernet: {{search_space: {HERE}/data/tiny_space.yaml, steps: 6, batch_size: 8, ndf: 8}}
search: {{n_trials: 4, workers: 0, eval_images: 48, budgets: {{macs: "40%"}}}}
finetune: {{steps: 2, batch_size: 8}}
""")
    # a small domain classifier made beforehand: the run uses the one in its folder
    load_or_train_classifier(run / "classifier.pt", load_study(tmp_path / "s.yaml").data, min_steps=10, epochs=0,
                             show_progress=False)
    assert main(["run", str(tmp_path / "s.yaml"), "--quiet"]) == 0
    sup = load_checkpoint(run / "supernet.pt", "supernet")
    assert sup["discriminator"]["model.0.weight"].shape[1] == 1  # unconditional: judges boots alone
    resolved = json.loads((run / "study.json").read_text())["supernet"]
    assert (resolved["lambda_recon"], resolved["lambda_distill"], resolved["gan_loss"]) == (10.0, 0.01, "lsgan")
    export = next((run / "export").iterdir())
    cfg = json.loads((export / "config.json").read_text())
    assert cfg["macs"] <= 0.4 * cfg["teacher_macs"]
    ft = json.loads((export / "finetune.json").read_text())
    assert {"domain_fid", "accuracy", "l1"} <= set(ft["after"])
    net = load_exported(export)
    assert net(torch.zeros(1, 1, 32, 32)).shape == (1, 1, 32, 32)
    assert (tmp_path / "report" / "index.html").exists()

