"""Any architecture and any image size end to end through the CLI: an imported 6-block ResNet teacher on a
non-square aligned folder dataset (32x48 images), and a U-Net teacher compressed by the U-Net supernet."""
import json
from pathlib import Path

import torch

from folder_helpers import write_aligned
from ganas.cli import main
from ganas.export import load_exported
from ganas.io import load_checkpoint
from ganas.metrics import load_or_train_classifier
from ganas.models import subnet_cost
from ganas.models.resnet import ResnetGenerator

HERE = Path(__file__).parent


def test_six_block_teacher_on_non_square_images(tmp_path):
    data = write_aligned(tmp_path / "ds", {"train": 30, "test": 6}, 32, 48)
    torch.manual_seed(0)
    teacher = ResnetGenerator(3, 3, ngf=8, n_blocks=6, dropout=True).eval()  # as pix2pix saves resnet_6blocks
    torch.save(teacher.state_dict(), tmp_path / "latest_net_G.pth")
    run = tmp_path / "run"
    (tmp_path / "s.yaml").write_text(f"""
name: any
run_dir: {run}
report_dir: {tmp_path}/report
data: {{dataset: aligned_folder, path: {data}, preprocess: none, search_holdout: 6}}
teacher: {{checkpoint: {tmp_path}/latest_net_G.pth}}
supernet: {{search_space: {HERE}/data/tiny_space.yaml, steps: 6, batch_size: 6, ndf: 8}}
search: {{objectives: [l1, macs], n_trials: 4, workers: 0, eval_images: 6, budgets: {{macs: "15%"}}}}
finetune: {{steps: 2, batch_size: 6}}
""")
    assert main(["run", str(tmp_path / "s.yaml"), "--quiet"]) == 0
    t = load_checkpoint(run / "teacher.pt", "teacher")
    assert t["config"]["n_blocks"] == 6 and all(torch.equal(v, teacher.state_dict()[k])
                                                for k, v in t["state_dict"].items())
    assert load_checkpoint(run / "supernet.pt", "supernet")["config"]["n_blocks"] == 6
    export = next((run / "export").iterdir())
    cfg = json.loads((export / "config.json").read_text())
    net = load_exported(export)
    assert net(torch.zeros(1, 3, 32, 48)).shape == (1, 3, 32, 48)
    # the budget is counted at the data's 32x48, against the 6-block teacher at 32x48
    widths = net.config["widths"]
    assert cfg["macs"] == subnet_cost("mobile_resnet", widths=widths, n_blocks=6, height=32, width=48)["macs"]
    assert cfg["macs"] <= 0.15 * cfg["teacher_macs"]
    assert {"l1"} <= set(json.loads((export / "finetune.json").read_text())["after"])


def test_unet_teacher_and_unet_supernet(tmp_path):
    run = tmp_path / "run"
    (tmp_path / "s.yaml").write_text(f"""
name: unet
run_dir: {run}
report_dir: {tmp_path}/report
data: {{limit_train: 120, limit_test: 32, search_holdout: 32}}
teacher: {{netG: unet_32, ngf: 4, steps: 4, batch_size: 8, ndf: 8}}
supernet: {{family: unet_32, search_space: {HERE}/data/tiny_unet_space.yaml, steps: 4, batch_size: 8, ndf: 8}}
search: {{n_trials: 4, workers: 0, eval_images: 32, budgets: {{macs: "60%"}}}}
finetune: {{steps: 2, batch_size: 8}}
""")
    from ganas.config import load_study
    load_or_train_classifier(run / "classifier.pt", load_study(tmp_path / "s.yaml").data, min_steps=10, epochs=0,
                             show_progress=False)
    assert main(["run", str(tmp_path / "s.yaml"), "--quiet"]) == 0
    assert load_checkpoint(run / "teacher.pt", "teacher")["config"]["num_downs"] == 5
    sup = load_checkpoint(run / "supernet.pt", "supernet")
    assert sup["family"] == "unet_32" and len([k for k in sup["adapters"] if k.endswith("weight")]) == 5
    export = next((run / "export").iterdir())
    net = load_exported(export)
    assert type(net).__name__ == "SlimUnetGenerator" and net(torch.zeros(1, 1, 32, 32)).shape == (1, 1, 32, 32)
    cfg = json.loads((export / "config.json").read_text())
    assert cfg["macs"] <= 0.6 * cfg["teacher_macs"]
