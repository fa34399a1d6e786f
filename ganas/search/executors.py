"""Where evaluations run: in this process (serial) or on a pool of Ray actors, behind one interface.

An executor takes jobs (a key and an arch as a plain dict) and hands back ``Done`` records. The
evaluator is built once per worker from a picklable zero-argument factory, so a worker loads the
supernet once. A worker that dies mid-job (killed, OOM, node lost) is replaced and its job retried
on a live worker; only after ``max_attempts`` deaths on the same job does that job come back failed.
"""
from __future__ import annotations

import logging
import math
import os
import traceback
import warnings
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import GanasError

log = logging.getLogger(__name__)


@dataclass
class Done:
    key: Any
    metrics: dict | None = None   # the evaluator's result, when it returned one
    error: str | None = None      # why there is no result


def _error_text(e: BaseException) -> str:
    """One line: the exception and where in the evaluator it came from (a full traceback is too long for an attr)."""
    frames = traceback.extract_tb(e.__traceback__)
    where = f" (at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno})" if frames else ""
    return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}{where}"[:500]


def call_evaluator(evaluator, arch: dict) -> tuple[str, Any]:
    """Run one evaluation; an exception becomes ('error', text) so it is a trial failure, not a crash."""
    try:
        return "ok", evaluator.evaluate(dict(arch))
    except Exception as e:  # any evaluator bug or numerical failure fails this trial only
        return "error", _error_text(e)


class Executor(ABC):
    """``free()`` jobs can be submitted now; ``wait()`` blocks until something happened and returns
    the jobs that finished (possibly none, e.g. when only a worker became ready)."""

    @abstractmethod
    def free(self) -> int: ...

    @abstractmethod
    def submit(self, key: Any, arch: dict) -> None: ...

    @abstractmethod
    def wait(self) -> list[Done]: ...

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SerialExecutor(Executor):
    """Evaluates in this process, one job at a time, inside ``wait`` (debugging, unit tests, workers=0)."""

    def __init__(self, evaluator_factory: Callable[[], Any]):
        self.evaluator = evaluator_factory()
        self._job: tuple[Any, dict] | None = None

    def free(self) -> int:
        return 0 if self._job else 1

    def submit(self, key, arch):
        if self._job:
            raise RuntimeError("SerialExecutor runs one job at a time: call wait() first")
        self._job = (key, dict(arch))

    def wait(self):
        if not self._job:
            return []
        (key, arch), self._job = self._job, None
        status, value = call_evaluator(self.evaluator, arch)
        return [Done(key, metrics=value) if status == "ok" else Done(key, error=value)]


class _Worker:
    """The Ray actor: builds its evaluator once. A factory error is kept, not raised, so the driver
    can re-raise it as it was (Ray would wrap it in an ActorDiedError with a traceback)."""

    def __init__(self, factory):
        self.evaluator, self.init_error = None, None
        try:
            self.evaluator = factory()
        except GanasError as e:
            self.init_error = ("GanasError", str(e))
        except Exception as e:  # reported by the driver with the worker's traceback line
            self.init_error = ("error", _error_text(e))

    def ready(self):
        return self.init_error

    def evaluate(self, arch: dict):
        return call_evaluator(self.evaluator, arch)


def _resources(r: dict) -> str:
    return " + ".join(f"{r.get(k, 0):g} {k}" for k in ("CPU", "GPU"))


@dataclass
class _Job:
    key: Any
    arch: dict
    attempts: int = 0             # worker deaths while running this job
    last_death: str = ""


