"""One resumable training loop for every stage.

The loop owns checkpointing: weights, optimiser states, the step counter and the RNG states are saved
atomically every few seconds and at the end, so a killed stage continues where it stopped and a resumed run
draws the same batches and subnets it would have drawn.
"""
from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from tqdm import tqdm

from ..errors import GanasError
from ..io import load_checkpoint, save_checkpoint


class Rng:
    """The random sources a stage may use; made before its networks, and part of its checkpoint."""

    def __init__(self, seed: int):
        torch.manual_seed(seed)  # weight initialisation of whatever the stage builds next
        self.py = random.Random(seed)
        self.torch = torch.Generator().manual_seed(seed)

    def state(self) -> dict:
        return {"py": list(self.py.getstate()[1]), "py_version": self.py.getstate()[0],
                "torch": self.torch.get_state(), "global_torch": torch.get_rng_state()}

    def load(self, s: dict) -> None:
        self.py.setstate((s["py_version"], tuple(s["py"]), None))
        self.torch.set_state(s["torch"])
        torch.set_rng_state(s["global_torch"])

    def batch(self, n: int, size: int) -> torch.Tensor:
        return torch.randint(n, (min(size, n),), generator=self.torch)


def train(name: str, run_dir: Path, modules: dict[str, nn.Module], optims: dict[str, torch.optim.Optimizer],
          step_fn: Callable[[int], dict], steps: int, rng: Rng, save_every_s: float = 30.0,
          show_progress: bool = True) -> None:
    """Run ``step_fn(step)`` for steps [resumed step, steps); ``run_dir/<name>.state.pt`` holds the state."""
    run_dir.mkdir(parents=True, exist_ok=True)
    state_path = run_dir / f"{name}.state.pt"
    log_path = run_dir / f"{name}.log.jsonl"
    start = 0
    if state_path.exists():
        state = load_checkpoint(state_path, f"{name} training state")
        try:
            for k, m in modules.items():
                m.load_state_dict(state["modules"][k])
            for k, o in optims.items():
                o.load_state_dict(state["optims"][k])
        except (KeyError, RuntimeError) as e:
            raise GanasError(f"{state_path} does not match this study's {name} ({str(e).splitlines()[0][:100]}): "
                             f"delete it to train {name} from scratch") from None
        rng.load(state["rng"])
        start = int(state["step"])

    def save(step: int) -> None:
        save_checkpoint({"modules": {k: m.state_dict() for k, m in modules.items()},
                         "optims": {k: o.state_dict() for k, o in optims.items()},
                         "step": step, "rng": rng.state()}, state_path)

    for m in modules.values():
        m.train()
    last_save = time.monotonic()
    bar = tqdm(total=steps, initial=start, desc=f"train {name}", disable=not show_progress, dynamic_ncols=True)
    with bar, open(log_path, "a") as log:
        for step in range(start, steps):
            logs = step_fn(step)
            bar.update(1)
            if step % 20 == 0 or step == steps - 1:
                bar.set_postfix({k: f"{v:.3g}" for k, v in logs.items()})
                log.write(json.dumps({"step": step, **logs}) + "\n")
            if time.monotonic() - last_save > save_every_s:
                save(step + 1)
                last_save = time.monotonic()
    if steps > start:
        save(steps)
