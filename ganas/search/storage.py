"""Opening the study: where it is stored, and a check that a resumed study was run with the same settings."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping

import optuna
from optuna.storages import BaseStorage, JournalStorage
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

from ..errors import GanasError
from ..space import SearchSpace

SETTINGS_ATTR = "ganas_search"   # study user attr: what the trials were searched under
# A driver killed while appending to the journal leaves its lock file behind, and the next writer waits out
# the lock's grace period before forcing it (Optuna's default: 30 s, a stall seen when resuming after a kill -9).
# The lock is held for one append (milliseconds) and one driver owns a study, so a few seconds is plenty.
LOCK_GRACE_S = 5


def open_storage(storage, run_dir: Path) -> tuple[BaseStorage, str]:
    """None -> ``run_dir/study.journal``; a URL (sqlite:///..., postgresql://...) -> Optuna's RDB storage;
    any other string -> a journal file at that path (relative to ``run_dir``); a BaseStorage as is.
    Returns the storage and where it is, for messages.

    Only the driver process writes to the study (workers return results to it), so every backend,
    SQLite included, is safe here; the journal file needs no server and survives a kill mid-write.
    """
    if isinstance(storage, BaseStorage):
        return storage, type(storage).__name__
    if storage is not None and "://" in str(storage):
        try:
            return optuna.storages.get_storage(str(storage)), str(storage)
        except Exception as e:  # SQLAlchemy and drivers raise many types for a bad URL
            raise GanasError(f"cannot open study storage {storage!r} ({type(e).__name__}: "
                             f"{str(e).splitlines()[0][:160]}): use e.g. sqlite:///study.db or "
                             "postgresql://user@host/db, or leave search.storage empty for a journal file") from None
    path = Path(run_dir) / "study.journal" if storage is None else Path(run_dir) / Path(storage)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = JournalFileSymlinkLock(str(path), grace_period=LOCK_GRACE_S)  # Optuna's default lock, shorter grace
    return journal_storage(path, lock), str(path)


def journal_storage(path: Path, lock=None) -> JournalStorage:
    """The storage of a journal file, which Optuna replays on opening: a damaged file is one line naming it."""
    try:
        return JournalStorage(JournalFileBackend(str(path), lock_obj=lock))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:  # json's errors are ValueErrors
        raise GanasError(f"study journal {path} is damaged ({type(e).__name__}: {str(e).splitlines()[0][:100]}): "
                         "restore it from a copy, or delete it to search again") from None


def settings(objectives, budgets: Mapping[str, float], space: SearchSpace) -> dict:
    return {"objectives": list(objectives), "budgets": {k: float(v) for k, v in sorted(budgets.items())},
            "space": {k: list(v) for k, v in space.choices.items()}}


def _same(a: dict, b: dict) -> bool:
    if a["objectives"] != b["objectives"] or a["space"] != b["space"] or set(a["budgets"]) != set(b["budgets"]):
        return False
    return all(math.isclose(a["budgets"][k], b["budgets"][k], rel_tol=1e-9) for k in a["budgets"])


def open_study(storage: BaseStorage, where: str, study_name: str, sampler, wanted: dict) -> optuna.Study:
    study = optuna.create_study(storage=storage, study_name=study_name, sampler=sampler, load_if_exists=True,
                                directions=["minimize"] * len(wanted["objectives"]))
    stored = study.user_attrs.get(SETTINGS_ATTR)
    if stored is None:
        if study.trials:
            raise GanasError(f"study {study_name!r} in {where} was not made by ganas: choose another study name")
        study.set_user_attr(SETTINGS_ATTR, wanted)
        study.set_metric_names(list(wanted["objectives"]))
    elif not _same(stored, wanted):
        diff = [k for k in ("objectives", "budgets", "space") if stored[k] != wanted[k]]
        raise GanasError(f"study {study_name!r} in {where} was searched with other {', '.join(diff)} "
                         f"({', '.join(f'{k}={stored[k]}' for k in diff)}): use those settings, a new study "
                         "name, or delete the study storage to start over")
    return study
