from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from ..arch import Arch  # noqa: E402
from ..io import write_json, write_text  # noqa: E402


def trials_frame(study, objectives) -> pd.DataFrame:
    """One row per trial: number, state, config, cost, metrics, feasibility."""
    from ..search import is_feasible

    rows = []
    for t in study.trials:
        a = t.user_attrs
        row = {"trial": t.number, "state": t.state.name, "arch": str(Arch(a["arch"])) if "arch" in a else "",
               "feasible": is_feasible(t),
               **{k: v for k, v in a.items() if k != "arch"}}
        if "arch" in a:
            row.update({f"w_{k}": v for k, v in a["arch"].items()})
        rows.append(row)
    df = pd.DataFrame(rows)
    return df


def _pareto(df: pd.DataFrame, quality: str) -> pd.DataFrame:
    ok = df[(df.state == "COMPLETE") & df.feasible & df[quality].notna()].sort_values(["macs", quality])
    best, keep = float("inf"), []
    for i, r in ok.iterrows():
        if r[quality] < best:
            best = r[quality]
            keep.append(i)
    return ok.loc[keep]


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _front_plot(df, front, quality, teacher) -> bytes:
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    done = df[(df.state == "COMPLETE") & df[quality].notna()]
    ax.scatter(done[done.feasible].macs / 1e6, done[done.feasible][quality], s=14, c="tab:blue", alpha=.5,
               label="feasible trials")
    inf = df[~df.feasible & df.macs.notna()]
    if len(inf):
        y = inf[quality] if quality in inf else None
        yy = y.fillna(done[quality].max() if len(done) else 0) if y is not None else [0] * len(inf)
        ax.scatter(inf.macs / 1e6, yy, s=14, marker="x", c="tab:red", alpha=.6, label="over budget (not evaluated)")
    ax.step(front.macs / 1e6, front[quality], where="post", c="tab:green", lw=2, label="Pareto front")
    ax.scatter(front.macs / 1e6, front[quality], c="tab:green", s=30, zorder=3)
    if teacher:
        ax.scatter([teacher["macs"] / 1e6], [teacher[quality]], marker="*", s=200, c="gold", edgecolor="k",
                   zorder=4, label="teacher")
    ax.set_xscale("log")
    ax.set_xlabel("MACs (millions, torchprofile convention, log scale)")
    ax.set_ylabel(f"{quality} (lower is better)")
    ax.grid(alpha=.3)
    ax.legend(fontsize=8)
    return _png(fig)


