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
    """Built once per search worker: loads the supernet, the held-out search images and the judges.

    Paired data: l1 to the targets. Unpaired data (GAN Compression's CycleGAN numbers): l1 to the teacher's
    outputs, and the FIDs compare generated images with real target-domain images. Fashion-MNIST data adds the
    domain classifier's metrics (domain_fid, accuracy against the class the output should have); ``fid`` in the
    objectives adds pytorch-fid's Inception FID, ``lpips`` LPIPS to the targets; psnr / neg_psnr always. With
    ``latency`` in the objectives or budgets, ``evaluate`` times the extracted subnet on this worker's device
    first and skips the quality metrics when it is over the latency budget (ganas/search/objectives.py).
    """

    def __init__(self, study: StudyConfig, split: str = "search"):
        from .data import FASHION_MNIST, is_paired, is_unconditional, load_data
        from .metrics import feature_stats, load_or_train_classifier
        from .train.supernet import load_supernet

        run_dir = study.run_path
        self.device = default_device()
        self.supernet = load_supernet(run_dir / "supernet.pt")[0].to(self.device).eval()
        data = getattr(load_data(study.data, study.seed), split)
        n = study.search.eval_images
        self.inputs, self.reals, self.labels = data.inputs[:n], data.targets[:n], data.labels[:n]
        self.unconditional = is_unconditional(data)  # noise -> image: inputs are fixed latents
        self.classes = study.data.classes
        if is_paired(data):
            self.targets = self.reals
        else:
            from .train.teacher import load_teacher
            teacher = load_teacher(run_dir / "teacher.pt")[0].to(self.device)
            self.targets = generate(teacher, self.inputs, self.device)
        self.classifier = self.real_stats = self.inception = None
        if study.data.dataset in FASHION_MNIST:
            self.classifier = load_or_train_classifier(Path(run_dir) / "classifier.pt", study.data, study.seed,
                                                       self.device)
            self.real_stats = feature_stats(self.classifier, self.reals.to(self.device))
        if "fid" in study.search.objectives:
            from .metrics.inception_fid import cached_real_stats, load_inception
            from .search.objectives import weights_file
            self.inception = load_inception(self.device, weights_file(study, study.search.fid_weights))
            self.inception_real = cached_real_stats(self.inception, self.reals,
                                                    Path(run_dir) / f"fid_real_stats_{split}.npz")
        self._init_search_extras(study)

    def _init_search_extras(self, study: StudyConfig) -> None:
        from .search.objectives import LatencyProbe, needs_latency, weights_file

        s = study.search
        self.lpips = None
        if "lpips" in s.objectives:
            from .metrics.lpips_distance import load_lpips
            self.lpips = load_lpips(s.lpips_net, weights_file(study, s.lpips_weights), self.device)
        self.latency = (LatencyProbe(self.inputs.shape[1:], self.device, s.latency_threads, s.budgets.get("latency"))
                        if needs_latency(study) else None)

    def score_outputs(self, outputs: torch.Tensor) -> dict:
        from .metrics import score
        targets = self.targets
        if self.unconditional:
            from .metrics.unconditional import score_samples, to_side
            # previews at the data's side; both clamped to the image range, so every metric below compares what
            # a user sees (the full network's toRGB is not bounded: unclamped, a copy of it scored 25 dB PSNR)
            side = self.reals.shape[-1]
            outputs, targets = to_side(outputs, side), to_side(targets, side)
            out = score_samples(outputs.to(self.device), self.classifier, self.real_stats, self.classes, targets)
        elif self.classifier is not None:
            out = score(outputs.to(self.device), self.targets.to(self.device), self.labels.to(self.device),
                        self.classifier, self.real_stats)
        else:
            out = {"l1": float((outputs.cpu() - self.targets.cpu()).abs().mean())}
        if self.inception is not None:
            from .metrics.inception_fid import fid
            out["fid"] = fid(self.inception, outputs, self.inception_real)
        from .metrics.pixel import psnr
        out["psnr"] = psnr(outputs, targets)
        out["neg_psnr"] = -out["psnr"]  # the minimised objective
        if self.lpips is not None:
            from .metrics.lpips_distance import lpips_distance
            out["lpips"] = lpips_distance(self.lpips, outputs, targets)
        return out

    def evaluate(self, arch: dict) -> dict:
        out = {}
        if self.latency is not None:
            out["latency"] = self.latency(self.supernet.extract(arch))
            if self.latency.over_budget(out["latency"]):
                return out  # the driver records it as over budget; its quality is not worth the time
        self.supernet.set_arch(arch)
        return {**out, **self.score_outputs(generate(self.supernet, self.inputs, self.device))}

    def evaluate_net(self, net) -> dict:
        return self.score_outputs(generate(net.to(self.device), self.inputs, self.device))
