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
    # Fashion-MNIST datasets: the folder with the gzipped IDX files (default: Debian's dataset-fashion-mnist).
    # aligned_folder / unaligned_folder: the dataset root (train/, val/, test/ or trainA/, trainB/, testA/, testB/).
    path: Optional[str] = None
    size: int = 32                    # Fashion-MNIST: images are padded (28 -> 32) to this square size
    classes: tuple = (5, 7, 9)        # Fashion-MNIST labels kept: sandal, sneaker, ankle boot; for
                                      # fashion_mnist_unpaired [domain A, domain B], e.g. [7, 9] sneaker -> ankle boot
    search_holdout: int = 1000        # images cut from the training set for the search (per domain when
                                      # unpaired); never trained on
    limit_train: Optional[int] = None  # keep only this many training images (tests, quick runs)
    limit_test: Optional[int] = None
    n_images: Optional[int] = None    # Fashion-MNIST datasets: the GAN trains on only this many images (low-data
                                      # studies); unlike limit_train, the domain classifier still trains on all
    # The folder layouts' preprocessing: pytorch-CycleGAN-and-pix2pix's options, same names and meanings.
    direction: str = "AtoB"           # AtoB | BtoA: which side (aligned) or folder (unaligned) is the input
    input_nc: Optional[int] = None    # 1 (grayscale) or 3 (RGB) channels of the generator's input [3]
    output_nc: Optional[int] = None   # and of its output [3]
    preprocess: str = "resize_and_crop"  # resize_and_crop | crop | scale_width | scale_width_and_crop | none
    load_size: int = 286              # resize (or scale the width) to this before cropping
    crop_size: int = 256              # the side of the square crop the networks see
    flip: bool = True                 # random horizontal flips in training (pix2pix's --no_flip = false)
    test_phase: Optional[str] = None  # folder prefix of the test split [test when present, else val]


@dataclass(frozen=True)
class TeacherConfig:
    # A generator saved by pytorch-CycleGAN-and-pix2pix (latest_net_G.pth, latest_net_G_A.pth, or any state_dict
    # of its ResnetGenerator / UnetGenerator) to import instead of training one; saved as the run's teacher.pt.
    checkpoint: Optional[str] = None
    # The architecture. With a checkpoint, a field left out (None) is read from its keys and shapes and a field
    # given must agree with them; when training, None takes the default in brackets. ganas.models.families
    # resolves them (resolve_teacher).
    netG: Optional[str] = None        # pix2pix's name: resnet_9blocks, resnet_6blocks, unet_256, unet_128 ...
    family: Optional[str] = None      # resnet | unet (ganas.models.TEACHERS) [resnet, or what netG says]
    ngf: Optional[int] = None         # [32]
    n_blocks: Optional[int] = None    # resnet's residual blocks [9]
    num_downs: Optional[int] = None   # unet's levels [log2 of the shorter image side: 1x1 at the bottleneck]
    norm: Optional[str] = None        # instance | batch [instance]
    dropout: Optional[bool] = None    # [false]
    # Training. Paired data: pix2pix (L1 + conditional PatchGAN); unpaired data: CycleGAN (two generators, two
    # unconditional PatchGANs, cycle and identity L1, a pool of past fakes); teacher.pt keeps the A -> B one.
    steps: int = 1000
    batch_size: int = 16
    lr: float = 2e-4
    lambda_recon: float = 100.0       # pix2pix's L1 weight
    gan_loss: str = "lsgan"           # lsgan | hinge | vanilla
    ndf: int = 32
    r1_gamma: float = 10.0            # unconditional families: R1 penalty on D at the reals (StyleGAN2's, lazy);
                                      # without it D won outright here (loss near 0) and the domain FID was worse
    lambda_cycle: float = 10.0        # CycleGAN's lambda_A = lambda_B
    lambda_identity: float = 0.5      # CycleGAN's identity weight, a fraction of lambda_cycle (0 = none)
    pool_size: int = 50               # CycleGAN's buffer of past fakes the discriminators see (0 = none)


