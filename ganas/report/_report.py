from __future__ import annotations

import base64
import contextlib
import html
import json
import math
import tempfile
from pathlib import Path

import pandas as pd
import torch

from ..arch import Arch
from ..io import write_bytes, write_json
from . import plots
from .timing import LatencyCache, describe

# User attrs the search writes that are not evaluator metrics (ganas.search.driver.RESERVED).
NOT_METRICS = {"arch", "macs", "macs_true", "params", "error", "duplicate_of", "interrupted"}
COSTS = ("macs", "macs_true", "params")
MAX_GRID = 12        # Pareto subnets shown in the image grid (evenly spaced along the front beyond that)
SAMPLES = 6


# -- reading the search -------------------------------------------------------------------------------
@contextlib.contextmanager
def read_study(ctx):
    """The search's Optuna study, read from a private copy of its journal file, so that a running search
    is neither blocked nor disturbed (an RDB URL is read directly: databases serve concurrent readers)."""
    import optuna

    from ..errors import GanasError
    from ..search.storage import journal_storage, open_storage

    url = ctx.study.search.storage
    if url is not None and "://" in str(url):
        try:
            yield optuna.load_study(study_name=ctx.study.name, storage=open_storage(url, ctx.run_dir)[0])
        except KeyError:
            raise GanasError(f"storage {url} holds no study named {ctx.study.name!r}: run `ganas search` first") from None
        return
    path = ctx.run_dir / (url or "study.journal")
    if not path.is_file():
        raise GanasError(f"no search results in {path}: run `ganas search` (or `ganas run`) first")
    with tempfile.TemporaryDirectory(prefix="ganas-report-") as tmp:
        data = path.read_bytes()
        copy = Path(tmp) / "study.journal"
        copy.write_bytes(data[: data.rfind(b"\n") + 1])  # a line the search is writing right now waits for next time
        try:
            yield optuna.load_study(study_name=ctx.study.name, storage=journal_storage(copy))
        except KeyError:
            raise GanasError(f"{path} holds no study named {ctx.study.name!r}: run `ganas search` first") from None


def _status(t) -> str:
    a = t.user_attrs
    if t.state.name in ("RUNNING", "WAITING"):
        return "running" if t.state.name == "RUNNING" else "queued"
    if t.state.name != "COMPLETE":
        return "interrupted" if a.get("interrupted") else "failed"
    if any(v > 0 for v in t.constraints.values()):
        return "over budget"
    if "duplicate_of" in a:
        return "repeat"
    return "evaluated"


def trials_frame(study, objectives=None) -> pd.DataFrame:
    """One row per trial: number, state, status (evaluated / over budget / repeat / failed / running), config,
    costs, every metric, per-layer widths (``w_<layer>``), constraint values, timing."""
    from ..search import is_feasible

    rows = []
    for t in study.trials:
        a = t.user_attrs
        row = {"trial": t.number, "state": t.state.name, "status": _status(t),
               "arch": str(Arch(a["arch"])) if "arch" in a else "",
               "feasible": is_feasible(t),
               **{k: a[k] for k in COSTS if k in a},
               **{k: v for k, v in a.items() if k not in NOT_METRICS},
               "duplicate_of": a.get("duplicate_of"), "error": a.get("error", ""),
               **{f"constraint_{k}": v for k, v in t.constraints.items()},
               **({f"w_{k}": v for k, v in a["arch"].items()} if "arch" in a else {}),
               "started": t.datetime_start, "duration_s": t.duration.total_seconds() if t.duration else None}
        rows.append(row)
    cols = ["trial", "state", "status", "arch", "feasible", *COSTS]
    df = pd.DataFrame(rows)
    return df[[c for c in cols if c in df] + [c for c in df if c not in cols]] if len(df) else pd.DataFrame(columns=cols)


def _metrics(df: pd.DataFrame) -> list[str]:
    skip = {"trial", "state", "status", "arch", "feasible", "duplicate_of", "error", "started", "duration_s",
            "pareto", "latency_ms", "runtime", "mac_reduction", "speedup", *COSTS}
    return [c for c in df if c not in skip and not c.startswith(("w_", "constraint_"))
            and pd.api.types.is_numeric_dtype(df[c])]


