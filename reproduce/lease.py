"""Run what fits: the missing runs of several studies under a time limit, N at a time.

A GPU is lent for minutes, one bounded command at a time. ``run-study A.yaml B.yaml:LABEL
--time-limit S --parallel N`` queues the missing runs in the order given, estimates each
one's duration before starting it, and starts only those that can finish in the time left
(a run that fits only alone, such as C6's 64k iterations, starts alone when nothing else runs);
a run the deadline reaches anyway is stopped with SIGTERM and checkpoints (the same command
resumes it). Each run is its own child process (``run-study FILE --only LABEL --seeds S``):
its own folder, seed, data order and provenance, exactly as if it ran alone.

Estimates come from what this call has already measured (a finished run of the same model
and batch size), else from the finished runs in the store that trained on this GPU in the same
step mode (an earlier call's or loan's), else from the throughput benchmark's JSON (``--benchmark``: images/s of
the fast path with 1, 2, 3... concurrent processes on the same GPU; a model it did not time is
estimated as one of about its cost, ``models.COST_LIKE``), and ``--parallel auto`` takes the
process count that benchmark found fastest in aggregate.
"""

from __future__ import annotations

import math
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .models import COST_LIKE
from .results import DEFAULT_ROOT, RunDir, find_runs, last_iteration, read_json
from .train import TrainConfig, step_mode_of, study_run_dir

STARTUP_S = 25.0  # a child's Python, CUDA and data start, and cuDNN's autotuning
MARGIN = 1.15  # estimates are stretched by this much before a run is started
GRACE_S = 20.0  # the deadline stops runs this long before the limit, so checkpoints land inside it
MIN_STRETCH_S = 120.0  # a stretch of a run longer than any call starts only with this much left (or a third)
BENCHMARKS = Path("benchmarks/results")  # the throughput JSONs measured on lent GPUs, kept in the repository
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
    done: int = 0  # iterations its checkpoint holds when it starts: a resumed run has only the rest to go

    @property
    def name(self) -> str:
        return f"{self.cfg.label} s{self.cfg.seed}"

    @property
    def path(self) -> Path:
        return study_run_dir(self.cfg, self.range_args, self.root).path

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
    """``FILE`` or ``FILE:LABEL,LABEL@SEED``: a study file and, optionally, what to take from it (a label's
    runs, or one seed of them: see :func:`parse_pick`)."""
    if ":" in target and not Path(target).exists():
        file, labels = target.rsplit(":", 1)
        return file, [x for x in labels.split(",") if x]
    return target, None


def parse_pick(pick: str) -> tuple[str, int | None]:
    """``LABEL`` (every seed the study file lists for it) or ``LABEL@SEED`` (that one), so a queue can
    take a run's first seed early and, naming the label again later, its further seeds last."""
    label, at, seed = pick.partition("@")
    if at and not seed.isdigit():
        raise ValueError(f"target={pick!r} is invalid: expected LABEL or LABEL@SEED (a whole number)")
    return label, int(seed) if at else None


def picked(found: list, picks: list[tuple[str, int | None]], where: str) -> list:
    """The (config, range arguments) of ``found`` that ``picks`` name, in the picks' order (a run named
    twice keeps its first place); a seed the study file does not list for its label is an error."""
    for label, seed in picks:
        if seed is not None and not any(c.label == label and c.seed == seed for c, _ in found):
            have = sorted(c.seed for c, _ in found if c.label == label)
            raise ValueError(f"target={label}@{seed} is invalid: {where} lists seeds {have} for {label} (add the seed "
                             "to its `seeds:` list to train it)")
    ranked = []
    for cfg, range_args in found:
        i = next((i for i, (label, seed) in enumerate(picks) if label == cfg.label and seed in (None, cfg.seed)), None)
        if i is not None:
            ranked.append((i, cfg, range_args))
    return [(cfg, range_args) for _, cfg, range_args in sorted(ranked, key=lambda r: r[0])]