@torch.no_grad()
def _samples_plot(ctx, teacher, subnet, label: str, n: int = 6) -> bytes:
    data = ctx.splits.search
    cols = [("input", data.inputs[:n]), ("target", data.targets[:n]), ("teacher", teacher.eval()(data.inputs[:n])),
            (label, subnet.eval()(data.inputs[:n]))]
    fig, axes = plt.subplots(n, len(cols), figsize=(1.4 * len(cols), 1.4 * n))
    for j, (name, imgs) in enumerate(cols):
        for i in range(n):
            img = (imgs[i].clamp(-1, 1) + 1) / 2
            ax = axes[i, j]
            ax.imshow(img.permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(name, fontsize=8)
    return _png(fig)


def _teacher_metrics(ctx, teacher) -> dict:
    path = ctx.run_dir / "teacher_metrics.json"
    if path.exists():
        return json.loads(path.read_text())
    from ..evaluate import SubnetEvaluator

    m = {**SubnetEvaluator(ctx.study).evaluate_net(teacher), **ctx.teacher_cost}
    write_json(path, m)
    return m


def write_report(ctx) -> Path:
    """Write reports/<study>/ (trials.csv, pareto.csv, pareto.png, samples.png, index.html); return index.html."""
    from ..pipeline import open_study
    from ..search import best_trial
    from ..train.supernet import load_supernet
    from ..train.teacher import load_teacher

    study = open_study(ctx)
    objectives = list(ctx.study.search.objectives)
    quality = next((o for o in objectives if o not in ("macs", "params")), "l1")
    out = ctx.study.report_path
    out.mkdir(parents=True, exist_ok=True)
    df = trials_frame(study, objectives)
    teacher = load_teacher(ctx.run_dir / "teacher.pt")[0]
    tm = _teacher_metrics(ctx, teacher)
    write_text(out / "trials.csv", df.to_csv(index=False))
    front = _pareto(df, quality) if len(df) and quality in df else df.iloc[0:0]
    if len(front):
        front = front.assign(mac_reduction=tm["macs"] / front.macs)
    write_text(out / "pareto.csv", front.to_csv(index=False))
    images = {"pareto.png": _front_plot(df, front, quality, tm)}
    best = best_trial(study, ctx.budgets)
    if best is not None:
        supernet = load_supernet(ctx.run_dir / "supernet.pt")[0]
        sub = supernet.extract(best.user_attrs["arch"])
        images["samples.png"] = _samples_plot(ctx, teacher, sub, f"trial {best.number}")
    for name, data in images.items():
        (out / name).write_bytes(data)
    write_text(out / "index.html", _html(ctx, df, front, tm, best, quality, images))
    return out / "index.html"


def _img(data: bytes, alt: str) -> str:
    return f'<img alt="{alt}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def _describe_teacher(ctx) -> str:
    cfg = ctx.teacher_config or {}
    depth = (f"{cfg['n_blocks']} blocks" if "n_blocks" in cfg else f"{cfg['num_downs']} levels" if "num_downs" in cfg
             else "")
    source = " (imported)" if ctx.study.teacher.checkpoint else ""
    return html.escape(" ".join(str(p) for p in (cfg.get("family", ""), f"ngf {cfg['ngf']}" if "ngf" in cfg else "",
                                                 depth) if p) + source)


def _html(ctx, df, front, tm, best, quality, images) -> str:
    s = ctx.study
    n_done = int((df.state == "COMPLETE").sum()) if len(df) else 0
    budget = ", ".join(f"{k} &le; {v / 1e6:.2f}M ({v / tm[k]:.1%} of the teacher)" for k, v in ctx.budgets.items())
    cols = [c for c in ["trial", "arch", "macs", "macs_true", "params", quality, "accuracy", "l1", "mac_reduction"]
            if c in front]
    table = front[cols].to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0) if len(front) else "<p>none</p>"
    chosen = (f"<p>Chosen subnet (best {quality} within the budget): trial {best.number}, config "
              f"<code>{Arch(best.user_attrs['arch'])}</code>, {best.user_attrs['macs'] / 1e6:.2f}M MACs "
              f"({tm['macs'] / best.user_attrs['macs']:.1f}x fewer than the teacher), {quality} "
              f"{best.user_attrs.get(quality, float('nan')):.4g} (teacher {tm.get(quality, float('nan')):.4g}).</p>"
              if best is not None else "<p>No finished trial meets the budget yet.</p>")
    samples = (f"<h2>Samples (held-out search images)</h2>{_img(images['samples.png'], 'samples')}"
               if "samples.png" in images else "")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>ganas report: {html.escape(s.name)}</title>
<style>body{{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;font-size:13px}}td,th{{padding:3px 9px;border-bottom:1px solid #ddd;text-align:right}}
code{{background:#f3f3f3;padding:1px 4px}}</style></head><body>
<h1>ganas report: {html.escape(s.name)}</h1>
<p>{n_done} finished trials of {len(df)}; search space {html.escape(str(s.supernet.search_space))}
({ctx.space.size:,} configs); budget: {budget or 'none'}. Teacher: {_describe_teacher(ctx)},
{tm['macs'] / 1e6:.1f}M MACs, {quality} {tm.get(quality, float('nan')):.4g}.
Quality is measured on held-out training images, never the test set.</p>
{chosen}
<h2>Pareto front: {quality} vs MACs</h2>{_img(images['pareto.png'], 'Pareto front')}
<h2>Pareto subnets</h2>{table}
{samples}
<p>All trials: <a href="trials.csv">trials.csv</a>; Pareto front: <a href="pareto.csv">pareto.csv</a>.</p>
</body></html>
"""
