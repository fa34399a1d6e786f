"""The study file: frozen dataclasses, one loader that names the bad field and the allowed values.

Every field has a default that suits a small CPU run, so a study file says only what differs.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

import yaml

from .errors import GanasError


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "fashion_mnist_edges2shoes"  # registered dataset name (ganas.data.DATASETS)
    path: Optional[str] = None        # folder with the gzipped IDX files; default: Debian's dataset-fashion-mnist
    size: int = 32                    # images are padded (28 -> 32) to this square size
    classes: tuple = (5, 7, 9)        # Fashion-MNIST labels kept: sandal, sneaker, ankle boot
    search_holdout: int = 1000        # images cut from the training set for the search; never trained on
    limit_train: Optional[int] = None  # keep only this many training images (tests, quick runs)
    limit_test: Optional[int] = None


@dataclass(frozen=True)
class TeacherConfig:
    family: str = "resnet"
    ngf: int = 32
    n_blocks: int = 9
    norm: str = "instance"
    dropout: bool = False
    checkpoint: Optional[str] = None  # import a trained generator instead of training one
    steps: int = 1000
    batch_size: int = 16
    lr: float = 2e-4
    lambda_recon: float = 100.0
    gan_loss: str = "lsgan"           # lsgan | hinge | vanilla
    ndf: int = 32


@dataclass(frozen=True)
class SupernetConfig:
    family: str = "mobile_resnet"
    search_space: str = "search_spaces/quickstart.yaml"  # relative to the study file's repo root or absolute
    mode: str = "distill"
    steps: int = 1500
    batch_size: int = 16
    lr: float = 2e-4
    lambda_recon: float = 100.0
    lambda_distill: float = 1.0
    lambda_gan: float = 1.0
    gan_loss: str = "hinge"
    ndf: int = 32


@dataclass(frozen=True)
class SearchConfig:
    objectives: tuple = ("domain_fid", "macs")  # all minimised; first is the quality the export ranks by
    budgets: dict = field(default_factory=lambda: {"macs": "12.5%"})  # number = absolute; "N%" = of the teacher
    sampler: str = "tpe"              # tpe | nsga2 | random | gp | grid
    n_trials: int = 40
    workers: int = 2                  # Ray actors; 0 = evaluate in this process
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    eval_images: int = 500            # held-out images each trial is scored on
    ray_address: Optional[str] = None  # join this cluster; default: start a local one
    storage: Optional[str] = None     # Optuna storage URL; default: a journal file in the run folder


@dataclass(frozen=True)
class ExportConfig:
    trial: Optional[int] = None       # default: best quality within the budgets


@dataclass(frozen=True)
class FinetuneConfig:
    steps: int = 300
    batch_size: int = 16
    lr: float = 1e-4


@dataclass(frozen=True)
class StudyConfig:
    name: str
    seed: int = 0
    run_dir: str = "runs/{name}"      # checkpoints, study storage, exports
    report_dir: str = "reports/{name}"
    data: DataConfig = field(default_factory=DataConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    supernet: SupernetConfig = field(default_factory=SupernetConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    base_dir: str = "."               # folder relative paths are resolved against (set by the loader)

    @property
    def run_path(self) -> Path:
        return self.resolve(self.run_dir.format(name=self.name))

    @property
    def report_path(self) -> Path:
        return self.resolve(self.report_dir.format(name=self.name))

    def resolve(self, p: str | Path) -> Path:
        p = Path(p)
        return p if p.is_absolute() else Path(self.base_dir) / p

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


CHOICES = {
    ("teacher", "norm"): ("instance", "batch"),
    ("teacher", "gan_loss"): ("lsgan", "hinge", "vanilla"),
    ("supernet", "gan_loss"): ("lsgan", "hinge", "vanilla"),
    ("supernet", "mode"): ("distill",),
    ("search", "sampler"): ("tpe", "nsga2", "random", "gp", "grid"),
}
OBJECTIVES = ("domain_fid", "accuracy_error", "l1", "macs", "params")
_SIZE = re.compile(r"^\s*([0-9.eE+-]+)\s*([KMG]?)\s*$")


def parse_budget(value: Any, teacher_value: float) -> float:
    """A budget: a number (absolute), '2.5G' / '300M' (absolute with a unit) or '12.5%' (of the teacher)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    s = str(value).strip()
    try:
        if s.endswith("%"):
            return float(s[:-1]) / 100 * teacher_value
        m = _SIZE.match(s)
        if m:
            return float(m.group(1)) * {"": 1, "K": 1e3, "M": 1e6, "G": 1e9}[m.group(2)]
    except ValueError:
        pass
    raise GanasError(f"budget {value!r} is not a number, a size like '2.5G' or a share like '12.5%': fix it in "
                     "the study's search.budgets")