# -- the teacher ---------------------------------------------------------------------------------------
def _load_teacher(ctx):
    from ..models import UNCONDITIONAL
    if ctx.space.family in UNCONDITIONAL:
        from ..train.unconditional import load_full_generator
        return load_full_generator(ctx.run_dir / "teacher.pt")[0].eval()
    from ..train.teacher import load_teacher
    return load_teacher(ctx.run_dir / "teacher.pt")[0].eval()


def _teacher_metrics(ctx, teacher) -> dict:
    path = ctx.run_dir / "teacher_metrics.json"
    if path.exists():
        try:
            return json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError):
            pass  # a cache: a damaged one is measured again and rewritten
    from ..evaluate import SubnetEvaluator

    m = {**SubnetEvaluator(ctx.study).evaluate_net(teacher), **ctx.teacher_cost}
    write_json(path, m)
    return m


def _describe_teacher(ctx) -> str:
    cfg = ctx.teacher_config or {}
    depth = (f"{cfg['n_blocks']} blocks" if "n_blocks" in cfg else f"{cfg['num_downs']} levels" if "num_downs" in cfg
             else "")
    source = " (imported)" if ctx.study.teacher.checkpoint else ""
    return html.escape(" ".join(str(p) for p in (cfg.get("family", ""), f"ngf {cfg['ngf']}" if "ngf" in cfg else "",
                                                 depth) if p) + source)


# -- the report ----------------------------------------------------------------------------------------
def _reference_point(ctx, df, objectives, tm) -> list[float] | None:
    """Hypervolume reference: a budgeted cost at its budget, another cost at the teacher's, a quality 10%
    beyond the worst evaluated value (so every evaluated trial counts)."""
    ref = []
    for o in objectives:
        if o in ctx.budgets:
            ref.append(float(ctx.budgets[o]))
        elif o in COSTS:
            ref.append(float(tm.get(o, df[o].max())))
        else:
            vals = df.loc[df.status == "evaluated", o] if o in df else pd.Series(dtype=float)
            vals = vals[vals.map(math.isfinite)]
            if not len(vals):
                return None
            worst = float(vals.max())
            ref.append(worst + 0.1 * abs(worst) + 1e-12)
    return ref


def write_report(ctx, show_progress: bool = True) -> Path:
    """Write reports/<study>/: index.html (self-contained: figures embedded), trials.csv (every trial),
    pareto.csv (the Pareto subnets with latency), and each figure as a PNG beside them. Works while the
    search is still running. Returns index.html."""
    from ..search import best_trial, pareto_trials
    from ..train.supernet import load_supernet

    objectives = list(ctx.study.search.objectives)
    quality = next((o for o in objectives if o not in COSTS), "l1")
    out = ctx.study.report_path
    out.mkdir(parents=True, exist_ok=True)
    teacher = _load_teacher(ctx)
    tm = dict(_teacher_metrics(ctx, teacher))
    shape = tuple(ctx.splits.search.inputs.shape[1:])
    timing = LatencyCache(ctx.run_dir, shape)
    t_time = timing.get(f"teacher {json.dumps(ctx.teacher_config, sort_keys=True)}", lambda: teacher)
    tm["latency_ms"], tm["runtime"] = t_time["median_ms"], t_time["format"]
    with read_study(ctx) as study:
        df = trials_frame(study, objectives)
        front_trials = pareto_trials(study)
        best = best_trial(study, ctx.budgets)
        hv_ref = _reference_point(ctx, df, objectives, tm) if len(objectives) > 1 else None
        images = {}
        if hv_ref is not None and (df.status == "evaluated").any():
            images["hypervolume.png"] = plots.hypervolume(study, hv_ref, objectives)
    numbers = [t.number for t in front_trials]
    df["pareto"] = df.trial.isin(numbers)
    metrics = _metrics(df)

    supernet = load_supernet(ctx.run_dir / "supernet.pt")[0].cpu().eval() if numbers else None
    front = df.set_index("trial").loc[numbers].reset_index() if numbers else df.iloc[0:0].copy()
    subnets = {}
    for n, t in zip(numbers, front_trials):
        arch = Arch(t.user_attrs["arch"])
        subnets[n] = supernet.extract(arch).eval()
    timed = [timing.get(f"{ctx.space.family} {Arch(t.user_attrs['arch'])}", lambda n=n: subnets[n])
             for n, t in zip(numbers, front_trials)]
    lat = [r["median_ms"] for r in timed]
    front = front.assign(latency_ms=lat, runtime=[r["format"] for r in timed],
                         mac_reduction=tm["macs"] / front.macs.astype(float),
                         speedup=[tm["latency_ms"] / v for v in lat]) if numbers else front

    _publish(out / "trials.csv", df.to_csv(index=False).encode())
    _publish(out / "pareto.csv", front.to_csv(index=False).encode())
    images["pareto.png"] = plots.front_vs_macs(df, front, quality, tm, ctx.budgets.get("macs"))
    if numbers:
        images["latency.png"] = plots.front_vs_latency(front, quality, tm)
        layers = [c[2:] for c in front if c.startswith("w_")]
        images["widths.png"] = plots.widths_chart(front, layers, ctx.space.largest())
    images["samples.png"] = plots.image_grid(_grid_rows(ctx, teacher, front, subnets, quality))
    for name, data in images.items():
        _publish(out / name, data)
    page = _html(ctx, df, front, tm, best, quality, metrics, images, describe(timing.settings, shape), hv_ref)
    return _publish(out / "index.html", page.encode())


