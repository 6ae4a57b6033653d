"""Figures drawn from schedules and stored results (seaborn on matplotlib's Agg backend)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:  # scripts and tests draw off-screen; notebooks keep inline
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from .range_test import RangeTestResult, suggest  # noqa: E402
from .results import write_atomic  # noqa: E402
from .schedules import Schedule  # noqa: E402

sns.set_theme(style="whitegrid", context="notebook")


def save(fig, path: str | Path, source: str | None = None) -> list[Path]:
    """Save ``fig`` to ``path``; a path without suffix gets both .png and .pdf (citable).
    ``source`` (the runs it was drawn from and their commits) goes into the file's own metadata
    (PNG ``Source``, PDF ``Subject``), so a figure cut out of a report still says where it came from.
    Each file is written whole or not at all: an interrupted ``make figures`` leaves the last one."""
    path = Path(path)
    targets = [path] if path.suffix else [path.with_suffix(".png"), path.with_suffix(".pdf")]
    for t in targets:  # no creation date in PDFs: the same results give the same file
        meta = {"CreationDate": None} if t.suffix == ".pdf" else {}
        if source:
            meta["Subject" if t.suffix == ".pdf" else "Source"] = source
        if t.suffix == ".png":
            data = palette_png(fig, 150, meta)
        else:
            buf = io.BytesIO()
            fig.savefig(buf, format=t.suffix.lstrip(".") or None, dpi=150, bbox_inches="tight", metadata=meta or None)
            data = buf.getvalue()
        write_atomic(t, data)
    plt.close(fig)
    return targets


def palette_png(fig, dpi: float | None = None, meta: dict | None = None) -> bytes:
    """``fig`` rendered at ``dpi`` (the figure's own by default), quantised to 256 colours, as PNG
    bytes with ``meta`` as its text chunks. A line plot on a white ground loses nothing visible, and
    the file is about a third of matplotlib's RGBA one: every byte of the repository travels with
    each command to a lent GPU machine, so its figures' size decides how many calls the data takes."""
    from PIL import Image, PngImagePlugin

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi or fig.dpi, bbox_inches="tight", facecolor="white")
    image = Image.open(buf).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    info = PngImagePlugin.PngInfo()
    for k, v in (meta or {}).items():
        info.add_text(k, v)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True, pnginfo=info)
    return out.getvalue()


def _notebook_figures_as_palette_pngs() -> None:
    """In a notebook, show figures as the same palette PNGs the files get, so the executed
    notebooks (committed, and carried to every GPU call) are about a third of the size too."""
    from IPython import get_ipython
    from matplotlib.figure import Figure

    shell = get_ipython()
    if shell is None:
        return
    plt.get_backend()  # the inline backend registers its own PNG formatter when it loads: ours comes after
    import matplotlib_inline.backend_inline  # noqa: F401 - loaded now, not at the first figure

    shell.display_formatter.formatters["image/png"].for_type(Figure, palette_png)


if "ipykernel" in sys.modules:
    _notebook_figures_as_palette_pngs()


def schedule_axes(schedule: Schedule, iterations: int, ax=None, label: str | None = None, title: str | None = None):
    """LR over iterations on ``ax`` and, if the schedule sets it, momentum on a twin axis (its line
    labelled "momentum"). ``label``: the LR line's, and the title unless ``title`` is given."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    rows = schedule.table(iterations)
    its = [r[0] for r in rows]
    ax.plot(its, [r[1] for r in rows], color="C0", label=label or schedule.policy)
    ax.set_xlabel("iteration")
    ax.set_ylabel("learning rate")
    if any(r[2] is not None for r in rows) and isinstance(schedule.momentum, tuple):
        ax2 = ax.twinx()
        ax2.plot(its, [r[2] for r in rows], color="C1", ls="--", label="momentum")
        ax2.set_ylabel("momentum", color="C1")
        ax2.grid(False)
    ax.set_title(title or label or schedule.policy)
    return ax


def plot_schedule(schedule: Schedule, iterations: int, path: str | Path) -> list[Path]:
    params = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in schedule.to_dict().items()
                       if k not in ("policy", "stages"))
    ax = schedule_axes(schedule, iterations, label=f"{schedule.policy}: {params}" if params else schedule.policy)
    return save(ax.figure, path)


def plot_range_test(run, ax=None, title: str | None = None, paper: tuple[float, float, str] | None = None,
                    reference=None, zoomed_base: float | None = None):
    """A stored range test (``reproduce.train.range_test``) drawn as loss/accuracy vs LR.
    ``zoomed_base``: Smith's base as a finer test of the start read it, shown instead of the coarse one."""
    h = run.metrics
    s = run.summary
    # suggestions are analysis of the stored history: recomputed with the current rules
    suggestions = suggest(h, s["mode"])
    if zoomed_base is not None:
        suggestions["smith_base"] = zoomed_base
    res = RangeTestResult(history=h, mode=s["mode"], stopped_early=s["stopped_early"], stop_lr=s["stop_lr"],
                          suggestions=suggestions)
    return res.plot(ax=ax, title=title or run.config.get("label"), paper=paper, reference=reference)