def _benchmarks(paths: str | list[str] | None, device_name: str | None) -> list[dict]:
    """The throughput JSONs measured on this device (another GPU's numbers say nothing here), one
    per model and batch size, in the order first seen; the files of one model and batch merge in
    order: a later file's fields win, and process counts and modes merge one by one, so a quick
    modes-only benchmark adds to an earlier one that timed 1-3 processes."""
    groups: dict[tuple, dict] = {}
    for path in [paths] if isinstance(paths, str) else paths or []:
        if not Path(path).exists():
            continue
        b = read_json(Path(path))
        if device_name and b.get("device_name") != device_name:
            continue
        key = (b.get("model"), b.get("batch_size"))
        out = groups.get(key)
        if out is None:
            groups[key] = b
            continue
        conc = {_row_key(c): c for c in out.get("concurrency", [])} | {
            _row_key(c): c for c in b.get("concurrency", []) if c.get("images_per_s")}
        modes = {m["mode"]: m for m in out.get("modes", [])} | {m["mode"]: m for m in b.get("modes", [])}
        # fields of the later file win; a dict (pipelines: a modes-only file has no standard one) merges key by key
        out = out | {k: (out[k] | v if isinstance(v, dict) and isinstance(out.get(k), dict) else v)
                     for k, v in b.items() if v not in (None, [], {})}
        out["concurrency"] = sorted(conc.values(), key=lambda c: (c.get("mode", "eager"), c["processes"]))
        out["modes"] = list(modes.values())
        groups[key] = out
    return list(groups.values())


def _row_key(row: dict) -> tuple[str, int]:
    return row.get("mode", "eager"), int(row["processes"])


def stored_seconds_per_iteration(roots: list[str], device: str | None, mode: str | None,
                                 range_tests: bool = False) -> dict[tuple[str, int, int], float]:
    """``{(model, batch size, runs sharing the GPU): seconds per iteration}`` of the finished runs
    under ``roots`` that trained on ``device`` in step ``mode`` (eager for None), range tests aside
    (or range tests alone, with ``range_tests``: their steps read losses and accuracy often, so they
    keep their own pace): the median of each group's ``wall_time_s / iterations_done``, evaluations
    and compiling included. A call knows this GPU from them before it has finished a run itself: a
    loan's second call learns from its first."""
    if not device:
        return {}
    groups: dict[tuple[str, int, int], list[float]] = {}
    for root in dict.fromkeys(roots):
        for run in find_runs(root):
            s, cfg, prov = run.summary, run.config, run.provenance
            if (s.get("status") != "finished" or prov.get("device_name") != device
                    or (cfg.get("range_start_lr") is not None) != range_tests or step_mode_of(s) != (mode or "eager")
                    or not s.get("iterations_done") or not s.get("wall_time_s")):
                continue
            key = (cfg["model"], int(cfg["batch_size"]), int(prov.get("parallel_runs") or 1))
            groups.setdefault(key, []).append(float(s["wall_time_s"]) / int(s["iterations_done"]))
    return {k: statistics.median(v) for k, v in groups.items()}


def stored_benchmarks(folder: Path | str = BENCHMARKS) -> list[str]:
    """The throughput JSONs kept in the repository (``throughput*.json``), the first full benchmark
    first and later ones (a loan's modes-only timing, ``throughput-modes-<date>.json``, say) after it
    in name order: what ``run-study`` reads by default."""
    found = sorted(str(p) for p in Path(folder).glob("throughput*.json"))
    first = str(Path(folder) / "throughput.json")
    return ([first] if first in found else []) + [p for p in found if p != first]


def merged_benchmark(paths: str | list[str] | None, device_name: str | None) -> dict | None:
    """The first model and batch size the benchmarks timed on this device (the one whose step
    modes and process counts decide ``--step-mode auto`` and ``--parallel auto``)."""
    found = _benchmarks(paths, device_name)
    return found[0] if found else None


def benchmark_speeds(path: str | list[str] | None, device_name: str | None,
                     mode: str | None = None) -> dict[tuple[str, int], dict[int, float]]:
    """``{(model, batch): {processes: aggregate images/s}}`` from the throughput JSONs measured on
    this GPU, for ``mode`` (see :func:`speeds_of`)."""
    speeds: dict[tuple[str, int], dict[int, float]] = {}
    for b in _benchmarks(path, device_name):
        speeds |= speeds_of(b, mode)
    return speeds


