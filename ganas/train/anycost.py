"""Training mode ``anycost`` (Anycost GANs, CVPR 2021) for unconditional families, and the GAN step it shares
with their teacher stage and fine-tune.

The pipeline's stages map onto the paper's training schedule:

- teacher stage: the full network (the family at the search space's largest widths) trained as a plain GAN at its
  full resolution (ganas.train.unconditional). It is the report's "teacher" and the consistency target.
- supernet stage, this mode: the supernet starts from the teacher's weights with every layer's channels sorted by
  importance, then each step trains one sampled subnet (channel ratios uniform per step or per layer) at every
  resolution exit: the GAN loss on ``sampled_resolutions`` random exits (reals resized to them) through a
  discriminator conditioned on the sampled architecture (reals get a random architecture code), plus
  ``lambda_consistency`` x (MSE + perceptual distance) between every exit and the frozen teacher's output resized to
  that exit, for the same latent.

DiffAugment, when the study names a policy, transforms every image the discriminator sees, in both steps.
"""
from __future__ import annotations

import random
from pathlib import Path

import torch
import torch.nn.functional as F

from ..arch import Arch
from ..config import StudyConfig
from ..errors import GanasError
from ..space import SearchSpace
from .diffaug import DiffAugment, score_centre
from .losses import d_loss, g_loss

R1_EVERY = 4  # StyleGAN2's lazy regularisation: the R1 penalty every few discriminator steps (it uses 16)


def resize(x: torch.Tensor, side: int) -> torch.Tensor:
    """Area resize (the block mean for power-of-two factors): how reals and the teacher's output are brought to a
    lower exit's side."""
    return x if x.shape[-1] == side else F.interpolate(x, size=(side, side), mode="area")


def width_layers(space: SearchSpace) -> tuple[str, ...]:
    return tuple(k for k in space.choices if k != "resolution")


def code_length(space: SearchSpace) -> int:
    return sum(len(space.choices[k]) for k in width_layers(space))


def arch_code(arch, space: SearchSpace) -> torch.Tensor:
    """The architecture as one one-hot vector per layer (which of the layer's widths, largest first), concatenated:
    Anycost GAN's encoding of the sampled channel ratios."""
    parts = []
    for k in width_layers(space):
        one = torch.zeros(len(space.choices[k]))
        one[space.choices[k].index(arch[k])] = 1
        parts.append(one)
    return torch.cat(parts)


def sample_widths(space: SearchSpace, mode: str, rng: random.Random) -> Arch:
    """``uniform``: one ratio (the i-th largest width) for every layer, i uniform; ``per_layer``: each layer its own."""
    layers = width_layers(space)
    if mode == "uniform":
        i = rng.randrange(len(space.choices[layers[0]]))
        return Arch({k: space.choices[k][i] for k in layers})
    return Arch({k: rng.choice(space.choices[k]) for k in layers})


def check_space(space: SearchSpace, mode: str) -> None:
    if mode == "uniform":
        counts = {len(space.choices[k]) for k in width_layers(space)}
        if len(counts) > 1:
            raise GanasError("supernet.channel_sampling: uniform takes the i-th largest width of every layer, so every "
                             "layer of the search space needs the same number of widths (e.g. 1/4, 1/2, 3/4 and 1 of "
                             "its largest): fix the search space or use per_layer")


class UnconditionalGanStep:
    """One discriminator step then one generator step of an unconditional generator.

    ``sample_arch()`` sets the generator's architecture for a step and returns its code (None: the discriminator
    is not conditioned); ``real_code()`` gives the code shown with reals. ``sides`` are the exits trained, of which
    ``n_sides`` get the GAN loss each step; the consistency loss (when there is a teacher) covers them all.
    ``r1_gamma`` > 0 adds StyleGAN2's R1 penalty (gamma / 2 x |grad of D at the reals|^2) every ``r1_every`` steps.
    """

    def __init__(self, G, D, opt_g, opt_d, augment: DiffAugment, rng, *, gan_loss: str, lambda_gan: float = 1.0,
                 sides: tuple[int, ...], n_sides: int = 1, sample_arch=lambda: None, real_code=lambda: None,
                 teacher=None, lambda_consistency: float = 0.0, perceptual=None, r1_gamma: float = 0.0,
                 r1_every: int = R1_EVERY):
        self.G, self.D, self.opt_g, self.opt_d, self.augment, self.rng = G, D, opt_g, opt_d, augment, rng
        self.gan_loss, self.lambda_gan, self.sides, self.n_sides = gan_loss, lambda_gan, tuple(sides), n_sides
        self.r1_gamma, self.r1_every = r1_gamma, r1_every
        self.sample_arch, self.real_code = sample_arch, real_code
        self.teacher, self.lambda_consistency, self.perceptual = teacher, lambda_consistency, perceptual
        self.device = next(G.parameters()).device

    def _z(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.G.z_dim, generator=self.rng.torch).to(self.device)

    def _exits(self, z: torch.Tensor) -> dict[int, torch.Tensor]:
        outs = self.G(z, all_exits=True)
        return {o.shape[-1]: o for o in outs}

    def _code(self, code):
        return None if code is None else code.to(self.device)

    def __call__(self, reals: torch.Tensor, step: int = 0) -> dict:
        """One D and one G step; ``step`` (the loop's, so a resumed run regularises the same steps) picks R1's."""
        n = len(reals)
        # discriminator step
        code = self._code(self.sample_arch())
        with torch.no_grad():
            fakes = self._exits(self._z(n))
        real_code = self._code(self.real_code())
        loss_d, real_scores, r1 = 0.0, [], []
        regularise = self.r1_gamma > 0 and step % self.r1_every == 0
        for side in self.rng.py.sample(self.sides, min(self.n_sides, len(self.sides))):
            real_in = self.augment(resize(reals, side)).detach().requires_grad_(regularise)
            real_s = self.D(real_in, real_code)
            fake_s = self.D(self.augment(fakes[side]), code)
            loss_d = loss_d + d_loss(self.gan_loss, real_s, fake_s)
            if regularise:  # R1: the squared gradient of D's score at the (augmented) reals, as StyleGAN2 does
                grad, = torch.autograd.grad(real_s.sum(), real_in, create_graph=True)
                r1.append(grad.pow(2).flatten(1).sum(1).mean())
            real_scores.append(real_s.detach())
        if r1:  # lazy: every r1_every-th step, weighted by r1_every so its average strength is gamma / 2
            loss_d = loss_d + self.r1_gamma / 2 * self.r1_every * sum(r1)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        self.augment.observe(torch.cat(real_scores), score_centre(self.gan_loss))

        # generator step: a new subnet and new latents
        code = self._code(self.sample_arch())
        z = self._z(n)
        fakes = self._exits(z)
        gan = sum(g_loss(self.gan_loss, self.D(self.augment(fakes[s]), code))
                  for s in self.rng.py.sample(self.sides, min(self.n_sides, len(self.sides))))
        loss_g = self.lambda_gan * gan
        logs = {"d": loss_d.item(), "g_gan": gan.item(), **({"r1": sum(r1).item()} if r1 else {})}
        if self.teacher is not None and self.lambda_consistency > 0:
            with torch.no_grad():
                target = self.teacher(z)
            mse = sum(F.mse_loss(fakes[s], resize(target, s)) for s in self.sides)
            perc = (sum(self.perceptual(fakes[s], resize(target, s)) for s in self.sides)
                    if self.perceptual is not None else torch.zeros((), device=self.device))
            loss_g = loss_g + self.lambda_consistency * (mse + perc)
            logs.update(mse=mse.item(), perceptual=perc.item())
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        if self.augment.adaptive:
            logs["aug_p"] = float(self.augment.p)
        return logs