@dataclass(frozen=True)
class SupernetConfig:
    family: str = "mobile_resnet"
    search_space: str = "search_spaces/quickstart.yaml"  # relative to the study file's repo root or absolute
    mode: str = "distill"
    steps: int = 1500
    batch_size: int = 16
    lr: float = 2e-4
    # GAN Compression's pix2pix defaults; for unpaired data the loader puts its CycleGAN ones
    # (UNPAIRED_SUPERNET_DEFAULTS) in place of any of these four the study leaves out.
    lambda_recon: float = 100.0       # L1 to the target (paired) or to the teacher's output (unpaired)
    lambda_distill: float = 1.0
    lambda_gan: float = 1.0
    gan_loss: str = "hinge"
    ndf: int = 32
    r1_gamma: float = 10.0            # unconditional families (supernet, fine-tune): R1 on D at the reals; 0 = off
    # mode anycost (unconditional families; see ganas/train/anycost.py):
    channel_sampling: str = "uniform"  # uniform: one ratio for every layer per step; per_layer: each its own
    sampled_resolutions: int = 2      # exits the GAN loss trains per step (Anycost GAN samples 2)
    lambda_consistency: float = 2.0   # x (MSE + perceptual) between each exit and the teacher's output resized
    perceptual: str = "lpips"         # lpips: LPIPS(VGG), needs vgg16-397923af.pth in $TORCH_HOME/hub/checkpoints;
                                      # domain: the domain classifier's features (offline); none: MSE only
    conditioned_d: bool = True        # modulate the discriminator's last blocks by the sampled architecture
    sort_channels: bool = True        # order channels by importance before training (needs a trained teacher)


@dataclass(frozen=True)
class DiffAugConfig:
    """DiffAugment for every adversarial stage trained here: the teacher (pix2pix, CycleGAN or unconditional; not an
    imported one), the supernet in any mode, and the fine-tune.
    In a study file, ``diffaug: color,translation,cutout`` is short for ``diffaug: {policy: ...}``."""
    policy: str = ""                  # comma-separated subset of color, translation, cutout; empty = off
    adaptive: bool = False            # StyleGAN2-ADA-like: probability p from E[sign(D(real))] vs target
    target: float = 0.6
    speed: float = 4000.0             # images over which the adaptive p can move from 0 to 1
    interval: int = 4                 # steps between updates of p


@dataclass(frozen=True)
class SearchConfig:
    objectives: tuple = ("domain_fid", "macs")  # all minimised; first is the quality the export ranks by
    # macs / params: a number (absolute), '2.5G', or "N%" of the teacher; latency: milliseconds per image on a
    # worker's device (measured by the worker; quality is not evaluated when over it: ganas/search/objectives.py)
    budgets: dict = field(default_factory=lambda: {"macs": "12.5%"})
    sampler: str = "tpe"              # tpe | nsga2 | random | gp | grid
    n_trials: int = 40
    workers: int = 2                  # Ray actors; 0 = evaluate in this process
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    eval_images: int = 500            # held-out images each trial is scored on
    ray_address: Optional[str] = None  # join this cluster; default: start a local one
    storage: Optional[str] = None     # Optuna storage URL; default: a journal file in the run folder
    latency_threads: int = 1          # CPU threads a worker times a subnet with (latency objective or budget)
    lpips_net: str = "alex"           # lpips objective's backbone: alex (lpips' advice as a metric) | vgg | squeeze
    # Pretrained weights, default: $TORCH_HOME/hub/checkpoints; nothing is downloaded. fid: pytorch-fid's
    # pt_inception-2015-12-05-6726825d.pth; lpips: torchvision's alexnet-owt-7be5be79.pth or vgg16-397923af.pth.
    fid_weights: Optional[str] = None
    lpips_weights: Optional[str] = None


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
    diffaug: DiffAugConfig = field(default_factory=DiffAugConfig)
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
    ("data", "direction"): ("AtoB", "BtoA"),
    ("data", "preprocess"): ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none"),
    ("teacher", "gan_loss"): ("lsgan", "hinge", "vanilla"),
    ("supernet", "gan_loss"): ("lsgan", "hinge", "vanilla"),
    ("supernet", "mode"): ("distill", "anycost"),
    ("supernet", "channel_sampling"): ("uniform", "per_layer"),
    ("supernet", "perceptual"): ("lpips", "domain", "none"),
    ("search", "sampler"): ("tpe", "nsga2", "random", "gp", "grid"),
    ("search", "lpips_net"): ("alex", "vgg", "squeeze"),
}
# fid: pytorch-fid's Inception FID (its weights must be in the torch hub cache; ganas.metrics.inception_fid)
# lpips: LPIPS to the targets; neg_psnr: -PSNR (dB) to the targets, minimised like every objective;
# latency: milliseconds on a worker's device (ganas/search/objectives.py)
OBJECTIVES = ("domain_fid", "accuracy_error", "l1", "fid", "lpips", "neg_psnr", "macs", "params", "latency")
# GAN Compression's CycleGAN distillation settings (DESIGN.md), the supernet defaults for unpaired data
UNPAIRED_SUPERNET_DEFAULTS = {"lambda_recon": 10.0, "lambda_distill": 0.01, "gan_loss": "lsgan", "ndf": 64}
_SIZE = re.compile(r"^\s*([0-9.eE+-]+)\s*([KMG]?)\s*$")