def _publish(path: Path, data: bytes) -> Path:
    write_bytes(path, data)
    path.chmod(0o644)  # a report is for reading, by a web server too; atomic temp files start private
    return path


@torch.no_grad()
def _grid_rows(ctx, teacher, front, subnets, quality) -> list:
    from ..data.unconditional import is_unconditional
    from ..data.unpaired import is_paired

    data = ctx.splits.search
    x = data.inputs[:SAMPLES]
    rows = []
    if x.dim() == 4 and not is_unconditional(ctx.splits):  # a latent vector is no picture
        rows.append(("input", x))
    if is_paired(ctx.splits) and not is_unconditional(ctx.splits):
        rows.append(("target", data.targets[:SAMPLES]))
    rows.append((f"teacher\n{ctx.teacher_cost['macs'] / 1e6:.3g}M MACs", teacher(x)))
    order = front.sort_values("macs", ascending=False)
    if len(order) > MAX_GRID:  # evenly spaced along the front, both ends kept
        idx = sorted({round(i * (len(order) - 1) / (MAX_GRID - 1)) for i in range(MAX_GRID)})
        order = order.iloc[idx]
    for _, r in order.iterrows():
        q = r.get(quality, math.nan)
        rows.append((f"trial {int(r.trial)}\n{r.macs / 1e6:.3g}M MACs\n{quality} {q:.3g}", subnets[int(r.trial)](x)))
    return rows


def _img(images: dict, name: str, alt: str) -> str:
    if name not in images:
        return ""
    data = base64.b64encode(images[name]).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _fmt(v) -> str:
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.4g}"
    return html.escape(str(v))


def _table(front: pd.DataFrame, tm: dict, metrics: list[str]) -> str:
    cols = [("trial", "trial"), ("arch", "config"), ("macs", "MACs (M)"), ("mac_reduction", "MACs vs teacher"),
            ("params", "params (k)"), ("latency_ms", "latency (ms)"), ("runtime", "runtime"),
            ("speedup", "speed-up vs teacher")]
    cols += [(m, m) for m in metrics]
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in cols)

    def cell(key, v):
        if key == "macs":
            return f"{v / 1e6:.3f}"
        if key == "params":
            return f"{v / 1e3:.1f}"
        if key in ("mac_reduction", "speedup"):
            return f"{v:.1f}x"
        return _fmt(v)

    def row(values, cls=""):
        cells = "".join(f"<td>{cell(k, values[k]) if k in values else ''}</td>" for k, _ in cols)
        return f'<tr class="{cls}">{cells}</tr>' if cls else f"<tr>{cells}</tr>"

    body = [row({"trial": "teacher", "arch": "", "mac_reduction": 1.0, "speedup": 1.0, **tm}, "teacher")]
    body += [row(r.to_dict()) for _, r in front.sort_values("macs").iterrows()]
    return f'<table id="pareto"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


CSS = """body{font-family:system-ui,sans-serif;max-width:1060px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;font-size:13px}td,th{padding:3px 9px;border-bottom:1px solid #e4e4e4;text-align:right}
th{background:#f6f6f6}td:nth-child(2){font-family:monospace}tr.teacher{background:#fff8d6}
code{background:#f3f3f3;padding:1px 4px}img{max-width:100%}.note{color:#666;font-size:13px}
.counts span{display:inline-block;margin-right:1.2em}.wide{overflow-x:auto}"""


