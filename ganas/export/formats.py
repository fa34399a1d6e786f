"""The files of one exported network, each checked against a reference output before it counts as written.

An export folder holds:

- ``model.pt``: the static network's state_dict and ``config.json``: its family and constructor config.
  ``ganas.export.load_exported`` rebuilds it with the family's plain static class (no supernet code); it is
  also what fine-tuning trains.
- ``model.torchscript.pt``: the inference build (ganas.export.lean), traced and frozen; ``torch.jit.load``
  runs it with nothing but torch.
- ``model.onnx``: the static network as ONNX (opset 17), batch axis dynamic; ONNX Runtime optimises the graph
  when it loads it.

``config.json`` is written last, so its presence marks a complete export; it records each file's check.
"""
from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..errors import GanasError
from ..io import load_checkpoint, save_checkpoint, write_bytes, write_json
from .lean import make_lean

FILES = {"pytorch": "model.pt", "torchscript": "model.torchscript.pt", "onnx": "model.onnx"}
LABELS = {"pytorch": "PyTorch state_dict", "inference": "PyTorch inference build", "torchscript": "TorchScript",
          "onnx": "ONNX (onnxruntime)"}
TOLERANCE = 1e-4      # max |output difference|; outputs are images in [-1, 1]
ONNX_OPSET = 17
# Families whose forward has no Python arithmetic on the input size, so traced graphs run at any size.
SIZE_FREE = frozenset({"mobile_resnet"})


class OnnxRunner:
    """An ONNX Runtime CPU session as a callable on torch tensors (what the checks and the benchmark time)."""

    def __init__(self, model: str | Path | bytes, threads: int | None = None):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads, opts.inter_op_num_threads = int(threads), 1
        self.session = ort.InferenceSession(model if isinstance(model, bytes) else str(model), opts,
                                            providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.session.run(None, {self.input: x.detach().cpu().numpy()})[0])


def build_network(family: str, config: dict, state_dict: dict) -> nn.Module:
    from ..models import create_subnet

    net = create_subnet(family, **config)
    net.load_state_dict(state_dict)
    return net.eval()


def load_torchscript(path: str | Path, map_location=None) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch 2.14 steers towards torch.export; TorchScript still runs
        return torch.jit.load(str(path), map_location=map_location)


def torchscript_bytes(net: nn.Module, example: torch.Tensor) -> bytes:
    """The inference build of ``net``, traced on ``example`` and frozen (weights inlined as constants)."""
    lean = make_lean(net)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.freeze(torch.jit.trace(lean, example, check_trace=False).eval())
        buf = io.BytesIO()
        torch.jit.save(traced, buf)
    return buf.getvalue()


def onnx_bytes(net: nn.Module, example: torch.Tensor, size_free: bool) -> bytes:
    """``net`` as ONNX through torch's TorchScript-based exporter (``dynamo=False``): the dynamo exporter,
    torch's default since 2.9, needs the onnxscript package; this one needs only onnx and is still in torch."""
    axes = {0: "batch", 2: "height", 3: "width"} if size_free and example.dim() == 4 else {0: "batch"}
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice and constant-folding chatter
        torch.onnx.export(net, (example,), buf, dynamo=False, opset_version=ONNX_OPSET, input_names=["input"],
                          output_names=["output"], dynamic_axes={"input": axes, "output": axes})
    return buf.getvalue()


@torch.no_grad()
def _diff(run: Callable, inputs: torch.Tensor, reference: torch.Tensor) -> float:
    out = run(inputs)
    if out.shape != reference.shape:
        return float("inf")
    return float((out.float() - reference).abs().max())


