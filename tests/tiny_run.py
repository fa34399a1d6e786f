"""One tiny searched run (classifier, teacher, supernet, 5-trial search on real Fashion-MNIST images), made
once per test session and copied for each test module that asks, so report and export tests pay for it once."""
from __future__ import annotations

import shutil
from pathlib import Path

import torch

from ganas.cli import main

HERE = Path(__file__).parent
_BASE: dict[str, Path] = {}


def tiny_study(tmp: Path) -> Path:
    p = tmp / "tiny.yaml"
    p.write_text(f"""
name: tiny
run_dir: {tmp}/run
report_dir: {tmp}/report
data: {{limit_train: 400, limit_test: 100, search_holdout: 100}}
teacher: {{ngf: 8, n_blocks: 3, steps: 15, batch_size: 8, ndf: 8}}
supernet: {{search_space: {HERE}/data/tiny_space.yaml, steps: 15, batch_size: 8, ndf: 8}}
search: {{n_trials: 6, workers: 0, eval_images: 64, budgets: {{macs: "15%"}}}}
finetune: {{steps: 3, batch_size: 8}}
""")
    return p


def searched_run(tmp_path_factory, name: str) -> tuple[Path, Path]:
    """A private copy of the session's tiny searched run: (its folder, its study file)."""
    if "base" not in _BASE:
        base = tmp_path_factory.mktemp("tiny_base")
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # tiny networks on a shared 2-core machine: a second thread only contends
        try:
            assert main(["search", str(tiny_study(base)), "--quiet"]) == 0
        finally:
            torch.set_num_threads(threads)
        _BASE["base"] = base
    tmp = tmp_path_factory.mktemp(name)
    shutil.copytree(_BASE["base"] / "run", tmp / "run")
    return tmp, tiny_study(tmp)


def load_study(tmp: Path):
    """The run's Optuna study, as the tests' independent view of the search."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return optuna.load_study(study_name="tiny",
                             storage=JournalStorage(JournalFileBackend(str(tmp / "run" / "study.journal"))))
