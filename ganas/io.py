"""Atomic writes and safe checkpoint loading, shared by every stage."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from .errors import GanasError


def _atomic(path: Path, write) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def save_checkpoint(obj: Any, path: Path) -> Path:
    """torch.save to a temp file in the same folder, then rename: a kill never leaves half a file."""
    return _atomic(path, lambda f: torch.save(obj, f))


def write_text(path: Path, text: str) -> Path:
    return _atomic(path, lambda f: f.write(text.encode()))


def write_bytes(path: Path, data: bytes) -> Path:
    return _atomic(path, lambda f: f.write(data))


def write_json(path: Path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def load_checkpoint(path: Path, what: str = "checkpoint") -> Any:
    path = Path(path)
    if not path.is_file():
        raise GanasError(f"{what} {path} does not exist: check the path, or delete the run folder to retrain")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for corrupt files
        raise GanasError(f"{what} {path} cannot be read ({type(e).__name__}: {str(e).splitlines()[0][:120]}): "
                         "delete it and rerun the stage that writes it") from None


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
