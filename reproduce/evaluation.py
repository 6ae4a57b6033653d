"""Scoring a model on the test set: accuracy on the exact images with its 95 % interval, on all
of them, and on the exact images in JPEG form (what :mod:`reproduce.readings` needs to correct the
all-images figure). The training loop, the ImageNet path and the shipped weights share it.

A finished run also keeps its per-image verdicts (right or wrong on each test image, and on each
exact image in JPEG form), packed one bit an image (:func:`pack_verdicts`): seeds and settings
scored on the same images then have their test-set sampling read off the images they disagree on
(:func:`reproduce.readings.image_sampling`), not off each score alone.
"""

from __future__ import annotations

import base64
import math
from contextlib import nullcontext

import numpy as np
import torch
import torch.nn.functional as F

from .data import ImageSet, Normalizer


class Evaluator:
    """Test-set accuracy, honest about a partly exact test set (README, "The test set"):
    ``test_accuracy`` on the exact images with a 95 % Wilson interval, ``test_accuracy_all`` on
    all of them, and — when a JPEG copy exists — the exact images in JPEG form with the number of
    verdicts JPEG flips each way, so :mod:`reproduce.readings` can correct the all-images figure
    for what JPEG costs this model. With a fully exact test set all agree."""

    def __init__(self, test: ImageSet, normalize: Normalizer, device: str, channels_last: bool, amp: bool,
                 batch_size: int = 1000) -> None:
        self.x = test.x.to(device)
        self.y = test.y.to(device)
        self.exact = None if test.exact is None else test.exact.to(device)
        self.n_exact = len(test.y) if test.exact is None else int(test.exact.sum())  # counted once, not per evaluation
        self.jpeg_exact = None
        if test.jpeg_x is not None and test.exact is not None:
            self.jpeg_exact = test.jpeg_x[test.exact].to(device)
        self.normalize, self.channels_last, self.amp = normalize, channels_last, amp
        self.batch_size, self.device = batch_size, device
        self.last: dict[str, torch.Tensor] = {}  # the last evaluation's per-image verdicts, on the device

    def verdict_bits(self) -> dict[str, str]:
        """The last evaluation's per-image verdicts as summary fields (:data:`VERDICT_FIELDS`): one
        host copy, made once a run has finished, never per evaluation."""
        return {field: pack_verdicts(v.cpu().numpy()) for field, v in self.last.items()}

    def _predict(self, model, x):
        for i in range(0, len(x), self.batch_size):
            xb = self.normalize(x[i : i + self.batch_size])
            if self.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with autocast(self.device, self.amp):
                yield model(xb).float()

    @torch.inference_mode()
    def __call__(self, model: torch.nn.Module) -> dict[str, float]:
        was = model.training
        model.eval()
        logits = torch.cat(list(self._predict(model, self.x)))
        correct = logits.argmax(1) == self.y
        loss = F.cross_entropy(logits, self.y)
        stats = [correct.float().mean(), loss]
        if self.exact is not None:
            on_exact = correct[self.exact]
            stats.append(on_exact.float().mean())
            if self.jpeg_exact is not None:  # the same images as JPEG: accuracy, and the verdicts JPEG flips
                as_jpeg = torch.cat(list(self._predict(model, self.jpeg_exact))).argmax(1) == self.y[self.exact]
                stats += [as_jpeg.float().mean(), (on_exact & ~as_jpeg).sum().float(), (~on_exact & as_jpeg).sum().float()]
                self.last["test_exact_as_jpeg_correct_bits"] = as_jpeg
            self.last["test_exact_correct_bits"] = on_exact
        self.last["test_correct_bits"] = correct
        vals = torch.stack(stats).tolist()  # the one host sync of an evaluation
        model.train(was)
        n_exact = self.n_exact
        acc = vals[2] if self.exact is not None else vals[0]
        lo, hi = wilson(acc, n_exact)
        out = {"test_accuracy": acc, "test_accuracy_lo95": lo, "test_accuracy_hi95": hi, "test_n": n_exact,
               "test_accuracy_all": vals[0], "test_n_all": len(self.y), "test_loss": vals[1]}
        if len(vals) == 6:  # reproduce.readings turns these into the JPEG-corrected accuracy
            out |= {"test_accuracy_exact_as_jpeg": vals[3], "test_jpeg_lost": int(vals[4]), "test_jpeg_gained": int(vals[5])}
        return out


# the summary fields of per-image verdicts, and the images each covers (in test-set order)
VERDICT_FIELDS = {"test_correct_bits": "every test image as stored (test_n_all)",
                  "test_exact_correct_bits": "the exact images (test_n), where only some are",
                  "test_exact_as_jpeg_correct_bits": "the exact images in JPEG form (test_n), where a JPEG copy exists"}


def pack_verdicts(right: np.ndarray) -> str:
    """Right/wrong per image as text for a JSON summary: ``numpy.packbits`` (first image in the
    highest bit), base64. 10,000 images take 1,668 characters."""
    return base64.b64encode(np.packbits(np.asarray(right, dtype=bool)).tobytes()).decode("ascii")


def unpack_verdicts(text: str, n: int) -> np.ndarray:
    """:func:`pack_verdicts` undone: ``n`` booleans."""
    bits = np.unpackbits(np.frombuffer(base64.b64decode(text), dtype=np.uint8))
    if len(bits) != 8 * math.ceil(n / 8) or bits[n:].any():  # a count off by less than the padding goes unseen
        raise ValueError(f"{len(text)} characters of verdict bits cannot hold exactly {n} images")
    return bits[:n].astype(bool)


def verdicts_disagree(summary: dict) -> str | None:
    """What is wrong with a summary's per-image verdicts, or None: each field must hold exactly its
    images (:data:`VERDICT_FIELDS`) and be right on as many of them as the accuracy it sits beside
    says, so a run whose verdicts were cut or mixed up never reaches a paired interval."""
    counts = {"test_correct_bits": ("test_n_all", "test_accuracy_all"), "test_exact_correct_bits": ("test_n", "test_accuracy"),
              "test_exact_as_jpeg_correct_bits": ("test_n", "test_accuracy_exact_as_jpeg")}
    for name, (count, accuracy) in counts.items():
        if name not in summary:
            continue
        n, acc = summary.get(count), summary.get(accuracy)
        if not isinstance(n, int) or n < 1 or not isinstance(acc, float | int):
            return f"{name} sits beside no {count} and {accuracy}"
        try:
            right = int(unpack_verdicts(summary[name], n).sum())
        except (ValueError, TypeError) as e:  # binascii.Error is a ValueError
            return f"{name}: {e}"
        if abs(right - acc * n) > 0.5:
            return f"{name} holds {right} right of {n}, but {accuracy} is {acc:.4f} ({acc * n:.1f} of {n})"
    return None


def wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of an accuracy ``p`` measured on ``n`` images."""
    if n == 0 or not math.isfinite(p):
        return (float("nan"), float("nan"))
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (centre - half, centre + half)


def autocast(device: str, amp: bool):
    if not amp:
        return nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
