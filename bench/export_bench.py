"""How much faster exported subnets really run than their teacher, against how many fewer MACs they have.

    .venv/bin/python bench/export_bench.py                          # 256x256, 2 threads, every format
    .venv/bin/python bench/export_bench.py --run runs/quickstart    # also the run's exported / Pareto subnets,
                                                                    # at 256x256 and at the study's size
    .venv/bin/python bench/export_bench.py --threads 1 --clock thread   # steady figures on a busy machine
    .venv/bin/python bench/export_bench.py --profile                # where the time goes, op by op

For every model and format it prints the median latency (batch 1, after warm-up, threads fixed, inference
mode), the speed-up over the teacher in the same format, the MAC reduction, and their ratio
(speed-up / MAC reduction: 1.0 would be a speed-up equal to the MAC reduction, the physical limit).
Formats: ``eager`` is the plain static network (what GAN Compression ships: a state_dict for its class);
``inference`` is ganas' inference build in eager PyTorch; ``torchscript`` and ``onnx`` are the exported files
(TorchScript of the inference build, frozen; ONNX Runtime on CPU). Weights are random unless a run is given:
latency does not depend on their values.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ganas.export import OnnxRunner, make_lean  # noqa: E402
from ganas.export.formats import load_torchscript, onnx_bytes, torchscript_bytes  # noqa: E402
from ganas.metrics.latency import measure_latency  # noqa: E402
from ganas.models import create_subnet, create_teacher, subnet_cost, teacher_cost  # noqa: E402
from ganas.models.mobile_resnet import LAYERS  # noqa: E402

# GAN Compression's released configs, in its notation (channels are multiplied by 1, 2, 4, 4, 4, 4, 2, 1
# to give widths), and in ganas' (the widths themselves).
RELEASED = {"edges2shoes 24_24_40_56_24_56_16_40": (24, 24, 40, 56, 24, 56, 16, 40),
            "horse2zebra 16_16_32_16_32_32_16_16": (16, 16, 32, 16, 32, 32, 16, 16)}
MULTIPLIERS = (1, 2, 4, 4, 4, 4, 2, 1)
FORMATS = ("eager", "inference", "torchscript", "onnx")


def released_widths(config) -> dict:
    return {k: c * m for k, c, m in zip(LAYERS, config, MULTIPLIERS)}


def run_subnets(run: Path, trials: str | None, most: int = 4) -> tuple[dict, dict, list]:
    """The run's study, teacher checkpoint and exported mobile_resnet subnets to time: ``trials`` (numbers,
    comma-separated), else at most ``most`` spread evenly over the MAC range."""
    study = json.loads((run / "study.json").read_text())
    teacher = torch.load(run / "teacher.pt", map_location="cpu", weights_only=True)
    found = []
    for cfg_path in (run / "export").glob("trial_*/config.json"):
        cfg = json.loads(cfg_path.read_text())
        if cfg.get("family") == "mobile_resnet":
            found.append((cfg["macs"], cfg["trial"], cfg_path.parent))
    found.sort(reverse=True)
    if trials:
        keep = {int(t) for t in trials.split(",")}
        found = [f for f in found if f[1] in keep]
    elif len(found) > most:
        found = [found[round(i * (len(found) - 1) / (most - 1))] for i in range(most)]
    return study, teacher, [(f"{study['name']} trial {n}", folder) for _, n, folder in found]


def formats_of(net: torch.nn.Module, example: torch.Tensor, threads: int, wanted) -> dict:
    out = {}
    if "eager" in wanted:
        out["eager"] = net
    if "inference" in wanted:
        out["inference"] = make_lean(net)
    with tempfile.TemporaryDirectory() as tmp:
        if "torchscript" in wanted:
            path = Path(tmp) / "m.pt"
            path.write_bytes(torchscript_bytes(net, example))
            out["torchscript"] = load_torchscript(path)
        if "onnx" in wanted:
            out["onnx"] = OnnxRunner(onnx_bytes(net, example, size_free=True), threads=threads)
    return out


def profile(name: str, net, shape, threads: int, rows: int = 12) -> None:
    from torch.profiler import ProfilerActivity, profile as torch_profile

    torch.set_num_threads(threads)
    x = torch.randn(shape)
    with torch.inference_mode():
        for _ in range(2):
            net(x)
        with torch_profile(activities=[ProfilerActivity.CPU]) as p:
            net(x)
    print(f"\n--- {name}: where the time goes (torch.profiler, one run) ---")
    print(p.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows, max_name_column_width=32))


def bench(title: str, teacher: tuple, subnets: list, shape: tuple, args) -> list[dict]:
    """Time the teacher and each subnet in every format; print one table; return its rows."""
    print(f"\n== {title}: input {'x'.join(map(str, shape))}, batch 1, {args.threads} thread(s), "
          f"{args.clock} clock, median of {args.repeats} ==", flush=True)
    example = torch.randn(1, *shape)
    wanted = args.formats.split(",")
    rows = []
    for name, net, macs in [teacher] + subnets:
        net = net.eval()
        lat = {}
        for fmt, runner in formats_of(net, example, args.threads, wanted).items():
            r = measure_latency(runner, shape, device="cpu", threads=args.threads, warmup=args.warmup,
                                repeats=args.repeats, clock=args.clock)
            lat[fmt] = r["median_ms"]
        rows.append({"model": name, "macs": macs, **{f"{k}_ms": v for k, v in lat.items()}})
        if args.profile and name in (teacher[0], subnets[0][0]):
            for fmt in ("eager", "inference"):
                profile(f"{name} ({fmt})", net if fmt == "eager" else make_lean(net), (1, *shape), args.threads)
    t = rows[0]
    header = f"{'model':<44} {'GMACs':>7} {'fewer':>6}" + "".join(f" {f + ' ms':>15} {'x':>5} {'ratio':>5}"
                                                                    for f in wanted)
    print(header)
    for r in rows:
        red = t["macs"] / r["macs"]
        line = f"{r['model'][:44]:<44} {r['macs'] / 1e9:>7.3f} {red:>5.1f}x"
        for f in wanted:
            speed = t[f"{f}_ms"] / r[f"{f}_ms"]
            line += f" {r[f'{f}_ms']:>15.2f} {speed:>4.1f}x {speed / red:>5.2f}"
        print(line)
    best = min(wanted, key=lambda f: sum(r[f"{f}_ms"] for r in rows[1:]))
    if "eager" in wanted and len(rows) > 1:
        for r in rows[1:]:
            print(f"  {r['model'][:44]}: {best} {r[f'{best}_ms']:.2f} ms = {t['eager_ms'] / r[f'{best}_ms']:.1f}x "
                  f"faster than the eager teacher")
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=256, help="square input side for the reference models")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--clock", choices=("wall", "thread"), default="wall",
                   help="thread: CPU time of the calling thread (needs --threads 1); steady on a busy machine")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--formats", default=",".join(FORMATS), help=f"comma-separated subset of {','.join(FORMATS)}")
    p.add_argument("--run", type=Path, help="a ganas run folder: also time its exported subnets")
    p.add_argument("--trials", help="with --run: these trial numbers (comma-separated; default: 4 spread over MACs)")
    p.add_argument("--no-reference", action="store_true", help="skip the ngf-64 ResNet-9 reference models")
    p.add_argument("--profile", action="store_true", help="torch.profiler tables for the teacher and first subnet")
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs", flush=True)

    if not args.no_reference:
        s = args.size
        teacher = create_teacher("resnet", ngf=64, n_blocks=9)
        tmacs = teacher_cost("resnet", ngf=64, n_blocks=9, height=s, width=s)["macs"]
        subnets = []
        for name, cfg in RELEASED.items():
            w = released_widths(cfg)
            subnets.append((f"GAN Compression {name}", create_subnet("mobile_resnet", widths=w, n_blocks=9),
                            subnet_cost("mobile_resnet", widths=w, n_blocks=9, height=s, width=s)["macs"]))
        bench("ResNet-9 ngf 64 teacher (pix2pix / CycleGAN) vs GAN Compression's released subnets",
              ("teacher ResNet-9 ngf 64", teacher, tmacs), subnets, (3, s, s), args)

    if args.run is not None:
        from ganas.export import load_exported
        from ganas.models import create_teacher as make_teacher

        study, ckpt, exported = run_subnets(args.run, args.trials)
        if not exported:
            print(f"\n{args.run} has no exported mobile_resnet subnets: run `ganas export {args.run} --pareto` first")
            return 1
        cfg = ckpt["config"]
        teacher = make_teacher(ckpt["family"], **cfg)
        teacher.load_state_dict(ckpt["state_dict"])
        nc = cfg.get("input_nc", 3)
        for side in sorted({args.size, study["data"]["size"]}, reverse=True):
            t_macs = teacher_cost(ckpt["family"], **{k: v for k, v in cfg.items() if k in ("ngf", "n_blocks", "input_nc",
                                                                                      "output_nc", "norm")},
                                  height=side, width=side)["macs"]
            subnets = []
            for name, folder in exported:
                net = load_exported(folder)
                c = net.config
                macs = subnet_cost("mobile_resnet", widths=c["widths"], n_blocks=c["n_blocks"], height=side,
                                   width=side, input_nc=c["input_nc"], output_nc=c["output_nc"])["macs"]
                subnets.append((f"{name} {'_'.join(str(v) for v in c['widths'].values())}", net, macs))
            bench(f"{study['name']} teacher vs its exported subnets", (f"{study['name']} teacher", teacher, t_macs),
                  subnets, (nc, side, side), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
