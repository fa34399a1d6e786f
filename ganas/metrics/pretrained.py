"""Pretrained weight files the quality metrics need, found in the torch hub cache or at a path the user gives.

pytorch-fid and lpips (through torchvision) fetch their weights with torch.hub's ``load_state_dict_from_url``,
which reads ``$TORCH_HOME/hub/checkpoints/<file>`` when it is there and downloads it otherwise. ganas never
downloads: a missing file stops the run before any training, naming the file and where it goes. A file at
another path is handed to the libraries under a temporary hub folder, so their own loading code reads it.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import torch

from ..errors import GanasError

INCEPTION = "pt_inception-2015-12-05-6726825d.pth"   # pytorch-fid's FID Inception
# lpips backbones: torchvision's ImageNet weights (IMAGENET1K_V1) that lpips.LPIPS(net=...) loads
LPIPS_BACKBONES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth",
                   "squeeze": "squeezenet1_1-b8a52dc0.pth"}
URLS = {INCEPTION: f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{INCEPTION}",
        **{f: f"https://download.pytorch.org/models/{f}" for f in LPIPS_BACKBONES.values()}}


def hub_path(name: str) -> Path:
    """Where torch.hub looks for ``name``: $TORCH_HOME/hub/checkpoints (default ~/.cache/torch/hub/checkpoints)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def find_weights(name: str, given: str | Path | None, what: str, setting: str) -> Path:
    """The weights file ``name``: ``given`` when set, else the hub cache's copy; a GanasError when it is missing.

    ``what`` says who needs it ("the fid objective"), ``setting`` the study field that takes a path."""
    path = Path(given).expanduser() if given else hub_path(name)
    if path.is_file():
        return path
    if given:
        raise GanasError(f"{what} needs {name}, but {setting} = {given} is not a file: give the path of that file, "
                         f"or leave {setting} out to use {hub_path(name).parent}")
    raise GanasError(f"{what} needs the pretrained weights {name}, not found in {path.parent} "
                     f"($TORCH_HOME/hub/checkpoints): copy it there (from {URLS.get(name, 'its release page')}, on a "
                     f"machine with internet access) or set {setting} to its path")


@contextlib.contextmanager
def hub_file(name: str, path: Path):
    """While inside, torch.hub finds ``path`` as ``checkpoints/name`` (a symlink in a temporary hub folder)."""
    path = Path(path).resolve()
    if path == hub_path(name).resolve():
        yield
        return
    with tempfile.TemporaryDirectory(prefix="ganas-hub-") as tmp:
        hub = Path(tmp) / "hub"
        (hub / "checkpoints").mkdir(parents=True)
        (hub / "checkpoints" / name).symlink_to(path)
        env, before = os.environ.get("TORCH_HOME"), torch.hub.get_dir()
        os.environ["TORCH_HOME"] = tmp
        pinned = Path(torch.hub.get_dir()) != hub  # someone called torch.hub.set_dir, which beats the variable
        if pinned:
            torch.hub.set_dir(str(hub))
        try:
            yield
        finally:
            if env is None:
                os.environ.pop("TORCH_HOME", None)
            else:
                os.environ["TORCH_HOME"] = env
            if pinned:
                torch.hub.set_dir(before)


__all__ = ["INCEPTION", "LPIPS_BACKBONES", "URLS", "find_weights", "hub_file", "hub_path"]
