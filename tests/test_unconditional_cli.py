"""A tiny unconditional study (StyleGAN2-style family, AnyCost mode, DiffAugment) end to end through the CLI on
real Fashion-MNIST sneakers: teacher = the full network, supernet, search over widths and resolution, report,
export, fine-tune."""
import json
from pathlib import Path

import pytest
import torch

from ganas.cli import main
from ganas.export import load_exported

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("uncond")
    study = tmp / "tiny_uncond.yaml"
    study.write_text(f"""
name: tiny_uncond
run_dir: {tmp}/run
report_dir: {tmp}/report
data: {{dataset: fashion_mnist_images, classes: [7], limit_train: 300, limit_test: 64, search_holdout: 64}}
teacher: {{family: stylegan_32, steps: 12, batch_size: 8, ndf: 8, gan_loss: vanilla}}
supernet: {{family: stylegan_32, mode: anycost, search_space: {ROOT}/search_spaces/stylegan_32.yaml, steps: 12,
           batch_size: 8, ndf: 8, gan_loss: vanilla, perceptual: domain}}
diffaug: color,translation,cutout
search: {{n_trials: 6, workers: 0, eval_images: 64, budgets: {{macs: "40%"}}}}
finetune: {{steps: 3, batch_size: 8}}
""")
    # a quickly trained judge in place, so the stage finds it (the classifier itself is tested in test_metrics)
    from ganas.config import load_study
    from ganas.metrics import load_or_train_classifier
    load_or_train_classifier(tmp / "run" / "classifier.pt", load_study(study).data, min_steps=40, epochs=0,
                             show_progress=False)
    assert main(["run", str(study), "--quiet"]) == 0
    return tmp, study


def test_unconditional_run_reports_exports_and_finetunes(run):
    tmp, _ = run
    report = tmp / "report"
    for f in ("index.html", "trials.csv", "pareto.csv", "pareto.png", "samples.png"):
        assert (report / f).stat().st_size > 0, f
    trials = (report / "trials.csv").read_text()
    assert "w_resolution" in trials  # the resolution is a searched dimension
    export = next((tmp / "run" / "export").iterdir())
    cfg = json.loads((export / "config.json").read_text())
    assert cfg["family"] == "stylegan_32" and cfg["macs"] <= 0.4 * cfg["teacher_macs"]
    net = load_exported(export)
    assert not any("Dynamic" in type(m).__name__ for m in net.modules())
    side = cfg["config"]["resolution"]
    assert net(torch.randn(2, 64)).shape == (2, 1, side, side)
    # the teacher (the full network) against its own outputs: an exact copy by every measure
    tm = json.loads((tmp / "run" / "teacher_metrics.json").read_text())
    assert tm["l1"] == 0 and tm["psnr"] == pytest.approx(100)
    ft = json.loads((export / "finetune.json").read_text())
    assert {"domain_fid", "accuracy", "l1"} <= set(ft["before"]) and ft["after"]["domain_fid"] >= 0
    tuned = load_exported(export / "finetuned")  # exported in every format, as a conditional fine-tune is
    assert {"model.pt", "model.torchscript.pt", "model.onnx"} <= {p.name for p in (export / "finetuned").iterdir()}
    assert tuned(torch.randn(2, 64)).shape == (2, 1, side, side)


def test_second_unconditional_run_reuses_finished_stages(run):
    tmp, study = run
    stamps = {p: p.stat().st_mtime_ns for p in (tmp / "run").glob("*.pt")}
    assert {"teacher.pt", "supernet.pt", "classifier.pt"} <= {p.name for p in stamps}
    assert main(["run", str(study), "--quiet"]) == 0
    assert stamps == {p: p.stat().st_mtime_ns for p in (tmp / "run").glob("*.pt")}
