"""What the report shows of an unconditional study: real images beside generated ones, not input/target pairs."""
from __future__ import annotations

import torch

from ..metrics.unconditional import to_side


@torch.no_grad()
def sample_columns(data, teacher, subnet, label: str, n: int) -> list[tuple[str, torch.Tensor]]:
    """Columns of the samples plot: held-out real images, then the teacher (the full network) and the subnet on the
    same fixed latents; a lower-resolution subnet's preview is shown at the data's size."""
    side = data.targets.shape[-1]
    z = data.inputs[:n]
    return [("real", data.targets[:n]), ("teacher (full network)", to_side(teacher.eval()(z), side)),
            (label, to_side(subnet.eval()(z), side))]
