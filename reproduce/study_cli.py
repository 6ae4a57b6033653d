"""``run-study`` (runs only: GPU machines without papermill), ``study`` (notebooks, figures,
CLAIMS.md: what ``make reproduce`` calls), ``figures`` and ``claims``.

``sweep``, ``notebooks``, ``figures`` and ``claims`` are imported inside their commands: they need
submitit, papermill, matplotlib or scipy, which a machine that only runs experiments may lack."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from .lease import (
    STARTUP_S,
    Estimator,
    Job,
    benchmark_speeds,
    best_mode,
    best_parallel,
    mode_startup_s,
    parse_pick,
    parse_target,
    picked,
    plan_only,
    run_lease,
    stored_benchmarks,
    stored_seconds_per_iteration,
)
from .results import DEFAULT_ROOT, device_name, find_runs, study_results
from .studies import PROFILES, execute, expand, read_spec, run_study
from .train import MODES, Interrupted


def _step_mode(a: argparse.Namespace, device: str | None) -> str | None:
    """``--step-mode``; ``auto`` (the default) is the fastest mode the benchmark timed on this GPU,
    else None: each run as configured (eager)."""
    if a.step_mode != "auto":
        return a.step_mode
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if not (dev.startswith("cuda") or a.as_device):
        return None
    mode = best_mode(a.benchmark, a.as_device or device_name(dev))
    return None if mode == "auto" else mode


def _spec(a: argparse.Namespace, file: str) -> dict:
    """A study file, read and checked, with the command line's --data/--device/--out over it."""
    spec = read_spec(file)
    spec.update({k: getattr(a, k) for k in ("data", "device", "out") if getattr(a, k) is not None})
    return spec


