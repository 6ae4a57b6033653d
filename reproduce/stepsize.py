"""Stepsize arithmetic of CLR §3.3 and §4 (claim C9).

The paper sets the half-cycle ``stepsize`` to 2–10 epochs of iterations (8 only slightly
better than 2) and quotes iterations per epoch *rounded to the nearest integer*
(1,281,167 / 256 = 5,004.6 -> 5,005). A data loader runs ``ceil`` iterations when it keeps
the last partial batch and ``floor`` when it drops it; all three are offered, ``nearest`` is
the paper's.
"""

from __future__ import annotations

import math
import warnings

from . import paper

ROUNDINGS = ("nearest", "ceil", "floor")
ADVICE_EPOCHS = (2, 10)


def iterations_per_epoch(images: int, batch_size: int, rounding: str = "nearest") -> int:
    """Iterations in one pass over ``images`` with ``batch_size``: ``nearest`` as the paper
    quotes it, ``ceil`` for a loader keeping the partial batch, ``floor`` for drop_last."""
    if not (isinstance(images, int) and images > 0):
        raise ValueError(f"images={images!r} is invalid: expected an integer > 0")
    if not (isinstance(batch_size, int) and batch_size > 0):
        raise ValueError(f"batch_size={batch_size!r} is invalid: expected an integer > 0")
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding={rounding!r} is invalid: expected one of {', '.join(ROUNDINGS)}")
    exact = images / batch_size
    if rounding == "ceil":
        return math.ceil(exact)
    if rounding == "floor":
        return math.floor(exact)
    return math.floor(exact + 0.5)  # half up, not Python's banker's rounding


def stepsize(images: int, batch_size: int, epochs_per_step: float, rounding: str = "nearest") -> int:
    """Half-cycle length in iterations: ``epochs_per_step`` epochs (rounded to an integer).
    Warns outside the paper's advice of 2–10 epochs."""
    if not (epochs_per_step > 0 and math.isfinite(epochs_per_step)):
        raise ValueError(f"epochs_per_step={epochs_per_step!r} is invalid: expected a finite number > 0")
    lo, hi = ADVICE_EPOCHS
    if not (lo <= epochs_per_step <= hi):
        warnings.warn(
            f"epochs_per_step={epochs_per_step} is outside the CLR paper's advice of {lo}-{hi} epochs",
            stacklevel=2,
        )
    ipe = iterations_per_epoch(images, batch_size, rounding)
    step = round(epochs_per_step * ipe)
    if step < 1:
        raise ValueError(f"epochs_per_step={epochs_per_step!r} is invalid: it gives a stepsize of 0 iterations "
                         f"({ipe} per epoch); expected at least {1 / ipe:.3g} epochs")
    return step


CIFAR10_TRAIN, IMAGENET_TRAIN = paper.CIFAR10_TRAIN, paper.IMAGENET_TRAIN


def paper_table() -> list[dict]:
    """Claim C9 recomputed: our iterations per epoch (three roundings) and stepsize beside the
    paper's; ``stepsize_rel_diff`` says how far the paper's round number is from k epochs."""
    rows = []
    for r in paper.C9:
        ours = iterations_per_epoch(r.images, r.batch_size)
        step = round(r.epochs_per_step * ours)
        rows.append(
            {
                "setting": r.setting,
                "images": r.images,
                "batch_size": r.batch_size,
                "exact": r.images / r.batch_size,
                "it_per_epoch": ours,
                "it_per_epoch_ceil": iterations_per_epoch(r.images, r.batch_size, "ceil"),
                "it_per_epoch_floor": iterations_per_epoch(r.images, r.batch_size, "floor"),
                "paper_it_per_epoch": r.iterations_per_epoch,
                "epochs_per_step": r.epochs_per_step,
                "stepsize": step,
                "paper_stepsize": r.stepsize,
                "it_per_epoch_match": ours == r.iterations_per_epoch,
                "stepsize_rel_diff": None
                if r.stepsize is None
                else (step - r.stepsize) / r.stepsize,
            }
        )
    return rows
