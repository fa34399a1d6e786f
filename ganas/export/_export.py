from __future__ import annotations

import math
from pathlib import Path

import torch

from ..arch import Arch
from ..errors import GanasError
from .formats import print_checks, read_export, write_export

CHECK_IMAGES = 16   # held-out search inputs every exported format must reproduce


def _evaluated(t) -> bool:
    """Over-budget trials are stored COMPLETE with an infinite quality: they were never evaluated."""
    return bool(t.values) and all(math.isfinite(v) for v in t.values)


def _finished(study) -> dict:
    return {t.number: t for t in study.trials if t.state.name == "COMPLETE" and "arch" in t.user_attrs}


def select_trials(ctx, study, trial: int | None = None, max_macs=None, pareto: bool = False) -> list:
    """The trials to export: ``trial`` (a number), the best quality with MACs <= ``max_macs`` (a number,
    '2.5G' or '12.5%' of the teacher), every Pareto subnet (``pareto``), or by default the best quality
    within the search budgets."""
    from ..config import parse_budget
    from ..search import best_trial, pareto_trials

    if sum(x is not None and x is not False for x in (trial, max_macs, pareto)) > 1:
        raise GanasError("choose one of --trial, --max-macs and --pareto")
    if pareto:
        front = pareto_trials(study)
        if not front:
            raise GanasError("the search has no feasible finished trial yet, so no Pareto front: run more trials")
        return front
    if trial is not None:
        done = _finished(study)
        if trial not in done:
            shown = sorted(done)
            raise GanasError(f"trial {trial} is not a finished trial of {study.study_name}: choose one of "
                             f"{shown[:20]}{' ...' if len(shown) > 20 else ''}")
        return [done[trial]]
    if max_macs is not None:
        limit = parse_budget(max_macs, ctx.teacher_cost["macs"], "--max-macs")
        best = best_trial(study, {"macs": limit})
        if best is None:
            costs = [t.user_attrs["macs"] for t in _finished(study).values() if _evaluated(t)]
            smallest = f"; the smallest evaluated subnet has {min(costs) / 1e6:.2f}M" if costs else ""
            raise GanasError(f"no evaluated subnet within the search budgets has MACs <= {limit / 1e6:.2f}M"
                             f"{smallest}: raise --max-macs or run more trials")
        return [best]
    best = best_trial(study, ctx.budgets)
    if best is None:
        raise GanasError("no finished trial meets the budgets: run more trials or relax search.budgets")
    return [best]


def export_folder(ctx, number: int) -> Path:
    return ctx.run_dir / "export" / f"trial_{number}"


def export_trials(ctx, trials: list) -> list[Path]:
    """Export each trial's subnet into ``run/export/trial_N/`` (all formats, each checked against the
    supernet running that config); a folder already complete is kept and its checks printed again."""
    from ..train.supernet import load_supernet

    supernet = None
    out = []
    for t in trials:
        folder = export_folder(ctx, t.number)
        done = _complete(folder)
        if done is not None:
            print(f"trial {t.number} ({done['arch']}) already exported: {done['macs'] / 1e6:.2f}M MACs")
            print_checks(done)
            print(f"  -> {folder}")
            out.append(folder)
            continue
        if supernet is None:
            supernet, ckpt = load_supernet(ctx.run_dir / "supernet.pt")
            family = ckpt["family"]
            supernet = supernet.cpu().eval()
        out.append(_export_one(ctx, supernet, family, t, folder))
    return out


def _complete(folder: Path) -> dict | None:
    """The config of a finished export in the current layout (older exports lack the format checks)."""
    if not (folder / "config.json").is_file():
        return None
    cfg = read_export(folder)
    return cfg if "formats" in cfg else None


@torch.no_grad()
def _export_one(ctx, supernet, family: str, trial, folder: Path) -> Path:
    arch = Arch(trial.user_attrs["arch"])
    supernet.set_arch(arch)
    sub = supernet.extract(arch).eval()
    inputs = ctx.splits.search.inputs[:CHECK_IMAGES]
    reference = supernet(inputs)
    cost = ctx.cost(arch)
    feasible = all(v <= 0 for v in trial.constraints.values()) and _evaluated(trial)
    teacher = ctx.teacher_cost["macs"]
    print(f"exported trial {trial.number} ({arch}): {cost['macs'] / 1e6:.2f}M MACs "
          f"({teacher / cost['macs']:.1f}x fewer than the teacher)"
          + ("" if feasible else "; over the search budget, so never evaluated"))
    meta = {"trial": trial.number, "arch": str(arch), "widths": arch.to_dict(), "teacher_macs": teacher, **cost,
            "feasible": feasible,
            "search_metrics": {k: v for k, v in trial.user_attrs.items()
                               if isinstance(v, (int, float)) and not isinstance(v, bool)}}
    write_export(folder, sub, family, inputs, reference, meta, against="the supernet running this config")
    print(f"  -> {folder}")
    return folder


def export_subnet(ctx, trial: int | None = None, max_macs=None) -> Path:
    """Export one subnet (``trial``, else the best within ``max_macs``, else the best within the budgets)
    into ``run/export/trial_N/``; return that folder."""
    from ..pipeline import open_study

    return export_trials(ctx, select_trials(ctx, open_study(ctx), trial, max_macs))[0]


def export_pareto(ctx) -> list[Path]:
    """Export every Pareto subnet of the search; return their folders, best quality first."""
    from ..pipeline import open_study

    return export_trials(ctx, select_trials(ctx, open_study(ctx), pareto=True))
