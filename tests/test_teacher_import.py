"""The study's teacher section: defaults when training, a pix2pix checkpoint imported as the run's teacher,
and which supernet family can be distilled from which teacher."""
import subprocess
import sys

import pytest
import torch

from conftest import fake_splits
from ganas.config import StudyConfig, TeacherConfig, load_study
from ganas.errors import GanasError
from ganas.models import NLayerDiscriminator
from ganas.models.families import resolve_teacher, supernet_kwargs
from ganas.models.resnet import ResnetGenerator
from ganas.models.unet import UnetGenerator
from ganas.train.teacher import load_teacher, train_teacher


@pytest.mark.parametrize("fields,size,expect", [
    ({}, (32, 32), {"family": "resnet", "ngf": 32, "n_blocks": 9, "norm": "instance", "dropout": False}),
    ({"netG": "resnet_6blocks", "ngf": 8}, (32, 32), {"family": "resnet", "n_blocks": 6, "ngf": 8}),
    ({"netG": "unet_256"}, (32, 32), {"family": "unet", "num_downs": 8}),
    ({"family": "unet"}, (32, 48), {"family": "unet", "num_downs": 5}),  # the shorter side to 1x1
    ({"family": "unet", "norm": "batch", "dropout": True}, (256, 256), {"num_downs": 8, "norm": "batch",
                                                                        "dropout": True}),
])
def test_training_defaults(fields, size, expect):
    cfg = resolve_teacher(TeacherConfig(**fields), 1, 3, *size)
    assert cfg["input_nc"] == 1 and cfg["output_nc"] == 3
    assert {k: cfg[k] for k in expect} == expect


@pytest.mark.parametrize("fields,needle", [
    ({"family": "unet", "n_blocks": 6}, "does not apply to a unet"),
    ({"netG": "resnet_9blocks", "n_blocks": 6}, "contradicts n_blocks"),
    ({"netG": "unet_100"}, "unknown netG"),
])
def test_contradicting_fields_are_refused(fields, needle):
    with pytest.raises(GanasError, match=needle):
        resolve_teacher(TeacherConfig(**fields), 3, 3, 32, 32)


def test_study_fields_are_optional_but_typed(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("name: s\nteacher: {dropout: 1}\n")
    with pytest.raises(GanasError, match="teacher.dropout must be bool"):
        load_study(p)
    p.write_text("name: s\nteacher: {checkpoint: x.pth, netG: unet_128}\n")
    t = load_study(p).teacher
    assert (t.ngf, t.n_blocks, t.norm) == (None, None, None)


def test_pix2pix_checkpoint_becomes_the_runs_teacher(tmp_path):
    torch.manual_seed(0)
    original = UnetGenerator(3, 3, num_downs=5, ngf=4, norm="batch", dropout=True)
    for m in original.modules():  # non-trivial running statistics, as a trained batch-norm net has
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    original.eval()
    ckpt = tmp_path / "latest_net_G.pth"
    torch.save({f"module.{k}": v for k, v in original.state_dict().items()}, ckpt)  # saved from DataParallel
    study = StudyConfig(name="t", teacher=TeacherConfig(checkpoint=str(ckpt), netG="unet_32"))
    splits = fake_splits(in_nc=3, out_nc=3, size=(32, 48))
    run = tmp_path / "run"
    net = train_teacher(study, splits, run, show_progress=False)
    x = torch.rand(2, 3, 32, 48) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(net(x), original(x), atol=1e-5)
    saved, meta = load_teacher(run / "teacher.pt")
    assert meta["family"] == "unet" and meta["config"]["norm"] == "batch" and meta["imported_from"] == str(ckpt)
    with torch.no_grad():
        assert torch.allclose(saved(x), original(x), atol=1e-5)
    # the data must give the channels the generator was trained on
    with pytest.raises(GanasError, match="set data.input_nc to 3"):
        train_teacher(study, fake_splits(in_nc=1, out_nc=3), tmp_path / "other", show_progress=False)


def test_supernet_family_must_fit_the_teacher():
    resnet = {"family": "resnet", "n_blocks": 6}
    unet = {"family": "unet", "num_downs": 6}
    assert supernet_kwargs("mobile_resnet", resnet) == {"n_blocks": 6}
    assert supernet_kwargs("unet_64", unet) == {}
    with pytest.raises(GanasError, match="use supernet family unet_64"):
        supernet_kwargs("mobile_resnet", unet)
    with pytest.raises(GanasError, match="use supernet family unet_64"):
        supernet_kwargs("unet_32", unet)
    with pytest.raises(GanasError, match="use supernet family mobile_resnet"):
        supernet_kwargs("unet_32", resnet)


def test_a_checkpoint_that_matches_nothing_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "latest_net_D.pth"
    torch.save(NLayerDiscriminator(6, 8).state_dict(), bad)
    study = tmp_path / "s.yaml"
    study.write_text(f"name: s\nrun_dir: {tmp_path}/run\ndata: {{limit_train: 50, limit_test: 10, search_holdout: 10}}\n"
                     f"teacher: {{checkpoint: {bad}}}\n")
    r = subprocess.run([sys.executable, "-m", "ganas", "teacher", str(study)], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "discriminator" in r.stderr
    assert not (tmp_path / "run" / "teacher.pt").exists()


def test_resnet_checkpoint_with_dropout_imports_under_a_training_default_study(tmp_path):
    # A study that leaves every architecture field out imports whatever the checkpoint holds.
    g = ResnetGenerator(1, 1, ngf=6, n_blocks=6, dropout=True).eval()
    torch.save(g.state_dict(), tmp_path / "g.pth")
    cfg = resolve_teacher(TeacherConfig(checkpoint=str(tmp_path / "g.pth")), 1, 1, 32, 32)
    assert cfg == {"family": "resnet", "input_nc": 1, "output_nc": 1, "ngf": 6, "n_blocks": 6, "norm": "instance",
                   "dropout": True}
    with pytest.raises(GanasError, match="ngf=6"):
        resolve_teacher(TeacherConfig(checkpoint=str(tmp_path / "g.pth"), ngf=64), 1, 1, 32, 32)



def test_imported_teacher_outlives_its_file_and_a_changed_source_is_refused(tmp_path):
    from ganas.train.teacher import study_teacher

    g = ResnetGenerator(1, 1, ngf=4, n_blocks=2).eval()
    torch.save(g.state_dict(), tmp_path / "g.pth")
    study = StudyConfig(name="t", teacher=TeacherConfig(checkpoint=str(tmp_path / "g.pth")))
    splits = fake_splits()
    train_teacher(study, splits, tmp_path / "run", show_progress=False)
    (tmp_path / "g.pth").rename(tmp_path / "moved.pth")  # the original may go once imported
    assert study_teacher(study, splits, tmp_path / "run")["n_blocks"] == 2
    train_teacher(study, splits, tmp_path / "run", show_progress=False)
    other = StudyConfig(name="t", teacher=TeacherConfig(checkpoint=str(tmp_path / "moved.pth")))
    with pytest.raises(GanasError, match="was imported from .*g.pth but the study imports .*moved.pth"):
        train_teacher(other, splits, tmp_path / "run", show_progress=False)
    trains = StudyConfig(name="t", teacher=TeacherConfig(ngf=4, n_blocks=2, norm="instance"))
    with pytest.raises(GanasError, match="but the study trains its teacher"):
        train_teacher(trains, splits, tmp_path / "run", show_progress=False)
