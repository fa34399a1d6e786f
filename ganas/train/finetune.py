"""Stage `finetune`: train an exported subnet further with the supernet's distillation losses."""
from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

from ..io import device as default_device, load_checkpoint, save_checkpoint, write_json
from ..models import NLayerDiscriminator
from .common import adam, infinite_batches
from .distill import DistillStep, make_adapters
from .loop import Rng, train


def finetune(ctx, export_dir: Path, show_progress: bool = True) -> Path:
    """Write ``finetuned.pt`` and ``finetune.json`` (test metrics before and after) into ``export_dir``."""
    from ..evaluate import SubnetEvaluator
    from ..export import load_exported
    from ..data.unpaired import is_paired
    from .supernet import discriminator_channels
    from .teacher import load_teacher

    study, run_dir = ctx.study, ctx.run_dir
    if (export_dir / "finetune.json").exists():
        return export_dir
    f, s, dev = study.finetune, study.supernet, default_device()
    rng = Rng(study.seed + 2)
    student = load_exported(export_dir).to(dev)
    teacher = load_teacher(run_dir / "teacher.pt")[0].to(dev)
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
    step_once = DistillStep(student, teacher, D, adapters, opt_g, opt_d, replace(s, lr=f.lr),
                            paired=is_paired(ctx.splits))

    evaluator = SubnetEvaluator(study, split="test")
    before = evaluator.evaluate_net(student)
    train("finetune", export_dir, {"G": student, "D": D, "adapters": adapters}, {"G": opt_g, "D": opt_d},
          lambda _: step_once(*next(batches)), f.steps, rng, show_progress=show_progress)
    after = evaluator.evaluate_net(student)
    save_checkpoint({k: v.detach().cpu() for k, v in student.state_dict().items()}, export_dir / "finetuned.pt")
    write_json(export_dir / "finetune.json", {"steps": f.steps, "split": "test", "before": before, "after": after})
    q = study.search.objectives[0]
    print(f"fine-tuned {f.steps} steps: test {q} {before.get(q, float('nan')):.4g} -> {after.get(q, float('nan')):.4g}")
    return export_dir
