"""Stage `export`: cut chosen subnets out of the supernet into standalone networks (PyTorch state_dict +
config, TorchScript, ONNX), each checked against the supernet slice, plus their inference build."""
from ._export import export_pareto, export_subnet, export_trials, select_trials
from .formats import FILES, OnnxRunner, load_exported, read_export, write_export
from .lean import make_lean

__all__ = ["export_subnet", "export_pareto", "export_trials", "select_trials", "load_exported", "read_export",
           "write_export", "make_lean", "OnnxRunner", "FILES"]
