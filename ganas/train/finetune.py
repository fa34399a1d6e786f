"""Stage `finetune`: train an exported subnet further with the supernet's distillation losses.

Resumable (the training loop's state lives in the export folder); the result is a complete export of its
own in ``<export>/finetuned/`` (every format, checked against the fine-tuned network), and ``finetune.json``
holds the test-set metrics before and after.
"""
from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace
from pathlib import Path

import torch

from ..io import device as default_device, load_checkpoint, write_json
from ..models import NLayerDiscriminator
from .common import adam, infinite_batches
from .diffaug import make_augment
from .distill import DistillStep, make_adapters
from .loop import Rng, train

CHECK_IMAGES = 16


def finetune(ctx, export_dir: Path, show_progress: bool = True) -> Path:
    """Write ``finetuned/`` (an export of the fine-tuned subnet) and ``finetune.json`` (test metrics before
    and after) into ``export_dir``; return ``export_dir``."""
    from ..evaluate import SubnetEvaluator
    from ..export import load_exported
    from ..data.unpaired import is_paired
    from .supernet import discriminator_channels
    from .teacher import load_teacher, teacher_config

    study, run_dir = ctx.study, ctx.run_dir
    if (export_dir / "finetune.json").exists():
        print_finetune(export_dir)
        return export_dir
    f, s, dev = study.finetune, study.supernet, default_device()
    rng = Rng(study.seed + 2)
    student = load_exported(export_dir).to(dev)
    teacher = load_teacher(run_dir / "teacher.pt", teacher_config(study, ctx.splits, run_dir)[1])[0].to(dev)
    for p in teacher.parameters():
        p.requires_grad_(False)
    sup = load_checkpoint(run_dir / "supernet.pt", "supernet")
    # The supernet's adapters read their input width from the tensor, so they serve the subnet as they are.
    adapters = make_adapters([w.shape[1] for k, w in sup["adapters"].items() if k.endswith("weight")],
                             teacher.feature_widths)
    adapters.load_state_dict(sup["adapters"])
    D = NLayerDiscriminator(discriminator_channels(ctx.splits), s.ndf)
    D.load_state_dict(sup["discriminator"])
    adapters, D = adapters.to(dev), D.to(dev)
    opt_g = adam(itertools.chain(student.parameters(), adapters.parameters()), f.lr)
    opt_d = adam(D.parameters(), f.lr)
    batches = infinite_batches(ctx.splits.train, f.batch_size, rng, dev)
    augment = make_augment(study.diffaug, rng.torch).to(dev)
    step_once = DistillStep(student, teacher, D, adapters, opt_g, opt_d, replace(s, lr=f.lr),
                            paired=is_paired(ctx.splits), augment=augment)

    evaluator = SubnetEvaluator(study, split="test")
    before = evaluator.evaluate_net(student)
    train("finetune", export_dir, {"G": student, "D": D, "adapters": adapters, "augment": augment},
          {"G": opt_g, "D": opt_d},
          lambda _: step_once(*next(batches)), f.steps, rng, show_progress=show_progress)
    after = evaluator.evaluate_net(student)
    write_finetuned(export_dir, student.cpu().eval(), ctx.splits.search.inputs[:CHECK_IMAGES])
    record_finetune(export_dir, study, len(evaluator.inputs), before, after)
    return export_dir


def record_finetune(export_dir: Path, study, images: int, before: dict, after: dict) -> None:
    """``finetune.json`` beside the export, then its summary."""
    write_json(export_dir / "finetune.json", {"steps": study.finetune.steps, "split": "test", "images": images,
                                              "quality": study.search.objectives[0], "before": before,
                                              "after": after, "export": "finetuned"})
    print_finetune(export_dir)


@torch.no_grad()
def write_finetuned(export_dir: Path, net, inputs) -> Path:
    """Export the fine-tuned network beside the original, in every format, each checked against it."""
    from ..export import read_export, write_export

    meta = {k: v for k, v in read_export(export_dir).items()
            if k not in ("formats", "config", "checked_against", "checked_on", "tolerance", "input_shape")}
    meta["finetuned_from"] = str(export_dir)
    print(f"exporting the fine-tuned trial {meta.get('trial')}:")
    return write_export(export_dir / "finetuned", net, meta["family"], inputs, net(inputs), meta,
                        against="the fine-tuned network")


def print_finetune(export_dir: Path) -> None:
    """Before and after, one metric per line, with which way each one is better."""
    from ..metrics.score import DIRECTIONS

    info = json.loads((export_dir / "finetune.json").read_text())
    before, after = info["before"], info["after"]
    print(f"fine-tuned {export_dir.name} for {info['steps']} steps; {info['split']}-set metrics "
          f"({info.get('images', '?')} images), before -> after:")
    for k in before:
        b, a = before[k], after.get(k, math.nan)
        way = DIRECTIONS.get(k)
        verdict = ("" if way is None or math.isnan(a - b) else "unchanged" if a == b
                   else "better" if (a < b) == (way == "min") else "worse")
        way = {"min": "lower is better", "max": "higher is better"}.get(way, "")
        print(f"  {k:<16} {b:>10.4g} -> {a:<10.4g} {verdict:<9} {way}")
    print(f"  fine-tuned export: {export_dir / 'finetuned'} (load_exported, model.torchscript.pt, model.onnx)")
    q = info.get("quality")
    way = DIRECTIONS.get(q)
    if way and q in before and q in after and (after[q] > before[q] if way == "min" else after[q] < before[q]):
        print(f"  fine-tuning made {q} worse: ship {export_dir} (the subnet before fine-tuning) instead, or fine-tune "
              "with a lower finetune.lr or fewer finetune.steps")
