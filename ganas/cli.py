"""`ganas`: one subcommand per stage, and `run` for all of them. Bad input exits 2 with one line."""
from __future__ import annotations

import argparse
import os
import sys

from .errors import GanasError

STAGES = ("run", "teacher", "supernet", "search", "report", "export", "finetune")


class _Parser(argparse.ArgumentParser):
    """argparse's errors as one line (its default prints the whole usage first), exit status 2."""

    def error(self, message: str):
        print(f"{self.prog}: error: {message}; see `{self.prog} --help`", file=sys.stderr)
        sys.exit(2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ganas", description="Compress GAN generators by once-for-all "
                "distillation and Optuna/Ray architecture search.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    helps = {"run": "run every stage of a study (each skips when its output is complete)",
             "teacher": "train (or import) the teacher", "supernet": "train the once-for-all supernet",
             "search": "search subnets under the budgets (resumes a stopped search)",
             "report": "write the Pareto-front report (works while a search runs)",
             "export": "export the chosen subnet as a standalone network",
             "finetune": "fine-tune the exported subnet with the distillation losses"}
    for name in STAGES:
        sp = sub.add_parser(name, help=helps[name])
        sp.add_argument("study", help="study YAML (studies/*.yaml) or a run folder holding study.json")
        sp.add_argument("--quiet", action="store_true", help="no progress bars")
        if name in ("search", "run"):
            sp.add_argument("--workers", type=int, help="Ray workers (0 = evaluate in this process)")
            sp.add_argument("--n-trials", type=int, help="finished trials to reach")
            sp.add_argument("--ray-address", help="join this Ray cluster (default: $RAY_ADDRESS or a local one)")
        if name == "search":
            sp.add_argument("--resume", action="store_true",
                            help="continue the study in the run folder (the default whenever one exists)")
        if name in ("export", "finetune"):
            pick = sp.add_mutually_exclusive_group()
            pick.add_argument("--trial", type=int, help="trial number (default: best quality within the budgets)")
            pick.add_argument("--max-macs", metavar="X",
                              help="the best quality with at most X MACs: a number, '2.5G', '300M' or '12.5%%' of "
                                   "the teacher")
            if name == "export":
                pick.add_argument("--pareto", action="store_true", help="every subnet on the Pareto front")
    return p


def _overrides(args) -> dict:
    search = {}
    for key in ("workers", "n_trials", "ray_address"):
        v = getattr(args, key, None)
        if v is not None:
            search[key] = v
    if getattr(args, "ray_address", None) is None and os.environ.get("RAY_ADDRESS") and "workers" in vars(args):
        search["ray_address"] = os.environ["RAY_ADDRESS"]
    return {"search": search} if search else {}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except GanasError as e:
        print(f"ganas: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ganas: interrupted; run the same command again to continue where it stopped", file=sys.stderr)
        return 130


def _dispatch(args) -> int:
    from . import pipeline
    from .config import load_study

    study = load_study(args.study, _overrides(args))
    code = _run_command(args, study, pipeline)
    pipeline.record_study(study)  # only after success: a failed command leaves the run's record as it was
    return code


def _run_command(args, study, pipeline) -> int:
    show = not args.quiet
    if args.command == "run":
        out = pipeline.run_all(study, show)
        print(f"report:   {out['report']}\nexported: {out['export']}")
        return 0
    ctx = pipeline.prepare(study)
    if args.command == "teacher":
        pipeline.stage_teacher(ctx, show)
        print(f"teacher: {ctx.run_dir / 'teacher.pt'}")
    elif args.command == "supernet":
        pipeline.stage_supernet(ctx, show)
        print(f"supernet: {ctx.run_dir / 'supernet.pt'}")
    elif args.command == "search":
        st = pipeline.stage_search(ctx, show)
        print(f"search: {len(st.trials)} trials in {ctx.run_dir}")
    elif args.command == "report":
        print(f"report: {pipeline.stage_report(ctx, show)}")
    elif args.command == "export":
        if args.pareto:
            folders = pipeline.stage_export_pareto(ctx, show)
            print(f"exported {len(folders)} Pareto subnets: {', '.join(str(f) for f in folders)}")
        else:
            print(f"exported: {pipeline.stage_export(ctx, show, args.trial, args.max_macs)}")
    elif args.command == "finetune":
        print(f"fine-tuned: {pipeline.stage_finetune(ctx, show, args.trial, args.max_macs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
