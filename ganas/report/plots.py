"""The report's figures, each returned as PNG bytes (the page embeds them and writes them beside it)."""
from __future__ import annotations

import io
import math
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

FEASIBLE, FRONT, OVER, TEACHER = "#4c72b0", "#2ca02c", "#d62728", "gold"


def _styled(fn):
    """Draw in matplotlib's default style, whatever the caller set (optuna's plots switch the global
    style to ggplot), and leave the global style as it was."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with plt.style.context("default"):
            return fn(*args, **kwargs)
    return wrapper


def _log_or_linear(ax, values, axis="x"):
    """Log scale when the values span more than a decade, with plain numbers on the ticks."""
    values = [v for v in values if v and math.isfinite(v) and v > 0]
    if values and max(values) / min(values) > 10:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
        which = ax.xaxis if axis == "x" else ax.yaxis
        which.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        # Minor ticks: label 2x and 5x of each decade only, in plain numbers.
        which.set_minor_formatter(matplotlib.ticker.FuncFormatter(
            lambda v, _: f"{v:g}" if v > 0 and round(v / 10 ** math.floor(math.log10(v))) in (2, 5) else ""))
        return True
    return False


def png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _label_points(ax, xs, ys, labels):
    for x, y, t in zip(xs, ys, labels):
        ax.annotate(str(t), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7, color="#333")


@_styled
def front_vs_macs(df: pd.DataFrame, front: pd.DataFrame, quality: str, teacher: dict, budget: float | None) -> bytes:
    """Quality against MACs: evaluated trials, the Pareto front, the teacher, the budget; over-budget trials
    have no quality (they were never evaluated), so they sit on a strip of their own above the plot."""
    over = df[df.status == "over budget"]
    fig, (top, ax) = plt.subplots(2, 1, figsize=(7.6, 4.9), sharex=True, height_ratios=(1, 9),
                                  gridspec_kw={"hspace": 0.04})
    evaluated = df[df.status == "evaluated"]
    front = front.sort_values("macs")
    ax.scatter(evaluated.macs / 1e6, evaluated[quality], s=16, c=FEASIBLE, alpha=.55, label="evaluated trials")
    if len(front):
        ax.step(front.macs / 1e6, front[quality], where="post", c=FRONT, lw=1.8)
        ax.scatter(front.macs / 1e6, front[quality], s=34, c=FRONT, zorder=3, label="Pareto front")
        _label_points(ax, front.macs / 1e6, front[quality], front.trial)
    has_teacher = bool(teacher) and math.isfinite(teacher.get(quality, math.nan))
    if has_teacher:
        ax.scatter([teacher["macs"] / 1e6], [teacher[quality]], marker="*", s=260, c=TEACHER, edgecolor="k",
                   zorder=4, label="teacher")
    top.scatter(over.macs / 1e6, np.zeros(len(over)), marker="x", s=18, c=OVER, alpha=.7,
                label=f"over budget, not evaluated ({len(over)})")
    top.set_yticks([])
    top.set_ylabel("over\nbudget", rotation=0, ha="right", va="center", fontsize=8, color=OVER)
    xs = [v / 1e6 for v in list(df.macs.dropna()) + ([teacher["macs"]] if teacher else []) if v > 0]
    lo, hi = (min(xs) / 1.4, max(xs) * 1.4) if xs else (0.1, 10)
    if budget:
        for a in (top, ax):
            a.axvline(budget / 1e6, c=OVER, ls="--", lw=1)
            a.axvspan(budget / 1e6, hi, color=OVER, alpha=.06, lw=0)
        ax.text(budget / 1e6, 0.02, " MAC budget", transform=ax.get_xaxis_transform(), color=OVER, fontsize=8)
    ax.set_xlim(lo, hi)
    _log_or_linear(ax, [lo, hi])
    ax.set_xlabel("MACs (millions, torchprofile convention)")
    ax.set_ylabel(f"{quality} (lower is better)")
    ax.grid(alpha=.3, which="major")
    handles = [h for a in (ax, top) for h in a.get_legend_handles_labels()[0]]
    labels = [lab for a in (ax, top) for lab in a.get_legend_handles_labels()[1]]
    ax.legend(handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.1))
    return png(fig)


@_styled
def front_vs_latency(rows: pd.DataFrame, quality: str, teacher: dict) -> bytes:
    """Quality against measured latency for the Pareto subnets (of quality vs MACs) and the teacher; the
    subnets no other is both faster and better than are joined."""
    fig, ax = plt.subplots(figsize=(7.2, 4.2))
    ax.scatter(rows.latency_ms, rows[quality], s=34, c=FEASIBLE, zorder=3, label="Pareto subnets (by MACs)")
    _label_points(ax, rows.latency_ms, rows[quality], rows.trial)
    best = rows.sort_values(["latency_ms", quality])
    best = best[best[quality] < best[quality].cummin().shift(fill_value=math.inf)]
    if len(best):
        ax.step(best.latency_ms, best[quality], where="post", c=FRONT, lw=1.8, label="fastest for their quality")
    if teacher.get("latency_ms") and math.isfinite(teacher.get(quality, math.nan)):
        ax.scatter([teacher["latency_ms"]], [teacher[quality]], marker="*", s=260, c=TEACHER, edgecolor="k",
                   zorder=4, label="teacher")
    _log_or_linear(ax, list(rows.latency_ms) + [teacher.get("latency_ms")])
    ax.set_xlabel("latency (ms, batch 1, median)")
    ax.set_ylabel(f"{quality} (lower is better)")
    ax.grid(alpha=.3, which="both")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    return png(fig)


def hypervolume(study, reference: list[float], names: list[str]) -> bytes:
    """Optuna's hypervolume history: the volume the feasible trials dominate, up to ``reference``."""
    import optuna

    with warnings.catch_warnings(), plt.style.context("default"):
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        ax = optuna.visualization.matplotlib.plot_hypervolume_history(study, reference)
        fig = ax.figure
        fig.set_size_inches(7.2, 3.6)
        ax.set_facecolor("white")
        ax.grid(alpha=.3, color="#999")
        ax.set_title("")
        ax.set_xlabel("trial")
        ax.set_ylabel(f"hypervolume ({' x '.join(names)})")
        return png(fig)