def _html(ctx, df, front, tm, best, quality, metrics, images, latency_how, hv_ref) -> str:
    s = ctx.study
    counts = df.status.value_counts().to_dict() if len(df) else {}
    running = counts.get("running", 0) + counts.get("queued", 0)
    budget = ", ".join(f"{k} &le; {v / 1e6:.3f}M ({v / tm[k]:.1%} of the teacher)" if k in tm else
                       f"{k} &le; {v:g} ms on a search worker" for k, v in ctx.budgets.items())  # latency is measured
    q_t = tm.get(quality, math.nan)
    if best is not None:
        a = best.user_attrs
        chosen = (f"<p><b>Chosen subnet</b> (best {quality} within the budget): trial {best.number}, config "
                  f"<code>{Arch(a['arch'])}</code>, {a['macs'] / 1e6:.3f}M MACs "
                  f"({tm['macs'] / a['macs']:.1f}x fewer than the teacher), {quality} {a.get(quality, math.nan):.4g} "
                  f"(teacher {q_t:.4g}). Export it with <code>ganas export {html.escape(str(s.run_path))} "
                  f"--trial {best.number}</code>, or every Pareto subnet with <code>--pareto</code>.</p>")
    else:
        chosen = "<p><b>No evaluated trial meets the budget yet.</b></p>"
    state = (f"<p><b>The search is still running</b> ({running} trial{'s' if running != 1 else ''} in flight): reload this report with "
             "<code>ganas report</code> to see more.</p>" if running else "")
    count_line = "".join(f"<span>{html.escape(k)}: <b>{v}</b></span>" for k, v in sorted(counts.items()))
    hv = (f"<h2>Hypervolume over trials</h2>{_img(images, 'hypervolume.png', 'hypervolume history')}"
          f"<p class='note'>Volume of objective space ({', '.join(s.search.objectives)}) dominated by the feasible "
          f"trials so far, up to the reference point ({', '.join(f'{v:.4g}' for v in hv_ref)}): it rises while "
          "the search still finds better trade-offs and flattens when it stops.</p>"
          if "hypervolume.png" in images else "")
    latency = (f"<h2>Pareto front: {quality} vs latency</h2>{_img(images, 'latency.png', 'quality vs latency')}"
               f"<p class='note'>Latency: {html.escape(latency_how)}.</p>" if "latency.png" in images else "")
    widths = (f"<h2>Widths of the Pareto subnets</h2>{_img(images, 'widths.png', 'per-layer widths')}"
              if "widths.png" in images else "")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ganas report: {html.escape(s.name)}</title>
<style>{CSS}</style></head><body>
<h1>ganas report: {html.escape(s.name)}</h1>
{state}
<p class="counts">{count_line}</p>
<p>Search space {html.escape(str(s.supernet.search_space))} ({ctx.space.size:,} configs); budget: {budget or 'none'}.
Teacher: {_describe_teacher(ctx)}, {tm['macs'] / 1e6:.1f}M MACs, {quality} {q_t:.4g},
{tm['latency_ms']:.3g} ms. Quality is measured on images held out from training, never the test set; every
objective is minimised. Over-budget configs are never evaluated.</p>
{chosen}
<h2>Pareto front: {quality} vs MACs</h2>{_img(images, 'pareto.png', 'quality vs MACs')}
{latency}
<h2>Pareto subnets</h2><div class="wide">{_table(front, tm, metrics) if len(front) else '<p>none yet</p>'}</div>
<p class="note">MACs follow torchprofile's convention (a stride-2 transposed conv counts 4x its multiplies), as
published numbers do; <code>macs_true</code> in pareto.csv counts real multiplies.</p>
<h2>The same inputs through the teacher and each Pareto subnet</h2>{_img(images, 'samples.png', 'sample outputs')}
{f"<p class='note'>{MAX_GRID} of the {len(front)} Pareto subnets, evenly spaced along the front.</p>"
 if len(front) > MAX_GRID else ""}
{widths}
{hv}
<h2>Data</h2><p>All trials: <a href="trials.csv">trials.csv</a>; Pareto subnets: <a href="pareto.csv">pareto.csv</a>.</p>
</body></html>
"""