class RayExecutor(Executor):
    """A pool of ``workers`` Ray actors, each holding one evaluator.

    ``prefetch`` jobs wait in the queue per busy worker, so a worker that finishes starts its next config at
    once instead of idling while the driver tells the result and asks the next config (tens of milliseconds of
    journal writes per trial, a large share of a cheap evaluation). The sampler then proposes that config
    without the latest result, as if there were more workers.

    Joins ``address`` (or RAY_ADDRESS) when given, reuses a Ray the caller already started, else
    starts a local Ray sized to the pool and shuts it down in ``close``. GPUs are requested only
    when asked for and the cluster has some.
    """

    def __init__(self, evaluator_factory, workers: int, *, cpus_per_worker: float = 1.0,
                 gpus_per_worker: float = 0.0, address: str | None = None, max_attempts: int = 3,
                 start_timeout: float = 600.0, prefetch: int = 1):
        import ray

        self._ray = ray
        self._own_ray = False
        self._starting: dict = {}      # ready() ref -> actor
        self._idle: list = []
        self._running: dict = {}       # evaluate() ref -> (actor, job)
        self._queue: deque[_Job] = deque()
        self._replacements = 0
        address = address or os.environ.get("RAY_ADDRESS") or None
        if not ray.is_initialized():
            kwargs = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
            if address:
                ray.init(address=address, **kwargs)
            else:
                # Never fewer CPUs than the pool asks for: a pool that cannot be placed waits forever.
                # address="local": a bare ray.init() would join the last `ray start` cluster on this machine.
                ray.init(address="local", num_cpus=max(os.cpu_count() or 1, math.ceil(workers * cpus_per_worker)),
                         **kwargs)
            self._own_ray = True
        resources = ray.cluster_resources()
        if cpus_per_worker > resources.get("CPU", 0):
            self.close()
            raise GanasError(f"each search worker asks for {cpus_per_worker:g} CPUs but the Ray cluster has "
                             f"{_resources(resources)}: lower search.cpus_per_worker")
        if gpus_per_worker > 0 and not resources.get("GPU", 0):
            warnings.warn(f"search.gpus_per_worker = {gpus_per_worker} but the Ray cluster has no GPU: "
                          "workers run on CPU", stacklevel=2)
            gpus_per_worker = 0.0
        opts = dict(num_cpus=cpus_per_worker, max_restarts=0, scheduling_strategy="SPREAD")
        if gpus_per_worker > 0:
            opts["num_gpus"] = gpus_per_worker
        self._actor_cls = ray.remote(_Worker).options(**opts)
        self._asks = f"{cpus_per_worker:g} CPU" + (f" + {gpus_per_worker:g} GPU" if gpus_per_worker > 0 else "")
        self._factory_ref = ray.put(evaluator_factory)
        self._n_workers = workers
        self._max_attempts = max_attempts
        self._prefetch = prefetch
        self._start_timeout = start_timeout
        for _ in range(workers):
            self._start_actor()

    # -- pool ------------------------------------------------------------------------------------
    def _start_actor(self):
        actor = self._actor_cls.remote(self._factory_ref)
        self._starting[actor.ready.remote()] = actor

    def _replace(self, actor, why: str):
        self._ray.kill(actor, no_restart=True)
        self._replacements += 1
        if self._replacements > 3 * self._n_workers + 3:
            raise RuntimeError(f"search workers keep dying ({self._replacements} replaced; last: {why})")
        log.warning("search worker died (%s); starting a replacement", why)
        self._start_actor()

    def _dispatch(self):
        while self._queue and self._idle:
            job, actor = self._queue.popleft(), self._idle.pop()
            self._running[actor.evaluate.remote(job.arch)] = (actor, job)

    def free(self) -> int:
        return max(0, len(self._idle) + self._prefetch * len(self._running) - len(self._queue))

    def submit(self, key, arch):
        self._queue.append(_Job(key, dict(arch)))
        self._dispatch()

    def wait(self):
        ray = self._ray
        refs = list(self._running) + list(self._starting)
        if not refs:
            return []
        ready, _ = ray.wait(refs, num_returns=1, timeout=self._start_timeout if not self._running else None)
        if not ready:
            raise GanasError(f"no search worker started within {self._start_timeout:.0f} s: each asks for "
                             f"{self._asks} and the cluster has {_resources(ray.available_resources())} free; "
                             "lower search.cpus_per_worker / gpus_per_worker or add nodes")
        more, _ = ray.wait([r for r in refs if r not in ready], num_returns=len(refs) - 1, timeout=0)
        done = []
        for ref in ready + more:
            if ref in self._starting:
                self._on_started(ref)
            else:
                done.extend(self._on_finished(ref))
        self._dispatch()
        return done

    def _on_started(self, ref):
        ray, actor = self._ray, self._starting.pop(ref)
        try:
            init_error = ray.get(ref)
        except ray.exceptions.RayActorError as e:
            self._replace(actor, str(e).splitlines()[0])
            return
        if init_error:
            kind, text = init_error
            self.close()
            if kind == "GanasError":
                raise GanasError(text)
            raise RuntimeError(f"the evaluator factory failed on a search worker: {text}")
        self._idle.append(actor)

    def _on_finished(self, ref) -> list[Done]:
        ray = self._ray
        actor, job = self._running.pop(ref)
        try:
            status, value = ray.get(ref)
        except (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError) as e:
            job.attempts += 1
            job.last_death = str(e).splitlines()[0][:200]
            self._replace(actor, job.last_death)
            if job.attempts >= self._max_attempts:
                return [Done(job.key, error=f"worker died {job.attempts} times evaluating this config "
                                            f"(last: {job.last_death})")]
            self._queue.appendleft(job)   # retried first, on whichever worker is free next
            return []
        except ray.exceptions.RayTaskError as e:  # e.g. a result that cannot be pickled back
            self._idle.append(actor)
            return [Done(job.key, error=str(e).splitlines()[0][:500])]
        self._idle.append(actor)
        return [Done(job.key, metrics=value) if status == "ok" else Done(job.key, error=value)]

    def close(self):
        ray = self._ray
        for actor in list(self._starting.values()) + self._idle + [a for a, _ in self._running.values()]:
            try:
                ray.kill(actor, no_restart=True)
            except Exception:  # already gone: nothing to free
                pass
        self._starting, self._idle, self._running = {}, [], {}
        if self._own_ray and ray.is_initialized():
            ray.shutdown()
        self._own_ray = False


def make_executor(evaluator_factory, *, workers: int, cpus_per_worker: float = 1.0, gpus_per_worker: float = 0.0,
                  ray_address: str | None = None) -> Executor:
    if workers == 0:
        return SerialExecutor(evaluator_factory)
    return RayExecutor(evaluator_factory, workers, cpus_per_worker=cpus_per_worker,
                       gpus_per_worker=gpus_per_worker, address=ray_address)
