"""Scoring a subnet on real images: what each search trial, the export and the fine-tune report."""
from __future__ import annotations

from pathlib import Path

import torch

from .config import StudyConfig
from .io import device as default_device


@torch.no_grad()
def generate(net, inputs: torch.Tensor, device, batch_size: int = 256) -> torch.Tensor:
    net.eval()
    return torch.cat([net(inputs[i:i + batch_size].to(device)).cpu() for i in range(0, len(inputs), batch_size)])


class SubnetEvaluator:
    """Built once per search worker: loads the supernet, the held-out search images and the classifier."""

    def __init__(self, study: StudyConfig, split: str = "search"):
        from .data import load_data
        from .metrics import feature_stats, load_or_train_classifier
        from .train.supernet import load_supernet

        run_dir = study.run_path
        self.device = default_device()
        self.supernet = load_supernet(run_dir / "supernet.pt")[0].to(self.device).eval()
        data = getattr(load_data(study.data, study.seed), split)
        n = study.search.eval_images
        self.inputs, self.targets, self.labels = data.inputs[:n], data.targets[:n], data.labels[:n]
        self.classifier = load_or_train_classifier(Path(run_dir) / "classifier.pt", study.data, study.seed,
                                                   self.device)
        self.real_stats = feature_stats(self.classifier, self.targets.to(self.device))

    def score_outputs(self, outputs: torch.Tensor) -> dict:
        from .metrics import score
        return score(outputs.to(self.device), self.targets.to(self.device), self.labels.to(self.device),
                     self.classifier, self.real_stats)

    def evaluate(self, arch: dict) -> dict:
        self.supernet.set_arch(arch)
        return self.score_outputs(generate(self.supernet, self.inputs, self.device))

    def evaluate_net(self, net) -> dict:
        return self.score_outputs(generate(net.to(self.device), self.inputs, self.device))