def _build(cls, raw: Any, where: str):
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise GanasError(f"{where} must be a mapping of keys to values, got {type(raw).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(known) - {"base_dir"})
    if unknown:
        raise GanasError(f"unknown key {where}.{unknown[0]}: allowed keys are {', '.join(sorted(known))}")
    kwargs = {}
    for name, value in raw.items():
        f = known[name]
        sub = _SECTIONS.get(name) if cls is StudyConfig else None
        if sub is not None:
            kwargs[name] = _build(sub, value, name)
            continue
        kwargs[name] = _check_type(value, f, f"{where}.{name}" if where else name)
        allowed = CHOICES.get((where, name))
        if allowed and kwargs[name] not in allowed:
            raise GanasError(f"{where}.{name} = {value!r} is not allowed: choose one of {', '.join(allowed)}")
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise GanasError(f"{where or 'study'}: {e}") from None


def _check_type(value, f, name):
    if f.default is not dataclasses.MISSING:
        default = f.default
    elif f.default_factory is not dataclasses.MISSING:
        default = f.default_factory()
    else:
        default = ""  # the one required field, name, is a string
    want = type(default)
    if default is None or value is None:
        return value
    if want is tuple:
        if not isinstance(value, (list, tuple)):
            raise GanasError(f"{name} must be a list, got {value!r}")
        return tuple(value)
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if want is dict and not isinstance(value, dict):
        raise GanasError(f"{name} must be a mapping, got {value!r}")
    if want is not dict and not isinstance(value, want) or (want is int and isinstance(value, bool)):
        raise GanasError(f"{name} must be {want.__name__}, got {value!r}")
    return value


_SECTIONS = {"data": DataConfig, "teacher": TeacherConfig, "supernet": SupernetConfig, "search": SearchConfig,
             "export": ExportConfig, "finetune": FinetuneConfig}


def load_study(path: str | Path, overrides: dict | None = None) -> StudyConfig:
    """Read and validate a study file (or a run folder's study.json); relative paths are resolved against the
    current folder."""
    path = Path(path)
    if path.is_dir() and (path / "study.json").is_file():
        path = path / "study.json"
    elif path.is_dir():
        raise GanasError(f"{path} is a folder without study.json: give a study YAML or a run folder of ganas")
    if not path.is_file():
        raise GanasError(f"study file {path} not found: give the path of a YAML file such as studies/quickstart.yaml")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise GanasError(f"study file {path} is not valid YAML{at}: {getattr(e, 'problem', e)}; fix the syntax") from None
    if not isinstance(raw, dict):
        raise GanasError(f"study file {path} must be a YAML mapping with at least 'name:'")
    raw.setdefault("name", path.stem)
    for section, values in (overrides or {}).items():
        raw.setdefault(section, {}).update(values)
    study = _build(StudyConfig, raw, "")
    validate(study)
    return study


def validate(s: StudyConfig) -> None:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", s.name):
        raise GanasError(f"name {s.name!r} may hold only letters, digits, '_', '.', '-': it names the run folder")
    bad = [o for o in s.search.objectives if o not in OBJECTIVES]
    if bad or not s.search.objectives:
        raise GanasError(f"search.objectives has {bad or 'nothing'}: choose from {', '.join(OBJECTIVES)}")
    for key in s.search.budgets:
        if key not in ("macs", "params"):
            raise GanasError(f"search.budgets.{key} is not a budget: use macs or params")
    for sec, name in (("teacher", "steps"), ("supernet", "steps"), ("search", "n_trials"), ("finetune", "steps"),
                      ("teacher", "batch_size"), ("supernet", "batch_size"), ("search", "eval_images")):
        v = getattr(getattr(s, sec), name)
        if v < (0 if name == "steps" else 1):
            raise GanasError(f"{sec}.{name} = {v} must be positive")
    if s.search.workers < 0:
        raise GanasError(f"search.workers = {s.search.workers} must be 0 (in-process) or more")
    if s.data.size < 28 or s.data.size % 4:
        raise GanasError(f"data.size = {s.data.size} must be a multiple of 4 of at least 28 (Fashion-MNIST is 28x28)")
