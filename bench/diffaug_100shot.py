"""DiffAugment in the low-data regime: the full stylegan_32 network trained on 100 images of one Fashion-MNIST class,
with and without DiffAugment, same seed and steps; domain FID against 1000 held-out real images of the class.

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
from ganas.train.diffaug import make_augment
from ganas.train.loop import Rng
from ganas.train.unconditional import generator_config, image_batches, make_discriminator

ROOT = Path(__file__).resolve().parent.parent


def train_and_score(study: StudyConfig, splits, space, classifier, real_stats, steps: int, every: int) -> list:
    t = study.teacher
    rng = Rng(study.seed)
    G = create_teacher(space.family, **generator_config(space, splits))
    D = make_discriminator(study, space, splits, t.ndf, False)
    step = UnconditionalGanStep(G, D, adam(G.parameters(), t.lr), adam(D.parameters(), t.lr),
                                make_augment(study.diffaug, rng.torch), rng, gan_loss=t.gan_loss, sides=(32,))
    batches = image_batches(splits.train, t.batch_size, rng, "cpu")
    z, out, start = splits.search.inputs, [], time.time()
    for i in range(1, steps + 1):
        step(next(batches))
        if i % every == 0 or i == steps:
            with torch.no_grad():
                fid = score_samples(G.eval()(z).clamp(-1, 1), classifier, real_stats, study.data.classes)
            G.train()
            out.append((i, fid["domain_fid"], fid["accuracy"]))
            print(f"  {study.diffaug.policy or 'no augmentation':>24}  step {i:5d}  domain FID {fid['domain_fid']:7.2f}"
                  f"  class accuracy {fid['accuracy']:.2f}  ({time.time() - start:.0f}s)", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cls", type=int, default=7, help="Fashion-MNIST class (7 = sneaker)")
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--every", type=int, default=200)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--policy", default="color,translation,cutout")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default=str(ROOT / "runs" / "bench"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    data = DataConfig(dataset="fashion_mnist_images", classes=(args.cls,), n_images=args.images, search_holdout=1000)
    splits = load_data(data, args.seed)
    space = load_space(ROOT / "search_spaces" / "stylegan_32.yaml")
    classifier = load_or_train_classifier(Path(args.work) / "classifier.pt", DataConfig(), args.seed)
    real = feature_stats(classifier, splits.search.targets)
    print(f"{len(splits.train)} training images of class {args.cls}; FID against {len(splits.search)} held-out ones")
    results = {}
    for policy in ("", args.policy):
        study = StudyConfig(name="bench", seed=args.seed, data=data,
                            teacher=TeacherConfig(family=space.family, lr=args.lr, batch_size=args.batch, ndf=16,
                                                  gan_loss="vanilla"),
                            supernet=SupernetConfig(conditioned_d=False), diffaug=DiffAugConfig(policy=policy))
        results[policy] = train_and_score(study, splits, space, classifier, real, args.steps, args.every)
    print(f"\n{'step':>6} {'FID without':>12} {'FID with DiffAugment':>21}")
    for (i, a, _), (_, b, _) in zip(results[""], results[args.policy]):
        print(f"{i:>6} {a:>12.2f} {b:>21.2f}")


if __name__ == "__main__":
    main()