def parse_budget(value: Any, teacher_value: float, where: str = "the study's search.budgets") -> float:
    """A budget: a number (absolute), '2.5G' / '300M' (absolute with a unit) or '12.5%' (of the teacher)."""
    out = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        out = float(value)
    else:
        s = str(value).strip()
        try:
            if s.endswith("%"):
                out = float(s[:-1]) / 100 * teacher_value
            elif m := _SIZE.match(s):
                out = float(m.group(1)) * {"": 1, "K": 1e3, "M": 1e6, "G": 1e9}[m.group(2)]
        except ValueError:
            pass
    if out is None or out != out:  # not parsed, or NaN
        raise GanasError(f"budget {value!r} is not a number, a size like '2.5G' or a share like '12.5%': fix it in "
                         f"{where}")
    return out


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
        if sub is DiffAugConfig and isinstance(value, (str, list)):  # the short form: just the policy
            value = {"policy": value if isinstance(value, str) else ",".join(map(str, value))}
        if sub is not None:
            kwargs[name] = _build(sub, value, name)
            continue
        kwargs[name] = _check_type(value, f, f"{where}.{name}" if where else name)
        allowed = CHOICES.get((where, name))
        if allowed and kwargs[name] is not None and kwargs[name] not in allowed:
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
    if value is None:
        return value
    if default is None:  # an Optional field: its type is in the annotation (a string under __future__ annotations)
        m = re.fullmatch(r"Optional\[(\w+)\]", str(f.type))
        want = {"int": int, "float": float, "str": str, "bool": bool}.get(m.group(1)) if m else None
        if want is None:
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
             "export": ExportConfig, "finetune": FinetuneConfig, "diffaug": DiffAugConfig}


