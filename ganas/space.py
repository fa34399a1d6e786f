"""A search space: the width choices of every layer of one generator family, read from a YAML file."""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import yaml

from .arch import Arch
from .config import read_text
from .errors import GanasError
from .models import EXITS, LAYERS


@dataclass(frozen=True)
class SearchSpace:
    family: str
    choices: dict  # layer name -> tuple of widths, largest first (and "resolution" -> output sides, where searched)

    @property
    def layers(self) -> tuple:
        return tuple(self.choices)

    def largest(self) -> Arch:
        return Arch({k: max(v) for k, v in self.choices.items()})

    def smallest(self) -> Arch:
        return Arch({k: min(v) for k, v in self.choices.items()})

    def sample(self, rng: random.Random) -> Arch:
        return Arch({k: rng.choice(v) for k, v in self.choices.items()})

    @property
    def size(self) -> int:
        return math.prod(len(v) for v in self.choices.values())

    def contains(self, arch) -> bool:
        return set(arch) == set(self.choices) and all(arch[k] in v for k, v in self.choices.items())


def load_space(path: str | Path) -> SearchSpace:
    """YAML: ``family:`` and ``channels:``, either one list for every layer or a mapping layer -> list; a family
    with resolution exits may add ``resolutions:`` (output sides to search, e.g. [32, 16, 8])."""
    path = Path(path)
    if not path.is_file():
        raise GanasError(f"search space {path} not found: set supernet.search_space to a file under search_spaces/")
    try:
        raw = yaml.safe_load(read_text(path, "search space"))
    except yaml.YAMLError as e:
        raise GanasError(f"search space {path} is not valid YAML ({str(e).splitlines()[0]}): fix the syntax") from None
    if not isinstance(raw, dict) or "family" not in raw or "channels" not in raw:
        raise GanasError(f"search space {path} needs 'family:' and 'channels:' keys")
    unknown = sorted(set(raw) - {"family", "channels", "resolutions", "description"})
    if unknown:
        raise GanasError(f"search space {path}: unknown key {unknown[0]!r}; allowed: family, channels, resolutions, "
                         "description")
    family = raw["family"]
    if family not in LAYERS:
        raise GanasError(f"search space {path}: unknown family {family!r}; choose one of {', '.join(LAYERS)}")
    layers, channels = LAYERS[family], raw["channels"]
    if isinstance(channels, list):
        channels = {k: channels for k in layers}
    if not isinstance(channels, dict):
        raise GanasError(f"search space {path}: channels must be a list or a mapping of layer -> list")
    extra = sorted(set(channels) - set(layers))
    missing = [k for k in layers if k not in channels]
    if extra or missing:
        raise GanasError(f"search space {path}: layers {extra or missing} are {'unknown' if extra else 'missing'}; "
                         f"{family} has {', '.join(layers)}")
    choices = {}
    for k in layers:
        v = channels[k]
        if not isinstance(v, list) or not v or not all(isinstance(c, int) and c > 0 for c in v):
            raise GanasError(f"search space {path}: channels of {k} must be a non-empty list of positive integers")
        choices[k] = tuple(sorted(set(v), reverse=True))
    if "resolutions" in raw:
        sides, allowed = raw["resolutions"], EXITS.get(family, ())
        if not isinstance(sides, list) or not sides or not all(isinstance(r, int) and r in allowed for r in sides):
            raise GanasError(f"search space {path}: resolutions must be a non-empty list of {family}'s exits "
                             f"({', '.join(map(str, allowed)) or 'it has none: remove the key'})")
        choices["resolution"] = tuple(sorted(set(sides), reverse=True))
    return SearchSpace(family, choices)