def write_export(folder: Path, net: nn.Module, family: str, inputs: torch.Tensor, reference: torch.Tensor,
                 meta: dict, against: str) -> dict:
    """Write every format of the static network ``net`` into ``folder``, each checked to reproduce
    ``reference`` (the output that ``net`` must match, e.g. the supernet slice's) on ``inputs``; print the
    checks; write ``config.json`` (``meta`` plus the checks) last and return it.

    The state_dict must pass its check (a failure is a bug and raises); TorchScript or ONNX that cannot be
    written or do not match are left out and reported, and the export still counts.
    """
    folder.mkdir(parents=True, exist_ok=True)
    net = net.cpu().eval()
    inputs, reference = inputs.cpu(), reference.cpu().float()
    config = json.loads(json.dumps(net.config))  # plain JSON types: what config.json will hold
    example = inputs[:1]
    checks: dict[str, dict] = {}

    save_checkpoint({k: v.detach().clone() for k, v in net.state_dict().items()}, folder / FILES["pytorch"])
    rebuilt = build_network(family, config, load_checkpoint(folder / FILES["pytorch"], "exported subnet"))
    checks["pytorch"] = {"file": FILES["pytorch"], "max_abs_diff": _diff(rebuilt, inputs, reference)}
    checks["inference"] = {"file": FILES["pytorch"], "max_abs_diff": _diff(make_lean(rebuilt), inputs, reference)}
    for name, make, load in (
            ("torchscript", lambda: torchscript_bytes(rebuilt, example), load_torchscript),
            ("onnx", lambda: onnx_bytes(rebuilt, example, family in SIZE_FREE), lambda p: OnnxRunner(p, threads=1))):
        path = folder / FILES[name]
        try:
            write_bytes(path, make())
            checks[name] = {"file": FILES[name], "max_abs_diff": _diff(load(path), inputs, reference)}
        except Exception as e:  # exporters raise many types for an op they cannot express
            checks[name] = {"error": f"{type(e).__name__}: {str(e).strip().splitlines()[0][:200] if str(e).strip() else ''}"}
        if checks[name].get("max_abs_diff", 0.0) > TOLERANCE:
            checks[name]["error"] = f"output differs by {checks[name]['max_abs_diff']:.2g} > {TOLERANCE:g}"
        if "error" in checks[name] and path.exists():
            path.unlink()
    for name in ("pytorch", "inference"):
        if checks[name]["max_abs_diff"] > TOLERANCE:
            raise RuntimeError(f"exported {family} ({LABELS[name]}) differs from {against} by "
                               f"{checks[name]['max_abs_diff']:.3g} > {TOLERANCE:g}: this is a bug in ganas")
    for c in checks.values():
        c["ok"] = "error" not in c
    info = {**meta, "family": family, "config": config, "input_shape": list(example.shape[1:]),
            "checked_against": against, "checked_on": int(len(inputs)), "tolerance": TOLERANCE, "formats": checks}
    print_checks(info)
    write_json(folder / "config.json", info)  # last: its presence marks the export complete
    return info


def print_checks(info: dict) -> None:
    print(f"  checked against {info['checked_against']} on {info['checked_on']} inputs "
          f"(tolerance {info['tolerance']:g} on outputs in [-1, 1]):")
    for name in LABELS:
        c = info["formats"].get(name)
        if c is None:
            continue
        what = f"{LABELS[name]:<24} {c['file'] if name != 'inference' else '(load_exported(..., inference=True))'}"
        if c["ok"]:
            print(f"    {what:<64} max |diff| {c['max_abs_diff']:.1e}  ok")
        else:
            print(f"    {LABELS[name]:<24} not written: {c['error']}")


def read_export(folder: str | Path) -> dict:
    folder = Path(folder)
    path = folder / "config.json"
    if not path.is_file():
        raise GanasError(f"{folder} is not an exported subnet (no config.json): run `ganas export` first")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise GanasError(f"{path} is not valid JSON ({e}): delete the folder and export again") from None


def load_exported(folder: str | Path, weights: str = "model.pt", inference: bool = False) -> nn.Module:
    """Rebuild an exported subnet from its folder with the family's plain static class (no supernet code).

    ``inference=True`` returns its inference build (channels-last, lean; not trainable) instead.
    """
    folder = Path(folder)
    cfg = read_export(folder)
    state = load_checkpoint(folder / weights, "exported subnet")
    try:
        net = build_network(cfg["family"], cfg["config"], state)
    except (RuntimeError, KeyError, TypeError):
        raise GanasError(f"{folder / weights} does not match {folder / 'config.json'}: export the subnet again") from None
    return make_lean(net) if inference else net
