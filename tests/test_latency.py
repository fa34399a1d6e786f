"""ganas.metrics.latency: batch 1, warm-up, median of repeats, threads fixed and restored."""
import pytest
import torch
from torch import nn

from ganas.metrics.latency import measure_latency


class Counting(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.calls, self.shapes, self.grad = 0, set(), set()

    def forward(self, x):
        self.calls += 1
        self.shapes.add(tuple(x.shape))
        self.grad.add(torch.is_grad_enabled())
        return self.conv(x)


def test_warmup_repeats_batch_one_and_inference_mode():
    net = Counting().train()
    r = measure_latency(net, (3, 16, 16), device="cpu", warmup=2, repeats=5)
    assert net.calls == 7 and net.shapes == {(1, 3, 16, 16)} and net.grad == {False} and not net.training
    assert 0 < r["min_ms"] <= r["median_ms"] <= r["max_ms"] and r["repeats"] == 5 and r["input_shape"] == [1, 3, 16, 16]


def test_threads_are_fixed_during_the_timing_and_restored():
    seen = []
    before = torch.get_num_threads()
    measure_latency(lambda x: seen.append(torch.get_num_threads()), (3, 8, 8), device="cpu", threads=1, repeats=3)
    assert set(seen) == {1} and torch.get_num_threads() == before


def test_thread_clock_counts_work_not_waiting():
    import time
    sleepy = measure_latency(lambda x: time.sleep(0.02), (1,), device="cpu", threads=1, repeats=3, clock="thread")
    assert sleepy["median_ms"] < 10  # sleeping is not work on this thread
    with pytest.raises(ValueError, match="threads=1"):
        measure_latency(lambda x: x, (1,), device="cpu", threads=2, clock="thread")