def _show(img: torch.Tensor) -> np.ndarray:
    img = ((img.float().clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy()
    return img[..., 0] if img.shape[-1] == 1 else img


@_styled
def image_grid(rows: list[tuple[str, torch.Tensor]]) -> bytes:
    """One row per network (or input / target), one column per sample: the same inputs through each."""
    n = max(len(imgs) for _, imgs in rows)
    fig, axes = plt.subplots(len(rows), n, figsize=(1.25 * n + 1.6, 1.25 * len(rows)), squeeze=False)
    for i, (label, imgs) in enumerate(rows):
        for j in range(n):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(imgs) and imgs[j].dim() == 3 and imgs[j].shape[0] in (1, 3):
                ax.imshow(_show(imgs[j]), cmap="gray", vmin=0, vmax=1)
            if j == 0:
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.subplots_adjust(wspace=.04, hspace=.06)
    return png(fig)


@_styled
def widths_chart(front: pd.DataFrame, layers: list[str], largest: dict) -> bytes:
    """The per-layer widths of the Pareto subnets as a heat map, cheapest at the top; numbers are widths,
    colour is the share of the layer's largest width."""
    rows = front.sort_values("macs")
    share = np.array([[r[f"w_{k}"] / largest[k] for k in layers] for _, r in rows.iterrows()])
    fig, ax = plt.subplots(figsize=(0.75 * len(layers) + 2.4, 0.34 * len(rows) + 1.3))
    ax.imshow(share, cmap="Greens", vmin=0, vmax=1.25, aspect="auto")
    for i, (_, r) in enumerate(rows.iterrows()):
        for j, k in enumerate(layers):
            ax.text(j, i, int(r[f"w_{k}"]), ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(layers)), layers, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), [f"trial {int(r.trial)} ({r.macs / 1e6:.3g}M)" for _, r in rows.iterrows()],
                  fontsize=8)
    ax.set_title("width per layer (colour: share of the largest width)", fontsize=9)
    ax.grid(False)
    return png(fig)
