"""Differentiable Augmentation (Zhao et al., NeurIPS 2020) for the discriminator's inputs, with an adaptive option.

The same kind of random transform T is applied to real and to generated images wherever the discriminator sees
them, in its own step and in the generator's step; T is differentiable in the image, so the generator learns
through it. Policies (random per image, parameters as in the paper):

- ``color``: brightness + U(-0.5, 0.5), saturation x U(0, 2) about the per-pixel channel mean, contrast
  x U(0.5, 1.5) about the image mean;
- ``translation``: an integer shift of up to 1/8 of each side, the uncovered border filled with zeros;
- ``cutout``: one square of half the side, centred anywhere in the image (clipped at its borders), set to zero.

Adaptive (beyond the paper, after StyleGAN2-ADA): each policy is applied to an image with probability ``p``,
which is raised when the discriminator overfits and lowered when it does not. The signal is
r_t = E[sign(D(real) - centre)] over a few steps, compared to a target (0.6). ``p`` and the running signal are
buffers, so they are part of the module's state_dict and of every training checkpoint.

Written by hand rather than taken from a library: kornia's augmentations are not installed, torchvision's
transforms are not per-image random on a batch with a caller-owned generator, and the paper's three policies are
a few lines each.
"""
from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from ..errors import GanasError

POLICIES = ("color", "translation", "cutout")
TRANSLATION_RATIO = 1 / 8
CUTOUT_RATIO = 1 / 2


def parse_policy(policy: str | Iterable[str] | None) -> tuple[str, ...]:
    """'color,translation' or ['color', 'translation'] -> ('color', 'translation'); '' / None -> ()."""
    if policy is None:
        return ()
    names = policy.split(",") if isinstance(policy, str) else list(policy)
    names = [str(n).strip() for n in names if str(n).strip()]
    bad = [n for n in names if n not in POLICIES]
    if bad:
        raise GanasError(f"diffaug policy {bad[0]!r} is unknown: use any of {', '.join(POLICIES)}, comma-separated")
    if len(set(names)) != len(names):
        raise GanasError(f"diffaug policy {','.join(names)} names a policy twice: list each once")
    return tuple(names)


