"""The study's trained weights as a small file anyone can re-check on a CPU.

``export`` turns a stored run's final weights (``model.pt``) into one fp16 file (ResNet-56:
~1.7 MB) that also carries the run's config, its folder and the accuracies it recorded;
``evaluate`` rebuilds the model from that file alone, scores it on the test images and prints
its accuracies beside the recorded ones, so a reader can confirm a number in ``CLAIMS.md``
in seconds without a GPU. Weights rounded to fp16 and a CPU in fp32 (the run evaluated in
bf16 on a GPU) can move a prediction or two; the printed difference says by how many images.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import models
from .data import Normalizer, load_cifar10
from .results import Run, write_atomic

RECORDED = ("test_accuracy", "test_accuracy_all", "test_accuracy_exact_as_jpeg", "test_jpeg_lost", "test_jpeg_gained",
            "test_n")


def export(run_path: Path | str, dest: Path | str) -> Path:
    """The run's ``model.pt`` as fp16 (floating tensors only; BN's counters stay integers)."""
    run = Run(Path(run_path))
    weights = Path(run_path) / "model.pt"
    if not weights.exists():
        raise FileNotFoundError(f"run={run_path} has no model.pt: it must be trained with save_weights")
    state = torch.load(weights, map_location="cpu", weights_only=True)
    half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    dest, blob = Path(dest), io.BytesIO()
    torch.save({"state_dict": half, "config": run.config, "run": run.path.as_posix(),
                "recorded": {k: run.summary.get(k) for k in RECORDED},
                "provenance": {k: run.provenance.get(k) for k in ("git", "device_name", "versions", "command")}}, blob)
    write_atomic(dest, blob.getvalue())  # a shipped file is whole or not there
    return dest


@torch.inference_mode()
def evaluate(path: Path | str, data: str | None = None, exact_only: bool = False, batch_size: int = 500) -> dict:
    """Accuracies of the weights in ``path`` on the test set (``exact_only``: the 1,017 exact
    images and their JPEG copies alone, the seconds-fast check), beside those the run recorded."""
    blob = torch.load(Path(path), map_location="cpu", weights_only=False)
    cfg = blob["config"]
    model = models.build(cfg["model"], 10)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in blob["state_dict"].items()})
    model.eval()
    train = load_cifar10(data, "train")
    test = load_cifar10(data, "test")
    normalize = Normalizer(cfg["normalize"], train, "cpu")

    def predict(x):
        starts = tqdm(range(0, len(x), batch_size), desc=f"scoring {len(x):,} images", unit="batch", leave=False,
                      disable=len(x) <= 2 * batch_size)
        return torch.cat([model(normalize(x[i:i + batch_size])).argmax(1) for i in starts])

    out = {}
    exact = test.exact if test.exact is not None else torch.ones(len(test.y), dtype=torch.bool)
    if exact_only:
        on_exact = predict(test.x[exact]) == test.y[exact]
    else:
        correct = predict(test.x) == test.y
        on_exact = correct[exact]
        out["test_accuracy_all"] = correct.float().mean().item()
    out["test_accuracy"] = on_exact.float().mean().item()
    if test.jpeg_x is not None and test.exact is not None:
        as_jpeg = predict(test.jpeg_x[exact]) == test.y[exact]
        out["test_accuracy_exact_as_jpeg"] = as_jpeg.float().mean().item()
        out["test_jpeg_lost"] = int((on_exact & ~as_jpeg).sum())
        out["test_jpeg_gained"] = int((~on_exact & as_jpeg).sum())
    out["test_n"] = int(exact.sum())
    out["test_n_all"] = len(test.y)
    return {"measured": out, "recorded": blob["recorded"], "run": blob["run"], "config": cfg}


def report(result: dict) -> str:
    """One line per accuracy: recorded by the run, measured now, and the difference in images."""
    n = result["measured"]["test_n"]
    lines = [f"weights of {result['run']} ({result['config']['model']}, {result['config'].get('label')}, "
             f"seed {result['config'].get('seed')})"]
    for k, v in result["measured"].items():
        if k in ("test_n", "test_n_all"):
            continue
        rec = result["recorded"].get(k)
        if k.startswith("test_jpeg_"):  # counts of images
            lines.append(f"  {k:28s} recorded {'-' if rec is None else rec}  now {v}")
            continue
        images = result["measured"]["test_n_all"] if k == "test_accuracy_all" else n
        diff = "" if rec is None else f"  (difference {round((v - rec) * images):+d} of {images:,} images)"
        lines.append(f"  {k:28s} recorded {'-' if rec is None else f'{rec:.4f}'}  now {v:.4f}{diff}")
    return "\n".join(lines)
