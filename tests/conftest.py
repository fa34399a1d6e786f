import types

import pytest
import torch


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def fake_splits(n=24, size=(32, 32), in_nc=1, out_nc=1, seed=0):
    """Random tensors shaped like ganas.data.Splits, for training-mechanics tests that need no real images."""
    g = torch.Generator().manual_seed(seed)

    def pairs():
        return types.SimpleNamespace(inputs=torch.rand(n, in_nc, *size, generator=g) * 2 - 1,
                                     targets=torch.rand(n, out_nc, *size, generator=g) * 2 - 1,
                                     labels=torch.zeros(n, dtype=torch.long))

    return types.SimpleNamespace(train=pairs(), search=pairs(), test=pairs(), input_nc=in_nc, output_nc=out_nc,
                                 size=size)
