"""Where the study's teacher section becomes a concrete teacher config, and where each supernet family takes
the constructor / cost keyword arguments that follow from its teacher: the one place the pipeline asks.

A teacher config is ``{"family": "resnet" | "unet", **constructor kwargs}``, the form ``import_teacher`` returns.
"""
from __future__ import annotations

import math
from typing import Callable

from ..errors import GanasError
from .pix2pix_import import _normalise_arch, import_teacher
from .unet import DEPTHS

DEFAULTS = {"ngf": 32, "n_blocks": 9, "norm": "instance", "dropout": False}
_ARCH_FIELDS = ("netG", "family", "ngf", "n_blocks", "num_downs", "norm", "dropout")


def given_arch(teacher) -> dict:
    """The architecture fields the study sets (a TeacherConfig's non-None ones)."""
    return {k: getattr(teacher, k) for k in _ARCH_FIELDS if getattr(teacher, k) is not None}


def resolve_teacher(teacher, input_nc: int, output_nc: int, height: int, width: int, base_dir=".") -> dict:
    """The teacher config a study asks for: read from ``teacher.checkpoint`` (checked against what the study
    sets and against the data's channels), or, to train one, the study's fields with the defaults in
    ganas.config.TeacherConfig. A U-Net's default depth takes the shorter image side to 1x1, like unet_256
    at 256x256."""
    given = given_arch(teacher)
    if teacher.checkpoint:
        from pathlib import Path
        path = Path(teacher.checkpoint)
        path = path if path.is_absolute() else Path(base_dir) / path
        _, cfg = import_teacher(path, given)
        for name, data_nc in (("input_nc", input_nc), ("output_nc", output_nc)):
            if cfg[name] != data_nc:
                raise GanasError(f"teacher checkpoint {path} has {name}={cfg[name]} but the data gives {data_nc} "
                                 f"channels: set data.{name} to {cfg[name]}")
        return cfg
    if given.get("family") not in (None, "resnet", "unet"):
        # Another family (e.g. an unconditional one whose teacher is its own full network) is built by its own
        # stage code from what the study gives.
        return dict(given)
    arch = _normalise_arch(given)  # netG -> family and depth, with its clashes reported
    family = arch.pop("family", "resnet")
    cfg = {"family": family, "input_nc": input_nc, "output_nc": output_nc,
           **{k: arch.pop(k, DEFAULTS[k]) for k in ("ngf", "norm", "dropout")}}
    if family == "resnet":
        cfg["n_blocks"] = arch.pop("n_blocks", DEFAULTS["n_blocks"])
    else:
        cfg["num_downs"] = arch.pop("num_downs", max(2, int(math.log2(min(height, width)))))
    if arch:
        raise GanasError(f"teacher.{sorted(arch)[0]} does not apply to a {family} teacher: remove it")
    return cfg


def teacher_kwargs(cfg: dict) -> dict:
    """A teacher config without its family: the constructor's keyword arguments."""
    return {k: v for k, v in cfg.items() if k != "family"}


def teacher_cost_kwargs(cfg: dict) -> dict:
    """The teacher's cost-function keyword arguments (dropout costs nothing and resnet's count_cost omits it)."""
    return {k: v for k, v in teacher_kwargs(cfg).items() if k != "dropout"}


def _mobile_resnet(teacher: dict) -> dict:
    if teacher["family"] != "resnet":
        raise GanasError(f"supernet family mobile_resnet distils a resnet teacher, not a {teacher['family']} one: "
                         f"use supernet family unet_{2 ** teacher['num_downs']} with a unet search space")
    return {"n_blocks": teacher["n_blocks"]}  # the distilled points follow the block count


def _unet(levels: int) -> Callable[[dict], dict]:
    def kwargs(teacher: dict) -> dict:
        if teacher["family"] != "unet" or teacher["num_downs"] != levels:
            fix = (f"use supernet family unet_{2 ** teacher['num_downs']}" if teacher["family"] == "unet"
                   else "use supernet family mobile_resnet")
            what = f"{teacher['num_downs']} levels" if teacher["family"] == "unet" else "a resnet"
            raise GanasError(f"supernet family unet_{2 ** levels} distils a unet teacher of {levels} levels, the "
                             f"teacher is {what}: {fix} (and a search space for it)")
        return {}  # the depth is in the family's name; the widths say the rest
    return kwargs


# family -> teacher config -> the extra keyword arguments of its constructor and cost function. A family not
# listed here takes none.
SUPERNET_KWARGS: dict[str, Callable[[dict], dict]] = {
    "mobile_resnet": _mobile_resnet,
    **{name: _unet(levels) for name, levels in DEPTHS.items()},
}


def supernet_kwargs(family: str, teacher: dict) -> dict:
    """The keyword arguments (besides widths and channels) a ``family`` supernet distilled from ``teacher`` is
    built and costed with; a teacher it cannot be distilled from is a one-line GanasError."""
    fn = SUPERNET_KWARGS.get(family)
    return fn(teacher) if fn is not None else {}
