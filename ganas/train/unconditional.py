"""The teacher and fine-tune stages of unconditional families (noise -> image).

Such a family needs no separate teacher architecture: its teacher is its own full network (the search space's
largest widths, full resolution), trained here as a plain GAN (with DiffAugment when the study names a policy).
AnyCost's supernet then starts from it, and measures every subnet's consistency against it; the report shows it
as the teacher. The fine-tune trains an exported subnet further with the same losses at its own exit.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..config import StudyConfig
from ..errors import GanasError
from ..io import device as default_device, load_checkpoint
from ..models import MultiResDiscriminator, create_teacher
from ..space import SearchSpace
from .anycost import UnconditionalGanStep, arch_code, code_length, sample_widths, trained_sides
from .common import adam, load_network, save_network
from .diffaug import make_augment
from .loop import Rng, train


def generator_config(space: SearchSpace, splits) -> dict:
    """The full network's config: the largest widths, the largest exit, the data's latent size and channels."""
    return dict(widths={k: v for k, v in space.largest().items() if k != "resolution"}, resolution=splits.size[0],
                z_dim=splits.input_nc, n_mlp=2, output_nc=splits.output_nc)


def make_discriminator(study: StudyConfig, space: SearchSpace, splits, ndf: int, conditioned: bool):
    size = splits.size[0]
    sides = space.choices.get("resolution", (size,))
    return MultiResDiscriminator(size, splits.output_nc, ndf, tuple(sorted(set(sides) | {size})),
                                 code_length(space) if conditioned else 0)


def teacher_discriminator(D, run_dir: Path, same_width: bool) -> None:
    """Start from the teacher's discriminator (as GAN Compression and Anycost GAN do) where it fits."""
    ckpt = load_checkpoint(run_dir / "teacher.pt", "teacher")
    if same_width and "discriminator" in ckpt:
        try:
            D.load_state_dict(ckpt["discriminator"])
        except RuntimeError:
            pass  # another discriminator layout (e.g. the study changed): train this one from scratch


def image_batches(data, batch_size: int, rng: Rng, device):
    """Random batches of real images, drawn with the loop's RNG (a resumed run draws the same ones)."""
    while True:
        yield data.targets[rng.batch(len(data.targets), batch_size)].to(device)


def load_full_generator(path: Path, expect: dict | None = None):
    net, ckpt = load_network(path, "teacher", lambda fam, cfg: create_teacher(fam, **cfg))
    if expect is not None and ckpt["config"] != expect:
        raise GanasError(f"{path} holds a full network with {ckpt['config']}, the study asks for {expect}: delete it "
                         "to retrain, or restore the study's search space")
    return net.eval(), ckpt


def train_full_generator(study: StudyConfig, splits, space: SearchSpace, run_dir: Path, show_progress: bool = True):
    """The teacher stage of an unconditional family; returns the full network (eval mode, CPU), saved as
    ``run_dir/teacher.pt``."""
    out = run_dir / "teacher.pt"
    cfg = generator_config(space, splits)
    if out.exists():
        return load_full_generator(out, cfg)[0]
    t, dev = study.teacher, default_device()
    rng = Rng(study.seed)
    G = create_teacher(space.family, **cfg).to(dev)
    # The same discriminator layout as the supernet's, so that stage can start from it; used unconditioned here.
    D = make_discriminator(study, space, splits, t.ndf, study.supernet.conditioned_d).to(dev)
    augment = make_augment(study.diffaug, rng.torch).to(dev)
    opt_g, opt_d = adam(G.parameters(), t.lr), adam(D.parameters(), t.lr)
    step_once = UnconditionalGanStep(G, D, opt_g, opt_d, augment, rng, gan_loss=t.gan_loss, sides=(max(G.exits),),
                                     r1_gamma=t.r1_gamma)
    batches = image_batches(splits.train, t.batch_size, rng, dev)
    train("teacher", run_dir, {"G": G, "D": D, "augment": augment}, {"G": opt_g, "D": opt_d},
          lambda i: step_once(next(batches), i), t.steps, rng, show_progress=show_progress)
    save_network(out, "teacher", space.family, cfg, G,
                 discriminator={k: v.cpu() for k, v in D.state_dict().items()})
    return G.cpu().eval()