def trained_sides(space: SearchSpace, G) -> tuple[int, ...]:
    """The exits the supernet trains: the searched resolutions, else the full side only."""
    return tuple(space.choices.get("resolution", (G.size,)))


def train_anycost(study: StudyConfig, splits, teacher, space: SearchSpace, run_dir: Path, show_progress: bool = True):
    """The supernet stage in mode anycost; returns the trained supernet (``run_dir/supernet.pt``)."""
    from ..io import device as default_device
    from ..models import create_supernet
    from .common import adam, save_network
    from .diffaug import make_augment
    from .loop import Rng, train
    from .perceptual import make_perceptual
    from .supernet import load_supernet
    from .unconditional import generator_config, image_batches, make_discriminator, teacher_discriminator

    out = run_dir / "supernet.pt"
    cfg = generator_config(space, splits)
    if out.exists():
        return load_supernet(out, cfg)[0]
    s, dev = study.supernet, default_device()
    check_space(space, s.channel_sampling)
    rng = Rng(study.seed + 1)
    G = create_supernet(space.family, **cfg)
    G.load_state_dict(teacher.state_dict())  # the full network is the teacher at the same widths: same keys
    if s.sort_channels:
        G.sort_channels(generator=torch.Generator().manual_seed(study.seed))
    G = G.to(dev)
    teacher = teacher.to(dev).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    D = make_discriminator(study, space, splits, s.ndf, s.conditioned_d)
    teacher_discriminator(D, run_dir, s.ndf == study.teacher.ndf)
    D = D.to(dev)
    augment = make_augment(study.diffaug, rng.torch).to(dev)
    classifier = None
    if s.perceptual == "domain" and s.lambda_consistency > 0:
        from ..metrics import load_or_train_classifier
        classifier = load_or_train_classifier(run_dir / "classifier.pt", study.data, study.seed, dev)
    perceptual = make_perceptual(s.perceptual, splits.size[0], classifier) if s.lambda_consistency > 0 else None
    perceptual = perceptual.to(dev) if perceptual is not None else None
    opt_g, opt_d = adam(G.parameters(), s.lr), adam(D.parameters(), s.lr)
    full_side = max(G.exits)

    def sample_arch():
        widths = sample_widths(space, s.channel_sampling, rng.py)
        G.set_arch({**widths, "resolution": full_side})
        return arch_code(widths, space) if s.conditioned_d else None

    def real_code():  # reals are shown with a random architecture, so the code alone cannot tell real from fake
        return arch_code(sample_widths(space, s.channel_sampling, rng.py), space) if s.conditioned_d else None

    step_once = UnconditionalGanStep(
        G, D, opt_g, opt_d, augment, rng, gan_loss=s.gan_loss, lambda_gan=s.lambda_gan,
        sides=trained_sides(space, G), n_sides=s.sampled_resolutions, sample_arch=sample_arch, real_code=real_code,
        teacher=teacher, lambda_consistency=s.lambda_consistency, perceptual=perceptual, r1_gamma=s.r1_gamma)
    batches = image_batches(splits.train, s.batch_size, rng, dev)
    train("supernet", run_dir, {"G": G, "D": D, "augment": augment}, {"G": opt_g, "D": opt_d},
          lambda i: step_once(next(batches), i), s.steps, rng, show_progress=show_progress)
    G.set_arch({**space.largest(), "resolution": full_side})
    save_network(out, "supernet", space.family, cfg, G,
                 discriminator={k: v.cpu() for k, v in D.state_dict().items()},
                 discriminator_config={k: list(v) if isinstance(v, tuple) else v for k, v in D.config.items()}, space={k: list(v) for k, v in space.choices.items()},
                 mode="anycost")
    return G.cpu()
