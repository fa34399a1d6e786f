"""Stage `teacher`: import a pytorch-CycleGAN-and-pix2pix generator, or train one: pix2pix (L1 + conditional
PatchGAN) on paired data, CycleGAN (ganas.train.cyclegan) on unpaired data; both through the study's DiffAugment."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ..config import StudyConfig
from ..data.unpaired import is_paired
from ..errors import GanasError
from ..io import device as default_device, load_checkpoint
from ..models import NLayerDiscriminator, create_teacher, import_teacher
from ..models.families import given_arch, resolve_teacher, teacher_kwargs
from .common import adam, infinite_batches, load_network, save_network
from .diffaug import judge, make_augment, score_centre
from .losses import d_loss, g_loss
from .loop import Rng, train


def study_teacher(study: StudyConfig, splits, run_dir: Path | None = None) -> dict:
    """{"family", **constructor kwargs} of the teacher the study asks for (ganas.models.families.resolve_teacher).
    A teacher already imported into ``run_dir/teacher.pt`` from the study's checkpoint answers for it, so the
    original file is read once and need not stay."""
    t = study.teacher
    out = run_dir / "teacher.pt" if run_dir is not None else None
    if t.checkpoint and out is not None and out.exists():
        ckpt = load_checkpoint(out, "teacher")
        if isinstance(ckpt, dict) and ckpt.get("imported_from") == str(study.resolve(t.checkpoint)):
            return {"family": ckpt["family"], **ckpt["config"]}
    h, w = splits.size
    return resolve_teacher(t, splits.input_nc, splits.output_nc, h, w, study.base_dir)


def teacher_config(study: StudyConfig, splits, run_dir: Path | None = None) -> tuple[str, dict]:
    """(family, constructor kwargs) of ``study_teacher``."""
    resolved = study_teacher(study, splits, run_dir)
    return resolved["family"], teacher_kwargs(resolved)


def _same_source(study: StudyConfig, ckpt: dict, path: Path) -> None:
    """A teacher.pt imported from another file, or imported where the study trains one, is not this study's."""
    source = str(study.resolve(study.teacher.checkpoint)) if study.teacher.checkpoint else None
    if ckpt.get("imported_from") != source:
        was = f"imported from {ckpt['imported_from']}" if ckpt.get("imported_from") else "trained by ganas"
        now = f"imports {source}" if source else "trains its teacher"
        raise GanasError(f"{path} was {was} but the study {now}: delete it (and the later stages' files) to redo "
                         "the teacher, or restore teacher.checkpoint")


def load_teacher(path: Path, expect: dict | None = None):
    net, ckpt = load_network(path, "teacher", lambda fam, cfg: create_teacher(fam, **cfg))
    if expect is not None and ckpt["config"] != expect:
        diff = {k: (ckpt["config"].get(k), v) for k, v in expect.items() if ckpt["config"].get(k) != v}
        raise GanasError(f"{path} holds a teacher with {diff} (found, study) : change the study's teacher "
                         "section to match or delete the file to retrain")
    return net.eval(), ckpt


def train_teacher(study: StudyConfig, splits, run_dir: Path, show_progress: bool = True):
    """Return the trained teacher (eval mode, on CPU); ``run_dir/teacher.pt`` is the stage's output."""
    out = run_dir / "teacher.pt"
    family, cfg = teacher_config(study, splits, run_dir)
    if out.exists():
        net, ckpt = load_teacher(out, cfg)
        _same_source(study, ckpt, out)
        return net
    t, dev = study.teacher, default_device()
    if t.checkpoint:
        path = study.resolve(t.checkpoint)
        G = import_teacher(path, given_arch(t))[0]
        run_dir.mkdir(parents=True, exist_ok=True)
        save_network(out, "teacher", family, cfg, G, imported_from=str(path))
        return G.eval()
    if not is_paired(splits):
        from .cyclegan import train_cyclegan_teacher
        return train_cyclegan_teacher(study, splits, family, cfg, run_dir, show_progress)
    rng = Rng(study.seed)
    G = create_teacher(family, **cfg).to(dev)
    D = NLayerDiscriminator(splits.input_nc + splits.output_nc, t.ndf).to(dev)
    opt_g, opt_d = adam(G.parameters(), t.lr), adam(D.parameters(), t.lr)
    augment = make_augment(study.diffaug, rng.torch).to(dev)  # identity unless the study names a policy
    batches = infinite_batches(splits.train, t.batch_size, rng, dev)

    def step(_: int) -> dict:
        x, y = next(batches)
        fake = G(x)
        real_scores = judge(D, augment, y, x)
        loss_d = d_loss(t.gan_loss, real_scores, judge(D, augment, fake.detach(), x))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        augment.observe(real_scores, score_centre(t.gan_loss))
        gan = g_loss(t.gan_loss, judge(D, augment, fake, x))
        l1 = F.l1_loss(fake, y)
        loss_g = gan + t.lambda_recon * l1
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        return {"d": loss_d.item(), "g_gan": gan.item(), "l1": l1.item()}

    train("teacher", run_dir, {"G": G, "D": D, "augment": augment}, {"G": opt_g, "D": opt_d}, step, t.steps, rng,
          show_progress=show_progress)
    save_network(out, "teacher", family, cfg, G,
                 discriminator={k: v.cpu() for k, v in D.state_dict().items()})
    return G.cpu().eval()