def sample_params(policies: tuple[str, ...], batch: int, height: int, width: int, p: float = 1.0,
                  generator: torch.Generator | None = None) -> dict:
    """Random parameters of one transform per image, drawn on the CPU (so a seeded generator reproduces them on
    any device). An image skips a policy (identity parameters) with probability 1 - p."""
    def u(*shape):
        return torch.rand(*shape, generator=generator)

    def keep():
        return u(batch) < p

    out = {}
    if "color" in policies:
        on = keep()
        out["brightness"] = torch.where(on, u(batch) - 0.5, torch.zeros(batch))
        out["saturation"] = torch.where(on, u(batch) * 2, torch.ones(batch))
        out["contrast"] = torch.where(on, u(batch) + 0.5, torch.ones(batch))
    if "translation" in policies:
        on = keep()
        sy, sx = int(height * TRANSLATION_RATIO + 0.5), int(width * TRANSLATION_RATIO + 0.5)
        ty = torch.randint(-sy, sy + 1, (batch,), generator=generator)
        tx = torch.randint(-sx, sx + 1, (batch,), generator=generator)
        out["shift"] = torch.stack([ty, tx], 1) * on[:, None]
    if "cutout" in policies:
        on = keep()
        ch, cw = int(height * CUTOUT_RATIO + 0.5), int(width * CUTOUT_RATIO + 0.5)
        # the square's centre is uniform over the image: squares near a border are partly outside it
        cy = torch.randint(0, height, (batch,), generator=generator)
        cx = torch.randint(0, width, (batch,), generator=generator)
        out["cutout"] = torch.stack([cy - ch // 2, cx - cw // 2], 1)
        out["cutout_on"] = on
        out["cutout_size"] = torch.tensor([ch, cw])
    return out


def _shift(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Move image i by shift[i] = (dy, dx) whole pixels; what comes in from outside is zero. Gather keeps it
    differentiable in x (a roll would wrap the border around)."""
    b, c, h, w = x.shape
    dy, dx = shift[:, 0].to(x.device), shift[:, 1].to(x.device)
    rows = torch.arange(h, device=x.device)[None, :] - dy[:, None]          # [B, H] source row of each row
    cols = torch.arange(w, device=x.device)[None, :] - dx[:, None]          # [B, W]
    valid = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]  # [B, H, W]
    rows, cols = rows.clamp(0, h - 1), cols.clamp(0, w - 1)
    y = x.gather(2, rows[:, None, :, None].expand(b, c, h, w))
    y = y.gather(3, cols[:, None, None, :].expand(b, c, h, w))
    return y * valid[:, None].to(x.dtype)


def _cutout_mask(params: dict, h: int, w: int, device) -> torch.Tensor:
    top, left = params["cutout"][:, 0].to(device), params["cutout"][:, 1].to(device)
    ch, cw = (int(v) for v in params["cutout_size"])
    ys = torch.arange(h, device=device)[None, :]
    xs = torch.arange(w, device=device)[None, :]
    in_y = (ys >= top[:, None]) & (ys < top[:, None] + ch)
    in_x = (xs >= left[:, None]) & (xs < left[:, None] + cw)
    hole = in_y[:, :, None] & in_x[:, None, :] & params["cutout_on"].to(device)[:, None, None]
    return (~hole)[:, None]


def apply_params(x: torch.Tensor, params: dict) -> torch.Tensor:
    """Apply the transform ``params`` (from ``sample_params``) to images x [B, C, H, W]."""
    if "brightness" in params:
        def per_image(v):
            return v.to(x.device, x.dtype)[:, None, None, None]
        x = x + per_image(params["brightness"])
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * per_image(params["saturation"]) + mean
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * per_image(params["contrast"]) + mean
    if "shift" in params:
        x = _shift(x, params["shift"])
    if "cutout" in params:
        x = x * _cutout_mask(params, x.shape[2], x.shape[3], x.device).to(x.dtype)
    return x


class DiffAugment(nn.Module):
    """``aug(x)`` transforms a batch; ``aug(x, y)`` gives x and y the *same* transform (an input and its target,
    which a conditional discriminator sees side by side, stay aligned). With no policy it returns its inputs.

    ``speed`` is the number of images over which the adaptive ``p`` can move from 0 to 1 (StyleGAN2-ADA uses
    500k; small CPU runs need far fewer); it is updated every ``interval`` calls of ``observe``.
    """

    def __init__(self, policy: str | Iterable[str] | None = "", adaptive: bool = False, target: float = 0.6,
                 speed: float = 4000.0, interval: int = 4, generator: torch.Generator | None = None):
        super().__init__()
        self.policies = parse_policy(policy)
        if not 0 < target < 1:
            raise GanasError(f"diffaug target = {target} must be between 0 and 1 (the paper's ADA uses 0.6)")
        if speed <= 0 or interval < 1:
            raise GanasError(f"diffaug speed = {speed} and interval = {interval} must be positive")
        self.adaptive, self.target, self.speed, self.interval = adaptive, target, float(speed), int(interval)
        self.generator = generator
        # Buffers, so that p and the pending overfitting signal are saved and resumed with the training state.
        self.register_buffer("p", torch.tensor(0.0 if adaptive else 1.0))
        self.register_buffer("signal", torch.zeros(3))  # sum of signs, number of scores, calls since update

    @property
    def enabled(self) -> bool:
        return bool(self.policies)

    def forward(self, *images: torch.Tensor):
        if not self.enabled or float(self.p) == 0.0:
            return images[0] if len(images) == 1 else images
        b, _, h, w = images[0].shape
        params = sample_params(self.policies, b, h, w, float(self.p), self.generator)
        out = tuple(apply_params(x, params) for x in images)
        return out[0] if len(out) == 1 else out

    @torch.no_grad()
    def observe(self, real_scores: torch.Tensor, centre: float = 0.0) -> None:
        """Feed the discriminator's scores on (augmented) reals; adjusts ``p`` every ``interval`` calls.
        ``centre`` is the score between the real and fake targets (0 for logits and hinge, 0.5 for lsgan)."""
        if not (self.adaptive and self.enabled):
            return
        s = self.signal
        s[0] += torch.sign(real_scores.detach().float() - centre).sum().cpu()
        s[1] += real_scores.numel()
        s[2] += 1
        if s[2] >= self.interval:
            r_t = float(s[0] / s[1].clamp(min=1))
            # per image seen since the last update: the batch size is what observe saw, one score map per image
            images = float(s[2]) * real_scores.shape[0]
            step = images / self.speed
            self.p.copy_((self.p + (step if r_t > self.target else -step)).clamp(0.0, 1.0))
            s.zero_()

    def extra_repr(self) -> str:
        return f"policy={','.join(self.policies) or 'none'}, adaptive={self.adaptive}, target={self.target}"


def judge(D, augment: DiffAugment, image: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
    """D's scores of ``image`` through DiffAugment. A conditional D sees ``condition`` (the generator's input)
    beside the image: both get the same transform, so the pair stays aligned."""
    if condition is None:
        return D(augment(image))
    condition, image = augment(condition, image)
    return D(torch.cat([condition, image], 1))


def make_augment(cfg, generator: torch.Generator | None = None) -> DiffAugment:
    """The study's ``diffaug`` section as a module (identity when it names no policy)."""
    return DiffAugment(cfg.policy, cfg.adaptive, cfg.target, cfg.speed, cfg.interval, generator)


def score_centre(gan_loss: str) -> float:
    """Where a discriminator's score changes from 'fake' to 'real' for a GAN loss."""
    return 0.5 if gan_loss == "lsgan" else 0.0