def load_study(path: str | Path, overrides: dict | None = None) -> StudyConfig:
    """Read and validate a study file (or a run folder's study.json); relative paths are resolved against the
    current folder."""
    path = Path(path)
    run_folder = None
    if path.is_dir() and (path / "study.json").is_file():
        run_folder, path = path, path / "study.json"
    elif path.is_dir():
        raise GanasError(f"{path} is a folder without study.json: give a study YAML or a run folder of ganas")
    if not path.is_file():
        raise GanasError(f"study file {path} not found: give the path of a YAML file such as studies/quickstart.yaml")
    try:
        raw = yaml.safe_load(read_text(path, "study file"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise GanasError(f"study file {path} is not valid YAML{at}: {getattr(e, 'problem', e)}; fix the syntax") from None
    if not isinstance(raw, dict):
        raise GanasError(f"study file {path} must be a YAML mapping with at least 'name:'")
    raw.setdefault("name", path.stem)
    if run_folder is not None:  # the folder given is the run, wherever it was moved or copied to
        raw["run_dir"] = str(run_folder.resolve())
    for section, values in (overrides or {}).items():
        raw.setdefault(section, {}).update(values)
    _unpaired_defaults(raw)
    study = _build(StudyConfig, raw, "")
    validate(study)
    return study


def read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise GanasError(f"{what} {path} is not UTF-8 text (byte {e.start}): save it as UTF-8") from None


def _unpaired_defaults(raw: dict) -> None:
    """Unpaired data is distilled as GAN Compression does CycleGAN: its loss settings replace the pix2pix defaults
    that the study leaves out."""
    from .data import is_unpaired  # the dataset registry knows which datasets are unpaired

    data, sup = raw.get("data"), raw.get("supernet")
    dataset = data.get("dataset", DataConfig.dataset) if isinstance(data, dict) else DataConfig.dataset
    if (sup is None or isinstance(sup, dict)) and isinstance(dataset, str) and is_unpaired(dataset):
        raw["supernet"] = {**UNPAIRED_SUPERNET_DEFAULTS, **(sup or {})}


def validate(s: StudyConfig) -> None:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", s.name):
        raise GanasError(f"name {s.name!r} may hold only letters, digits, '_', '.', '-': it names the run folder")
    bad = [o for o in s.search.objectives if o not in OBJECTIVES]
    if bad or not s.search.objectives:
        raise GanasError(f"search.objectives has {bad or 'nothing'}: choose from {', '.join(OBJECTIVES)}")
    for key in s.search.budgets:
        if key not in ("macs", "params", "latency"):
            raise GanasError(f"search.budgets.{key} is not a budget: use macs, params or latency")
    for sec, name in (("teacher", "steps"), ("supernet", "steps"), ("search", "n_trials"), ("finetune", "steps"),
                      ("teacher", "batch_size"), ("supernet", "batch_size"), ("finetune", "batch_size"),
                      ("search", "eval_images"), ("teacher", "ndf"), ("supernet", "ndf")):
        v = getattr(getattr(s, sec), name)
        if v < (0 if name == "steps" else 1):
            raise GanasError(f"{sec}.{name} = {v} must be positive")
    for sec, name in (("teacher", "lr"), ("supernet", "lr"), ("finetune", "lr"), ("search", "cpus_per_worker")):
        v = getattr(getattr(s, sec), name)
        if not v > 0:
            raise GanasError(f"{sec}.{name} = {v} must be a positive number")
    if s.search.workers < 0:
        raise GanasError(f"search.workers = {s.search.workers} must be 0 (in-process) or more")
    from .train.diffaug import parse_policy
    parse_policy(s.diffaug.policy)
    if not 0 < s.diffaug.target < 1 or s.diffaug.speed <= 0 or s.diffaug.interval < 1:
        raise GanasError(f"diffaug target = {s.diffaug.target} must be in (0, 1), speed = {s.diffaug.speed} and "
                         f"interval = {s.diffaug.interval} positive")
    if s.supernet.sampled_resolutions < 1 or s.supernet.lambda_consistency < 0:
        raise GanasError(f"supernet.sampled_resolutions = {s.supernet.sampled_resolutions} must be >= 1 and "
                         f"supernet.lambda_consistency = {s.supernet.lambda_consistency} >= 0")
    for sec in ("teacher", "supernet"):
        if getattr(s, sec).r1_gamma < 0:
            raise GanasError(f"{sec}.r1_gamma = {getattr(s, sec).r1_gamma} must be 0 (off) or more")
    for key in ("run_dir", "report_dir"):
        try:
            path = s.resolve(getattr(s, key).format(name=s.name))
        except (KeyError, IndexError, ValueError) as e:
            raise GanasError(f"{key} {getattr(s, key)!r} has a placeholder other than {{name}} ({e}): use {{name}} "
                             "or a plain path") from None
        if path.exists() and not path.is_dir():
            raise GanasError(f"{key} {path} is a file, not a folder: choose another {key} or move the file away")
    if s.data.n_images is not None and s.data.n_images < 2:
        raise GanasError(f"data.n_images = {s.data.n_images} must be at least 2, or left out for all images")
    if s.data.size < 28 or s.data.size % 4:
        raise GanasError(f"data.size = {s.data.size} must be a multiple of 4 of at least 28 (Fashion-MNIST is 28x28)")
    _validate_folders_and_teacher(s)


def _validate_folders_and_teacher(s: StudyConfig) -> None:
    d, t = s.data, s.teacher
    for name in ("input_nc", "output_nc"):
        if getattr(d, name) not in (None, 1, 3):
            raise GanasError(f"data.{name} = {getattr(d, name)} must be 1 (grayscale) or 3 (RGB)")
    for name in ("load_size", "crop_size"):
        if getattr(d, name) < 4:
            raise GanasError(f"data.{name} = {getattr(d, name)} must be at least 4")
    if d.preprocess in ("resize_and_crop", "scale_width_and_crop") and d.load_size < d.crop_size:
        raise GanasError(f"data.load_size = {d.load_size} is smaller than data.crop_size = {d.crop_size}: images are "
                         "resized to load_size and then cropped, so raise load_size or lower crop_size")
    for name in ("ngf", "n_blocks", "num_downs"):
        v = getattr(t, name)
        if v is not None and v < (2 if name == "num_downs" else 1):
            raise GanasError(f"teacher.{name} = {v} is too small: leave it out for the default")
    for name in ("lambda_cycle", "lambda_identity"):
        if getattr(t, name) < 0:
            raise GanasError(f"teacher.{name} = {getattr(t, name)} must be 0 or more")
    if t.pool_size < 0:
        raise GanasError(f"teacher.pool_size = {t.pool_size} must be 0 (no pool) or more")