def speeds_of(b: dict, mode: str | None = None) -> dict[tuple[str, int], dict[int, float]]:
    """Aggregate images/s of 1, 2, 3... processes in ``mode`` (eager when None), from one benchmark
    JSON already read. Process counts timed in that mode are used as measured. Where a count was
    timed only eagerly, a faster mode is assumed to gain nothing from it beyond what that many
    eager processes reach together: eager runs gain from sharing a GPU because one's host overhead
    overlaps another's kernels, and compiled modes remove most of that overhead, so scaling eager's
    gain would promise speeds a compiled mode may never reach (and start runs that cannot finish)."""
    eager = float(b["pipelines"]["fast"]["images_per_s"])
    timed = {_row_key(r): float(r["images_per_s"]) for r in b.get("concurrency", []) if r.get("images_per_s")}
    rows = {n: v for (m, n), v in timed.items() if m == "eager"}
    rows.setdefault(1, eager)
    single = {m["mode"]: m.get("images_per_s") for m in b.get("modes", [])}.get(mode) if mode else None
    if mode and mode != "eager" and single:
        own = {n: v for (m, n), v in timed.items() if m == mode} | {1: float(single)}
        rows = own | {n: max(float(single), v) for n, v in rows.items() if n not in own}
    return {(b["model"], int(b["batch_size"])): dict(sorted(rows.items()))}


def mode_startup_s(path: str | list[str] | None, device_name: str | None, mode: str | None) -> float:
    """Seconds ``mode`` spends before its first fast step (compiling, capturing CUDA graphs), as the
    benchmark measured it on this GPU (its ``startup_s``)."""
    b = merged_benchmark(path, device_name)
    if not b or not mode:
        return 0.0
    m = next((m for m in b.get("modes", []) if m.get("mode") == mode and m.get("images_per_s")), None)
    return float(m.get("startup_s") or 0.0) if m else 0.0


def best_mode(path: str | list[str] | None, device_name: str | None) -> str:
    """The fastest mode the benchmark measured on this GPU (one that compiled), else ``auto``
    unresolved: the caller keeps each run's own setting."""
    fastest = fastest_mode(merged_benchmark(path, device_name) or {})
    return fastest["mode"] if fastest else "auto"


