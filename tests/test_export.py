"""`ganas export` and `ganas finetune` on a tiny searched run, and the inference build every format is made of."""
import json
import math

import pytest
import torch
from torch import nn

from ganas.cli import main
from ganas.config import load_study as load_study_file
from ganas.export import OnnxRunner, load_exported, make_lean
from ganas.export.formats import TOLERANCE, load_torchscript
from ganas.models import create_subnet, create_teacher
from ganas.models.mobile_resnet import LAYERS
from ganas.pipeline import prepare
from ganas.train.supernet import load_supernet
from tiny_run import load_study, searched_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return searched_run(tmp_path_factory, "export")


def evaluated(study):
    """Feasible, evaluated trials: the ones export may choose by quality."""
    return [t for t in study.trials if t.state.name == "COMPLETE" and all(v <= 0 for v in t.constraints.values())
            and all(math.isfinite(v) for v in t.values)]


def test_every_format_equals_the_supernet_slice(run, capsys):
    tmp, study_file = run
    trial = min(evaluated(load_study(tmp)), key=lambda t: t.values[0])
    assert main(["export", str(study_file), "--trial", str(trial.number)]) == 0
    out = capsys.readouterr().out
    assert "TorchScript" in out and "ONNX (onnxruntime)" in out and "max |diff|" in out and "ok" in out
    folder = tmp / "run" / "export" / f"trial_{trial.number}"
    cfg = json.loads((folder / "config.json").read_text())
    assert all(c["ok"] and c["max_abs_diff"] <= TOLERANCE for c in cfg["formats"].values()), cfg["formats"]

    # Independently of the export's own check: the supernet running the trial's config.
    ctx = prepare(load_study_file(study_file))
    supernet = load_supernet(tmp / "run" / "supernet.pt")[0].eval()
    supernet.set_arch(trial.user_attrs["arch"])
    x = ctx.splits.test.inputs[:5]  # inputs the export never saw, at a batch size it was not traced at
    with torch.no_grad():
        want = supernet(x)
        runs = {"state_dict": load_exported(folder), "inference": load_exported(folder, inference=True),
                "torchscript": load_torchscript(folder / "model.torchscript.pt"),
                "onnx": OnnxRunner(folder / "model.onnx", threads=1)}
        for name, net in runs.items():
            assert (net(x) - want).abs().max() <= TOLERANCE, name
    assert not any("Dynamic" in type(m).__name__ for m in runs["state_dict"].modules())
    # mobile_resnet is fully convolutional: its ONNX takes other sizes too.
    big = torch.rand(2, 1, 48, 48) * 2 - 1
    with torch.no_grad():
        assert (runs["onnx"](big) - supernet(big)).abs().max() <= TOLERANCE
    assert json.loads((folder / "config.json").read_text())["input_shape"] == [1, 32, 32]


