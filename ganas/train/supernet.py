"""Stage `supernet`: train the once-for-all supernet from the teacher (GAN Compression's distillation).

Each step samples one subnet uniformly from the search space and trains it; all subnets share weights
(the first k channels of every layer).
"""
from __future__ import annotations

from pathlib import Path

import itertools

from ..config import StudyConfig
from ..data.unpaired import is_paired
from ..errors import GanasError
from ..io import device as default_device, load_checkpoint
from ..models import NLayerDiscriminator, create_supernet
from ..models.families import supernet_kwargs
from ..space import SearchSpace
from .common import adam, infinite_batches, load_network, save_network
from .diffaug import make_augment
from .distill import DistillStep, make_adapters
from .loop import Rng, train


def supernet_config(space: SearchSpace, input_nc: int, output_nc: int, teacher: dict) -> dict:
    """The supernet's constructor kwargs; ``teacher`` = {"family", **its config} (what follows from it, e.g. the
    block count, comes from ganas.models.families.supernet_kwargs)."""
    return dict(widths=space.largest().to_dict(), **supernet_kwargs(space.family, teacher), input_nc=input_nc,
                output_nc=output_nc)


def discriminator_channels(splits) -> int:
    """Conditional (input beside image) for paired data; unconditional (the image) for unpaired data."""
    return splits.input_nc + splits.output_nc if is_paired(splits) else splits.output_nc


def load_supernet(path: Path, expect: dict | None = None):
    net, ckpt = load_network(path, "supernet", lambda fam, cfg: create_supernet(fam, **cfg))
    if expect is not None and ckpt["config"] != expect:
        raise GanasError(f"{path} holds a supernet built for {ckpt['config']}, the study asks for {expect}: "
                         "delete the file to retrain, or restore the study's search space")
    return net, ckpt


def train_supernet(study: StudyConfig, splits, teacher, space: SearchSpace, run_dir: Path,
                   show_progress: bool = True):
    """Return the trained supernet; ``run_dir/supernet.pt`` is the stage's output. ``supernet.mode`` picks the
    objective: distill (GAN Compression, below) or anycost (ganas.train.anycost)."""
    if study.supernet.mode == "anycost":
        from .anycost import train_anycost
        return train_anycost(study, splits, teacher, space, run_dir, show_progress)
    out = run_dir / "supernet.pt"
    teacher_ckpt = load_checkpoint(run_dir / "teacher.pt", "teacher")
    cfg = supernet_config(space, splits.input_nc, splits.output_nc,
                          {"family": teacher_ckpt["family"], **teacher_ckpt["config"]})
    if out.exists():
        return load_supernet(out, cfg)[0]
    s, dev = study.supernet, default_device()
    rng = Rng(study.seed + 1)
    G = create_supernet(s.family, **cfg).to(dev)
    teacher = teacher.to(dev).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    adapters = make_adapters(G.feature_widths, teacher.feature_widths).to(dev)
    D = NLayerDiscriminator(discriminator_channels(splits), s.ndf).to(dev)
    if s.ndf == study.teacher.ndf and "discriminator" in teacher_ckpt:
        D.load_state_dict(teacher_ckpt["discriminator"])  # GAN Compression starts from the teacher's D
    opt_g = adam(itertools.chain(G.parameters(), adapters.parameters()), s.lr)
    opt_d = adam(D.parameters(), s.lr)
    batches = infinite_batches(splits.train, s.batch_size, rng, dev)
    augment = make_augment(study.diffaug, rng.torch).to(dev)
    step_once = DistillStep(G, teacher, D, adapters, opt_g, opt_d, s, paired=is_paired(splits), augment=augment)

    def step(_: int) -> dict:
        G.set_arch(space.sample(rng.py))
        x, y = next(batches)
        return step_once(x, y)

    train("supernet", run_dir, {"G": G, "D": D, "adapters": adapters, "augment": augment}, {"G": opt_g, "D": opt_d},
          step, s.steps, rng, show_progress=show_progress)
    G.set_arch(space.largest())
    save_network(out, "supernet", s.family, cfg, G,
                 adapters={k: v.cpu() for k, v in adapters.state_dict().items()},
                 discriminator={k: v.cpu() for k, v in D.state_dict().items()},
                 space={k: list(v) for k, v in space.choices.items()})
    return G.cpu()
