"""Sweeps: every run of a study submitted as its own job through submitit — Slurm on a cluster,
submitit's local executor on one machine — skipping runs already in the results store, which
the jobs write to as any run does (one folder per run, written atomically by that job)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from .results import DEFAULT_ROOT
from .studies import execute, expand
from .train import Interrupted, TrainConfig

EXECUTORS = ("local", "slurm")


class RunOne:
    """One job: train (or range-test) one config into ``root``; returns its summary.

    Ahead of a Slurm job's time limit (or a preemption) submitit sends SIGUSR2. The run takes it as
    it takes SIGTERM: it checkpoints at the step it reached and stops. Then the signal goes on to
    submitit's own handler, which requeues the job (this callable is checkpointable: the same job
    again, which resumes the run) or, out of requeues, ends it. Without this, submitit's handler
    would end the job mid-step, losing the steps since the last periodic checkpoint."""

    def __call__(self, config: dict, range_args: dict | None, root: str) -> dict:
        cfg = TrainConfig.from_dict(config)
        try:
            run = execute(cfg, range_args, root)
        except Interrupted as e:
            handler = signal.getsignal(e.signum) if e.signum == getattr(signal, "SIGUSR2", None) else None
            if callable(handler):  # submitit's, back in place once the run let go of the signal
                handler(e.signum, None)
            raise
        return {"label": cfg.label, "seed": cfg.seed, "path": str(run.path), **run.summary}

    def checkpoint(self, *args: Any, **kwargs: Any):
        """submitit's hook: what to requeue, the same job (the run resumes from its checkpoint)."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, *args, **kwargs)


run_one = RunOne()


def plan(spec: dict[str, Any], only: list[str] | None = None, seeds: list[int] | None = None):
    """(to_run, stored): the study's runs split by whether the store already has them."""
    root = spec.get("out") or str(DEFAULT_ROOT)
    todo, done = [], []
    for cfg, range_args in expand(spec, only, seeds):
        (done if execute(cfg, range_args, root, cached_only=True) else todo).append((cfg, range_args))
    return todo, done


def make_executor(kind: str, folder: Path, *, partition: str | None = None, gpus_per_node: int = 1,
                  cpus_per_task: int = 8, timeout_min: int = 240, parallelism: int = 16):
    import submitit

    if kind not in EXECUTORS:
        raise ValueError(f"executor={kind!r} is invalid: expected one of {', '.join(EXECUTORS)}")
    if kind == "local":
        ex = submitit.LocalExecutor(folder=folder)
        ex.update_parameters(timeout_min=timeout_min)
        return ex
    ex = submitit.AutoExecutor(folder=folder, cluster="slurm")
    params = dict(timeout_min=timeout_min, gpus_per_node=gpus_per_node, cpus_per_task=cpus_per_task,
                  slurm_array_parallelism=parallelism, name="clr-repro")
    if partition:
        params["slurm_partition"] = partition
    ex.update_parameters(**params)
    return ex


def sweep(spec: dict[str, Any], executor: str = "local", *, folder: str | Path = "experiments/sweeps",
          only: list[str] | None = None, seeds: list[int] | None = None, wait: bool = True, **executor_args) -> list:
    """Submit every run of ``spec`` that is not stored; with ``wait``, return their summaries."""
    root = str(Path(spec.get("out") or str(DEFAULT_ROOT)).resolve())
    todo, done = plan(spec, only, seeds)
    print(f"{len(done)} run(s) already stored, {len(todo)} to run with the {executor} executor", flush=True)
    if not todo:
        return []
    ex = make_executor(executor, Path(folder), **executor_args)
    with ex.batch():
        jobs = [ex.submit(run_one, cfg.to_dict(), range_args, root) for cfg, range_args in todo]
    print("submitted: " + ", ".join(f"{cfg.label}/s{cfg.seed} -> job {j.job_id}" for (cfg, _), j in zip(todo, jobs)))
    if not wait:
        return jobs
    return [j.result() for j in tqdm(jobs, desc="jobs", unit="job")]
