"""DiffAugment in the low-data regime: the full stylegan_32 network trained on 100 images of one Fashion-MNIST class,
with and without DiffAugment, same seed and steps; domain FID against 1000 held-out real images of the class.

Beside the FID (noisy from one evaluation to the next in a GAN this small: the summary averages the last
evaluations), the paper's mechanism: without augmentation the discriminator memorises its 100 training images, so
it calls them real while calling held-out real images of the same class fake; D's accuracy on the training reals
and on held-out reals (the share scored real, un-augmented) shows that gap.

    .venv/bin/python bench/diffaug_100shot.py [--cls 7] [--images 100] [--steps 800] [--policy color,translation,cutout]

Runs the pipeline's own pieces (data split, teacher-stage GAN step, domain classifier, metric); the classifier is
cached in --work (trained once on all of Fashion-MNIST, ~1 minute).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from ganas.config import DataConfig, DiffAugConfig, StudyConfig, SupernetConfig, TeacherConfig
from ganas.data import load_data
from ganas.metrics import feature_stats, load_or_train_classifier
from ganas.metrics.unconditional import score_samples
from ganas.models import create_teacher
from ganas.space import load_space
from ganas.train.anycost import UnconditionalGanStep
from ganas.train.common import adam
from ganas.train.diffaug import make_augment, score_centre
from ganas.train.loop import Rng
from ganas.train.unconditional import generator_config, image_batches, make_discriminator

ROOT = Path(__file__).resolve().parent.parent


def train_and_score(study: StudyConfig, splits, space, classifier, real_stats, steps: int, every: int) -> list:
    t = study.teacher
    rng = Rng(study.seed)
    G = create_teacher(space.family, **generator_config(space, splits))
    D = make_discriminator(study, space, splits, t.ndf, False)
    step = UnconditionalGanStep(G, D, adam(G.parameters(), t.lr), adam(D.parameters(), t.lr),
                                make_augment(study.diffaug, rng.torch), rng, gan_loss=t.gan_loss, sides=(32,),
                                r1_gamma=t.r1_gamma)
    batches = image_batches(splits.train, t.batch_size, rng, "cpu")
    z, out, start = splits.search.inputs, [], time.time()
    centre = score_centre(t.gan_loss)

    def judged_real(images):  # the share of real images D scores as real
        return float((D(images, None).flatten(1).mean(1) > centre).float().mean())

    for i in range(1, steps + 1):
        step(next(batches), i - 1)
        if i % every == 0 or i == steps:
            with torch.no_grad():
                fid = score_samples(G.eval()(z).clamp(-1, 1), classifier, real_stats, study.data.classes)
                d_train, d_held = judged_real(splits.train.targets), judged_real(splits.search.targets)
            G.train()
            out.append((i, fid["domain_fid"], d_train, d_held))
            print(f"  {study.diffaug.policy or 'no augmentation':>24}  step {i:5d}  domain FID {fid['domain_fid']:7.2f}"
                  f"  class accuracy {fid['accuracy']:.2f}  D: real on train {d_train:.2f}, on held-out {d_held:.2f}"
                  f"  ({time.time() - start:.0f}s)", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cls", type=int, default=7, help="Fashion-MNIST class (7 = sneaker)")
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--every", type=int, default=200)
    ap.add_argument("--last", type=int, default=4, help="evaluations averaged in the summary")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--ndf", type=int, default=16, help="discriminator width (wider memorises 100 images sooner)")
    ap.add_argument("--policy", default="color,translation,cutout")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (1 when another job shares the cores)")
    ap.add_argument("--work", default=str(ROOT / "runs" / "bench"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = DataConfig(dataset="fashion_mnist_images", classes=(args.cls,), n_images=args.images, search_holdout=1000)
    splits = load_data(data, args.seed)
    space = load_space(ROOT / "search_spaces" / "stylegan_32.yaml")
    classifier = load_or_train_classifier(Path(args.work) / "classifier.pt", DataConfig(), args.seed)
    real = feature_stats(classifier, splits.search.targets)
    print(f"{len(splits.train)} training images of class {args.cls}; FID against {len(splits.search)} held-out ones")
    results = {}
    for policy in ("", args.policy):
        study = StudyConfig(name="bench", seed=args.seed, data=data,
                            teacher=TeacherConfig(family=space.family, lr=args.lr, batch_size=args.batch, ndf=args.ndf,
                                                  gan_loss="vanilla"),
                            supernet=SupernetConfig(conditioned_d=False), diffaug=DiffAugConfig(policy=policy))
        results[policy] = train_and_score(study, splits, space, classifier, real, args.steps, args.every)
    print(f"\n{'':>6} {'without DiffAugment':>32}   {'with ' + args.policy:>32}")
    print(f"{'step':>6} " + f"{'FID':>8} {'D train':>11} {'D held-out':>11}" * 2)
    for a, b in zip(results[""], results[args.policy]):
        print(f"{a[0]:>6} " + " ".join(f"{r[1]:>8.2f} {r[2]:>11.2f} {r[3]:>11.2f}" for r in (a, b)))
    for policy, rows in results.items():
        last = rows[-args.last:]
        fid = sum(r[1] for r in last) / len(last)
        gap = sum(r[2] - r[3] for r in last) / len(last)
        print(f"{policy or 'no augmentation':>24}: mean domain FID of the last {len(last)} evaluations {fid:.2f}; "
              f"D's train - held-out accuracy gap {gap:+.2f}")


if __name__ == "__main__":
    main()
