"""Training images/s: the project's fast path against a standard PyTorch pipeline.

(a) fast: data resident on the device as uint8, crop/flip as batched tensor ops, bf16 autocast
    and channels_last on CUDA, optional torch.compile, no host sync inside the timed loop;
(b) standard: torchvision DataLoader (PIL, CPU transforms, worker processes), fp32, eager —
    the way the seed notebooks train.
(c) the fast path in N processes at once on the same device (``--concurrency 2 3``), each
    timed over the same window: the aggregate images/s ``run-study --parallel auto`` reads to
    choose how many runs share a GPU, and the speed its time limit estimates durations from.
Same model, batch and augmentation; all in one run; JSON out. On a GPU this is the study's
performance figure; on CPU (`--smoke`) it runs tiny so it cannot rot.

    python benchmarks/throughput.py                       # ResNet-56, batch 512, 1-3 processes
    python benchmarks/throughput.py --smoke --out /tmp/b.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from standard_pipeline import torchvision_loader  # beside this script

from reproduce import models
from reproduce.data import DeviceLoader, Normalizer, load_cifar10
from reproduce.results import device_name, git_info, write_json
from reproduce.train import MODES, CompiledOrEager, training_step


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _train_steps(model, opt, batches, device, amp, steps, warmup, barrier=None):
    """Time ``steps`` optimizer steps after ``warmup`` untimed ones; returns seconds. ``barrier``
    (concurrent workers) is called between warm-up and timing, so all time the same window."""
    forward_backward = training_step(opt, device, amp)  # the engine's own step: what is timed is what trains

    it = iter(batches)
    t0 = None
    for i in range(warmup + steps):
        if i == warmup:
            _sync(device)
            if barrier:
                barrier()
            t0 = time.perf_counter()
        x, y = next(it)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)

        if isinstance(model, CompiledOrEager):  # a mode: compiled while it works, else eager
            model.run(forward_backward, x, y)
        else:
            forward_backward(model, x, y)
        opt.step()
    _sync(device)
    return time.perf_counter() - t0


def fresh_model(model: str, device: str, mode: str = "eager", channels_last: bool = False, compile: bool = False):
    """A freshly seeded ``model`` in step ``mode`` (channels_last if asked), its stepper and its
    optimizer: every timed or profiled step starts from the same weights."""
    torch.manual_seed(0)
    m = models.build(model).to(device)
    if channels_last:
        m = m.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4,
                          **({"fused": True} if MODES[mode]["fused"] else {}))
    return m, CompiledOrEager(m, MODES[mode]["compile"] or compile), opt


def _flat(model: torch.nn.Module) -> torch.Tensor:
    """The parameters as one fp32 vector (on their device)."""
    return torch.cat([q.detach().float().reshape(-1) for q in model.parameters()])


def update_drift(theta: torch.Tensor, eager: torch.Tensor, start: torch.Tensor) -> float:
    """How far a mode's parameters after the benchmark's steps lie from eager's, relative to how far
    eager's moved from the shared start: ~0 when the mode computes eager's updates (up to float
    reordering), ~1 or more when it does not. Every mode starts from the same seed and sees the
    same batches, so this checks each timed mode on the GPU it was timed on (the only extra work is
    one more eager run, the floor non-determinism alone gives)."""
    return float((theta - eager).norm() / (eager - start).norm())


def cost_per_image(model: torch.nn.Module, device: str) -> dict:
    """Training FLOPs per image (forward + backward, from torch's FlopCounterMode) and the bytes
    of activations per image (every leaf module's output in bf16: written forward, read back in
    backward) — the two numbers a floor for this model's step time is estimated from."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.randn(2, 3, 32, 32, device=device)
    acts = []
    hooks = [m.register_forward_hook(lambda _m, _i, o: acts.append(o.numel()))
             for m in model.modules() if not list(m.children())]
    with FlopCounterMode(display=False) as fc:
        model(x).float().sum().backward()
    for h in hooks:
        h.remove()
    model.zero_grad(set_to_none=True)
    params = sum(p.numel() for p in model.parameters())
    return {"train_flops_per_image": fc.get_total_flops() / 2, "activation_bytes_per_image_bf16": 2 * sum(acts) / 2,
            "parameters": params}


def copy_bandwidth(device: str, megabytes: int = 256, repeats: int = 10) -> float:
    """Device memory bandwidth in bytes/s, measured by copying a tensor (read + write): the
    yardstick for the memory floor of a step, measured here rather than taken from a data sheet."""
    src = torch.empty(megabytes * 2**20, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    dst.copy_(src)
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        dst.copy_(src)
    _sync(device)
    return 2 * src.numel() * repeats / (time.perf_counter() - t0)


def _file_barrier(folder: str, index: int):
    """Say this worker is warm, then wait for the parent's go (a file), at most 10 minutes."""
    def wait():
        Path(folder, f"ready{index}").touch()
        t0 = time.monotonic()
        while not Path(folder, "go").exists() and time.monotonic() - t0 < 600:
            time.sleep(0.005)
    return wait


def concurrent(a, n: int, mode: str) -> dict:
    """Aggregate images/s of ``n`` fast-path processes started together in step ``mode`` (each its
    own model, loader and CUDA context, as ``run-study --parallel n --step-mode mode`` runs them)."""
    with tempfile.TemporaryDirectory() as folder:
        cmd = [sys.executable, __file__, "--worker", folder, "--model", a.model, "--batch-size", str(a.batch_size),
               "--steps", str(a.steps), "--warmup", str(a.warmup), "--device", a.device, "--augment", a.augment,
               "--data", a.data or "", "--worker-mode", mode] + (["--compile"] if a.compile else [])
        env = os.environ | {"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // n))}
        procs = [subprocess.Popen(cmd + ["--worker-index", str(i)], stdout=subprocess.PIPE, env=env, text=True)
                 for i in range(n)]
        t0 = time.monotonic()
        while sum(Path(folder, f"ready{i}").exists() for i in range(n)) < n and time.monotonic() - t0 < 600:
            if any(p.poll() not in (None, 0) for p in procs):
                break
            time.sleep(0.01)
        Path(folder, "go").touch()
        outs = [p.communicate()[0] for p in procs]
    if any(p.returncode for p in procs):
        raise RuntimeError(f"a concurrent worker failed (exit codes {[p.returncode for p in procs]})")
    each = [json.loads(o.strip().splitlines()[-1])["images_per_s"] for o in outs]
    return {"processes": n, "mode": mode, "images_per_s": sum(each), "per_process": each}


MARKERS = ("<!-- performance: generated by `python benchmarks/throughput.py --readme` -->",
           "<!-- performance: end -->")


def readme_table(bench: dict, results_root: str = "experiments/results") -> str:
    """The README's performance table: the benchmark JSON's speeds and the stored C4 runs' wall
    times on the same GPU, so no speed in the README is typed by hand."""
    from reproduce.results import find_runs
    from reproduce.train import step_mode_of

    fast = bench["pipelines"]["fast"]
    conc = {c["processes"]: c["images_per_s"] for c in bench.get("concurrency", [])
            if c.get("images_per_s") and c.get("mode", "eager") == "eager"}
    conc_modes: dict[str, dict[int, float]] = {}
    for c in bench.get("concurrency", []):
        if c.get("images_per_s") and c.get("mode", "eager") != "eager" and c["processes"] > 1:
            conc_modes.setdefault(c["mode"], {})[c["processes"]] = c["images_per_s"]
    c4 = [r for r in find_runs(results_root, "05_resnet56_one_cycle", label="one_cycle", profile="full")
          if r.provenance.get("device_name") == bench["device_name"] and r.summary.get("status") == "finished"]
    lines = [f"| {bench['model']}, batch {bench['batch_size']}, {bench['augment']} | {bench['device_name']} "
             f"(torch {bench['torch']}) |", "|---|---|",
             f"| fast path: data on the GPU as uint8, bf16, channels_last, cuDNN autotuning, eager | "
             f"{fast['images_per_s']:,.0f} images/s |"]
    timed = [m for m in bench.get("modes", []) if m.get("images_per_s") and m["mode"] != "eager"]
    floor = next((m.get("update_drift") for m in bench.get("modes", []) if m["mode"] == "eager"), None)
    for m in timed:
        fell = " (compile failed: trained eagerly)" if m.get("compile_fell_back") else ""
        drift = "" if m.get("update_drift") is None else (
            f"; parameters {100 * m['update_drift']:.2g} % of the update from eager's"
            + ("" if floor is None else f" (eager against itself: {100 * floor:.2g} %)"))
        lines.append(f"| mode {m['mode']} (one process){fell} | {m['images_per_s']:,.0f} images/s{drift} |")
    more = [n for n in sorted(conc) if n > 1]
    if more:
        lines.append(f"| the same, {' / '.join(map(str, more))} processes sharing the GPU (together) | "
                     f"{' / '.join(f'{conc[n]:,.0f}' for n in more)} images/s |")
    for mode, rows in conc_modes.items():
        ns = sorted(rows)
        lines.append(f"| mode {mode}, {' / '.join(map(str, ns))} processes sharing the GPU (together) | "
                     f"{' / '.join(f'{rows[n]:,.0f}' for n in ns)} images/s |")
    if "standard" in bench["pipelines"]:
        std = bench["pipelines"]["standard"]
        lines.append(f"| standard pipeline: {std['loader']}, fp32, eager | {std['images_per_s']:,.0f} images/s "
                     f"(the fast path is {bench['speedup']:.1f}x faster) |")
    if bench.get("memory_floor"):
        f = bench["memory_floor"]
        lines.append(f"| memory floor: activations written and read once at the measured copy bandwidth "
                     f"({f['copy_bandwidth_bytes_per_s'] / 1e9:,.0f} GB/s) | {f['floor_images_per_s']:,.0f} images/s "
                     f"(the fast path reaches {100 * f['fast_path_fraction_of_floor']:.0f} %) |")
    if bench.get("c4_run_estimate_s"):
        lines.append(f"| one C4 run (9,277 steps of 512, ~95 evaluations), estimated alone from the eager fast path | "
                     f"{bench['c4_run_estimate_s']:.0f} s |")
    total = full_profile_estimate(bench, results_root)
    if total:
        n_runs, seconds, procs, untimed, mode, (n_left, left_s) = total
        bound = (f" (batch {', '.join(map(str, untimed))} not timed: bounded by batch {bench['batch_size']}'s time per "
                 "step)" if untimed else "")
        at_most = " at most" if untimed else ""
        left = f"; the {n_left} not stored yet: {left_s / 60:.0f} min{at_most}" if n_left else "; all stored"
        lines.append(f"| the full profile's {bench['model']} runs ({n_runs} runs: C1, C4-C7), estimated, {procs} at a time in step mode {mode}"
                     f"{bound} | {seconds / 60:.0f} min of GPU time{at_most}{left} |")
    for path, prof in stored_profiles(bench):
        shares = ", ".join(f"{k} {100 * v['share']:.0f} %" for k, v in prof["kinds"].items() if v["share"] >= 0.01)
        lines.append(f"| where a step's GPU time goes, mode {prof['mode']} (torch.profiler, {prof['steps']} steps; "
                     f"`{path.name}`) | {shares}; kernels {1e3 * prof['kernel_s_per_step']:.1f} ms of a "
                     f"{1e3 * prof['step_s']:.1f} ms step (the GPU busy {100 * prof['busy_fraction']:.0f} %) |")
    measured: dict[tuple[str, int], list[float]] = {}  # (step mode, runs sharing the GPU) -> wall times
    for r in c4:
        measured.setdefault((step_mode_of(r.summary), r.provenance.get("parallel_runs", 1)), []).append(
            r.summary["wall_time_s"])
    for (mode, n), walls in sorted(measured.items()):
        share = f", {sum(walls) / len(walls) / n:.0f} s per run in aggregate" if n > 1 else ""
        how = "alone" if n == 1 else f"{n} sharing the GPU"
        lines.append(f"| one C4 run measured, {how}, step mode {mode} (n={len(walls)}) | "
                     f"{sum(walls) / len(walls):.0f} s wall each, evaluations included{share} |")
    return "\n".join(lines) + "\n"


def stored_profiles(bench: dict, folder: Path | str = Path(__file__).parent / "results") -> list[tuple[Path, dict]]:
    """The step profiles (``profile-<mode>-<date>-<gpu>[-N].json``, benchmarks/profile_step.py) of the
    benchmark's GPU, model and batch, the newest of each mode (a loan's second file of a day is ``-2``)."""
    def order(path: Path) -> tuple[str, int]:
        m = re.fullmatch(r"(.*?)(?:-(\d+))?", path.stem)
        return m.group(1), int(m.group(2) or 1)

    newest: dict[str, tuple[Path, dict]] = {}
    for path in sorted(Path(folder).glob("profile-*.json"), key=order):
        prof = json.loads(path.read_text())
        if (prof.get("device_name"), prof.get("model"), prof.get("batch_size")) == (
                bench["device_name"], bench["model"], bench["batch_size"]) and prof.get("kinds"):
            newest[prof["mode"]] = (path, prof)
    return list(newest.values())


def readme_tables(benches: list[dict], results_root: str = "experiments/results") -> str:
    """One table per GPU a stored benchmark timed, separated by a blank line."""
    return "\n".join(readme_table(b, results_root) for b in benches)


def full_profile_estimate(bench: dict, results_root: str = "experiments/results"
                          ) -> tuple[int, float, int, list[int], str, tuple[int, float]] | None:
    """Runs of the full profile on the benchmark's model, and their estimated GPU wall time in the
    fastest step mode that compiled, with as many at a time as the benchmark found fastest (what
    ``run-study --step-mode auto --parallel auto --time-limit`` plans with), the batch sizes among
    them the benchmark did not time (their estimate is a bound), that mode, and how many of the runs
    ``results_root`` does not hold finished yet with their share of the time: what the loans still owe."""
    from reproduce.lease import STARTUP_S, Estimator, Job, best_parallel, fastest_mode, speeds_of
    from reproduce.models import COST_LIKE
    from reproduce.results import RunDir
    from reproduce.studies import STUDIES, expand, load_spec

    fastest = fastest_mode(bench) or {"mode": "eager"}
    speeds = speeds_of(bench, fastest["mode"])
    procs = best_parallel(speeds)
    est = Estimator(speeds, STARTUP_S + float(fastest.get("startup_s") or 0.0), eager=speeds_of(bench))
    jobs = [Job(study, cfg, range_args, root=results_root) for study in STUDIES for cfg, range_args in expand(load_spec(study, "full"))
            if bench["model"] in (cfg.model, COST_LIKE.get(cfg.model))]
    seconds = [est(j, procs) for j in jobs]
    if not jobs or any(s is None for s in seconds):
        return None
    untimed = sorted({j.cfg.batch_size for j in jobs} - {int(bench["batch_size"])})
    left = [s for j, s in zip(jobs, seconds) if not RunDir(j.path).finished()]
    return len(jobs), sum(seconds) / procs, procs, untimed, fastest["mode"], (len(left), sum(left) / procs)


def timed_before(model: str, batch_size: int, device: str, folder: Path | str | None = None) -> str | None:
    """The stored throughput JSON that times ``model`` at ``batch_size`` on ``device`` in a step mode
    besides eager, checked against eager's update (``update_drift``), by file name; else None:
    whether a loan still has to measure this GPU."""
    from reproduce.lease import BENCHMARKS, stored_benchmarks

    for path in stored_benchmarks(BENCHMARKS if folder is None else folder):
        b = json.loads(Path(path).read_text())
        if (b.get("device_name"), b.get("model"), b.get("batch_size")) == (device, model, batch_size) and any(
                m.get("images_per_s") and m.get("mode") != "eager" and m.get("update_drift") is not None
                for m in b.get("modes", [])):
            return Path(path).name
    return None


def stored_bench(out: Path | str) -> dict:
    """``out``'s benchmark merged with the later throughput JSONs kept beside it for the same GPU
    (a loan's modes-only timing adds its modes and process counts): what the README table shows."""
    from reproduce.lease import merged_benchmark, stored_benchmarks

    first = json.loads(Path(out).read_text())
    return merged_benchmark([str(out)] + [p for p in stored_benchmarks(Path(out).parent) if Path(p) != Path(out)],
                            first["device_name"]) or first


def stored_benches(out: Path | str) -> list[dict]:
    """``stored_bench`` for every GPU the throughput JSONs beside ``out`` timed, ``out``'s GPU first
    and the others in the order their files sort: the README shows each GPU's numbers apart."""
    from reproduce.lease import merged_benchmark, stored_benchmarks

    paths = [str(out)] + [p for p in stored_benchmarks(Path(out).parent) if Path(p) != Path(out)]
    names: list[str] = []
    for p in paths:
        name = json.loads(Path(p).read_text()).get("device_name")
        if name and name not in names:
            names.append(name)
    return [stored_bench(out)] + [merged_benchmark(paths, n) for n in names[1:]]


def write_readme(benches: list[dict], readme: Path = Path("README.md")) -> None:
    text = readme.read_text()
    start, end = text.index(MARKERS[0]) + len(MARKERS[0]), text.index(MARKERS[1])
    readme.write_text(text[:start] + "\n" + readme_tables(benches) + text[end:])


def _forever(loader_epochs):
    epoch = 0
    while True:
        yield from loader_epochs(epoch)
        epoch += 1


def parser() -> argparse.ArgumentParser:
    """The command line (apart from ``main`` so a prepared loan's lines can be checked without running them)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="resnet56")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--steps", type=int, default=100, help="timed steps per pipeline")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--data", default=None, help="CIFAR-10 folder or synthetic:N (default: $CIFAR10_DIR / download)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--augment", default="crop_flip", choices=("none", "flip", "crop_flip"))
    p.add_argument("--compile", action="store_true", help="torch.compile the fast path's model")
    p.add_argument("--workers", type=int, default=8, help="DataLoader workers of the standard pipeline")
    p.add_argument("--profile-steps", type=int, default=0, help="also profile this many eager fast-path steps: "
                   "the JSON's `profile` (device time by kind of kernel, how busy the device is; "
                   "benchmarks/profile_step.py), torch.profiler's table beside it")
    p.add_argument("--concurrency", type=int, nargs="*", default=None, metavar="N",
                   help="also time N fast-path processes at once, for each N (default on CUDA: 2 3; none on CPU)")
    p.add_argument("--modes", nargs="*", choices=list(MODES), default=None,
                   help="the engine's step modes to time, one process each (default on CUDA: all; on CPU: eager fused)")
    p.add_argument("--max-seconds", type=float, default=120.0,
                   help="start no further mode or process count after this many seconds (compiling takes a while): "
                        "the whole benchmark fits one bounded command")
    p.add_argument("--no-standard", dest="standard", action="store_false",
                   help="skip the DataLoader pipeline (e.g. a second benchmark on the same GPU)")
    p.add_argument("--smoke", action="store_true", help="tiny CPU settings for tests")
    p.add_argument("--out", default="benchmarks/results/throughput.json")
    p.add_argument("--readme", action="store_true",
                   help="write README.md's performance table from --out's JSON and the later throughput*.json "
                        "beside it for the same GPU (no measuring)")
    p.add_argument("--unless-timed", action="store_true",
                   help="measure nothing (and write nothing) when the throughput JSONs in benchmarks/results already "
                        "time a step mode besides eager for this GPU, model and batch, checked against eager "
                        "(update_drift): a loan's command line serves a GPU measured before and a new one alike")
    p.add_argument("--concurrency-mode", choices=list(MODES), default=None,
                   help="the step mode of --concurrency's processes (default: the fastest mode timed here that "
                        "compiled): the gain from sharing a GPU depends on it")
    p.add_argument("--worker", help=argparse.SUPPRESS)  # a concurrent worker: its barrier folder
    p.add_argument("--worker-mode", choices=list(MODES), default="eager", help=argparse.SUPPRESS)
    p.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    return p


def main(argv=None) -> dict:
    a = parser().parse_args(argv)
    if a.readme:
        write_readme(stored_benches(a.out))
        return {}
    if a.smoke:
        a.model, a.batch_size, a.steps, a.warmup, a.workers = "keras_cnn", 32, 3, 1, 0
        a.data = a.data or "synthetic:256"
    a.data = a.data or None
    on_cuda = a.device.startswith("cuda")
    t_start = time.monotonic()
    if on_cuda:
        torch.backends.cudnn.benchmark = True  # as the engine trains: cuDNN picks the fastest kernels per shape
    if a.concurrency is None:
        a.concurrency = [2, 3] if on_cuda and not a.worker else []
    if a.modes is None:
        a.modes = list(MODES) if on_cuda and not a.worker else ["eager", "fused"]
    if a.unless_timed and (timed := timed_before(a.model, a.batch_size, device_name(a.device))):
        print(f"not measured: {device_name(a.device)} has {a.model} at batch {a.batch_size} timed in {timed} "
              "(benchmarks/results); run without --unless-timed to time it again")
        return {}
    train = load_cifar10(a.data, "train")
    norm = Normalizer("channel", train, a.device)

    def say(what: str) -> None:
        """One progress line per part on stderr (a lent GPU's log shows how far a stopped benchmark got)."""
        print(f"[{time.monotonic() - t_start:5.0f} s] {what}", file=sys.stderr, flush=True)

    def fresh(mode: str = "eager", channels_last: bool = on_cuda):
        return fresh_model(a.model, a.device, mode, channels_last, a.compile)

    fast = DeviceLoader(train, a.batch_size, augment=a.augment, normalize=norm, drop_last=True, device=a.device,
                        channels_last=on_cuda)
    if a.worker:  # one of `concurrent`'s processes: time its window, print, and go
        _, stepper, opt = fresh(a.worker_mode)
        secs = _train_steps(stepper, opt, _forever(fast.epoch), a.device, on_cuda, a.steps, a.warmup,
                            _file_barrier(a.worker, a.worker_index))
        print(json.dumps({"images_per_s": a.steps * a.batch_size / secs}))
        return {}

    c4_images = 9277 * 512 + 95 * 11_017 / 3  # C4: 9,277 steps of 512 and ~95 evaluations (inference ~ 1/3 of a step)
    results: dict = {}
    out = {
        "model": a.model, "batch_size": a.batch_size, "steps": a.steps, "warmup": a.warmup, "augment": a.augment,
        "device": a.device, "device_name": device_name(a.device), "torch": torch.__version__,
        "python": platform.python_version(), "git": git_info(), "data": train.source, "smoke": a.smoke,
        "pipelines": results, "cudnn_benchmark": on_cuda, "complete": False,
    }

    def save() -> None:
        """Write what is measured so far (atomically): a benchmark its command's timeout kills keeps it."""
        conc_ok = [c["images_per_s"] for c in out.get("concurrency", []) if c.get("images_per_s")]
        out["c4_runs_per_hour_best_concurrency"] = (max(3600 * v / c4_images for v in conc_ok)
                                                    if a.model == "resnet56" and conc_ok else None)
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        write_json(Path(a.out), out)

    # (a) the fast path, eager
    say(f"eager fast path: {a.model}, batch {a.batch_size}, {a.warmup} + {a.steps} steps, twice")
    model, step_model, opt = fresh()
    start = _flat(model)
    secs = _train_steps(step_model, opt, _forever(fast.epoch), a.device, on_cuda, a.steps, a.warmup)
    eager = _flat(model)
    results["fast"] = {"images_per_s": a.steps * a.batch_size / secs, "seconds": secs, "bf16": on_cuda,
                       "channels_last": on_cuda, "compile": a.compile, "loader": "DeviceLoader (uint8 on device)"}
    found = None
    if a.profile_steps:  # where the eager step's time goes (profile_step.py: the same for any mode, alone)
        from profile_step import profile_steps

        found = profile_steps(step_model, opt, _forever(fast.epoch), a.device, on_cuda, a.profile_steps,
                              Path(a.out).with_suffix(".profile.txt"), secs / a.steps)
    # eager once more from the same start on the same batches: the drift float non-determinism alone
    # gives (cuDNN's algorithms, atomics), the floor the modes' drifts are read against
    again, again_step, again_opt = fresh()
    _train_steps(again_step, again_opt, _forever(fast.epoch), a.device, on_cuda, a.steps, a.warmup)
    eager_drift = update_drift(_flat(again), eager, start)
    del again, again_step, again_opt
    cost = cost_per_image(models.build(a.model).to(a.device), a.device)
    bandwidth = copy_bandwidth(a.device, 16 if a.smoke else 256)
    # activations written forward and read back in backward, at the copy bandwidth: a floor no step beats
    floor_ips = bandwidth / (2 * cost["activation_bytes_per_image_bf16"])
    out |= {
        "cost": cost,
        "memory_floor": {"copy_bandwidth_bytes_per_s": bandwidth, "floor_images_per_s": floor_ips,
                         "fast_path_fraction_of_floor": results["fast"]["images_per_s"] / floor_ips},
        "c4_run_estimate_s": c4_images / results["fast"]["images_per_s"] if a.model == "resnet56" else None,
        "modes": [{"mode": "eager", "images_per_s": results["fast"]["images_per_s"], "compile_fell_back": None,
                   "update_drift": eager_drift}],
        "concurrency": [{"processes": 1, "mode": "eager", "images_per_s": results["fast"]["images_per_s"]}],
    } | ({"profile": found} if found else {})
    save()
    say(f"eager: {results['fast']['images_per_s']:,.0f} images/s")
    # (b) the standard pipeline
    if a.standard:
        del model, step_model, opt
        model, step_model, opt = fresh(channels_last=False)  # the standard pipeline: fp32, contiguous, eager
        std = torchvision_loader(train, a.batch_size, augment=a.augment, workers=a.workers, pin_memory=on_cuda)
        secs = _train_steps(model, opt, _forever(lambda e: iter(std)), a.device, False, a.steps, a.warmup)
        results["standard"] = {"images_per_s": a.steps * a.batch_size / secs, "seconds": secs, "bf16": False,
                               "channels_last": False, "compile": False,
                               "loader": f"torchvision DataLoader, {a.workers} workers"}
        out["speedup"] = results["fast"]["images_per_s"] / results["standard"]["images_per_s"]
        del std
        save()
        say(f"standard pipeline: {results['standard']['images_per_s']:,.0f} images/s")
    else:
        out["speedup"] = None
    # (c) the engine's modes, one process each: what `run-study --step-mode auto` chooses from
    del model, step_model, opt
    modes = out["modes"]
    for name in [m for m in a.modes if m != "eager"]:
        if time.monotonic() - t_start > a.max_seconds:
            modes.append({"mode": name, "images_per_s": None, "skipped": f"over --max-seconds {a.max_seconds:g}"})
            continue
        say(f"mode {name}" + (" (it compiles first)" if MODES[name]["compile"] else ""))
        t0 = time.monotonic()
        model, stepper, opt = fresh(name)
        secs = _train_steps(stepper, opt, _forever(fast.epoch), a.device, on_cuda, a.steps, a.warmup)
        ips = a.steps * a.batch_size / secs
        took = time.monotonic() - t0
        modes.append({"mode": name, **MODES[name], "images_per_s": ips, "compile_fell_back": stepper.failed,
                      "update_drift": update_drift(_flat(model), eager, start), "seconds_with_warmup": took,
                      # what the mode spends before its first fast step (compiling, capturing CUDA graphs)
                      "startup_s": max(0.0, took - (a.steps + a.warmup) * a.batch_size / ips)})
        del model, opt, stepper
        save()
        say(f"mode {name}: {ips:,.0f} images/s, {modes[-1]['startup_s']:.0f} s to start"
            + (f" (fell back: {modes[-1]['compile_fell_back']})" if modes[-1]["compile_fell_back"] else ""))
    # (d) n processes at once, in the fastest mode that compiled (as `run-study --parallel n` would run them)
    del fast
    if on_cuda:
        torch.cuda.empty_cache()
    ok = [m for m in modes if m.get("images_per_s") and not m.get("compile_fell_back")]
    conc_mode = a.concurrency_mode or max(ok, key=lambda m: m["images_per_s"])["mode"]
    conc = out["concurrency"]
    if conc_mode != "eager":
        conc.append({"processes": 1, "mode": conc_mode,
                     "images_per_s": next(m["images_per_s"] for m in modes if m["mode"] == conc_mode)})
    for n in a.concurrency:
        if time.monotonic() - t_start > a.max_seconds:
            conc.append({"processes": n, "mode": conc_mode, "images_per_s": None,
                         "skipped": f"over --max-seconds {a.max_seconds:g}"})
            continue
        say(f"{n} processes at once, mode {conc_mode}")
        conc.append(concurrent(a, n, conc_mode))
        save()
    out["complete"] = True
    save()
    print(json.dumps({k: out[k] for k in ("model", "device_name", "speedup", "c4_run_estimate_s")}
                     | {k: round(v["images_per_s"], 1) for k, v in results.items()}
                     | {f"x{c['processes']} {c['mode']}": c["images_per_s"] and round(c["images_per_s"], 1)
                        for c in conc}
                     | {m["mode"]: m["images_per_s"] and round(m["images_per_s"], 1) for m in modes}, indent=2))
    return out


if __name__ == "__main__":
    main()
