"""The LR range test (CLR §3.3; DA §4.1): raise the LR every mini-batch and watch.

Smith reads *accuracy* against LR (base where it starts to rise, max where it peaks or turns
ragged); the fastai / torch-lr-finder school reads the *loss* (a decade below its minimum,
or its steepest descent). :func:`lr_range_test` records both and suggests all of them side
by side. The LR of iteration ``i`` (of ``n``) is ``start + (end - start) * i/(n-1)``
(linear) or ``start * (end/start) ** (i/(n-1))`` (exp), the LR that batch was trained with;
the smoothed loss is torch-lr-finder's exponential average, so the two agree exactly
(``tests/test_range_test.py``). Model and optimizer are restored afterwards, always.

A test asked to ``stop`` (a signal, in :func:`reproduce.train.range_test`) raises
:class:`RangeTestStopped` with everything the remaining iterations depend on; passed back as
``resume``, it continues to the history an uninterrupted test would have had.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

MODES = ("linear", "exp")


def range_test_lr(i: int, start_lr: float, end_lr: float, num_iter: int, mode: str) -> float:
    """The LR used at iteration ``i`` of the test."""
    r = i / (num_iter - 1)
    if mode == "exp":
        return start_lr * (end_lr / start_lr) ** r
    return start_lr + (end_lr - start_lr) * r


@dataclass
class RangeTestResult:
    """``history``: one row per iteration (``iteration, lr, loss, smoothed_loss`` and
    ``accuracy`` where measured). ``suggestions``: name -> LR (``None`` when a rule cannot
    be applied, e.g. Smith's rules without accuracy)."""

    history: pd.DataFrame
    mode: str
    stopped_early: bool
    stop_lr: float | None
    suggestions: dict[str, float | None] = field(default_factory=dict)

    def plot(self, ax=None, title: str | None = None, paper: tuple[float, float, str] | None = None,
             reference: list[tuple[str, pd.DataFrame]] | None = None):
        """Smoothed loss (and accuracy, on a second axis) against LR, suggestions marked; ``paper``
        = (base, max, source) shades the bounds a paper read off its own test, for comparison;
        ``reference`` = [(label, frame with lr and test_accuracy)], the author's own logged curves."""
        import matplotlib.pyplot as plt
        import seaborn as sns
        from matplotlib.ticker import PercentFormatter

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        h = self.history
        sns.lineplot(x=h["lr"], y=h["smoothed_loss"], ax=ax, color="C0", label="smoothed loss")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("training loss (smoothed)")
        if self.mode == "exp":
            ax.set_xscale("log")
        handles, labels = ax.get_legend_handles_labels()
        acc = h.dropna(subset=["accuracy"]) if "accuracy" in h else h.iloc[0:0]
        if len(acc):
            ax2 = ax.twinx()
            ax2.plot(acc["lr"], acc["accuracy"], color="C1", marker=".", label="accuracy")
            ax2.set_ylabel("held-out accuracy")
            ax2.yaxis.set_major_formatter(PercentFormatter(1.0))
            ax2.grid(False)
            for (name, ref), style in zip(reference or [], ("--", ":")):
                ref = ref.dropna(subset=["lr", "test_accuracy"])
                ref = ref[ref["lr"] > 0] if self.mode == "exp" else ref
                ax2.plot(ref["lr"], ref["test_accuracy"], color="0.25", ls=style, lw=1.2, label=name)
            h2, l2 = ax2.get_legend_handles_labels()
            handles, labels = handles + h2, labels + l2
        for name, lr in self.suggestions.items():
            if lr is not None:
                color, style = RULE_STYLES.get(name, ("k", "--"))
                handles.append(ax.axvline(lr, ls=style, color=color, lw=1.2))
                labels.append(f"{RULE_NAMES.get(name, name)}: {lr:.3g}")
        if paper is not None:
            lo, hi, source = paper
            handles.append(ax.axvspan(lo, hi, color="0.5", alpha=0.15, lw=0))
            labels.append(f"{source}: {lo:g}-{hi:g}")
        # on the top-most axis of this panel (the accuracy twin when there is one), so it is not drawn over
        if ax.get_legend() is not None:
            ax.get_legend().remove()  # seaborn's own, replaced by the combined one
        # below the axes: inside, it hid the low-LR end of the curves, where the bounds are read
        (ax2 if len(acc) else ax).legend(handles, labels, fontsize=8, loc="upper center",
                                         bbox_to_anchor=(0.5, -0.16), ncol=2 if reference else 3, frameon=False)
        if title:
            ax.set_title(title)
        return ax


RULE_NAMES = {  # what each rule reads, in words a figure's legend and the CLI print
    "smith_base": "Smith's base (accuracy 10 % up its rise)",
    "smith_max": "Smith's max (accuracy 90 % up its rise)",
    "accuracy_peak": "accuracy peak",
    "loss_min_div10": "loss minimum / 10 (fastai)",
    "steepest": "steepest loss descent (torch-lr-finder)",
}
RULE_STYLES = {"smith_base": ("C2", "--"), "smith_max": ("C3", "-."), "accuracy_peak": ("C6", ":"),
               "loss_min_div10": ("C4", (0, (6, 2))), "steepest": ("C5", (0, (1, 1)))}


def resolution(history: pd.DataFrame, lr: float, column: str, mode: str) -> str:
    """How finely ``column`` was read around ``lr``: the LR step between readings (a linear test)
    or their ratio (an exponential one) — a suggestion cannot be finer than that."""
    rows = history.dropna(subset=[column]) if column in history else history.iloc[0:0]
    lrs = rows["lr"].to_numpy()
    lrs = lrs[lrs > 0]
    if len(lrs) < 2:
        return "one reading"
    i = int(np.clip(np.searchsorted(lrs, lr), 1, len(lrs) - 1))
    step, ratio = lrs[i] - lrs[i - 1], lrs[i] / lrs[i - 1]
    return f"readings x{ratio:.3g} apart" if mode == "exp" else f"read every {step:.2g}"


def suggestion_lines(history: pd.DataFrame, mode: str) -> list[str]:
    """One line per rule: ``suggested LR: 0.0013  Smith's base (...) [accuracy read every 0.0005]``."""
    lines = []
    for name, lr in suggest(history, mode).items():
        column = "accuracy" if name in ("smith_base", "smith_max", "accuracy_peak") else "smoothed_loss"
        what = "accuracy" if column == "accuracy" else "loss"
        if lr is None:
            lines.append(f"suggested LR: -       {RULE_NAMES[name]}: no reading (the {what} never rose/fell enough)")
        else:
            lines.append(f"suggested LR: {lr:<7.3g} {RULE_NAMES[name]} [{what} {resolution(history, lr, column, mode)}]")
    return lines


def base_from_zoom(history: pd.DataFrame, zoom: pd.DataFrame, rise_fraction: float = 0.1) -> float | None:
    """``smith_base`` read at a finer LR grid: the first LR of ``zoom`` (the start of the same test,
    same slope, accuracy read more often) where accuracy has completed ``rise_fraction`` of the rise
    that ``history`` (the whole test) measured from its start to its peak. None when ``zoom`` never
    gets there: then the coarse reading stands. Why: on a coarse grid the first reading after the
    start may already be past the 10 % mark, and then the base is only capped, not measured."""
    acc = history.dropna(subset=["accuracy"])["accuracy"].to_numpy() if "accuracy" in history else []
    z = zoom.dropna(subset=["accuracy"]) if "accuracy" in zoom else zoom.iloc[0:0]
    if len(acc) < 3 or z.empty or acc.max() <= acc[0]:
        return None
    hit = np.nonzero(z["accuracy"].to_numpy() >= acc[0] + rise_fraction * (acc.max() - acc[0]))[0]
    return float(z["lr"].iloc[hit[0]]) if len(hit) else None


def suggest(history: pd.DataFrame, mode: str, rise_fraction: float = 0.1) -> dict[str, float | None]:
    """Every rule's LR from a range-test history.

    - ``smith_base``: first LR where accuracy has completed ``rise_fraction`` (10 %) of its rise
      from the start to its peak (Smith: "where accuracy starts to increase");
      ``smith_max``: first LR where it has completed 1 - ``rise_fraction`` (90 %) of that rise
      (Smith: "where the accuracy slows, becomes ragged, or starts to fall"). A knee, not the
      argmax: on a ragged plateau the argmax lands on noise (chosen after seeing claim C2's
      curve; ``accuracy_peak``, the argmax, is reported beside it).
    - ``loss_min_div10``: the LR of minimum smoothed loss / 10.
    - ``steepest``: the LR of most negative slope (per iteration, which in exp mode is per
      log-LR) of the smoothed loss, further averaged over 5 % of the test so that noise does
      not win, ignoring the first and last few points as torch-lr-finder does.
    """
    out: dict[str, float | None] = {"smith_base": None, "smith_max": None, "accuracy_peak": None}
    if "accuracy" in history:
        acc = history.dropna(subset=["accuracy"])
        if len(acc) >= 3:
            a = acc["accuracy"].to_numpy()
            peak = int(np.argmax(a))
            rise = a[peak] - a[0]
            out["accuracy_peak"] = float(acc["lr"].iloc[peak])
            if rise > 0:
                lrs_a = acc["lr"].to_numpy()
                out["smith_base"] = float(lrs_a[np.nonzero(a >= a[0] + rise_fraction * rise)[0][0]])
                out["smith_max"] = float(lrs_a[np.nonzero(a >= a[0] + (1 - rise_fraction) * rise)[0][0]])
    loss = history["smoothed_loss"].to_numpy()
    lrs = history["lr"].to_numpy()
    finite = np.isfinite(loss)
    out["loss_min_div10"] = float(lrs[np.nanargmin(np.where(finite, loss, np.nan))] / 10) if finite.any() else None
    n = len(loss)
    skip_start, skip_end = min(10, n // 10), min(5, n // 10)
    window = max(1, n // 20)
    seg = pd.Series(loss).rolling(window, center=True, min_periods=1).mean().to_numpy()[skip_start : n - skip_end]
    if len(seg) >= 3 and np.isfinite(seg).all():
        out["steepest"] = float(lrs[skip_start + int(np.argmin(np.gradient(seg)))])
    else:
        out["steepest"] = None
    return out


def check_lr_range(start_lr: float, end_lr: float, mode: str) -> None:
    """A range test's LRs rise from ``start_lr`` to ``end_lr`` (an exponential one from above 0): checked
    before anything is loaded, so a swapped pair is one line, not a data load and a model build later."""
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is invalid: expected one of {', '.join(MODES)}")
    if not (start_lr > 0 if mode == "exp" else start_lr >= 0):
        raise ValueError(f"start_lr={start_lr!r} is invalid: expected a number {'> 0' if mode == 'exp' else '>= 0'}")
    if not (math.isfinite(end_lr) and end_lr > start_lr):
        raise ValueError(f"end_lr={end_lr!r} is invalid: expected a finite number > start_lr ({start_lr}): the LR rises")


class RangeTestStopped(Exception):
    """:func:`lr_range_test` stopped when asked, after iteration ``state['iteration'] - 1``: ``state``
    (the history so far, the smoothing, the model and optimizer as they stand and as they started)
    is what ``resume=`` continues from."""

    def __init__(self, state: dict) -> None:
        super().__init__(f"range test stopped at iteration {state['iteration']}")
        self.state = state


def lr_range_test(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    start_lr: float,
    end_lr: float,
    num_iter: int,
    mode: str = "linear",
    smooth: float = 0.05,
    diverge: float = 4.0,
    eval_fn: Callable[[nn.Module], float] | None = None,
    eval_every: int | None = None,
    progress: bool = True,
    forward_backward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    sync_every: int = 50,
    stop: Callable[[], bool] | None = None,
    resume: dict | None = None,
) -> RangeTestResult:
    """Run the range test and restore ``model`` and ``optimizer`` afterwards (also on error).

    ``batches`` is any re-iterable of ``(inputs, targets)`` on the model's device (a list, a
    DataLoader, a :class:`reproduce.data.DeviceLoader`); it is cycled when it runs out.
    ``eval_fn(model) -> accuracy`` is called in eval mode every ``eval_every`` iterations
    (default: 50 points over the test). The test stops early when the smoothed loss is not
    finite or exceeds ``diverge`` x its minimum.

    The losses stay on the device and are read every ``sync_every`` iterations (and at each
    accuracy reading): one host sync per read, not one per step. The history and the stop are
    those of a per-step read; a stop found in a read discards the steps after it (the model is
    restored anyway). ``forward_backward(inputs, targets) -> loss`` replaces zeroing the gradients,
    ``criterion(model(inputs), targets)`` and its backward (a compiled step, say).

    ``stop() -> bool`` is asked after every step; when it says yes, the losses are read and
    :class:`RangeTestStopped` is raised (model and optimizer restored as on any exit). Its ``state``,
    passed as ``resume`` with the same arguments, continues the test: the model and optimizer take
    the stopped state, and the batches go on from ``state['iteration']`` (a list's are skipped to there;
    any other ``batches`` must start there itself).
    """
    check_lr_range(start_lr, end_lr, mode)
    if not (isinstance(num_iter, int) and num_iter >= 2):
        raise ValueError(f"num_iter={num_iter!r} is invalid: expected an integer >= 2")
    if not (0 <= smooth < 1):
        raise ValueError(f"smooth={smooth!r} is invalid: expected a number in [0, 1)")
    if not (diverge > 1):
        raise ValueError(f"diverge={diverge!r} is invalid: expected a number > 1")
    if eval_every is None:
        eval_every = max(1, num_iter // 50)
    if eval_every < 1:
        raise ValueError(f"eval_every={eval_every!r} is invalid: expected an integer >= 1")
    if not (isinstance(sync_every, int) and sync_every >= 1):
        raise ValueError(f"sync_every={sync_every!r} is invalid: expected an integer >= 1")

    was_training = model.training
    first, rows, best, smoothed = 0, [], math.inf, None
    if resume is None:
        model_state = copy.deepcopy(model.state_dict())
        optim_state = copy.deepcopy(optimizer.state_dict())
    else:  # restored at the end as they were when the test began, not as they were when it resumed
        model_state, optim_state = resume["start_model"], resume["start_optimizer"]
        first, rows, best, smoothed = resume["iteration"], list(resume["rows"]), resume["best"], resume["smoothed"]
    stopped = False
    try:
        if resume is not None:
            model.load_state_dict(resume["model"])
            optimizer.load_state_dict(resume["optimizer"])
        model.train()
        if isinstance(batches, list | tuple):  # a resumed test goes on with the batch it stopped before
            source = itertools.islice(itertools.cycle(batches), first, None)
        else:  # positioned by the caller, which can do it without drawing the batches it skips
            source = _cycle(batches)
        pending: list[tuple[int, float, torch.Tensor]] = []  # (iteration, lr, loss on the device), not yet read
        for i in tqdm(range(first, num_iter), desc="range test", disable=not progress, leave=False, initial=first,
                      total=num_iter):
            lr = range_test_lr(i, start_lr, end_lr, num_iter, mode)
            for group in optimizer.param_groups:
                group["lr"] = lr
            inputs, targets = next(source)
            if forward_backward is None:
                optimizer.zero_grad(set_to_none=True)
                loss_t = criterion(model(inputs), targets)
                loss_t.backward()
            else:
                loss_t = forward_backward(inputs, targets)
            optimizer.step()
            pending.append((i, lr, loss_t.detach()))
            read_accuracy = eval_fn is not None and (i % eval_every == 0 or i == num_iter - 1)
            halt = stop is not None and i < num_iter - 1 and stop()
            if not (read_accuracy or len(pending) >= sync_every or i == num_iter - 1 or halt):
                continue
            losses = torch.stack([t.double() for _, _, t in pending]).tolist()  # the read: one host sync
            for (j, lr_j, _), loss in zip(pending, losses):
                smoothed = loss if smoothed is None or smooth == 0 else smooth * loss + (1 - smooth) * smoothed
                rows.append({"iteration": j, "lr": lr_j, "loss": loss, "smoothed_loss": smoothed})
                best = min(best, smoothed)
                if not math.isfinite(smoothed) or smoothed > diverge * best:
                    stopped = True
                    break
            pending.clear()
            # reads happen at every accuracy point, so only the read's last step can be one; a stop there
            # keeps its reading, as a per-step loop that reads accuracy before its stop rule would
            if read_accuracy and rows[-1]["iteration"] == i:
                model.eval()
                with torch.no_grad():
                    rows[-1]["accuracy"] = float(eval_fn(model))
                model.train()
            if stopped:
                break
            if halt:
                raise RangeTestStopped({
                    "iteration": i + 1, "rows": rows, "best": best, "smoothed": smoothed,
                    "model": copy.deepcopy(model.state_dict()), "optimizer": copy.deepcopy(optimizer.state_dict()),
                    "start_model": model_state, "start_optimizer": optim_state})
    finally:
        model.load_state_dict(model_state)
        optimizer.load_state_dict(optim_state)
        model.train(was_training)

    history = pd.DataFrame(rows)
    if "accuracy" not in history:
        history["accuracy"] = np.nan
    return RangeTestResult(
        history=history,
        mode=mode,
        stopped_early=stopped,
        stop_lr=float(history["lr"].iloc[-1]) if stopped else None,
        suggestions=suggest(history, mode),
    )


def _cycle(iterable: Iterable):
    """Like itertools.cycle but re-iterates (re-shuffles) instead of replaying a cache."""
    while True:
        empty = True
        for item in iterable:
            empty = False
            yield item
        if empty:
            raise ValueError("batches is empty: the range test needs at least one batch")
