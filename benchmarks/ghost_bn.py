"""Compile time and step time of the net of Smith's C4 log with BatchNorm per 128 images
(``resnet56_smith``, ``bn_group: 128``, batch 512): GhostBatchNorm2d's two forms under torch.compile.

``split`` normalises each group with its own ``F.batch_norm`` (what eager runs use); ``grouped`` views
the batch as ``(groups, group, C, H, W)`` and takes one reduction per layer (what a compiled step uses
since the form was added). Both compute the same numbers (tests/test_models.py); this measures what
the smaller graph saves. One process per form, each with an empty inductor cache: a cold compile,
as on a freshly lent machine.

    python benchmarks/ghost_bn.py --out benchmarks/results/ghost_bn-cpu.json      # ~5 min on 2 cores
    python benchmarks/ghost_bn.py --mode reduce-overhead --out "$OUT/ghost_bn.json"  # a GPU, as cudagraphs+fused
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def measure(form: str, mode: str | None, steps: int, device: str) -> dict:
    """One form, in this process: seconds of the first compiled step (compiling included) and the
    median of the next ``steps``, and an eager step for scale."""
    import torch
    import torch.nn.functional as F

    from reproduce import models
    from reproduce.models.ghost_batch_norm import GhostBatchNorm2d

    GhostBatchNorm2d.grouped_when_compiled = form == "grouped"
    torch.manual_seed(0)
    cuda = device.startswith("cuda")
    m = models.ghost_batch_norm(models.build("resnet56_smith", 10), 128).to(device)
    if cuda:
        m = m.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, nesterov=True, **({"fused": True} if cuda else {}))
    x = torch.randn(512, 3, 32, 32, device=device)
    if cuda:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (512,), device=device)

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def fwd_bwd(model):
        with torch.autocast(device_type="cuda" if cuda else "cpu", dtype=torch.bfloat16, enabled=cuda):
            loss = F.cross_entropy(model(x), y)
        loss.backward()

    def step(model):
        opt.zero_grad(set_to_none=True)
        fwd_bwd(model)
        opt.step()

    def timed(model, n):
        out = []
        for _ in range(n):
            sync()
            t = time.perf_counter()
            step(model)
            sync()
            out.append(time.perf_counter() - t)
        return out

    eager = sorted(timed(m, 3))[1]
    compiled = torch.compile(m, mode=mode)
    first = timed(compiled, 1)[0]
    rest = sorted(timed(compiled, steps))
    return {"form": form, "first_compiled_step_s": first, "compiled_step_s": rest[len(rest) // 2], "eager_step_s": eager}


def _command(argv: list[str]) -> str:
    """The command line as recorded: a path outside the repository is written ``$OUT/<name>`` (the
    repository names no machine's folders)."""
    out = []
    for a in argv:
        p = Path(a)
        if p.is_absolute() and not p.resolve().is_relative_to(ROOT):
            a = f"$OUT/{p.name}"
        out.append(a)
    return " ".join(out)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", default=None, help="torch.compile mode (default inductor's; reduce-overhead = CUDA graphs)")
    p.add_argument("--steps", type=int, default=5, help="compiled steps timed after the first")
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda if available)")
    p.add_argument("--out", type=Path, default=None, help="JSON to write")
    p.add_argument("--form", choices=("split", "grouped"), help=argparse.SUPPRESS)  # one child process's part
    a = p.parse_args()
    import torch

    device = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if a.steps < 1:
        print(f"error: --steps={a.steps} is invalid: expected an integer >= 1", file=sys.stderr)
        return 2
    if a.form:
        print(json.dumps(measure(a.form, a.mode, a.steps, device)))
        return 0
    from reproduce.results import device_name, git_info

    code = git_info(ROOT)  # the code measured: asked before the minutes of measuring, not after
    forms = []
    for form in ("split", "grouped"):
        cmd = [sys.executable, __file__, "--form", form, "--steps", str(a.steps), "--device", device]
        cmd += ["--mode", a.mode] if a.mode else []
        with tempfile.TemporaryDirectory() as cache:  # a cold compile, as on a freshly lent machine
            env = os.environ | {"PYTHONPATH": str(ROOT), "TORCHINDUCTOR_CACHE_DIR": cache}
            out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
        forms.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"{form:8s} first compiled step {forms[-1]['first_compiled_step_s']:.1f} s, then "
              f"{forms[-1]['compiled_step_s']:.3f} s per step (eager {forms[-1]['eager_step_s']:.3f} s)", flush=True)
    result = {"benchmark": "ghost_bn", "model": "resnet56_smith", "bn_group": 128, "batch_size": 512,
              "compile_mode": a.mode, "device_name": device_name(device), "threads": torch.get_num_threads(),
              "torch": torch.__version__, "git": code, "command": _command(sys.argv), "forms": forms}
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = a.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=1) + "\n")
        tmp.replace(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