def finetune_unconditional(ctx, export_dir: Path, show_progress: bool = True) -> Path:
    """Train an exported subnet further: GAN loss at its exit through the supernet's discriminator (shown the
    subnet's architecture code) and consistency with the teacher; write ``finetuned/`` (an export of the fine-tuned
    subnet in every format, as the conditional fine-tune does) and ``finetune.json`` (test-set metrics before and
    after) into ``export_dir``."""
    from ..evaluate import SubnetEvaluator
    from ..export import load_exported
    from ..metrics import load_or_train_classifier
    from .finetune import CHECK_IMAGES, print_finetune, record_finetune, write_finetuned
    from .perceptual import make_perceptual

    study, run_dir = ctx.study, ctx.run_dir
    if (export_dir / "finetune.json").exists():
        print_finetune(export_dir)
        return export_dir
    f, s, dev = study.finetune, study.supernet, default_device()
    rng = Rng(study.seed + 2)
    student = load_exported(export_dir).to(dev)
    teacher = load_full_generator(run_dir / "teacher.pt")[0].to(dev)
    for p in teacher.parameters():
        p.requires_grad_(False)
    sup = load_checkpoint(run_dir / "supernet.pt", "supernet")
    D = make_discriminator(study, ctx.space, ctx.splits, s.ndf, s.conditioned_d)
    D.load_state_dict(sup["discriminator"])
    D = D.to(dev)
    augment = make_augment(study.diffaug, rng.torch).to(dev)
    classifier = (load_or_train_classifier(run_dir / "classifier.pt", study.data, study.seed, dev)
                  if s.perceptual == "domain" else None)
    perceptual = make_perceptual(s.perceptual, ctx.splits.size[0], classifier)
    perceptual = perceptual.to(dev) if perceptual is not None else None
    arch = {**student.config["widths"], "resolution": student.config["resolution"]}
    code = arch_code(arch, ctx.space) if s.conditioned_d else None
    opt_g, opt_d = adam(student.parameters(), f.lr), adam(D.parameters(), f.lr)
    step_once = UnconditionalGanStep(
        student, D, opt_g, opt_d, augment, rng, gan_loss=s.gan_loss, lambda_gan=s.lambda_gan,
        sides=(student.config["resolution"],), sample_arch=lambda: code,
        real_code=lambda: (arch_code(sample_widths(ctx.space, s.channel_sampling, rng.py), ctx.space)
                           if s.conditioned_d else None),
        teacher=teacher, lambda_consistency=s.lambda_consistency, perceptual=perceptual, r1_gamma=s.r1_gamma)
    batches = image_batches(ctx.splits.train, f.batch_size, rng, dev)

    evaluator = SubnetEvaluator(study, split="test")
    before = evaluator.evaluate_net(student)
    train("finetune", export_dir, {"G": student, "D": D, "augment": augment}, {"G": opt_g, "D": opt_d},
          lambda i: step_once(next(batches), i), f.steps, rng, show_progress=show_progress)
    after = evaluator.evaluate_net(student)
    write_finetuned(export_dir, student.cpu().eval(), ctx.splits.search.inputs[:CHECK_IMAGES])
    record_finetune(export_dir, study, len(evaluator.inputs), before, after)
    return export_dir


__all__ = ["finetune_unconditional", "generator_config", "image_batches", "load_full_generator",
           "make_discriminator", "teacher_discriminator", "train_full_generator", "trained_sides"]


def check_mode(study: StudyConfig, space: SearchSpace, splits) -> None:
    """What makes a study's family, data and training mode fit together; raised at prepare time."""
    from ..data import is_unconditional
    from ..models import UNCONDITIONAL
    from .anycost import check_space
    from .perceptual import check_perceptual

    s, family = study.supernet, space.family
    if family not in UNCONDITIONAL:
        if s.mode == "anycost":
            raise GanasError(f"supernet.mode anycost trains families with resolution exits ({', '.join(sorted(UNCONDITIONAL))}); "
                             f"{family} has none: use supernet.mode distill")
        if is_unconditional(splits):
            raise GanasError(f"data.dataset {study.data.dataset} holds images alone (noise -> image) but {family} "
                             f"translates images: use an unconditional family ({', '.join(sorted(UNCONDITIONAL))})")
        return
    if not is_unconditional(splits):
        raise GanasError(f"supernet.family {family} generates images from noise: use an images-only dataset "
                         "(data.dataset: fashion_mnist_images)")
    if s.mode != "anycost":
        raise GanasError(f"supernet.family {family} is unconditional and has no teacher to distill features from: "
                         "set supernet.mode: anycost")
    side = int(family.rsplit("_", 1)[1])
    if splits.size != (side, side):
        raise GanasError(f"{family} makes {side}x{side} images but data.size is {splits.size[0]}: set data.size: "
                         f"{side} or use stylegan_{splits.size[0]}")
    if study.teacher.family not in (None, family) or study.teacher.checkpoint:
        raise GanasError(f"the teacher of {family} is its own full network: set teacher.family: {family} (or leave "
                         "it out) and remove teacher.checkpoint")
    check_space(space, s.channel_sampling)
    if s.lambda_consistency > 0:
        check_perceptual(s.perceptual)


def unconditional_teacher(study: StudyConfig, space: SearchSpace, splits) -> dict:
    """The teacher config of an unconditional study: its full network ({"family", **constructor kwargs})."""
    return {"family": space.family, **generator_config(space, splits)}