def test_max_macs_and_pareto_pick_the_right_trials(run, capsys):
    tmp, study_file = run
    study = load_study(tmp)
    done = evaluated(study)
    limit = sorted(t.user_attrs["macs"] for t in done)[len(done) // 2]  # about half of them fit
    want = min((t for t in done if t.user_attrs["macs"] <= limit), key=lambda t: (t.values[0], t.number))
    assert main(["export", str(study_file), "--max-macs", str(int(limit))]) == 0
    assert f"exported: {tmp / 'run' / 'export' / f'trial_{want.number}'}" in capsys.readouterr().out

    teacher_macs = prepare(load_study_file(study_file)).teacher_cost["macs"]
    share = f"{100 * limit / teacher_macs:.6f}%"
    assert main(["export", str(study_file), "--max-macs", share]) == 0
    assert f"trial_{want.number}" in capsys.readouterr().out

    assert main(["export", str(study_file), "--max-macs", "1"]) == 2  # 1 MAC: nothing fits
    err = capsys.readouterr().err
    assert "raise --max-macs" in err and len(err.strip().splitlines()) == 1

    assert main(["export", str(study_file), "--pareto"]) == 0
    front = set()
    for t in done:  # non-dominated on (quality, MACs), one trial per config
        dominated = any(o.values[0] <= t.values[0] and o.user_attrs["macs"] <= t.user_attrs["macs"]
                        and (o.values[0], o.user_attrs["macs"]) != (t.values[0], t.user_attrs["macs"]) for o in done)
        same = [o for o in done if o.user_attrs["arch"] == t.user_attrs["arch"]]
        if not dominated and t.number == min(o.number for o in same):
            front.add(t.number)
    folders = {int(p.name.split("_")[1]) for p in (tmp / "run" / "export").iterdir() if (p / "config.json").exists()}
    assert front <= folders and f"exported {len(front)} Pareto subnets" in capsys.readouterr().out


def test_finetune_reports_before_and_after_and_exports_again(run, capsys):
    tmp, study_file = run
    trial = max(evaluated(load_study(tmp)), key=lambda t: t.user_attrs["macs"])
    assert main(["finetune", str(tmp / "run"), "--trial", str(trial.number), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "before -> after" in out and "domain_fid" in out
    folder = tmp / "run" / "export" / f"trial_{trial.number}"
    ft = json.loads((folder / "finetune.json").read_text())
    assert ft["split"] == "test" and set(ft["before"]) >= {"domain_fid", "accuracy", "l1"}
    assert set(ft["after"]) == set(ft["before"])
    tuned = json.loads((folder / "finetuned" / "config.json").read_text())
    assert tuned["trial"] == trial.number and all(c["ok"] for c in tuned["formats"].values())
    before, after = load_exported(folder), load_exported(folder / "finetuned")
    assert any(not torch.equal(a, b) for a, b in zip(before.state_dict().values(), after.state_dict().values()))
    stamp = (folder / "finetune.json").stat().st_mtime_ns
    assert main(["finetune", str(tmp / "run"), "--trial", str(trial.number), "--quiet"]) == 0  # done: kept
    assert (folder / "finetune.json").stat().st_mtime_ns == stamp and "before -> after" in capsys.readouterr().out


# -- the inference build ------------------------------------------------------------------------------
def _shifted(net: nn.Module, shift: float) -> nn.Module:
    """Give every conv a large bias: channels whose mean dwarfs their spread, where a one-pass variance fails."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and m.bias is not None:
                m.bias.add_(shift)
                m.weight.mul_(0.05)
    return net.eval()


@pytest.mark.parametrize("build", [
    lambda: create_subnet("mobile_resnet", widths=dict(zip(LAYERS, [8, 16, 24, 32, 8, 16, 12, 8])), n_blocks=3,
                          input_nc=3, output_nc=3),
    lambda: create_subnet("unet_32", widths={f"down{i}": 4 * i for i in range(1, 6)}, input_nc=3, output_nc=3),
    lambda: create_teacher("resnet", ngf=8, n_blocks=2, norm="batch"),
])
def test_inference_build_keeps_the_function(build):
    torch.manual_seed(0)
    net = _shifted(build(), 20.0)
    if any(isinstance(m, nn.BatchNorm2d) for m in net.modules()):
        net.train()
        with torch.no_grad():
            net(torch.randn(4, 3, 32, 32))  # running statistics worth folding
        net.eval()
    lean = make_lean(net)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert (lean(x) - net(x)).abs().max() <= TOLERANCE
    kinds = {type(m).__name__ for m in lean.modules()}
    assert not kinds & {"InstanceNorm2d", "BatchNorm2d"}
    assert all(not p.requires_grad for p in lean.parameters())


@pytest.mark.parametrize("after, warned", [(30.0, True), (10.0, False)])
def test_finetune_summary_says_when_fine_tuning_made_the_quality_worse(tmp_path, capsys, after, warned):
    from ganas.train.finetune import print_finetune
    (tmp_path / "finetune.json").write_text(json.dumps({
        "steps": 5, "split": "test", "images": 8, "quality": "domain_fid",
        "before": {"domain_fid": 20.0, "accuracy": 0.5}, "after": {"domain_fid": after, "accuracy": 0.6}}))
    print_finetune(tmp_path)
    out = capsys.readouterr().out
    verdict = out.split("domain_fid")[1].splitlines()[0].split()[3]  # "20 -> 30 worse lower is better"
    assert verdict == ("worse" if warned else "better")
    assert ("made domain_fid worse" in out) == warned and (str(tmp_path) in out)
