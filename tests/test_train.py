"""Training mechanics on tiny random tensors: resume reproduces an uninterrupted run exactly, stages skip when
their output exists, a checkpoint of another architecture is refused with a clear error."""
import pytest
import torch

from conftest import fake_splits
from ganas.config import StudyConfig, SupernetConfig, TeacherConfig
from ganas.errors import GanasError
from ganas.space import SearchSpace
from ganas.train.supernet import train_supernet
from ganas.train.teacher import train_teacher

SPACE = SearchSpace("mobile_resnet", {k: (8, 4) for k in
                                      ("stem", "down1", "down2", "blocks1", "blocks2", "blocks3", "up1", "up2")})


def study(t_steps=4, s_steps=4):
    return StudyConfig(name="t", teacher=TeacherConfig(ngf=4, n_blocks=3, steps=t_steps, batch_size=4, ndf=8),
                       supernet=SupernetConfig(steps=s_steps, batch_size=4, ndf=8))


def weights(net):
    return {k: v.clone() for k, v in net.state_dict().items()}


def test_teacher_resume_equals_uninterrupted_run(tmp_path):
    splits = fake_splits()
    full = weights(train_teacher(study(6), splits, tmp_path / "a", show_progress=False))
    (tmp_path / "b").mkdir()
    train_teacher(study(3), splits, tmp_path / "b", show_progress=False)
    (tmp_path / "b" / "teacher.pt").unlink()  # as if killed after step 3: only the training state remains
    resumed = weights(train_teacher(study(6), splits, tmp_path / "b", show_progress=False))
    assert all(torch.allclose(full[k], resumed[k], atol=1e-6) for k in full)


def test_supernet_trains_every_subnet_and_resumes(tmp_path):
    splits = fake_splits()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    t = train_teacher(study(), splits, tmp_path / "a", show_progress=False)
    (tmp_path / "b" / "teacher.pt").write_bytes((tmp_path / "a" / "teacher.pt").read_bytes())
    full = weights(train_supernet(study(s_steps=6), splits, t, SPACE, tmp_path / "a", show_progress=False))
    train_supernet(study(s_steps=3), splits, t, SPACE, tmp_path / "b", show_progress=False)
    (tmp_path / "b" / "supernet.pt").unlink()
    resumed = weights(train_supernet(study(s_steps=6), splits, t, SPACE, tmp_path / "b", show_progress=False))
    assert all(torch.allclose(full[k], resumed[k], atol=1e-6) for k in full)
    # the finished stage is skipped: same weights come back without training
    again = weights(train_supernet(study(s_steps=6), splits, t, SPACE, tmp_path / "a", show_progress=False))
    assert all(torch.equal(full[k], again[k]) for k in full)


def test_teacher_checkpoint_of_another_architecture_is_refused(tmp_path):
    splits = fake_splits()
    train_teacher(study(1), splits, tmp_path, show_progress=False)
    other = StudyConfig(name="t", teacher=TeacherConfig(ngf=8, n_blocks=3, steps=1, batch_size=4, ndf=8))
    with pytest.raises(GanasError, match="ngf"):
        train_teacher(other, splits, tmp_path, show_progress=False)


def test_corrupt_checkpoint_is_refused_and_left_alone(tmp_path):
    splits = fake_splits()
    (tmp_path / "teacher.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(GanasError, match="cannot be read"):
        train_teacher(study(1), splits, tmp_path, show_progress=False)
    assert (tmp_path / "teacher.pt").read_bytes() == b"not a checkpoint"
