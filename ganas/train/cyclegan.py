"""A CycleGAN teacher for unpaired data, trained as pytorch-CycleGAN-and-pix2pix's cycle_gan model does.

G_A: A -> B (the teacher that is compressed) and G_B: B -> A; D_A judges domain B (reals vs G_A's fakes) and D_B
domain A, both unconditional PatchGANs. Per step the generators go first: GAN loss on both fakes + lambda_cycle *
(|G_B(G_A(a)) - a| + |G_A(G_B(b)) - b|) + lambda_identity * lambda_cycle * (|G_A(b) - b| + |G_B(a) - a|); then
each discriminator takes its loss on real images and on fakes drawn through a pool of past fakes.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..config import StudyConfig
from ..errors import GanasError
from ..io import device as default_device
from ..models import NLayerDiscriminator, create_teacher
from .common import adam, infinite_batches, save_network
from .diffaug import judge, make_augment, score_centre
from .losses import d_loss, g_loss
from .loop import Rng, train


class ImagePool(nn.Module):
    """CycleGAN's history of generated images (Shrivastava et al. 2017): until full, each fake is stored and
    shown as it is; then, with probability 1/2, a fake takes the place of a random stored one, which is shown
    instead. A module with buffers, so the training loop's checkpoint carries it and a resumed run goes on with
    the same history."""

    def __init__(self, size: int, image_shape: tuple[int, ...]):
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(size, *image_shape))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def query(self, fakes: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.size == 0:
            return fakes.detach()
        out = []
        for img in fakes.detach():
            n = int(self.count)
            if n < self.size:
                self.images[n] = img
                self.count += 1
                out.append(img)
            elif float(torch.rand((), generator=generator)) > 0.5:
                i = int(torch.randint(self.size, (), generator=generator))
                out.append(self.images[i].clone())
                self.images[i] = img
            else:
                out.append(img)
        return torch.stack(out)


def batch_shape(images: torch.Tensor, augment) -> tuple[int, int, int]:
    """(C, H, W) of the training batches drawn from ``images``: the crop when one is taken."""
    c, h, w = images.shape[1:]
    crop = getattr(augment, "crop", None)
    return (c, *crop) if crop is not None else (c, h, w)


def train_cyclegan_teacher(study: StudyConfig, splits, family: str, cfg: dict, run_dir: Path,
                           show_progress: bool = True):
    """Train G_A (saved as ``run_dir/teacher.pt`` with D_A as its discriminator) and G_B; return G_A (eval, CPU)."""
    t, dev = study.teacher, default_device()
    in_nc, out_nc = cfg["input_nc"], cfg["output_nc"]
    if t.lambda_identity > 0 and in_nc != out_nc:
        raise GanasError(f"CycleGAN's identity loss feeds domain B images to the A -> B generator, so it needs "
                         f"input and output of the same channels ({in_nc} vs {out_nc}): set teacher.lambda_identity 0")
    rng = Rng(study.seed)
    G_A = create_teacher(family, **cfg).to(dev)
    G_B = create_teacher(family, **{**cfg, "input_nc": out_nc, "output_nc": in_nc}).to(dev)
    D_A, D_B = NLayerDiscriminator(out_nc, t.ndf).to(dev), NLayerDiscriminator(in_nc, t.ndf).to(dev)
    augment = getattr(splits.train, "augment", None)
    pool_a = ImagePool(t.pool_size, batch_shape(splits.train.inputs, augment)).to(dev)
    pool_b = ImagePool(t.pool_size, batch_shape(splits.train.targets, augment)).to(dev)
    opt_g = adam(itertools.chain(G_A.parameters(), G_B.parameters()), t.lr)
    opt_d = adam(itertools.chain(D_A.parameters(), D_B.parameters()), t.lr)
    diffaug = make_augment(study.diffaug, rng.torch).to(dev)  # identity unless the study names a policy
    batches = infinite_batches(splits.train, t.batch_size, rng, dev)
    cyc, idt = t.lambda_cycle, t.lambda_identity * t.lambda_cycle

    def step(_: int) -> dict:
        real_a, real_b = next(batches)
        fake_b, fake_a = G_A(real_a), G_B(real_b)
        for p in itertools.chain(D_A.parameters(), D_B.parameters()):
            p.requires_grad_(False)
        gan = g_loss(t.gan_loss, judge(D_A, diffaug, fake_b)) + g_loss(t.gan_loss, judge(D_B, diffaug, fake_a))
        cycle = F.l1_loss(G_B(fake_b), real_a) + F.l1_loss(G_A(fake_a), real_b)
        identity = (F.l1_loss(G_A(real_b), real_b) + F.l1_loss(G_B(real_a), real_a)) if idt > 0 else torch.zeros(())
        loss_g = gan + cyc * cycle + idt * identity
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        for p in itertools.chain(D_A.parameters(), D_B.parameters()):
            p.requires_grad_(True)
        real_scores = judge(D_A, diffaug, real_b), judge(D_B, diffaug, real_a)
        loss_d_a = d_loss(t.gan_loss, real_scores[0], judge(D_A, diffaug, pool_b.query(fake_b, rng.torch)))
        loss_d_b = d_loss(t.gan_loss, real_scores[1], judge(D_B, diffaug, pool_a.query(fake_a, rng.torch)))
        opt_d.zero_grad(set_to_none=True)
        (loss_d_a + loss_d_b).backward()
        opt_d.step()
        diffaug.observe(torch.cat(real_scores), score_centre(t.gan_loss))  # both discriminators: 2 batches of reals
        return {"d_a": loss_d_a.item(), "d_b": loss_d_b.item(), "g_gan": gan.item(), "cycle": cycle.item(),
                "identity": identity.item()}

    modules = {"G_A": G_A, "G_B": G_B, "D_A": D_A, "D_B": D_B, "pool_A": pool_a, "pool_B": pool_b, "augment": diffaug}
    train("teacher", run_dir, modules, {"G": opt_g, "D": opt_d}, step, t.steps, rng, show_progress=show_progress)
    save_network(run_dir / "teacher.pt", "teacher", family, cfg, G_A, trained_as="cyclegan",
                 discriminator={k: v.cpu() for k, v in D_A.state_dict().items()},
                 reverse_generator={k: v.detach().cpu() for k, v in G_B.state_dict().items()})
    return G_A.cpu().eval()