def cmd_run_study(a: argparse.Namespace) -> int:
    if a.benchmark is None:
        a.benchmark = stored_benchmarks()
    if len(a.file) > 1 or a.time_limit is not None or a.parallel is not None or ":" in a.file[0] or a.plan or a.as_device:
        return _run_lease(a)
    spec = _spec(a, a.file[0])
    if (mode := _step_mode(a, spec.get("device"))) is not None:
        spec["step_mode"] = mode
    t0 = time.perf_counter()
    try:
        results = run_study(spec, force=a.force, only=a.only, seeds=a.seeds)
    except Interrupted as e:  # SIGTERM/SIGINT (e.g. from `timeout -s TERM`): checkpointed, not lost
        print(f"interrupted: {e}", file=sys.stderr)  # says where the checkpoint is and how to resume
        return 130
    for label, runs in results.items():
        for r in runs:
            s = r.summary
            acc = s.get("test_accuracy", s.get("peak_accuracy"))
            print(f"{label:28s} seed {s.get('seed')}  {s.get('status'):9s} acc {acc if acc is None else round(acc, 4)}"
                  f"  {s.get('wall_time_s', 0):8.1f} s  {r.path}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


def _run_lease(a: argparse.Namespace) -> int:
    """Several studies under a time limit, N runs at a time (``reproduce.lease``)."""


    if a.time_limit is not None and not a.time_limit > 0:
        raise ValueError(f"time-limit={a.time_limit} is invalid: expected seconds > 0")
    if a.as_device and not a.plan:  # another GPU's speeds would plan the runs this machine trains
        raise ValueError(f"as-device={a.as_device!r} is invalid here: it plans with another GPU's speeds, so it "
                         "goes with --plan only")
    if a.parallel not in (None, "auto") and not (a.parallel.isdigit() and int(a.parallel) > 0):
        raise ValueError(f"parallel={a.parallel!r} is invalid: expected a number of processes > 0, or auto")
    jobs: list[Job] = []
    for target in a.file:
        file, names = parse_target(target)
        picks = [parse_pick(x) for x in names or []]
        labels = list(dict.fromkeys(label for label, _ in picks))
        spec = _spec(a, file)
        root = spec.get("out") or str(DEFAULT_ROOT)
        only = labels if labels else a.only
        if labels and a.only:
            only = [x for x in labels if x in a.only] or labels
        found = list(expand(spec, only, a.seeds))
        if picks:  # FILE:B,A queues B's runs before A's, as typed (the file's order otherwise); A@0 only A's seed 0
            found = picked(found, picks, file)
        for cfg, range_args in found:
            job = Job(file, cfg, range_args, root=root)
            if any(j.path == job.path for j in jobs):
                continue  # the same run listed twice
            if not a.force and execute(cfg, range_args, root, cached_only=True) is not None:
                job.status = "cached"
            jobs.append(job)
    todo = [j for j in jobs if j.status == "queued"]
    dev = todo[0].cfg.device if todo else "cpu"
    name = a.as_device or device_name(dev)  # the GPU whose measured speeds plan the queue
    mode = _step_mode(a, dev) if todo else None
    speeds = benchmark_speeds(a.benchmark, name, mode) if todo else {}
    parallel = best_parallel(speeds) if a.parallel in (None, "auto") else int(a.parallel)
    roots = [j.root for j in jobs]
    stored = stored_seconds_per_iteration(roots, name, mode) if todo else {}
    estimator = Estimator(speeds, STARTUP_S + (mode_startup_s(a.benchmark, name, mode) if todo else 0.0),
                          eager=benchmark_speeds(a.benchmark, name) if todo else {}, stored=stored,
                          stored_range=stored_seconds_per_iteration(roots, name, mode, range_tests=True) if todo else {})
    limit = "no time limit" if a.time_limit is None else f"limit {a.time_limit:.0f} s"
    print(f"plan: {len(todo)} run(s) to train ({', '.join(j.name for j in todo) or 'none'}), "
          f"{len(jobs) - len(todo)} stored; {parallel} at a time; step mode {mode or 'as configured'} "
          f"(~{estimator.startup_s:.0f} s to start a run); {limit}; "
          f"speeds from {'the benchmark ' + ' + '.join(a.benchmark) if speeds else 'runs measured in this call'}"
          + (f" and {len(stored)} kind(s) of stored run on {name} in step mode {mode or 'eager'}" if stored else ""),
          flush=True)
    if a.plan:
        return plan_only(jobs, estimator, parallel, a.time_limit)
    child = [x for k in ("data", "device", "out") if getattr(a, k) is not None for x in (f"--{k}", getattr(a, k))]
    if mode:
        child += ["--step-mode", mode]
    if a.force:
        child.append("--force")
    return run_lease(jobs, time_limit=a.time_limit, parallel=parallel, estimator=estimator, child_args=child,
                     log_dir=Path(a.log_dir), stretch=a.stretch)


def cmd_import_runs(a: argparse.Namespace) -> int:
    """0 when every run of the archive is in the store now (or would be, with --dry-run); 3 when some
    were left out (each named with its reason)."""
    from .import_runs import file_loan, import_runs, loan_archive, report

    rows = import_runs(a.source, a.into, dry_run=a.dry_run, allow_dirty=a.allow_dirty)
    print(report(rows))
    if loan_archive(a.source):  # a loan's whole folder: its benchmarks and logs come home too
        print("\n".join(file_loan(a.source, dry_run=a.dry_run)))
        print("next: python benchmarks/throughput.py --readme (the performance table), then "
              "python -m reproduce study --profile full --no-train (notebooks, figures, CLAIMS.md); commit")
    return 0 if all(r["verdict"] in ("import", "stored") for r in rows) else 3


def cmd_sweep(a: argparse.Namespace) -> int:

    from .sweep import sweep

    spec = _spec(a, a.file)
    extra = {k: getattr(a, k) for k in ("partition", "gpus_per_node", "cpus_per_task", "timeout_min", "parallelism")}
    results = sweep(spec, a.executor, folder=a.folder, only=a.only, seeds=a.seeds, wait=a.wait, **extra)
    for r in results if a.wait else []:
        acc = r.get("test_accuracy", r.get("peak_accuracy"))
        print(f"{r['label']:28s} seed {r['seed']}  {r.get('status'):9s} acc {acc}  {r['path']}")
    return 0


def cmd_study(a: argparse.Namespace) -> int:
    from .notebooks import run_profile, stops_handed_to_kernels

    if a.out and not a.train:  # rendering only: a mistyped store would redraw every notebook with nothing run
        _store(a.out)
    try:
        with stops_handed_to_kernels():  # Ctrl-C and SIGTERM: the run in the notebook checkpoints first
            return run_profile(profile=a.profile, only=a.only, out=a.out, train_missing=a.train, data=a.data)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: one line, not papermill's 45-line traceback
        print("\ninterrupted: finished runs are stored and an interrupted run keeps its checkpoint; "
              "run the same command again to resume", file=sys.stderr)
        return 130


def _store(results: str) -> str:
    """A results store that exists: a mistyped one would render every claim as not run, over the real files."""
    if not Path(results).is_dir():
        raise ValueError(f"results={results!r} is invalid: expected the results store, a folder of <study>/<run-id>/ "
                         f"run folders (default {DEFAULT_ROOT})")
    return results


def cmd_figures(a: argparse.Namespace) -> int:
    from .figures import make_all

    _store(a.results)
    if not find_runs(a.results):  # a folder that is no store (or an empty one) would draw the formulas alone
        print(f"warning: {a.results} holds no stored run (<study>/<run-id>/summary.json): only the figures drawn "
              "from formulas are made", file=sys.stderr)
    for path in make_all(a.results, a.dest):
        print(path)
    return 0


def cmd_compare(a: argparse.Namespace) -> int:
    from .claims import (
        difference_kind,
        estimates,
        final_readings,
        gap_text,
        judged_difference,
        three,
    )
    from .readings import NAMES, READ_IMAGES, READ_PAIRS, READ_RUNS

    store = Path(_store(a.results))
    studies = [a.study] if a.study else sorted(p.name for p in store.iterdir() if p.is_dir())
    where: dict[str, list[str]] = {}
    runs: dict[str, list] = {}
    for study in studies:
        for label, found in study_results(store, study, a.profile).items():
            where.setdefault(label, []).append(study)
            if label in (a.a, a.b):
                runs.setdefault(label, []).extend(found)
    for label in (a.a, a.b):
        if label not in where:
            raise ValueError(f"label={label!r} is invalid: no {a.profile}-profile run of it in {store}"
                             f"{'/' + a.study if a.study else ''}; stored labels: {', '.join(sorted(where)) or 'none'}")
        if len(where[label]) > 1:
            raise ValueError(f"label={label!r} is ambiguous: stored in {', '.join(where[label])}; name one with --study")
    if a.a == a.b:
        raise ValueError(f"labels={a.a!r}, {a.b!r} are invalid: expected two different settings")
    per = final_readings(runs, [a.a, a.b])
    for label in (a.a, a.b):
        if label not in per:
            raise ValueError(f"label={label!r} is invalid: its runs recorded no test accuracy (a range test, or unfinished)")
    est = estimates(per)
    for name, label in (("A", a.a), ("B", a.b)):
        seeds = ", ".join(str(r.config.get("seed")) for r in runs[label])
        print(f"{name}: {label} ({where[label][0]}, seeds {seeds}): {three(est[label])}")
    d = judged_difference(per, a.a, a.b, est)
    same = all(e[k].value == e["exact"].value for e in est.values() for k in e)  # every test image exact: one reading
    print(f"A - B, {'every test image exact' if same else NAMES[difference_kind(per, a.a, a.b)]}: {gap_text(d)}")
    if d.half is None:
        print("no interval: neither setting ran two seeds, so the seed-to-seed spread is not measured")
    else:
        how = {READ_RUNS: ", read off each run's own variance (an upper bound: runs without per-image verdicts)",
               READ_PAIRS: ", read image by image where both runs of a seed kept their per-image verdicts and off "
                           "each run's own variance elsewhere (an upper bound)",
               READ_IMAGES: ", read image by image from every run's per-image verdicts"}[d.read]
        print("95 % intervals: the seed spread pooled over A and B (Student's t), plus the test-set sampling" + how)
    return 0


def cmd_claims(a: argparse.Namespace) -> int:
    from .claims import write_claims, write_readme
    from .figures import write_overview

    own = Path(_store(a.results)).resolve() == Path(DEFAULT_ROOT).resolve()
    # the repository's CLAIMS.md and README judge the repository's store, never another one
    dest = a.dest or ("CLAIMS.md" if own else str(Path(a.results) / "CLAIMS.md"))
    for path in write_overview(a.results, Path(dest).parent / "figures"):  # the figure CLAIMS.md shows
        print(path)
    print(write_claims(a.results, dest))
    readme = a.readme
    if readme is None:
        readme = "README.md" if own and dest == "CLAIMS.md" else ""
    if readme:
        write_readme(a.results, readme)
        print(readme)
    return 0


def add_commands(sub) -> None:

    r = sub.add_parser("run-study", help="train every run of study YAMLs (no notebook; for GPU machines)",
                       description="Run (or load from the results cache) every run of a study parameter set, "
                                   "e.g. experiments/full/05_resnet56_one_cycle.yaml. An interrupted run "
                                   "resumes from its checkpoint when the same command runs again. With several "
                                   "files, FILE:LABEL selectors, --time-limit or --parallel, the missing runs are "
                                   "queued in the order given, each in its own process, and a run is started only "
                                   "when its estimated duration fits in the time left.",
                       epilog="example (a lent GPU, 9 minutes): python -m reproduce run-study "
                              "experiments/full/05_resnet56_one_cycle.yaml:one_cycle experiments/full/03_range_tests.yaml "
                              "--time-limit 520 --parallel auto --benchmark benchmarks/results/throughput.json")
    r.add_argument("file", nargs="+", metavar="FILE[:LABEL,...]",
                   help="experiments/<profile>/<study>.yaml, optionally with the labels to take from it, in that order; "
                        "LABEL@SEED takes one of its seeds (the label named again later takes the others there)")
    r.add_argument("--only", nargs="+", metavar="LABEL", help="run only these labels")
    r.add_argument("--seeds", nargs="+", type=int, help="run only these seeds")
    r.add_argument("--data", help="CIFAR-10 folder (default $CIFAR10_DIR, else download)")
    r.add_argument("--device", help="cuda, cpu, cuda:1 ... for every run (default: the YAML's, else cuda if available)")
    r.add_argument("--out", help="results root (default experiments/results)")
    r.add_argument("--force", action="store_true", help="re-run stored runs")
    r.add_argument("--time-limit", type=float, metavar="SECONDS",
                   help="start no run that cannot finish in this many seconds from now; stop (checkpoint) the "
                        "rest 20 s before it (use with `timeout -s TERM` a little above it)")
    r.add_argument("--parallel", metavar="N|auto",
                   help="runs at once on the device (default: auto = the benchmark's fastest count, else 1)")
    r.add_argument("--benchmark", nargs="+", default=None, metavar="JSON",
                   help="throughput JSONs (benchmarks/throughput.py) measured on this GPU, merged in order: "
                        "estimates, --parallel auto and --step-mode auto read them (default: every "
                        "benchmarks/results/throughput*.json, throughput.json first)")
    r.add_argument("--log-dir", default="experiments/logs", help="one log per run started (default %(default)s)")
    r.add_argument("--step-mode", choices=[*MODES, "auto"], default="auto",
                   help="how steps run, results unchanged (eager, fused optimizer, torch.compile, CUDA graphs); "
                        "auto (default): the fastest the benchmark measured on this GPU, else eager")
    r.add_argument("--plan", action="store_true",
                   help="train nothing: print the queue, each run's estimate and which would start in --time-limit "
                        "(a preview: a real call decides as it goes, from the times it measures)")
    r.add_argument("--as-device", metavar="NAME",
                   help="plan with the speeds measured on this GPU (its benchmark JSONs and stored runs), e.g. "
                        "'NVIDIA H200': preview a loan from any machine (with --plan)")
    r.add_argument("--stretch", action="store_true",
                   help="with --time-limit: a run estimated longer than the whole limit even alone (C6's 64k "
                        "iterations on a slow path) starts alone when nothing else runs, trains until the deadline "
                        "and checkpoints; the same command resumes it, a call at a time (default: skip it)")
    r.set_defaults(func=cmd_run_study)

    i = sub.add_parser("import-runs", help="bring a GPU loan's runs home: the finished ones, checked, into the store",
                       description="Copy the finished run folders of a results archive (or folder) into the results "
                                   "store, each checked first: its folder name is its config's id, its provenance "
                                   "names a clean commit, the command, the device and the data's checksum, and a "
                                   "full-profile run used the data the stored full-profile runs used. Unfinished runs, "
                                   "runs that differ from a stored one of the same id, and runs of an uncommitted "
                                   "tree are named with the reason and left out; checkpoints are never copied.",
                       epilog="example: python -m reproduce import-runs /tmp/loan/results.tgz --dry-run; given the "
                              "folder a loan of experiments/leases/loan.sh returned, its results.tgz is imported and "
                              "its benchmark JSONs and logs are filed too (benchmarks/results/, experiments/leases/)")
    i.add_argument("source", help="a tar archive (.tgz), a folder holding <study>/<run-id>/ run folders, or a loan's "
                                  "returned folder (results.tgz, modes*.json, bench.log, train.log)")
    i.add_argument("--into", default=str(DEFAULT_ROOT), help="results store (default %(default)s)")
    i.add_argument("--dry-run", action="store_true", help="check and report, copy nothing")
    i.add_argument("--allow-dirty", action="store_true", help="also import runs of a tree with uncommitted changes")
    i.set_defaults(func=cmd_import_runs)

    w = sub.add_parser("sweep", help="submit every missing run of a study as its own job (submitit: local or Slurm)",
                       description="Expand a study YAML into its runs, skip those already stored, and submit the rest "
                                   "through submitit: --executor slurm on a cluster (one GPU job per run), --executor "
                                   "local on one machine. Jobs write into the same results store.",
                       epilog="example: python -m reproduce sweep experiments/full/06_weight_decay.yaml --executor slurm "
                              "--partition gpu --timeout-min 60")
    w.add_argument("file", help="experiments/<profile>/<study>.yaml")
    w.add_argument("--executor", choices=("local", "slurm"), default="local",
                   help="local: jobs on this machine; slurm: one cluster job per run (default %(default)s)")
    w.add_argument("--folder", default="experiments/sweeps", help="submitit's logs and pickles")
    w.add_argument("--only", nargs="+", metavar="LABEL", help="submit only these labels")
    w.add_argument("--seeds", nargs="+", type=int, help="submit only these seeds")
    w.add_argument("--data", help="CIFAR-10 folder as the jobs see it (default $CIFAR10_DIR, else download)")
    w.add_argument("--device", help="cuda, cpu ... as the jobs see it (default: the YAML's, else cuda if available)")
    w.add_argument("--out", help="results root the jobs write to (default experiments/results)")
    w.add_argument("--partition", help="Slurm partition")
    w.add_argument("--gpus-per-node", type=int, default=1, help="Slurm: GPUs per job (default %(default)s)")
    w.add_argument("--cpus-per-task", type=int, default=8, help="Slurm: CPU cores per job (default %(default)s)")
    w.add_argument("--timeout-min", type=int, default=240,
                   help="minutes before a job is stopped (default %(default)s; a stopped run resumes from "
                        "its checkpoint when submitted again)")
    w.add_argument("--parallelism", type=int, default=16, help="Slurm array: jobs running at once")
    w.add_argument("--no-wait", dest="wait", action="store_false", help="submit and return")
    w.set_defaults(func=cmd_sweep)

    s = sub.add_parser("study", help="execute the notebooks (papermill), then figures and CLAIMS.md (make reproduce)",
                       description="Execute every study notebook with its parameter set into notebooks/executed/ "
                                   "(quick: notebooks/executed/quick/), export HTML, regenerate figures and write "
                                   "CLAIMS.md. Stored runs are reused; missing ones are trained.")
    s.add_argument("--profile", choices=PROFILES,
                   help="default: full on a CUDA machine, quick otherwise")
    s.add_argument("--only", nargs="+", metavar="STUDY", help="e.g. 04_clr_vs_fixed")
    s.add_argument("--out", help="results root override (default: the YAML's, experiments/results); the notebooks, "
                   "figures and CLAIMS.md rendered from another store go inside it (OUT/notebooks/executed/, "
                   "OUT/figures/, OUT/CLAIMS.md), so the checkout's record shows only its own store")
    s.add_argument("--data", help="CIFAR-10 folder (default $CIFAR10_DIR, else torchvision's download)")
    s.add_argument("--no-train", dest="train", action="store_false",
                   help="render from stored runs only; list the missing ones instead of training them")
    s.set_defaults(func=cmd_study)

    f = sub.add_parser("figures", help="regenerate every figure from stored results (no training)")
    f.add_argument("--results", default=str(DEFAULT_ROOT), help="the results store to draw from (default %(default)s)")
    f.add_argument("--dest", default="figures", help="folder the PNG/PDF figures are written to (default %(default)s)")
    f.set_defaults(func=cmd_figures)

    m = sub.add_parser("compare", help="two stored settings side by side: each mean over seeds and their difference, "
                                       "with 95 %% intervals",
                       description="Compare two settings (labels) of the results store: each one's mean test "
                                   "accuracy over its seeds in the three readings, and the difference A - B with "
                                   "its 95 % interval, under the same statistics as CLAIMS.md. Where every run kept "
                                   "its per-image verdicts the test-set sampling is read image by image, so only "
                                   "the images the runs disagree on count.",
                       epilog="example: python -m reproduce compare wd1e-4 wd1e-5 --study 06_weight_decay")
    m.add_argument("a", metavar="A", help="a label, e.g. one_cycle-momentum0.9")
    m.add_argument("b", metavar="B", help="another label of the same store")
    m.add_argument("--study", help="the study folder to look in, e.g. 05_resnet56_one_cycle (default: every one)")
    m.add_argument("--profile", choices=PROFILES, default="full", help="default: full")
    m.add_argument("--results", default=str(DEFAULT_ROOT), help=f"the results store (default {DEFAULT_ROOT})")
    m.set_defaults(func=cmd_compare)

    c = sub.add_parser("claims", help="write CLAIMS.md and its overview figure from stored results (no training)")
    c.add_argument("--results", default=str(DEFAULT_ROOT), help="the results store to judge (default %(default)s)")
    c.add_argument("--dest", default=None, help="the Markdown file to write (default CLAIMS.md for the repository's "
                   "store, else CLAIMS.md inside the store given, as `study --out` writes it); the overview figure "
                   "goes to figures/ beside it")
    c.add_argument("--readme", default=None, help="also refresh this README's results table (its claims markers); "
                   "'' to leave it. Default: README.md when --results and --dest are the defaults, else none, so "
                   "that another store's claims never overwrite the repository's table")
    c.set_defaults(func=cmd_claims)


