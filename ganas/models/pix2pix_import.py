"""Import generators trained with pytorch-CycleGAN-and-pix2pix (``latest_net_G.pth``, ``latest_net_G_A.pth``,
or any plain state_dict of its ResnetGenerator / UnetGenerator).

The architecture is read from the keys and shapes; what a study states is checked against it. Our
ResnetGenerator and UnetGenerator have that code's state_dict keys, so a checkpoint loads by key once three
things that code also tolerates are undone: a ``module.`` prefix (saved from DataParallel), InstanceNorm
running statistics of checkpoints written before PyTorch 0.4 (that code drops them at load time, we do the
same), and a missing BatchNorm ``num_batches_tracked`` (PyTorch 0.4.0 did not save it).
"""
from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from ..errors import GanasError
from .resnet import ResnetGenerator
from .unet import UnetGenerator

_STALE_NORM_KEYS = ("running_mean", "running_var", "num_batches_tracked")
_FIELDS = {"resnet": ("input_nc", "output_nc", "ngf", "n_blocks", "norm", "dropout"),
           "unet": ("input_nc", "output_nc", "num_downs", "ngf", "norm", "dropout")}
_BUILD = {"resnet": ResnetGenerator, "unet": UnetGenerator}
_RESNET_TRUNK = 10  # index of the first residual block in ResnetGenerator.model


