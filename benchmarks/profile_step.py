"""Where a training step's time goes: torch.profiler over a few of the engine's own steps.

The throughput benchmark says how fast a step is; this says what to change to make it faster. It
times ``--steps`` steps of the fast path (data on the device, bf16 and channels_last on CUDA) in
one step mode without the profiler, then profiles as many more, and writes:

- a JSON: the step's wall time, the device time its kernels take (their sum: one stream, so they do
  not overlap), hence how busy the device is — little busy means launch overhead dominates (CUDA
  graphs, more processes sharing the GPU help), fully busy means the kernels themselves do (faster
  kernels, a better layout or batch help) — and the device time by kind of kernel (convolutions,
  batch norm, elementwise, optimizer, copies) and by kernel, largest first;
- beside it a ``.txt``: torch.profiler's own table, for reading by eye.

On a CPU "kernels" are the ATen operators and their self CPU time (a compiled mode's fused C++
code is no ATen operator, so there it goes uncounted: read a CPU profile of a compiled mode as
partial). A GPU loan runs it
(``experiments/leases/loan.sh bench``); ``import-runs`` files the pair as
``benchmarks/results/profile-<mode>-<date>-<gpu>.json``, and the README's performance table
gives its shares.

    python benchmarks/profile_step.py --mode eager --out /tmp/profile.json
    python benchmarks/profile_step.py --smoke --device cpu --out /tmp/p.json
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # throughput.py beside this script
from throughput import _forever, _train_steps, fresh_model, stored_profiles  # noqa: E402

from reproduce.data import DeviceLoader, Normalizer, load_cifar10  # noqa: E402
from reproduce.results import device_name, git_info, write_atomic, write_json  # noqa: E402
from reproduce.train import MODES  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"  # where import-runs files a loan's profiles

# kinds of kernel, by name (CUDA kernels, or ATen operators on a CPU); the first match wins, so batch
# norm comes before convolution (an inductor kernel fusing both is named after both)
KINDS = (
    ("batch norm", r"batch_?norm|\bbn_|welford"),
    ("convolution", r"conv|xmma|implicit_gemm|dgrad|wgrad|fprop|winograd|mkldnn"),
    ("matmul", r"addmm|\bmm\b|gemm|cutlass"),
    ("pooling", r"pool"),
    ("optimizer", r"multi_tensor|fused_sgd|sgd|adam|_foreach"),
    ("copy", r"memcpy|memset|copy|cat"),
    ("elementwise", r"elementwise|triton_poi|relu|clamp|threshold|add|mul|where|fill"),
)


def kind_of(name: str) -> str:
    """The kind of a kernel (or CPU operator) name, ``other`` where none matches."""
    low = name.lower()
    return next((kind for kind, pattern in KINDS if re.search(pattern, low)), "other")


def _kernel_time_us(event, on_cuda: bool) -> float:
    """An averaged event's time as a kernel, else 0. On CUDA the kernels are the device's events
    (an operator's "self device time" is its kernels' again, so operators are left out); on a CPU
    the ATen operators are the kernels (their self CPU time; the profiler's own bookkeeping and
    the step's Python are not)."""
    if not on_cuda:
        return float(event.self_cpu_time_total) if event.key.startswith("aten::") else 0.0
    if event.device_type == torch.autograd.DeviceType.CPU:
        return 0.0
    return float(event.self_device_time_total)


def summarize(events, steps: int, step_s: float, on_cuda: bool, top: int = 15) -> dict:
    """The JSON's numbers from ``prof.key_averages()``: device time per step, how busy the device
    is over the step's wall time ``step_s`` (measured without the profiler), the shares by kind and
    the ``top`` kernels by time."""
    rows = []
    for e in events:
        if (us := _kernel_time_us(e, on_cuda)) > 0:
            rows.append((e.key, us, int(e.count)))
    total = sum(us for _, us, _ in rows)
    kinds: dict[str, float] = {}
    for name, us, _ in rows:
        kinds[kind_of(name)] = kinds.get(kind_of(name), 0.0) + us
    busy_s = total / 1e6 / steps
    return {
        "steps": steps,
        "step_s": step_s,
        "kernel_s_per_step": busy_s,
        "busy_fraction": busy_s / step_s if step_s > 0 else None,
        "kinds": {k: {"share": v / total, "s_per_step": v / 1e6 / steps}
                  for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])} if total else {},
        "kernels": [{"name": name[:160], "kind": kind_of(name), "share": us / total, "calls_per_step": count / steps,
                     "s_per_step": us / 1e6 / steps}
                    for name, us, count in sorted(rows, key=lambda r: -r[1])[:top]],
    }


