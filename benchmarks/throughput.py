"""Training images/s: the project's fast path against a standard PyTorch pipeline.

(a) fast: data resident on the device as uint8, crop/flip as batched tensor ops, bf16 autocast
    and channels_last on CUDA, optional torch.compile, no host sync inside the timed loop;
(b) standard: torchvision DataLoader (PIL, CPU transforms, worker processes), fp32, eager —
    the way the seed notebooks train.
Same model, batch and augmentation; both in one run; JSON out. On a GPU this is the study's
performance figure; on CPU (`--smoke`) it runs tiny so it cannot rot.

    python benchmarks/throughput.py                       # ResNet-56, batch 512
    python benchmarks/throughput.py --smoke --out /tmp/b.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from reproduce import models
from reproduce.data import DeviceLoader, Normalizer, load_cifar10, torchvision_loader
from reproduce.results import device_name, git_info, write_json


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _train_steps(model, opt, batches, device, amp, steps, warmup):
    """Time ``steps`` optimizer steps after ``warmup`` untimed ones; returns seconds."""
    it = iter(batches)
    t0 = None
    for i in range(warmup + steps):
        if i == warmup:
            _sync(device)
            t0 = time.perf_counter()
        x, y = next(it)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=amp):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    _sync(device)
    return time.perf_counter() - t0


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


def profile_steps(model, opt, batches, device, amp, steps: int, path: Path) -> None:
    """torch.profiler over ``steps`` fast-path steps: where the time goes, as a table."""
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
    with profile(activities=acts) as prof:
        _train_steps(model, opt, batches, device, amp, steps, 0)
    key = "self_cuda_time_total" if device.startswith("cuda") else "self_cpu_time_total"
    path.write_text(prof.key_averages().table(sort_by=key, row_limit=25))


def _forever(loader_epochs):
    epoch = 0
    while True:
        yield from loader_epochs(epoch)
        epoch += 1


def main(argv=None) -> dict:
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
    p.add_argument("--profile-steps", type=int, default=0, help="also profile this many fast-path steps "
                   "(torch.profiler table written beside the JSON)")
    p.add_argument("--smoke", action="store_true", help="tiny CPU settings for tests")
    p.add_argument("--out", default="benchmarks/results/throughput.json")
    a = p.parse_args(argv)
    if a.smoke:
        a.model, a.batch_size, a.steps, a.warmup, a.workers = "keras_cnn", 32, 3, 1, 0
        a.data = a.data or "synthetic:256"
    on_cuda = a.device.startswith("cuda")
    train = load_cifar10(a.data, "train")
    norm = Normalizer("channel", train, a.device)

    def fresh():
        torch.manual_seed(0)
        m = models.build(a.model).to(a.device)
        return m, torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)

    results = {}
    # (a) the fast path
    model, opt = fresh()
    if on_cuda:
        model = model.to(memory_format=torch.channels_last)
    step_model = torch.compile(model) if a.compile else model
    fast = DeviceLoader(train, a.batch_size, augment=a.augment, normalize=norm, drop_last=True, device=a.device,
                        channels_last=on_cuda)
    secs = _train_steps(step_model, opt, _forever(fast.epoch), a.device, on_cuda, a.steps, a.warmup)
    results["fast"] = {"images_per_s": a.steps * a.batch_size / secs, "seconds": secs, "bf16": on_cuda,
                       "channels_last": on_cuda, "compile": a.compile, "loader": "DeviceLoader (uint8 on device)"}
    if a.profile_steps:
        profile_steps(step_model, opt, _forever(fast.epoch), a.device, on_cuda, a.profile_steps,
                      Path(a.out).with_suffix(".profile.txt"))
    # (b) the standard pipeline
    model, opt = fresh()
    std = torchvision_loader(train, a.batch_size, augment=a.augment, workers=a.workers, pin_memory=on_cuda)
    secs = _train_steps(model, opt, _forever(lambda e: iter(std)), a.device, False, a.steps, a.warmup)
    results["standard"] = {"images_per_s": a.steps * a.batch_size / secs, "seconds": secs, "bf16": False,
                           "channels_last": False, "compile": False,
                           "loader": f"torchvision DataLoader, {a.workers} workers"}
    out = {
        "model": a.model, "batch_size": a.batch_size, "steps": a.steps, "warmup": a.warmup, "augment": a.augment,
        "device": a.device, "device_name": device_name(a.device), "torch": torch.__version__,
        "python": platform.python_version(), "git": git_info(), "data": train.source, "smoke": a.smoke,
        "pipelines": results,
        "cost": cost_per_image(models.build(a.model).to(a.device), a.device),
        "speedup": results["fast"]["images_per_s"] / results["standard"]["images_per_s"],
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    write_json(Path(a.out), out)
    print(json.dumps({k: out[k] for k in ("model", "device_name", "speedup")}
                     | {k: round(v["images_per_s"], 1) for k, v in results.items()}, indent=2))
    return out


if __name__ == "__main__":
    main()
