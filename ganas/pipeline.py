"""The study-level glue: each stage's entry function called with what the study says, in order.

Every stage finds its own finished output in the run folder and skips, so `ganas run` after a kill continues
where it stopped.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from .config import StudyConfig, parse_budget
from .errors import GanasError
from .io import write_json
from .models import UNCONDITIONAL, subnet_cost, teacher_cost
from .models.families import supernet_kwargs, teacher_cost_kwargs
from .space import SearchSpace, load_space


@dataclass
class Context:
    """What several stages need, computed once per command."""
    study: StudyConfig
    space: SearchSpace
    splits: object
    teacher_cost: dict
    budgets: dict
    teacher_config: dict | None = None  # {"family", **constructor kwargs}: ganas.models.families.resolve_teacher

    @property
    def run_dir(self) -> Path:
        return self.study.run_path

    def cost(self, arch) -> dict:
        h, w = self.splits.size
        return subnet_cost(self.space.family, widths=arch, **supernet_kwargs(self.space.family, self.teacher_config),
                           height=h, width=w, input_nc=self.splits.input_nc, output_nc=self.splits.output_nc)


def prepare(study: StudyConfig) -> Context:
    """Validate everything cheap before any stage runs, and record the resolved study in the run folder."""
    from .data import load_data

    space = load_space(study.resolve(study.supernet.search_space))
    if space.family != study.supernet.family:
        raise GanasError(f"search space is for {space.family} but supernet.family is {study.supernet.family}: "
                         "make them agree")
    check_objectives(study)
    from .search.objectives import check_study
    check_study(study)  # weights the metrics need, measured budgets: before anything trains
    splits = load_data(study.data, study.seed)
    h, w = splits.size
    from .train.unconditional import check_mode, unconditional_teacher
    check_mode(study, space, splits)
    from .train.teacher import study_teacher
    tconf = (unconditional_teacher(study, space, splits) if space.family in UNCONDITIONAL else  # its full network
             study_teacher(study, splits, study.run_path))
    supernet_kwargs(space.family, tconf)  # a teacher the supernet cannot be distilled from stops here
    tcost = teacher_cost(tconf["family"], **teacher_cost_kwargs(tconf), height=h, width=w)
    budgets = {k: parse_budget(v, tcost.get(k, 0.0)) for k, v in study.search.budgets.items()}  # latency: in ms
    ctx = Context(study, space, splits, tcost, budgets, tconf)
    smallest = ctx.cost(space.smallest())
    for k, limit in budgets.items():
        if k in smallest and smallest[k] > limit:
            raise GanasError(f"budget {k} <= {limit:.4g} is impossible: the smallest subnet of the search space has "
                             f"{smallest[k]:.4g} ({smallest[k] / tcost[k]:.1%} of the teacher); raise the budget "
                             "or add smaller widths to the search space")
    study.run_path.mkdir(parents=True, exist_ok=True)
    if not (study.run_path / "study.json").exists():  # a command that fails later must not change a run's record:
        record_study(study)                           # the CLI records it again once a command has succeeded
    return ctx


def record_study(study: StudyConfig) -> None:
    """The resolved study in its run folder, so `ganas <stage> RUN_FOLDER` finds every setting."""
    write_json(study.run_path / "study.json", study.to_dict())


def check_objectives(study: StudyConfig) -> None:
    """The domain classifier's metrics exist only for Fashion-MNIST images."""
    from .data import FASHION_MNIST, check_dataset

    check_dataset(study.data.dataset)  # before the objectives, which would blame the wrong field
    domain = [o for o in study.search.objectives if o in ("domain_fid", "accuracy_error")]
    if domain and study.data.dataset not in FASHION_MNIST:
        raise GanasError(f"objective {domain[0]} needs the Fashion-MNIST domain classifier, which cannot judge "
                         f"{study.data.dataset} images: use l1 or fid in search.objectives")


