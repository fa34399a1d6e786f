from __future__ import annotations

import json
from pathlib import Path

import torch

from ..arch import Arch
from ..errors import GanasError
from ..io import load_checkpoint, save_checkpoint, write_json
from ..models import create_subnet


def _choose_trial(ctx, study, number: int | None):
    from ..search import best_trial

    if number is None:
        trial = best_trial(study, ctx.budgets)
        if trial is None:
            raise GanasError("no finished trial meets the budgets: run more trials or relax search.budgets")
        return trial
    done = {t.number: t for t in study.trials if t.state.name == "COMPLETE"}
    if number not in done:
        raise GanasError(f"trial {number} is not a finished trial of {study.study_name}: choose one of "
                         f"{sorted(done)[:20]}{' ...' if len(done) > 20 else ''}")
    return done[number]


def export_subnet(ctx, trial: int | None = None) -> Path:
    """Write ``run/export/trial_N/`` (model.pt state_dict + config.json); return that folder.

    The subnet is checked against the supernet running the same config before anything is written.
    """
    from ..pipeline import open_study
    from ..train.supernet import load_supernet

    chosen = _choose_trial(ctx, open_study(ctx), trial)
    arch = Arch(chosen.user_attrs["arch"])
    out = ctx.run_dir / "export" / f"trial_{chosen.number}"
    if (out / "config.json").exists():
        return out
    supernet, ckpt = load_supernet(ctx.run_dir / "supernet.pt")
    supernet.eval().set_arch(arch)
    sub = supernet.extract(arch).eval()
    x = ctx.splits.search.inputs[:16]
    with torch.no_grad():
        diff = (sub(x) - supernet(x)).abs().max().item()
    if diff > 1e-5:
        raise RuntimeError(f"extracted subnet differs from the supernet slice by {diff:.3g}")
    cost = ctx.cost(arch)
    config = {"family": ckpt["family"], "config": sub.config, "trial": chosen.number, "arch": str(arch),
              "teacher_macs": ctx.teacher_cost["macs"], **cost,
              "search_metrics": {k: v for k, v in chosen.user_attrs.items() if isinstance(v, (int, float))},
              "max_abs_diff_vs_supernet": diff}
    save_checkpoint({k: v.clone() for k, v in sub.state_dict().items()}, out / "model.pt")
    write_json(out / "config.json", config)  # last: its presence marks the export complete
    print(f"exported trial {chosen.number} ({arch}): {cost['macs'] / 1e6:.2f}M MACs "
          f"({ctx.teacher_cost['macs'] / cost['macs']:.1f}x fewer than the teacher), equal to the supernet slice "
          f"(max |diff| {diff:.1e}) -> {out}")
    return out


def load_exported(folder: str | Path, weights: str = "model.pt") -> torch.nn.Module:
    """Rebuild an exported subnet from its folder: only the static network class is needed."""
    folder = Path(folder)
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise GanasError(f"{folder} is not an exported subnet (no config.json): run `ganas export` first")
    cfg = json.loads(cfg_path.read_text())
    net = create_subnet(cfg["family"], **cfg["config"])
    state = load_checkpoint(folder / weights, "exported subnet")
    try:
        net.load_state_dict(state)
    except RuntimeError:
        raise GanasError(f"{folder / weights} does not match {cfg_path}: re-export the subnet") from None
    return net.eval()