def fastest_mode(bench: dict) -> dict | None:
    """A benchmark's fastest timed mode that compiled (its ``modes`` entry), else None."""
    timed = [m for m in bench.get("modes", []) if m.get("images_per_s") and not m.get("compile_fell_back")]
    return max(timed, key=lambda m: m["images_per_s"]) if timed else None


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
    be (a finished run of the same model and batch: its pace, and its start once compiled), else
    from ``stored`` runs of this GPU and mode (:func:`stored_seconds_per_iteration`), else from the
    benchmark, else unknown. A
    resumed run is estimated for what it has left; ``startup_s`` is what a child spends before
    its first fast step (Python, CUDA, data, and compiling in a compiled step mode)."""

    def __init__(self, speeds: dict[tuple[str, int], dict[int, float]], startup_s: float = STARTUP_S,
                 eager: dict[tuple[str, int], dict[int, float]] | None = None,
                 stored: dict[tuple[str, int, int], float] | None = None,
                 stored_range: dict[tuple[str, int, int], float] | None = None) -> None:
        self.speeds = speeds
        self.startup_s = startup_s
        # range tests are estimated at eager speed: they step in the chosen mode too, but read their losses
        # every 50 steps and their accuracy often, so a compiled mode's images/s would promise too much
        self.eager = speeds if eager is None else eager
        self.measured: dict[tuple[str, int, int], float] = {}  # (model, batch, n) -> seconds per iteration
        # (model, batch) -> seconds a further run of it spends before its steps' pace: its process start and
        # its warm compile (a finished run of it left its graphs in inductor's cache), as measured here
        self.warm: dict[tuple[str, int], float] = {}
        # the same from stored runs on this GPU in this mode: their wall time already holds the compiling
        self.stored = stored or {}
        # range tests' own pace, from those finished here (whole wall time over iterations) or stored
        self.measured_range: dict[tuple[str, int, int], float] = {}
        self.stored_range = stored_range or {}

    def learn(self, job: Job, n: int, seconds: float) -> None:
        """What a run that finished in ``seconds`` says of the next: its pace per iteration and, where
        its summary tells its start (``startup_s``, a run trained whole in this call), what a further run
        of its model spends before that pace (process start, and a compile now warm); else the pace left
        after the assumed start-up."""
        ran = job.iterations - job.done
        key = (job.cfg.model, job.cfg.batch_size, n)
        if ran <= 0:
            return
        s = _summary(job)
        if job.range_args is not None:  # may stop early (diverged): its own count of iterations
            done = s.get("iterations_done")
            done = done if isinstance(done, int) and done > job.done else job.iterations
            self.measured_range[key] = max(0.0, seconds - STARTUP_S) / (done - job.done)
            return
        start, wall = s.get("startup_s"), s.get("wall_time_s")
        if job.done == 0 and isinstance(start, int | float) and isinstance(wall, int | float) and 0 <= start <= wall:
            self.measured[key] = (wall - start) / ran
            # the quickest start seen: a first run that compiled cold bounds the warm start from above
            begun = max(0.0, seconds - wall) + start
            self.warm[key[:2]] = min(begun, self.warm.get(key[:2], begun))
        else:
            self.measured[key] = max(0.0, seconds - self.startup_s) / ran

    def __call__(self, job: Job, n: int) -> float | None:
        left = max(0, job.iterations - job.done)
        key = (job.cfg.model, job.cfg.batch_size, n)
        if key in self.measured:
            return self.warm.get(key[:2], self.startup_s) + MARGIN * self.measured[key] * left
        if key in self.stored and job.range_args is None:
            return STARTUP_S + MARGIN * self.stored[key] * left
        if job.range_args is not None and (pace := self.measured_range.get(key, self.stored_range.get(key))):
            return STARTUP_S + MARGIN * pace * left
        speeds, startup = (self.speeds, self.startup_s) if job.range_args is None else (self.eager, STARTUP_S)
        model = job.cfg.model if any(m == job.cfg.model for m, _ in speeds) else COST_LIKE.get(job.cfg.model)
        batches = sorted(b for m, b in speeds if m == model)
        if not batches:
            return None
        batch = job.cfg.batch_size
        # not timed at this batch: a larger batch's time per step bounds a smaller one's (small batches
        # are bound by per-step overhead, not by images), and a smaller batch's images/s a larger one's
        timed = batch if batch in batches else min((b for b in batches if b > batch), default=batches[-1])
        rows = speeds[(model, timed)]
        k = max((m for m in rows if m <= n), default=min(rows))
        per_run = rows[k] / k  # images/s each of n concurrent runs gets
        evals = job.evaluations * left / job.iterations if job.iterations else job.evaluations
        images = left * max(batch, timed) + evals * TEST_IMAGES / 3  # inference ~ 1/3 of a step
        return startup + MARGIN * images / per_run


def _summary(job: Job) -> dict:
    """A finished run's ``summary.json`` (empty where it cannot be read): its start, wall time and the
    iterations it did (a range test stopped at divergence did fewer than planned)."""
    try:
        return read_json(RunDir(job.path).summary)
    except (OSError, ValueError):
        return {}


def checkpoint_iteration(path: Path) -> int:
    """The iteration a run's checkpoint holds (0 without one): where it resumes."""
    ck = RunDir(path).checkpoint
    if not ck.exists():
        return 0
    try:
        import torch

        return int(torch.load(ck, map_location="cpu", weights_only=False)["iteration"])
    except Exception:  # noqa: BLE001 - unreadable: the run starts over, and so does its estimate
        return 0


def fmt_seconds(s: float | None) -> str:
    """``42 s``, ``5.3 min``, or ``?`` for an estimate there is no speed for."""
    return "?" if s is None else f"{s / 60:.1f} min" if s >= 90 else f"{s:.0f} s"


def _progress(job: Job) -> str:
    """``label sN 3400/9277`` from the run's own metrics file (the last logged iteration)."""
    return f"{job.name} {last_iteration(job.path)}/{job.iterations}"