SEED_MARKERS = {"smith_base": ("v", "Smith's base (accuracy 10 % up its rise)"),
                "smith_max": ("D", "Smith's max (accuracy 90 % up its rise)")}


def plot_range_test_seeds(runs, ax, title: str | None = None, paper: tuple[float, float, str] | None = None,
                          reference=None, zoomed_bases: dict | None = None):
    """Several seeds of one range test on one panel, so a report prints them at column width: each
    seed's smoothed loss (left axis, solid) and accuracy (right axis, dashed) in its own colour, with
    Smith's base (▼) and max (◆) marked on its accuracy curve. ``paper`` = (base, max, source) is
    shaded; ``reference`` = [(label, frame with lr and test_accuracy)], the author's curves in grey;
    ``zoomed_bases`` = {seed: base read on a finer test of the start}, shown instead of the coarse one.
    Returns the accuracy axis (the panel's top-most) and the seeds' colours."""
    import numpy as np
    from matplotlib.lines import Line2D
    from matplotlib.ticker import PercentFormatter

    palette = sns.color_palette("colorblind")  # blue, vermillion, green, purple, ...: its two oranges apart
    colors = [palette[i % len(palette)] for i in (0, 3, 2, 4, 5, 9, 1, 8, 6, 7)[: len(runs)]]
    ax2 = ax.twinx()
    handles, labels = [], []
    for run, color in zip(runs, colors):
        h, seed = run.metrics, run.config.get("seed")
        rules = suggest(h, run.summary["mode"])
        if (zoomed_bases or {}).get(seed) is not None:
            rules["smith_base"] = zoomed_bases[seed]
        (line,) = ax.plot(h["lr"], h["smoothed_loss"], color=color, lw=1, alpha=0.85)
        acc = h.dropna(subset=["accuracy"]) if "accuracy" in h else h.iloc[0:0]
        ax2.plot(acc["lr"], acc["accuracy"], color=color, ls="--", lw=1, marker=".", ms=3)
        read = []
        for name, (marker, _) in SEED_MARKERS.items():
            lr = rules.get(name)
            if lr is None or not len(acc):
                continue
            ax2.plot([lr], [np.interp(lr, acc["lr"], acc["accuracy"])], marker=marker, ms=7, color=color, mec="k",
                     mew=0.6, ls="none", zorder=5)
            read.append(f"{name.removeprefix('smith_')} {lr:.2g}")
        handles.append(line)
        labels.append(f"seed {seed}" + (f": {', '.join(read)}" if read else ""))
    exp = bool(runs) and runs[0].summary.get("mode") == "exp"
    for (name, ref), style in zip(reference or [], ("--", ":")):
        ref = ref.dropna(subset=["lr", "test_accuracy"])
        ref = ref[ref["lr"] > 0] if exp else ref  # a log axis has no LR 0
        handles += ax2.plot(ref["lr"], ref["test_accuracy"], color="0.25", ls=style, lw=1.2)
        labels.append(name)
    grey = "0.35"
    handles += [Line2D([], [], color=grey, lw=1), Line2D([], [], color=grey, ls="--", marker=".", ms=3, lw=1)]
    labels += ["smoothed training loss (left axis)", "held-out accuracy (right axis)"]
    for marker, text in SEED_MARKERS.values():
        handles.append(Line2D([], [], marker=marker, color=grey, mec="k", mew=0.6, ls="none", ms=7))
        labels.append(text)
    if paper is not None:
        lo, hi, source = paper
        handles.append(ax.axvspan(lo, hi, color="0.5", alpha=0.15, lw=0))
        labels.append(f"{source}: {lo:g}-{hi:g}")
    if exp:
        ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss (smoothed)")
    ax2.set_ylabel("held-out accuracy")
    ax2.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax2.grid(False)
    ax2.legend(handles, labels, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    if title:
        ax.set_title(title)
    return ax2, colors