def stage_classifier(ctx: Context, show_progress=True):
    from .data import FASHION_MNIST
    from .metrics import load_or_train_classifier

    if ctx.study.data.dataset not in FASHION_MNIST:
        return None  # its metrics apply to Fashion-MNIST images only (check_objectives)
    return load_or_train_classifier(ctx.run_dir / "classifier.pt", ctx.study.data, ctx.study.seed,
                                    show_progress=show_progress)


def stage_teacher(ctx: Context, show_progress=True):
    from .train.teacher import train_teacher
    if ctx.space.family in UNCONDITIONAL:
        from .train.unconditional import train_full_generator
        return train_full_generator(ctx.study, ctx.splits, ctx.space, ctx.run_dir, show_progress)
    return train_teacher(ctx.study, ctx.splits, ctx.run_dir, show_progress)


def stage_supernet(ctx: Context, show_progress=True):
    from .train.supernet import train_supernet
    teacher = stage_teacher(ctx, show_progress)
    return train_supernet(ctx.study, ctx.splits, teacher, ctx.space, ctx.run_dir, show_progress)


def stage_search(ctx: Context, show_progress=True, **overrides):
    from .evaluate import SubnetEvaluator
    from .search import run_search

    stage_classifier(ctx, show_progress)
    stage_supernet(ctx, show_progress)
    s = ctx.study.search
    opts = dict(sampler=s.sampler, n_trials=s.n_trials, storage=s.storage, seed=ctx.study.seed, workers=s.workers,
                cpus_per_worker=s.cpus_per_worker, gpus_per_worker=s.gpus_per_worker, ray_address=s.ray_address)
    opts.update({k: v for k, v in overrides.items() if v is not None})
    return run_search(ctx.space, ctx.cost, functools.partial(SubnetEvaluator, ctx.study),
                      objectives=tuple(s.objectives), budgets=ctx.budgets, run_dir=ctx.run_dir,
                      study_name=ctx.study.name, show_progress=show_progress, **opts)


def stage_report(ctx: Context, show_progress=True):
    from .report import write_report
    return write_report(ctx, show_progress)


def stage_export(ctx: Context, show_progress=True, trial: int | None = None, max_macs=None):
    """Export one subnet: ``trial``, else the best within ``max_macs``, else the study's export.trial, else
    the best within the budgets."""
    from .export import export_subnet
    if trial is None and max_macs is None:
        trial = ctx.study.export.trial
    return export_subnet(ctx, trial, max_macs)


def stage_export_pareto(ctx: Context, show_progress=True):
    from .export import export_pareto
    return export_pareto(ctx)


def stage_finetune(ctx: Context, show_progress=True, trial: int | None = None, max_macs=None):
    from .train.finetune import finetune
    export_dir = stage_export(ctx, show_progress, trial, max_macs)
    if ctx.space.family in UNCONDITIONAL:
        from .train.unconditional import finetune_unconditional
        return finetune_unconditional(ctx, export_dir, show_progress)
    return finetune(ctx, export_dir, show_progress)


def run_all(study: StudyConfig, show_progress: bool = True) -> dict:
    ctx = prepare(study)
    stage_search(ctx, show_progress)
    report = stage_report(ctx, show_progress)
    export_dir = stage_finetune(ctx, show_progress)
    return {"report": report, "export": export_dir}


def open_study(ctx: Context):
    """The search's Optuna study, read from its storage; a clear error when the search has not run."""
    import optuna

    from .search import open_storage

    url = ctx.study.search.storage
    if url is None and not (ctx.run_dir / "study.journal").exists():
        raise GanasError(f"no search results in {ctx.run_dir}: run `ganas search` (or `ganas run`) first")
    storage, where = open_storage(url, ctx.run_dir)
    try:
        return optuna.load_study(study_name=ctx.study.name, storage=storage)
    except KeyError:
        raise GanasError(f"{where} holds no study named {ctx.study.name!r}: run `ganas search` first") from None