def import_teacher(path, arch: dict | None = None) -> tuple[nn.Module, dict]:
    """Load a generator checkpoint saved by pytorch-CycleGAN-and-pix2pix, inferring netG (resnet_Nblocks or
    a U-Net of any depth), ngf, input_nc/output_nc and norm from its keys and shapes; dropout too for a
    ResNet (its dropout layer shifts the keys). A U-Net's dropout leaves no trace in the keys and does
    nothing in eval mode: it is False unless ``arch`` says otherwise.

    ``arch`` holds what the study states, only the fields the user set: ``family`` ("resnet" | "unet"),
    ``netG`` (pix2pix's name: resnet_9blocks, unet_256, ...), ``ngf``, ``n_blocks`` (resnet), ``num_downs``
    (unet), ``norm``, ``dropout``, ``input_nc``, ``output_nc``; a value that contradicts the checkpoint is an
    error. Returns (network in eval mode, {"family": ..., **constructor kwargs}).
    """
    path = Path(path)
    state = read_state_dict(path)
    given = _normalise_arch(arch or {})
    found = infer_config(state)
    family = found.get("family") or given.get("family")
    if family is None:
        raise GanasError(f"{path} holds no pytorch-CycleGAN-and-pix2pix generator (expected model.1.weight of a "
                         f"ResNet or model.model.0.weight of a U-Net; found {_some(state)}){_hint(state)}: "
                         "point teacher.checkpoint to a *_net_G*.pth file")
    if given.get("family", family) != family:
        raise GanasError(f"{path} holds a {family} generator but the study says {given['family']}: "
                         f"set teacher.family to {family} or leave it out")
    config = {}
    for k in _FIELDS[family]:
        if k in given and k in found and given[k] != found[k]:
            raise GanasError(f"{path} holds a {family} generator with {k}={found[k]!r} but the study says "
                             f"{given[k]!r}: set teacher.{k} to {found[k]!r} or leave it out to infer it")
        if k in found or k in given:
            config[k] = found.get(k, given.get(k))
    if family == "unet":
        config.setdefault("dropout", False)
    extra = sorted(set(given) - set(_FIELDS[family]) - {"family"})
    if extra:
        raise GanasError(f"teacher field {extra[0]!r} does not apply to a {family} generator: remove it")
    missing = [k for k in _FIELDS[family] if k not in config]
    if missing:
        raise GanasError(f"{path}: cannot tell the {family} generator's {', '.join(missing)} from its keys: "
                         f"set teacher.{missing[0]} in the study")
    net = _BUILD[family](**config)
    _load(net, state, path, family, config)
    return net.eval(), {"family": family, **config}


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint, with a DataParallel ``module.`` prefix removed."""
    if not path.is_file():
        raise GanasError(f"teacher checkpoint {path} does not exist: check teacher.checkpoint")
    try:  # not ganas.io.load_checkpoint: its advice (delete the file, rerun the stage) does not fit a user's file
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types: not a torch file, truncated, pickled code
        first = (str(e).splitlines() or [""])[0][:100]
        raise GanasError(f"teacher checkpoint {path} cannot be read as tensors ({type(e).__name__}: {first}): "
                         "save the generator's state_dict() with torch.save") from None
    if isinstance(obj, dict) and not all(isinstance(v, torch.Tensor) for v in obj.values()):
        # Wrapped state_dicts (ganas's own teacher.pt, many training scripts) keep it under "state_dict".
        obj = obj.get("state_dict") if isinstance(obj.get("state_dict"), dict) else None
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise GanasError(f"teacher checkpoint {path} is not a state_dict of tensors: save the generator's "
                         "state_dict() with torch.save")
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return dict(obj)


def infer_config(state: dict[str, torch.Tensor]) -> dict:
    """What the keys and shapes say: {"family", ...constructor kwargs}; {} when no generator is recognised."""
    norm = "batch" if any(k.endswith(".running_mean") and k[: -len("running_mean")] + "weight" in state
                          for k in state) else "instance"
    stem = state.get("model.1.weight")
    if stem is not None and stem.dim() == 4 and stem.shape[-1] == 7:
        second = state.get(f"model.{_RESNET_TRUNK}.conv_block.6.weight")  # a conv only when Dropout shifts it
        blocks = sorted({int(m.group(1)) for k in state if (m := re.match(r"model\.(\d+)\.conv_block\.", k))})
        last = max(int(m.group(1)) for k in state if (m := re.fullmatch(r"model\.(\d+)\.weight", k)))
        return {"family": "resnet", "input_nc": stem.shape[1], "output_nc": state[f"model.{last}.weight"].shape[0],
                "ngf": stem.shape[0], "n_blocks": len(blocks), "norm": norm,
                "dropout": second is not None and second.dim() == 4}
    first = state.get("model.model.0.weight")
    if first is not None and first.dim() == 4:
        levels, prefix = 1, "model.model.1.model."
        while any(k.startswith(prefix) for k in state):
            levels, prefix = levels + 1, prefix + "3.model."
        found = {"family": "unet", "input_nc": first.shape[1], "num_downs": levels, "ngf": first.shape[0],
                 "norm": norm}
        last = state.get("model.model.3.weight")
        if last is not None and last.dim() == 4:
            found["output_nc"] = last.shape[1]
        return found
    return {}


def _normalise_arch(arch: dict) -> dict:
    given = {k: v for k, v in arch.items() if v is not None}
    net = given.pop("netG", None)
    if net is not None:
        m = re.fullmatch(r"resnet_(\d+)blocks|unet_(\d+)", str(net))
        size = int(m.group(2)) if m and m.group(2) else 0
        if not m or (size and size & (size - 1)):
            raise GanasError(f"unknown netG {net!r}: use resnet_<N>blocks (e.g. resnet_9blocks) or unet_<2^N> "
                             "(e.g. unet_256)")
        implied = ({"family": "resnet", "n_blocks": int(m.group(1))} if m.group(1)
                   else {"family": "unet", "num_downs": size.bit_length() - 1})
        clash = [k for k, v in implied.items() if given.get(k, v) != v]
        if clash:
            raise GanasError(f"netG {net!r} contradicts {clash[0]}={given[clash[0]]!r}: give one of them")
        given.update(implied)
    if given.get("family") not in (None, *_BUILD):
        raise GanasError(f"unknown teacher family {given['family']!r}: choose one of {', '.join(_BUILD)}")
    return given


def _load(net: nn.Module, state: dict, path: Path, family: str, config: dict) -> None:
    expected = net.state_dict()
    modules = dict(net.named_modules())
    state = dict(state)
    for k in list(state):
        owner, _, leaf = k.rpartition(".")
        if leaf in _STALE_NORM_KEYS and isinstance(modules.get(owner), nn.InstanceNorm2d) and k not in expected:
            del state[k]
    for k, v in expected.items():
        if k.endswith(".num_batches_tracked") and k not in state:
            state[k] = torch.zeros_like(v)
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
              if k in state and state[k].shape != v.shape]
    if missing or unexpected or shapes:
        parts = [f"{name} ({len(keys)}): {', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''}"
                 for name, keys in (("missing", missing), ("unexpected", unexpected),
                                    ("wrong shape, file vs expected", shapes)) if keys]
        described = ", ".join(f"{k}={v}" for k, v in config.items())
        raise GanasError(f"{path} does not match a pix2pix {family} generator with {described}: "
                         f"{'; '.join(parts)}: check it is a generator saved by pytorch-CycleGAN-and-pix2pix "
                         "and that the study's teacher fields (if set) describe it")
    net.load_state_dict(state)


def _some(state: dict) -> str:
    keys = list(state)
    return ", ".join(keys[:3]) + (", ..." if len(keys) > 3 else "")


def _hint(state: dict) -> str:
    w = state.get("model.0.weight")
    if w is not None and w.dim() == 4 and w.shape[-1] == 4:
        return "; it looks like a discriminator (net_D)"
    return ""