def plan_only(jobs: list[Job], estimator: Estimator, parallel: int, time_limit: float | None) -> int:
    """Print what a call would do, training nothing: each missing run's estimate, and on ``parallel``
    lanes in queue order, which would start within ``time_limit`` (less the grace before it) and which
    would be skipped. A preview from the estimates alone: a real call re-estimates from the runs it
    finishes, and may start a run alone that fits only that way."""
    queue = [j for j in jobs if j.status == "queued"]
    for job in queue:
        job.done = checkpoint_iteration(job.path)
    limit = None if time_limit is None else time_limit - GRACE_S
    lanes = [0.0] * max(1, parallel)
    fits, total = 0, 0.0
    for job in queue:
        est = estimator(job, parallel)
        lane = min(range(len(lanes)), key=lanes.__getitem__)
        start = lanes[lane]
        if est is None:
            print(f"would start {job.name} at ~{fmt_seconds(start)}: no speed measured for it here (unknown length)")
            continue
        if limit is not None and start + est > limit:
            print(f"would skip  {job.name}: needs ~{fmt_seconds(est)}, ~{fmt_seconds(max(0.0, limit - start))} left")
            continue
        lanes[lane] = start + est
        fits, total = fits + 1, total + est
        print(f"would start {job.name} at ~{fmt_seconds(start)}, estimate {fmt_seconds(est)}")
    print(f"plan only: {fits} of {len(queue)} run(s) would start"
          + ("" if limit is None else f" in {fmt_seconds(time_limit)}") + f", ~{fmt_seconds(total)} of runs, "
          f"{len(jobs) - len(queue)} stored; nothing was trained", flush=True)
    return 0


def run_lease(jobs: list[Job], *, time_limit: float | None, parallel: int, estimator: Estimator,
              child_args: list[str], log_dir: Path, report_every: float = 30.0, stretch: bool = False) -> int:
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
    for job in queue:
        job.done = checkpoint_iteration(job.path)  # a resumed run has only the rest to go
    if queue and estimator(queue[0], 1) is not None:  # what the queue will cost, before anything starts
        print(f"queue (estimated, {parallel} at a time / alone): " + "; ".join(
            f"{j.name} {fmt_seconds(estimator(j, parallel))} / {fmt_seconds(estimator(j, 1))}" for j in queue), flush=True)
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
                    alone_s = estimator(job, 1)
                    solo = alone_s if parallel > 1 and not running else None
                    never = alone_s is not None and alone_s > time_limit - GRACE_S  # no call of this limit holds it
                    if stretch and never and not running and left >= min(MIN_STRETCH_S, time_limit / 3):
                        alone, share, job.est_s = job, 1, alone_s
                        print(f"stretch {job.name}: needs ~{fmt_seconds(alone_s)} alone, more than one call; it runs alone "
                              "until the deadline, checkpoints, and the same command resumes it", flush=True)
                    elif solo is None or solo > left:
                        job.status = "does not fit"
                        why = (f"needs ~{fmt_seconds(alone_s)} even alone, more than this whole limit (a faster --step-mode, "
                               "a longer limit, or --stretch to run it a call at a time)" if never
                               else f"needs ~{fmt_seconds(job.est_s)}, {fmt_seconds(left)} left")
                        print(f"skip  {job.name} ({Path(job.file).stem}): {why}", flush=True)
                        continue
                    else:
                        alone, share, job.est_s = job, 1, solo
                        print(f"alone {job.name}: fits only with the device to itself (~{fmt_seconds(solo)}); nothing starts "
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
                resumes = f", resumes at {job.done}/{job.iterations}" if job.done else ""
                print(f"start {job.name} ({Path(job.file).stem}), estimate {fmt_seconds(job.est_s)}{resumes}; log {log.name}",
                      flush=True)
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
                print(f"{job.status:5s} {job.name} in {fmt_seconds(job.seconds)} (exit {rc})", flush=True)
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
    print(f"done in {fmt_seconds(seconds)}: " + "; ".join(f"{k} {len(v)} ({', '.join(v)})" for k, v in by.items()), flush=True)
    remain = [j for j in jobs if j.status not in ("finished", "cached")]
    if sig is not None:
        print("interrupted: stopped runs are checkpointed; run the same command again to resume", file=sys.stderr)
        return 130
    if remain:
        print(f"{len(remain)} run(s) remain: run the same command again (a stopped run resumes from its checkpoint)",
              file=sys.stderr)
        return 3
    return 0
