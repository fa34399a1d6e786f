"""AnyCost's consistency loss: how close each subnet's output is to the full network's, for a supernet trained with
the loss (lambda 2 x (MSE + perceptual)) and one trained without it (lambda 0), same teacher, seed and steps.

    .venv/bin/python bench/anycost_consistency.py [--teacher-steps 500] [--steps 400]

Both supernets start from the same importance-sorted full network (the teacher stage) and are trained by the
pipeline's own anycost stage. For every uniform channel ratio and resolution exit, on 500 fixed latents: MSE and
the domain-classifier perceptual distance (LPIPS(VGG) too when its weights are in the torch hub cache) between the
subnet's output and the same supernet's full network output resized to that exit.
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

from ganas.config import DataConfig, StudyConfig, SupernetConfig, TeacherConfig
from ganas.data import load_data
from ganas.metrics import load_or_train_classifier
from ganas.space import load_space
from ganas.train.anycost import resize, train_anycost
from ganas.train.perceptual import DomainDistance, LpipsDistance, vgg16_weights_path
from ganas.train.unconditional import train_full_generator

ROOT = Path(__file__).resolve().parent.parent


@torch.no_grad()
def consistency(G, space, z, judges) -> dict:
    layers = [k for k in space.choices if k != "resolution"]
    sides = sorted(space.choices["resolution"], reverse=True)
    G.eval().set_arch({**space.largest()})
    full = G(z)
    out = {}
    for i in range(len(space.choices[layers[0]])):
        widths = {k: space.choices[k][i] for k in layers}
        ratio = widths[layers[-1]] / space.choices[layers[-1]][0]
        for side in sides:
            G.set_arch({**widths, "resolution": side})
            sub, ref = G(z), resize(full, side)
            row = {"mse": float(F.mse_loss(sub, ref))}
            row.update({name: float(d(sub, ref)) for name, d in judges.items()})
            out[(ratio, side)] = row
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classes", default="5,7,9")
    ap.add_argument("--teacher-steps", type=int, default=500)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (1 when another job shares the cores)")
    ap.add_argument("--work", default=str(ROOT / "runs" / "bench"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(args.work)
    data = DataConfig(dataset="fashion_mnist_images", classes=tuple(int(c) for c in args.classes.split(",")))
    splits = load_data(data, args.seed)
    space = load_space(ROOT / "search_spaces" / "stylegan_32.yaml")
    classifier = load_or_train_classifier(work / "classifier.pt", DataConfig(), args.seed)
    base = StudyConfig(name="bench", seed=args.seed, data=data,
                       teacher=TeacherConfig(family=space.family, steps=args.teacher_steps, batch_size=args.batch,
                                             lr=1e-3, ndf=16, gan_loss="vanilla"),
                       supernet=SupernetConfig(family=space.family, mode="anycost", steps=args.steps,
                                               batch_size=args.batch, lr=5e-4, ndf=16, gan_loss="vanilla",
                                               perceptual="domain"))
    teacher_dir = work / f"anycost_teacher_{args.teacher_steps}"
    teacher = train_full_generator(base, splits, space, teacher_dir)
    judges = {"domain": DomainDistance(classifier, 32)}
    if vgg16_weights_path().is_file():
        judges["lpips"] = LpipsDistance(32)
    z = splits.search.inputs[:500]
    results = {}
    for lam in (2.0, 0.0):
        run = work / f"anycost_{args.teacher_steps}_{args.steps}_lambda{lam:g}"
        run.mkdir(parents=True, exist_ok=True)
        for f in ("teacher.pt", "classifier.pt"):
            if not (run / f).exists():
                (run / f).write_bytes(((teacher_dir if f == "teacher.pt" else work) / f).read_bytes())
        study = replace(base, supernet=replace(base.supernet, lambda_consistency=lam))
        G = train_anycost(study, splits, teacher, space, run)
        results[lam] = consistency(G, space, z, judges)
    names = ["mse"] + list(judges)
    print(f"\nsubnet vs the same supernet's full network (lower is closer), {len(z)} latents")
    print(f"{'ratio':>6} {'exit':>5} " + " ".join(f"{n + ' (with)':>14} {n + ' (without)':>16}" for n in names))
    for key in results[2.0]:
        ratio, side = key
        print(f"{ratio:>6.2f} {side:>5} " + " ".join(
            f"{results[2.0][key][n]:>14.4f} {results[0.0][key][n]:>16.4f}" for n in names))
    for n in names:
        a = sum(r[n] for r in results[2.0].values()) / len(results[2.0])
        b = sum(r[n] for r in results[0.0].values()) / len(results[0.0])
        print(f"mean {n}: with the consistency loss {a:.4f}, without {b:.4f} ({b / max(a, 1e-12):.1f}x)")


if __name__ == "__main__":
    main()