def profile_steps(model, opt, batches, device: str, amp: bool, steps: int, table: Path | None = None,
                  step_s: float | None = None) -> dict:
    """torch.profiler over ``steps`` steps: :func:`summarize`'s numbers, and torch.profiler's table
    written to ``table``. ``step_s`` is the step's wall time measured without the profiler (which
    slows the host; on a GPU the busy fraction is read against it): without it, or on a CPU, the
    profiled steps' own wall time."""
    from torch.profiler import ProfilerActivity, profile

    on_cuda = device.startswith("cuda")
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_cuda else [])
    with profile(activities=acts) as prof:
        t0 = time.perf_counter()
        _train_steps(model, opt, batches, device, amp, steps, 0)  # it waits for the device at its end
        profiled_s = (time.perf_counter() - t0) / steps
    events = prof.key_averages()
    if table is not None:
        key = "self_device_time_total" if on_cuda else "self_cpu_time_total"
        write_atomic(table, events.table(sort_by=key, row_limit=30))
    # a GPU's kernels run beside the host, so the step they fill is the one timed without the profiler's
    # host overhead; a CPU's operators run inside the profiled steps, so those are the step they fill
    wall = (step_s or profiled_s) if on_cuda else profiled_s
    return summarize(events, steps, wall, on_cuda) | {"profiled_step_s": profiled_s}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default="resnet56", help="a model of reproduce.models")
    p.add_argument("--batch-size", type=int, default=512, help="images per step (C4: 512)")
    p.add_argument("--mode", choices=list(MODES), default="eager",
                   help="the engine's step mode (run-study --step-mode): eager shows every kernel's own cost "
                        "and the launch gaps; a compiled mode the kernels it fuses them into")
    p.add_argument("--steps", type=int, default=20, help="steps timed without the profiler, then as many profiled")
    p.add_argument("--warmup", type=int, default=10, help="steps before either (compiling, cuDNN's autotuning)")
    p.add_argument("--data", default=None, help="CIFAR-10 folder or 'synthetic:N' (default $CIFAR10_DIR, else "
                   "download); the pixels do not change the time")
    p.add_argument("--augment", default="crop_flip", choices=("none", "flip", "crop_flip"),
                   help="batched tensor ops on the device, as training does them (as the throughput benchmark)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cuda or cpu")
    p.add_argument("--smoke", action="store_true", help="tiny CPU settings (tests): the Keras CNN, batch 32")
    p.add_argument("--out", default="benchmarks/results/profile.json",
                   help="the JSON; torch.profiler's table goes beside it as .txt")
    p.add_argument("--unless-profiled", action="store_true",
                   help="profile nothing (and write nothing) when benchmarks/results already holds a profile of this "
                        "mode for this GPU, model and batch: a loan's command line serves a GPU profiled before (its "
                        "minutes go to training) and a new one alike")
    return p


def profiled_before(model: str, batch_size: int, mode: str, device: str) -> str | None:
    """The profile (with its kinds of kernel) of ``mode`` for ``model`` at ``batch_size`` on ``device``
    stored in ``RESULTS``, by file name; else None: whether a loan still has to profile this GPU."""
    found = stored_profiles({"device_name": device, "model": model, "batch_size": batch_size}, RESULTS)
    return next((path.name for path, prof in found if prof["mode"] == mode), None)


def main(argv=None) -> dict:
    a = parser().parse_args(argv)
    if a.smoke:
        a.model, a.batch_size, a.steps, a.warmup = "keras_cnn", 32, 3, 1
        a.data = a.data or "synthetic:256"
    if a.unless_profiled and (found := profiled_before(a.model, a.batch_size, a.mode, device_name(a.device))):
        print(f"not profiled: {device_name(a.device)} has {a.model} at batch {a.batch_size} in mode {a.mode} profiled in "
              f"{found} (benchmarks/results); run without --unless-profiled to profile it again")
        return {}
    on_cuda = a.device.startswith("cuda")
    if on_cuda:
        torch.backends.cudnn.benchmark = True  # as the engine trains
    train = load_cifar10(a.data, "train")
    loader = DeviceLoader(train, a.batch_size, augment=a.augment, normalize=Normalizer("channel", train, a.device),
                          drop_last=True, device=a.device, channels_last=on_cuda)
    _, stepper, opt = fresh_model(a.model, a.device, a.mode, channels_last=on_cuda)
    batches = _forever(loader.epoch)
    step_s = _train_steps(stepper, opt, batches, a.device, on_cuda, a.steps, a.warmup) / a.steps
    out_path = Path(a.out)
    found = profile_steps(stepper, opt, batches, a.device, on_cuda, a.steps, out_path.with_suffix(".txt"), step_s)
    out = {"benchmark": "profile_step", "model": a.model, "batch_size": a.batch_size, "mode": a.mode,
           "augment": a.augment, "device": a.device, "device_name": device_name(a.device), "torch": torch.__version__,
           "git": git_info(), "data": train.source, "smoke": a.smoke, "compile_fell_back": stepper.failed,
           "images_per_s": a.batch_size / step_s} | found
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_json(out_path, out)
    shares = ", ".join(f"{k} {100 * v['share']:.0f} %" for k, v in out["kinds"].items())
    print(f"{a.model}, batch {a.batch_size}, mode {a.mode} on {out['device_name']}: {1e3 * out['step_s']:.2f} ms a step, "
          f"kernels {1e3 * out['kernel_s_per_step']:.2f} ms ({100 * (out['busy_fraction'] or 0):.0f} % busy); {shares}")
    return out


if __name__ == "__main__":
    main()
