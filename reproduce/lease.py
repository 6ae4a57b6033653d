"""Run what fits: the missing runs of several studies under a time limit, N at a time.

A GPU is lent for minutes, one bounded command at a time. ``run-study A.yaml B.yaml:LABEL
--time-limit S --parallel N`` queues the missing runs in the order given, estimates each
one's duration before starting it, and starts only those that can finish in the time left
(a run that fits only alone, such as C6's 64k iterations, starts alone when nothing else runs);
a run the deadline reaches anyway is stopped with SIGTERM and checkpoints (the same command
resumes it). Each run is its own child process (``run-study FILE --only LABEL --seeds S``):
its own folder, seed, data order and provenance, exactly as if it ran alone.

Estimates come from what this call has already measured (a finished run of the same model
and batch size) or else from the throughput benchmark's JSON (``--benchmark``: images/s of
the fast path with 1, 2, 3... concurrent processes on the same GPU; a model it did not time is
estimated as one of about its cost, ``models.COST_LIKE``), and ``--parallel auto`` takes the
process count that benchmark found fastest in aggregate.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .models import COST_LIKE
from .results import DEFAULT_ROOT, RunDir, last_iteration, read_json
from .train import TrainConfig, range_key, run_dir

STARTUP_S = 25.0  # a child's Python, CUDA and data start, and cuDNN's autotuning
MARGIN = 1.15  # estimates are stretched by this much before a run is started
GRACE_S = 20.0  # the deadline stops runs this long before the limit, so checkpoints land inside it
TEST_IMAGES = 11_017  # an evaluation: the 10,000 test images and the 1,017 exact ones as JPEG


@dataclass
class Job:
    """One run of one study file, as a child process would run it."""

    file: str
    cfg: TrainConfig
    range_args: dict | None
    root: str = str(DEFAULT_ROOT)
    est_s: float | None = None
    status: str = "queued"  # queued | cached | running | finished | interrupted | failed | does not fit
    proc: subprocess.Popen | None = field(default=None, repr=False)
    started: float | None = None
    seconds: float | None = None

    @property
    def name(self) -> str:
        return f"{self.cfg.label} s{self.cfg.seed}"

    @property
    def path(self) -> Path:
        return run_dir(self.cfg, self.root, None if self.range_args is None else range_key(**self.range_args)).path

    @property
    def iterations(self) -> int:
        if self.cfg.iterations is not None:
            return self.cfg.iterations
        return math.ceil(self.cfg.epochs * 50_000 / self.cfg.batch_size)

    @property
    def evaluations(self) -> int:
        every = self.range_args.get("eval_every") if self.range_args is not None else self.cfg.eval_every
        return self.iterations // every + 1 if every else max(1, round(self.iterations * self.cfg.batch_size / 50_000))


def parse_target(target: str) -> tuple[str, list[str] | None]:
    """``FILE`` or ``FILE:LABEL,LABEL``: a study file and, optionally, the labels to take from it."""
    if ":" in target and not Path(target).exists():
        file, labels = target.rsplit(":", 1)
        return file, [x for x in labels.split(",") if x]
    return target, None


def _benchmark(paths: str | list[str] | None, device_name: str | None) -> dict | None:
    """The throughput JSONs measured on this device, merged in order (another GPU's numbers say
    nothing here): a later file's fields win, and process counts and modes merge one by one, so
    a quick modes-only benchmark adds to an earlier one that timed 1-3 processes."""
    out: dict | None = None
    for path in [paths] if isinstance(paths, str) else paths or []:
        if not Path(path).exists():
            continue
        b = read_json(Path(path))
        if device_name and b.get("device_name") != device_name:
            continue
        if out is None:
            out = b
            continue
        conc = {c["processes"]: c for c in out.get("concurrency", [])} | {
            c["processes"]: c for c in b.get("concurrency", []) if c.get("images_per_s")}
        modes = {m["mode"]: m for m in out.get("modes", [])} | {m["mode"]: m for m in b.get("modes", [])}
        out = out | {k: v for k, v in b.items() if v not in (None, [], {})}
        out["concurrency"], out["modes"] = sorted(conc.values(), key=lambda c: c["processes"]), list(modes.values())
    return out


def benchmark_speeds(path: str | list[str] | None, device_name: str | None,
                     mode: str | None = None) -> dict[tuple[str, int], dict[int, float]]:
    """``{(model, batch): {processes: aggregate images/s}}`` from a throughput JSON measured on
    this GPU. The process counts were timed in eager mode; for another ``mode`` they are scaled
    by that mode's single-process speed over eager's (the call's own runs then correct it)."""
    b = _benchmark(path, device_name)
    return {} if b is None else speeds_of(b, mode)


def speeds_of(b: dict, mode: str | None = None) -> dict[tuple[str, int], dict[int, float]]:
    """:func:`benchmark_speeds` of one benchmark JSON already read."""
    eager = float(b["pipelines"]["fast"]["images_per_s"])
    rows = {int(r["processes"]): float(r["images_per_s"]) for r in b.get("concurrency", []) if r.get("images_per_s")}
    rows.setdefault(1, eager)
    modes = {m["mode"]: m.get("images_per_s") for m in b.get("modes", [])}
    if mode and modes.get(mode):
        rows = {n: v * modes[mode] / eager for n, v in rows.items()}
    return {(b["model"], int(b["batch_size"])): rows}


def best_mode(path: str | list[str] | None, device_name: str | None) -> str:
    """The fastest mode the benchmark measured on this GPU (one that compiled), else ``auto``
    unresolved: the caller keeps each run's own setting."""
    b = _benchmark(path, device_name)
    timed = [m for m in (b or {}).get("modes", []) if m.get("images_per_s") and not m.get("compile_fell_back")]
    return max(timed, key=lambda m: m["images_per_s"])["mode"] if timed else "auto"


def best_parallel(speeds: dict[tuple[str, int], dict[int, float]], gain: float = 1.1) -> int:
    """The process count with the best aggregate images/s, taking one more process only when it
    buys at least ``gain`` (10 %) over one fewer: concurrency costs memory and muddles timings."""
    if not speeds:
        return 1
    rows = next(iter(speeds.values()))
    best = 1
    for n in sorted(rows):
        if n > best and rows[n] >= gain * rows[best]:
            best = n
    return best


class Estimator:
    """Seconds a run will take with ``n`` runs going at once: measured in this call when it can
    be (a finished run of the same model and batch), else from the benchmark, else unknown."""

    def __init__(self, speeds: dict[tuple[str, int], dict[int, float]]) -> None:
        self.speeds = speeds
        self.measured: dict[tuple[str, int, int], float] = {}  # (model, batch, n) -> seconds per iteration

    def learn(self, job: Job, n: int, seconds: float) -> None:
        if job.range_args is None and job.iterations:
            self.measured[(job.cfg.model, job.cfg.batch_size, n)] = max(0.0, seconds - STARTUP_S) / job.iterations

    def __call__(self, job: Job, n: int) -> float | None:
        key = (job.cfg.model, job.cfg.batch_size, n)
        if key in self.measured:
            return STARTUP_S + MARGIN * self.measured[key] * job.iterations
        model = job.cfg.model if any(m == job.cfg.model for m, _ in self.speeds) else COST_LIKE.get(job.cfg.model)
        rows = self.speeds.get((model, job.cfg.batch_size))
        if not rows:  # the same model at another batch size: its images/s is still the best guess there is
            rows = next((r for (m, _), r in self.speeds.items() if m == model), None)
        if not rows:
            return None
        k = max((m for m in rows if m <= n), default=min(rows))
        per_run = rows[k] / k  # images/s each of n concurrent runs gets
        images = job.iterations * job.cfg.batch_size + job.evaluations * TEST_IMAGES / 3  # inference ~ 1/3 of a step
        return STARTUP_S + MARGIN * images / per_run


def _fmt(s: float | None) -> str:
    return "?" if s is None else f"{s / 60:.1f} min" if s >= 90 else f"{s:.0f} s"


def _progress(job: Job) -> str:
    """``label sN 3400/9277`` from the run's own metrics file (the last logged iteration)."""
    return f"{job.name} {last_iteration(job.path)}/{job.iterations}"


def run_lease(jobs: list[Job], *, time_limit: float | None, parallel: int, estimator: Estimator,
              child_args: list[str], log_dir: Path, report_every: float = 30.0) -> int:
    """Run ``jobs`` (already filtered to the missing ones) under the limit; 0 when all finished,
    3 when some remain (did not fit, or were stopped and checkpointed), 130 on SIGTERM/SIGINT."""
    t0 = time.monotonic()
    deadline = None if time_limit is None else t0 + time_limit - GRACE_S
    stop = {"signal": None}

    def on_signal(signum, _frame):
        stop["signal"] = signum

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    log_dir.mkdir(parents=True, exist_ok=True)
    queue = [j for j in jobs if j.status == "queued"]
    running: list[Job] = []
    alone: Job | None = None  # a run that fits only with the device to itself: nothing starts beside it
    last_report = t0
    try:
        while (queue or running) and stop["signal"] is None:
            now = time.monotonic()
            while queue and len(running) < parallel and alone is None:
                job = queue.pop(0)
                job.est_s = estimator(job, parallel)
                left = None if deadline is None else deadline - now
                share = parallel
                if left is not None and job.est_s is not None and job.est_s > left:
                    solo = estimator(job, 1) if parallel > 1 and not running else None
                    if solo is None or solo > left:
                        job.status = "does not fit"
                        print(f"skip  {job.name} ({Path(job.file).stem}): needs ~{_fmt(job.est_s)}, {_fmt(left)} left",
                              flush=True)
                        continue
                    alone, share, job.est_s = job, 1, solo
                    print(f"alone {job.name}: fits only with the device to itself (~{_fmt(solo)}); nothing starts "
                          "beside it", flush=True)
                cmd = [sys.executable, "-m", "reproduce", "run-study", job.file, "--only", job.cfg.label,
                       "--seeds", str(job.cfg.seed), *child_args]
                env = ({"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // share))} | os.environ
                       | {"CLR_REPRO_PARALLEL": str(share)})
                log = open(log_dir / f"{job.path.name}.log", "a")  # noqa: SIM115 - closed when the child ends
                job.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
                log.close()
                job.started, job.status = now, "running"
                running.append(job)
                print(f"start {job.name} ({Path(job.file).stem}), estimate {_fmt(job.est_s)}; log {log.name}", flush=True)
            for job in list(running):
                rc = job.proc.poll()
                if rc is None:
                    continue
                running.remove(job)
                job.seconds = time.monotonic() - job.started
                done = RunDir(job.path).finished()
                job.status = "finished" if done else "interrupted" if rc == 130 else "failed"
                if done:
                    estimator.learn(job, 1 if job is alone else parallel, job.seconds)
                if job is alone:
                    alone = None
                print(f"{job.status:5s} {job.name} in {_fmt(job.seconds)} (exit {rc})", flush=True)
            if deadline is not None and time.monotonic() >= deadline and running:
                print(f"time limit: stopping {', '.join(j.name for j in running)} (they checkpoint)", flush=True)
                break
            if running and time.monotonic() - last_report >= report_every:
                last_report = time.monotonic()
                print(f"[{last_report - t0:5.0f} s] " + "; ".join(_progress(j) for j in running), flush=True)
            time.sleep(0.5)
    finally:
        for job in running:  # the deadline or a signal: every child checkpoints and exits
            if job.proc.poll() is None:
                os.killpg(job.proc.pid, signal.SIGTERM)
        for job in running:
            try:
                rc = job.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(job.proc.pid, signal.SIGKILL)
                rc = job.proc.wait()
            job.seconds = time.monotonic() - job.started
            job.status = "finished" if RunDir(job.path).finished() else "interrupted" if rc in (130, -15) else "failed"
        for s, h in old.items():
            signal.signal(s, h)
    return _report(jobs, time.monotonic() - t0, stop["signal"])


def _report(jobs: list[Job], seconds: float, sig) -> int:
    by = {}
    for j in jobs:
        by.setdefault(j.status, []).append(j.name)
    print(f"done in {_fmt(seconds)}: " + "; ".join(f"{k} {len(v)} ({', '.join(v)})" for k, v in by.items()), flush=True)
    remain = [j for j in jobs if j.status not in ("finished", "cached")]
    if sig is not None:
        print("interrupted: stopped runs are checkpointed; run the same command again to resume", file=sys.stderr)
        return 130
    if remain:
        print(f"{len(remain)} run(s) remain: run the same command again (a stopped run resumes from its checkpoint)",
              file=sys.stderr)
        return 3
    return 0
