"""GAN Compression's distillation objective, shared by supernet training and subnet fine-tuning.

loss_G = lambda_gan * GAN + lambda_recon * L1(student, target) + lambda_distill * sum_i MSE(adapter_i(s_i), t_i)
where s_i / t_i are the student / teacher features at the trunk input and after each third of the blocks,
and adapter_i is a 1x1 conv from the student's width to the teacher's.

Paired data (pix2pix): the target is the real image and the discriminator is conditional (it sees the input
beside the image). Unpaired data (CycleGAN), as GAN Compression does it: the target is the teacher's output and
the discriminator is unconditional, judging the student's images against real target-domain ones.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import GanasError
from ..nn import DynamicConv2d
from .diffaug import DiffAugment, judge, score_centre
from .losses import d_loss, g_loss


def make_adapters(student_widths: list[int], teacher_widths: list[int]) -> nn.ModuleList:
    """One 1x1 conv per distilled point. Dynamic in their input width, so one set serves every subnet of a
    supernet and, unchanged, the exported subnet being fine-tuned."""
    if len(student_widths) != len(teacher_widths):
        raise GanasError(f"student has {len(student_widths)} distilled points, teacher {len(teacher_widths)}: "
                         "use a teacher of the same depth as the supernet")
    return nn.ModuleList(DynamicConv2d(sw, tw, 1) for sw, tw in zip(student_widths, teacher_widths))


class DistillStep:
    """One D step then one G step of the distillation objective, for whatever student is active."""

    def __init__(self, student, teacher, D, adapters, opt_g, opt_d, cfg, paired: bool = True,
                 augment: DiffAugment | None = None):
        self.student, self.teacher, self.D, self.adapters = student, teacher, D, adapters
        self.opt_g, self.opt_d, self.cfg, self.paired = opt_g, opt_d, cfg, paired
        self.augment = augment if augment is not None else DiffAugment()  # DiffAugment; none by default

    def _judge(self, x: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return judge(self.D, self.augment, image, x if self.paired else None)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> dict:
        """``y``: the targets of ``x`` (paired), or a batch of real target-domain images (unpaired)."""
        c = self.cfg
        with torch.no_grad():
            t_out, t_feats = self.teacher(x, with_features=True)
        fake, s_feats = self.student(x, with_features=True)
        real_scores = self._judge(x, y)
        loss_d = d_loss(c.gan_loss, real_scores, self._judge(x, fake.detach()))
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        self.augment.observe(real_scores, score_centre(c.gan_loss))
        gan = g_loss(c.gan_loss, self._judge(x, fake))
        l1 = F.l1_loss(fake, y if self.paired else t_out)
        distill = sum(F.mse_loss(a(s), t) for a, s, t in zip(self.adapters, s_feats, t_feats))
        loss_g = c.lambda_gan * gan + c.lambda_recon * l1 + c.lambda_distill * distill
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        logs = {"d": loss_d.item(), "g_gan": gan.item(), "l1": l1.item(), "distill": distill.item()}
        return {**logs, "aug_p": float(self.augment.p)} if self.augment.adaptive else logs
