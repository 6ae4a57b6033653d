"""Every figure of the study: one short function each, drawn from stored results only.

Each function takes ``{label: [Run, ...]}`` (what :func:`reproduce.studies.run_study` returns and
:func:`study_results` reads back from the store) and returns a matplotlib Figure, or ``None``
when the runs it needs are not stored. :func:`make_all` writes them under ``figures/`` (full
profile) and ``figures/quick/`` (quick profile) as PNG and PDF with stable names.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, PercentFormatter

from . import (
    paper,
    plots,  # sets the backend (Agg outside notebooks) and the seaborn theme
)
from .paper import smith_log
from .range_test import base_from_zoom
from .results import DEFAULT_ROOT, Results, Run, study_results
from .schedules import Schedule

# Smith's own logged curves (experiments/reference/README.md gives each log's repository and path)
SMITH_C1 = ((paper.C1_LOG_CSV, "Smith's log, 0-3 in 5k it (Caffe, 8 GPUs x 125; 25,000-image tests)"),
            ("smith_sc_range_test_resnet56_20k.csv", "Smith's log, 0-3 in 20k it (same setting)"))
SMITH_C4 = (paper.C4_LOG_CSV,
            "Smith's log: caffe_1cycle, momentum 0.95 (Caffe, 4 GPUs x 128; 6,400-image tests)")


MODEL_NAMES = {"resnet20": "ResNet-20", "resnet32": "ResNet-32", "resnet44": "ResNet-44", "resnet56": "ResNet-56",
               "resnet56_smith": "Smith's Caffe ResNet-56", "resnet110": "ResNet-110", "cifar10_full": "cifar10-full",
               "keras_cnn": "Keras CNN"}


# what a reader calls a run label in a legend (its label stays beside the name, to find it in CLAIMS.md)
LEGEND_NAMES = {
    "one_cycle": "DA's 1cycle, He et al.'s net",
    "one_cycle-smith-log": "Smith's logged schedule, He et al.'s net",
    "one_cycle-smith-setup": "Smith's logged schedule on his log's net",
    "one_cycle-smith-net": "DA's 1cycle on the net of Smith's log",
    "one_cycle-crop_flip": "DA's 1cycle, pad-4 crop + flip",
    "one_cycle-momentum0.9": "DA's LR cycle, momentum 0.9",
    "one_cycle-momentum0.95": "DA's LR cycle, momentum 0.95",
    "step-baseline": "He et al.'s step schedule, 64k it of 128",
}


def legend_name(label: str, n: int) -> str:
    """``DA's 1cycle, He et al.'s net (one_cycle, n=3)``; a label without a reader's name as it is."""
    name = LEGEND_NAMES.get(label)
    return f"{name} ({label}, n={n})" if name else f"{label} (n={n})"


def _model_name(results: Results) -> str:
    """The network the runs trained, as a reader writes it (a quick profile's ResNet-20 says so)."""
    models = sorted({MODEL_NAMES.get(m, m) for rs in results.values() for r in rs if (m := r.config.get("model"))})
    return " / ".join(models) or "?"


def _profile_note(results: Results) -> str:
    profiles = {r.config.get("profile") for runs in results.values() for r in runs}
    return "" if profiles == {"full"} else f"  [{'/'.join(sorted(map(str, profiles)))} profile: not a reproduction]"


def accuracy_curves(results: Results, labels: list[str] | None = None, x: str = "iteration", ax=None,
                    paper: dict[str, tuple[float, float]] | None = None, paper_name: str = "paper"):
    """Test accuracy (exact test images) against ``x`` per label: mean over seeds, band = ±1 std.
    ``paper``: ``{label: (accuracy, x)}``, the paper's value drawn as a star in that label's colour."""
    paper = paper or {}
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5))
    for label in labels or list(results):
        runs = [r for r in results.get(label, []) if r.summary.get("kind") != "range_test"]
        if not runs:
            continue
        ev = pd.concat([r.evals().assign(seed=r.config["seed"]) for r in runs])
        g = ev.groupby(x)["test_accuracy"]
        mean, std = g.mean(), g.std().fillna(0)
        (line,) = ax.plot(mean.index, mean.values, label=legend_name(label, len(runs)))
        ax.fill_between(mean.index, mean - std, mean + std, alpha=0.2)
        if label in paper and paper[label][1] <= 1.5 * float(mean.index.max()):  # a star the runs never reach
            # would squeeze every curve into a corner (a quick run of 700 it against Table 1's 70k)
            acc, at = paper[label]
            ax.plot([at], [acc], marker="*", markersize=13, color=line.get_color(), markeredgecolor="black",
                    linestyle="none", label=f"{label}: {paper_name}")
    ax.set_xlabel(x)
    ax.set_ylabel("test accuracy (exact test images)")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    # one legend entry per policy, and one for all the paper's stars (each is in its policy's colour)
    handles = [h for h in ax.get_lines() if h.get_marker() != "*"]
    if len(handles) < len(ax.get_lines()):
        handles.append(Line2D([], [], marker="*", markersize=13, color="lightgray", markeredgecolor="black",
                              linestyle="none", label=f"{paper_name} (star in the policy's colour)"))
    if any(len(rs) > 1 for rs in results.values()):
        handles.append(Patch(color="0.5", alpha=0.2, label="band: ±1 std over seeds"))
    ax.legend(handles=handles, fontsize=8)
    return ax


def schedules_overview(results: Results | None = None):
    """01: every policy of the papers with their parameters."""
    cases = [
        ("triangular 0.001-0.006, step 2000", Schedule("triangular", 0.001, 0.006, 2000), 10000),
        ("triangular2 0.001-0.006, step 2000", Schedule("triangular2", 0.001, 0.006, 2000), 10000),
        ("exp_range gamma 0.99994 (amplitude)", Schedule("exp_range", 0.001, 0.006, 2000, gamma=0.99994), 20000),
        ("exp_range gamma 0.99994 (bounds)", Schedule("exp_range", 0.001, 0.006, 2000, gamma=0.99994, exp_range_bounds=True), 20000),
        ("1cycle 0.08-0.8, momentum 0.95-0.8", Schedule("one_cycle", 0.08, 0.8, 4003, total_iterations=9277, final_lr=0.0008, momentum=(0.95, 0.8)), 9277),
        ("CLR decay 0.007 -> 0.001 over 4k", Schedule("decay", 0.001, 0.007, 4000), 10000),
        ("step decay d=0.5 every 1000", Schedule("step_decay", 0.1, gamma=0.5, stepsize=1000), 5000),
        ("time-based decay d=1e-3", Schedule("time_decay", 0.1, decay=1e-3), 5000),
        ("exponential decay d=1e-3", Schedule("exponential_decay", 0.1, decay=1e-3), 5000),
    ]
    fig, axes = plt.subplots(3, 3, figsize=(9.5, 8))  # under 10 in: a report's text width still reads it
    for ax, (title, s, n) in zip(axes.flat, cases):
        plots.schedule_axes(s, n, ax=ax, label=title)
        ax.title.set_fontsize(9)
    fig.tight_layout()
    return fig


def pytorch_schedulers(results: Results | None = None):
    """01: PyTorch's own schedulers beside Smith's shapes: OneCycleLR with its defaults (cosine,
    pct_start 0.3, div 25, final_div 1e4) against Smith's linear 1cycle, and the lecture's
    StepLR / ExponentialLR against the closed forms."""
    import torch

    def walk(make, n):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
        sched, lrs = make(opt), []
        for _ in range(n):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return lrs

    n = 9277
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax.plot(walk(lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.8, total_steps=n), n),
            label="torch OneCycleLR defaults")
    smith = Schedule("one_cycle", 0.08, 0.8, 4003, total_iterations=n, final_lr=0.0008)
    ax.plot([smith.lr(i) for i in range(n)], ls="--", label="Smith's 1cycle (ours = OneCycleLR three_phase, linear)")
    ax.set_xlabel("iteration")
    ax.set_ylabel("learning rate")
    ax.set_title("1cycle: PyTorch defaults vs Smith")
    ax.legend(fontsize=8)
    m = 5000
    ax2.plot(walk(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=1000, gamma=0.5), m), label="torch StepLR")
    ax2.plot([Schedule("step_decay", 0.1, gamma=0.5, stepsize=1000).lr(i) for i in range(m)], ls="--",
             label="lecture step decay d^floor((1+n)/r)")
    ax2.plot(walk(lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=float(np.exp(-1e-3))), m),
             label="torch ExponentialLR")
    ax2.plot([Schedule("exponential_decay", 0.1, decay=1e-3).lr(i) for i in range(m)], ls=":",
             label="lecture exponential decay")
    ax2.set_xlabel("iteration")
    ax2.set_title("lecture decays vs PyTorch")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


# the LR bounds the source read off its own range test, drawn as a band on ours
PAPER_BOUNDS = {"C2": (paper.C2_BASE.value, paper.C2_MAX.value, "CLR paper"),
                "C8": (paper.C8_BASE.value, paper.C8_MAX.value, "seed post")}


def range_test_figure(results: Results, claim: str):
    """03: loss and accuracy against LR for one claim's range tests, one panel per test (linear and
    exp), its seeds overlaid; the bounds the source read off its own test shaded where it gives them."""
    runs = [r for rs in results.values() for r in rs
            if r.config.get("claim") == claim and r.summary.get("kind") == "range_test"]
    if not runs:
        return None
    # a "<label>-start" test zooms into another's start (same slope, accuracy read more often): an inset
    zooms = {(r.config.get("label", "")[: -len("-start")], r.config.get("seed")): r for r in runs
             if r.config.get("label", "").endswith("-start")}
    tests: dict[str, list[Run]] = {}
    for r in runs:
        if not r.config.get("label", "").endswith("-start"):
            tests.setdefault(r.config.get("label", ""), []).append(r)
    # one panel a row, its legend below and its seeds on one axis: a strip of panels, or a panel per
    # seed, is unreadable (or a poster) at a report's column width
    fig, axes = plt.subplots(len(tests), 1, figsize=(9, 6 * len(tests)), squeeze=False)
    for ax, (label, seeds) in zip(axes.flat, tests.items()):
        seeds = sorted(seeds, key=lambda r: r.config.get("seed") or 0)
        first = seeds[0]
        model = first.config.get("model", "")
        title = f"{claim}: {MODEL_NAMES.get(model, model)}, {first.summary.get('mode', '')} LR sweep"
        reference = None
        if claim == "C1" and first.config.get("profile") == "full":  # the author's curves beside a full-scale test
            reference = [(name, smith_log(log)) for log, name in SMITH_C1]
        pairs = [(run, zooms.get((label, run.config.get("seed")))) for run in seeds]
        # one base per seed: the zoomed start's reading where there is one (the coarse grid only caps it)
        bases = {run.config.get("seed"): base_from_zoom(run.metrics, zoom.metrics) for run, zoom in pairs if zoom}
        if len(seeds) == 1:
            plots.plot_range_test(first, ax=ax, title=title + _profile_note({"": [first]}), paper=PAPER_BOUNDS.get(claim),
                                  reference=reference, zoomed_base=bases.get(first.config.get("seed")))
            top, colors = next(a for a in reversed(fig.axes) if a.bbox.bounds == ax.bbox.bounds), ["C1"]
        else:
            title += ", seeds " + ", ".join(str(r.config.get("seed")) for r in seeds)
            top, colors = plots.plot_range_test_seeds(seeds, ax, title + _profile_note({"": seeds}),
                                                      PAPER_BOUNDS.get(claim), reference, bases)
        inset = [(run, zoom, color) for (run, zoom), color in zip(pairs, colors) if zoom is not None]
        if inset:  # on the panel's top-most axis (its accuracy twin), or it is hidden
            _zoom_inset(top, inset)
    fig.tight_layout()
    return fig


def _zoom_inset(ax, tests: list[tuple[Run, Run, object]]):
    """Each zoomed start's accuracy against LR (``(test, zoom, colour)``) and the base read from it
    (``base_from_zoom``), dashed."""
    ins = ax.inset_axes([0.45, 0.34, 0.45, 0.26])  # between the loss (low) and the accuracy plateau (high)
    bases = []
    for run, zoom, color in tests:
        acc = zoom.metrics.dropna(subset=["accuracy"])
        ins.plot(acc["lr"], acc["accuracy"], marker=".", ms=3, lw=0.8, color=color)
        base = base_from_zoom(run.metrics, zoom.metrics)
        if base is not None:  # alone, in the colour of the panel's base line; beside others, in its seed's
            ins.axvline(base, ls="--", color="C2" if len(tests) == 1 else color, lw=1)
            bases.append(base)
    acc = tests[0][1].metrics.dropna(subset=["accuracy"])
    step = float(acc["lr"].diff().median()) if len(acc) > 1 else float("nan")
    text = f"start, accuracy every {step:.2g} of LR"
    if len(tests) == 1 and bases:
        text += f": Smith's base = {bases[0]:.3g}"  # the same base the panel's legend gives
    elif bases:
        text += ": each seed's base dashed"
    ins.set_title(text, fontsize=9)
    ins.tick_params(labelsize=8)
    ins.xaxis.set_major_locator(plt.MaxNLocator(3))
    ins.yaxis.set_major_locator(plt.MaxNLocator(3))
    ins.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ins.grid(False)


def clr_vs_fixed(results: Results):
    """04 (C3): cifar10-full test accuracy against iterations, one line per policy, and Table 1's
    value for that policy as a star at its iteration, so paper and run are read off one axis."""
    if not results:
        return None
    ax = accuracy_curves(results, paper={k: (v.value, v.at) for k, v in paper.C3.items()}, paper_name="CLR Table 1")
    ax.set_title("C3: cifar10-full, CLR policies vs fixed LR" + _profile_note(results))
    return ax.figure


def one_cycle_figure(results: Results):
    """05 (C4-C6): ResNet-56 accuracy against iterations; 1cycle mean ± std over seeds."""
    if not results:
        return None
    # panels stacked, 8 in wide: readable where a report prints it at its text width
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(8, 9), gridspec_kw={"height_ratios": [5, 3]})
    accuracy_curves(results, ax=ax)
    full = _profile_note(results) == ""
    if full:  # the author's run of C4, from his Caffe log
        log = smith_log(SMITH_C4[0])
        acc = log.dropna(subset=["test_accuracy"])
        ax.plot(acc["iteration"], acc["test_accuracy"], color="0.2", ls="--", marker=".", ms=4, lw=1, label=SMITH_C4[1])
        ax.plot([paper.C4.at], [paper.C4.value], marker="*", markersize=13, color="0.2", markeredgecolor="black", linestyle="none",
                label=f"DA Table 1: {100 * paper.C4.value:.1f} %")
    handles, _ = ax.get_legend_handles_labels()
    if any(len(rs) > 1 for rs in results.values()):
        handles.append(Patch(color="0.5", alpha=0.2, label="band: ±1 std over seeds"))
    # below the panel: inside, a corner covers the early curves, and every setting still to run adds a line
    ax.legend(handles=handles, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15), frameon=False)
    fig.set_size_inches(8, 8.8 + 0.17 * len(handles))  # the panels keep their height as the legend grows
    ax.set_xscale("log")
    model = _model_name(results)
    ax.set_title(f"C4-C6: {model}\n1cycle vs constant momentum vs step schedule" + _profile_note(results))
    run = (results.get("one_cycle") or next(iter(results.values())))[0]
    plots.schedule_axes(Schedule.from_dict(run.config["schedule"]), run.summary["iterations"], ax=ax2,
                        label="LR", title="1cycle (DA): LR and momentum")
    if full:
        ax2.plot(log["iteration"], log["lr"], color="0.2", ls="none", marker=".", ms=4, label="Smith's log: LR")
        # momentum's line is on the twin axis schedule_axes added; one legend for the panel, below
        # it: inside, any corner covers the LR peak or an end of momentum
        handles = [h for a in fig.axes[1:] for h in a.get_legend_handles_labels()[0]]
        ax2.legend(handles=handles, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=3, frameon=False)
    fig.tight_layout()
    return fig


START_ITERATIONS = 1000  # the start of a C4 run: the first ~10 epochs of 512


def one_cycle_start(results: Results):
    """05 (C4): how the ResNet-56s start under C4's settings, every run drawn: the training loss of each
    logged window (log scale, chance ln 10 dashed) and the test accuracy over the first 1,000
    iterations, beside Smith's logged accuracy. Where the nets end apart, a reader sees whether
    they started apart (He et al.'s net: a loss far above chance at first, then a stretch at chance)."""
    from .claims import C4_SETTING  # the labels of C4's LR cycle at batch 512

    curves = {label: results[label] for label in C4_SETTING if results.get(label)}
    if not curves:
        return None
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
    last = 0
    for k, (label, runs) in enumerate(curves.items()):
        colour = f"C{k}"
        for i, run in enumerate(runs):
            m = run.metrics
            train = m[(m["kind"] == "train") & (m["iteration"] <= START_ITERATIONS)]
            ev = run.evals()
            ev = ev[ev["iteration"] <= START_ITERATIONS]
            name = legend_name(label, len(runs)) if i == 0 else None
            last = max(last, int(train["iteration"].max()) if len(train) else 0)
            ax.plot(train["iteration"], train["train_loss"], color=colour, lw=1.2, alpha=0.8, label=name)
            ax2.plot(ev["iteration"], ev["test_accuracy"], color=colour, lw=1.2, alpha=0.8, marker=".", ms=4)
    ax.axhline(np.log(10), color="0.3", ls="--", lw=1, label="chance: ln 10 = 2.30")
    ax.set_yscale("log")
    for axis in (ax.yaxis.set_major_formatter, ax.yaxis.set_minor_formatter):  # 2, 3, 5, 10: not 2 x 10^0
        axis(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:g}"[0] in "1235" else ""))
    ax.set_ylabel("training loss")
    ax.legend(fontsize=8, loc="upper right")
    if _profile_note(curves) == "":  # the author's run of C4, from his Caffe log
        log = smith_log(SMITH_C4[0]).dropna(subset=["test_accuracy"])
        log = log[log["iteration"] <= START_ITERATIONS]
        ax2.plot(log["iteration"], log["test_accuracy"], color="0.2", ls="--", marker=".", ms=4, lw=1, label=SMITH_C4[1])
    ax2.axhline(0.1, color="0.3", ls=":", lw=1, label="chance: 10 %")
    ax2.set_ylabel("test accuracy (exact images)")
    ax2.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax2.set_xlabel("iteration")
    ax2.legend(fontsize=8, loc="lower right")  # the runs' colours are named above
    ax.set_title(f"C4: the first {last:,} iterations, every run ({_model_name(curves)})" + _profile_note(curves))
    fig.tight_layout()
    return fig


def weight_decay(results: Results):
    """06 (C7): accuracy against epochs per weight decay, and final accuracy against weight decay."""
    if not results:
        return None
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(8, 8.5))  # stacked, 8 in wide, as 05
    order = sorted(results, key=lambda k: results[k][0].config["weight_decay"])
    accuracy_curves(results, order, x="epoch", ax=ax)
    ax.set_title("C7: accuracy per weight decay" + _profile_note(results))
    # below: what CLAIMS.md reads, each weight decay's mean over seeds on the judged reading with its 95 %
    # interval (no bar with one seed, as the overview), and each run's own value beside it
    from .claims import estimates, final_readings, judged, judged_reading

    per = final_readings(results, order)
    est = estimates(per)
    for label in (x for x in order if x in per):
        wd = results[label][0].config["weight_decay"]
        e = judged(est[label])
        ax2.errorbar([wd], [e.value], yerr=None if e.half is None else [[e.half], [e.half]], fmt="o", capsize=4,
                     color="C0", mfc="C0" if e.half is not None else "white", ms=7,
                     label="ours: mean over seeds, 95 % interval (none with one seed)")
        ax2.plot([wd] * len(per[label]), [judged_reading(x).value for x in per[label]], ".", color="0.55", ms=5,
                 label="ours: each run", zorder=3)
    means = [(results[x][0].config["weight_decay"], judged(est[x]).value) for x in order if x in per]
    if means:
        ax2.plot(*zip(*means), "-", color="C0", lw=1, alpha=0.6)
    if results and next(iter(results.values()))[0].config.get("profile") == "full":  # the blog's setting only
        ax2.plot(list(paper.C7), [r.value for r in paper.C7.values()], "x", color="black", markersize=8, mew=2,
                 label="seed blog (running averages, no augmentation)")
    handles, labels = ax2.get_legend_handles_labels()
    keep = dict(zip(labels, handles))  # one entry per kind, not per weight decay; the means first
    order = sorted(keep, key=lambda t: (not t.startswith("ours: mean"), not t.startswith("ours")))
    ax2.legend([keep[t] for t in order], order, loc="lower center", fontsize="small")
    ax2.set_xscale("log")
    ax2.set_xlabel("weight decay")
    ax2.set_ylabel("final test accuracy (as CLAIMS.md reads it)")
    ax2.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax2.set_title("C7: final accuracy against weight decay")
    fig.tight_layout()
    return fig


def adam_clr(results: Results):
    """07 (C8): Keras CNN with Adam, fixed LR vs CLR, test accuracy against epochs."""
    curves = {k: v for k, v in results.items() if v and v[0].summary.get("kind") != "range_test"}
    if not curves:
        return None
    ax = accuracy_curves(curves, x="epoch")
    ax.set_title("C8: Adam, fixed LR (150 epochs) vs CLR triangular (50 epochs)" + _profile_note(curves))
    return ax.figure


VERDICT_COLOURS = {"reproduced": "#2b8a3e", "not reproduced": "#c92a2a", "inconclusive": "#6c757d"}


def claims_overview(root: Path | str = DEFAULT_ROOT):
    """Every judged part of every claim on one page, as CLAIMS.md judges it: our mean minus the paper's
    value with our 95 % interval, the claim's margin shaded around zero and the verdict as the colour
    (accuracies in points; learning rates and iteration counts as a factor, on a log scale). A part
    judged on one seed has no interval: a hollow dot. Claims with nothing judged yet are named below."""
    import textwrap

    from .claims import CLAIMS  # needs scipy: imported here, as rendering does

    rows: dict[bool, list] = {False: [], True: []}  # log scale -> (claim id, part)
    waiting = []
    for c in CLAIMS:
        if c.study is None:  # arithmetic (C9): nothing sampled to draw
            continue
        res = study_results(root, c.study, "full")
        got = c.rule(res) if res else None
        if got is None or not got.parts:
            waiting.append(c.id)
            continue
        for part in got.parts:
            rows[part.log].append((c.id, part))
    if not rows[False] and not rows[True]:
        return None
    panels = [k for k in (False, True) if rows[k]]
    fig, axes = plt.subplots(len(panels), 1, figsize=(8.5, 1.6 + 0.45 * sum(len(rows[k]) for k in panels)),
                             gridspec_kw={"height_ratios": [len(rows[k]) + 1.5 for k in panels]}, squeeze=False)
    for ax, log in zip(axes[:, 0], panels, strict=True):
        for y, (_, part) in enumerate(reversed(rows[log])):
            est, colour = part.estimate, VERDICT_COLOURS.get(part.verdict, "black")
            if log:  # a factor: the LR bounds are positive, so is the interval
                def x_of(v, paper=part.paper):
                    return float(np.log2(v / paper))
                m, paper_text = float(np.log2(part.margin)), f"paper {part.paper:.3g}"
            else:  # accuracy points; a part named "a minus b" compares differences
                def x_of(v, paper=part.paper):
                    return 100 * (v - paper)
                m = 100 * part.margin
                paper_text = (f"paper {100 * part.paper:+.1f} points" if " minus " in part.what
                              else f"paper {100 * part.paper:.1f} %")
            ax.barh(y, 2 * m, left=-m, height=0.7, color=colour, alpha=0.12, linewidth=0)
            if est.half is not None:
                ax.plot([x_of(est.lo), x_of(est.hi)], [y, y], color=colour, lw=2.2, solid_capstyle="butt")
            ax.plot([x_of(est.value)], [y], "o", ms=7, color=colour, mfc=colour if est.half is not None else "white",
                    mew=1.8)
            ax.annotate(paper_text, (1.0, y), xycoords=("axes fraction", "data"), xytext=(6, 0),
                        textcoords="offset points", va="center", fontsize=8, color="0.35")
        labels = [textwrap.fill(f"{cid}: {part.what} (n={part.estimate.n})", 30) for cid, part in reversed(rows[log])]
        ax.set_yticks(range(len(labels)), labels, fontsize=8.5)
        ax.set_ylim(-0.7, len(labels) - 0.3)
        ax.axvline(0, color="black", lw=1)
        ax.grid(axis="y", visible=False)
        if log:
            lim = max(1.0, *(abs(v) + 0.3 for v in ax.get_xlim()))
            ax.set_xlim(-lim, lim)
            step = 1 if lim <= 3.5 else 2
            ticks = [t for t in range(-8, 9, step) if abs(t) <= lim]
            ax.set_xticks(ticks, [f"×{2.0 ** t:g}" if t >= 0 else f"×1/{2 ** -t:g}" for t in ticks])
            ax.set_xlabel("ours over the paper's value (a factor, log scale); shaded: the claim's margin")
        else:
            ax.set_xlabel("ours minus the paper's value (accuracy points); shaded: the claim's margin")
    handles = [Line2D([], [], marker="o", ls="-", color=c, label=v) for v, c in VERDICT_COLOURS.items()]
    handles.append(Line2D([], [], marker="o", ls="", color="0.3", mfc="white", label="one seed: no interval"))
    axes[0, 0].legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, fontsize=8, frameon=False)
    axes[0, 0].set_title("Claims at a glance: ours against the papers (95 % intervals, verdicts of CLAIMS.md)", pad=24)
    if waiting:
        fig.text(0.01, 0.0, f"nothing judged yet: {', '.join(waiting)} (CLAIMS.md says which runs are missing)",
                 fontsize=8, color="0.35", va="top")
    fig.tight_layout()
    return fig


def claims_source(root: Path | str = DEFAULT_ROOT) -> str:
    """What the overview was drawn from: every stored full-profile run's folder and the commits that trained them."""
    from .results import find_runs

    runs = find_runs(root, profile="full")
    return (f"clr-repro: CLAIMS.md's verdicts from {len(runs)} full-profile runs under {Path(root).as_posix()}/ "
            f"(trained at commit(s) {', '.join(_commits(runs))})")


# name -> (study, function); the file names are stable, for citing
FIGURES: dict[str, tuple[str | None, Callable]] = {
    "01_schedules": (None, schedules_overview),
    "01_pytorch_schedulers": (None, pytorch_schedulers),
    "03_range_test_C1_resnet56": ("03_range_tests", lambda r: range_test_figure(r, "C1")),
    "03_range_test_C2_cifar10_full": ("03_range_tests", lambda r: range_test_figure(r, "C2")),
    "04_clr_vs_fixed_C3": ("04_clr_vs_fixed", clr_vs_fixed),
    "05_resnet56_one_cycle_C4_C6": ("05_resnet56_one_cycle", one_cycle_figure),
    "05_resnet56_start_C4": ("05_resnet56_one_cycle", one_cycle_start),
    "06_weight_decay_C7": ("06_weight_decay", weight_decay),
    "07_adam_clr_C8": ("07_adam_clr", adam_clr),
    "07_range_test_C8_adam": ("07_adam_clr", lambda r: range_test_figure(r, "C8")),
}


# what each figure shows, for the caption a notebook prints with it
CAPTIONS = {
    "03_range_test_C1_resnet56": "C1: ResNet-56's LR range tests. Smoothed training loss (left axis) and held-out "
                                 "accuracy (right axis) against the LR, with each rule's suggested LR as a vertical "
                                 "line; Smith's own logged 0-3 tests drawn dashed where the run is full-scale.",
    "03_range_test_C2_cifar10_full": "C2: cifar10-full's range tests, exponential (top) and linear with its seeds "
                                     "overlaid, each seed's bounds marked on its accuracy curve and the CLR paper's "
                                     "shaded; the inset zooms into the start, where Smith's base is read 10x finer.",
    "04_clr_vs_fixed_C3": "C3: test accuracy against iterations per policy (mean over seeds); each star is CLR Table 1's "
                          "value at the iteration the paper reports it.",
    "05_resnet56_one_cycle_C4_C6": "C4-C6: test accuracy against iterations (log scale) per schedule, DA Table 1's "
                                   "value as a star and Smith's logged run dashed; below: the 1cycle's LR and "
                                   "momentum against Smith's logged LR.",
    "05_resnet56_start_C4": "C4: the first 1,000 iterations (or fewer) of every run at C4's LR cycle, per network and schedule: "
                            "the training loss of each logged window (log scale; chance dashed) and the test "
                            "accuracy, beside Smith's logged accuracy.",
    "06_weight_decay_C7": "C7: test accuracy against epochs per weight decay (top) and, below, each weight decay's "
                          "final accuracy as CLAIMS.md reads it (mean over seeds with its 95 % interval; each run "
                          "a grey dot), the seed blog's values as crosses.",
    "07_adam_clr_C8": "C8: test accuracy against epochs, Adam with a fixed LR against CLR triangular.",
    "07_range_test_C8_adam": "C8: the Keras CNN's range test with Adam, the seed post's bounds shaded.",
}


def caption(name: str, results: Results) -> str:
    """A notebook's caption for figure ``name``: what it shows and which stored runs it draws."""
    runs = [r for rs in results.values() for r in rs]
    labels = ", ".join(f"{label} (n={len(rs)})" for label, rs in results.items() if rs)
    devices = ", ".join(sorted({r.provenance.get("device_name", "?") for r in runs}))
    profiles = {r.config.get("profile") for r in runs}
    where = "figures/" if profiles == {"full"} else f"figures/{'/'.join(sorted(map(str, profiles)))}/"
    return (f"**Figure `{where}{name}`.** {CAPTIONS[name]} Drawn from {len(runs)} stored run(s): {labels}; "
            f"trained on {devices}. The file's metadata lists the run folders and commits.")


def make_all(root: Path | str = DEFAULT_ROOT, dest: Path | str = "figures",
             profiles: tuple[str, ...] = ("full", "quick")) -> list[Path]:
    """Regenerate every figure from stored results; full-profile figures in ``dest``, others in
    ``dest/<profile>/``. A figure whose runs are not stored is skipped."""
    written = []
    for profile in profiles:
        folder = Path(dest) if profile == "full" else Path(dest) / profile
        for name, (study, fn) in FIGURES.items():
            if study is None and profile != "full":
                continue
            results = study_results(root, study, profile) if study else None
            fig = fn(results)
            if fig is not None:
                written += plots.save(fig, folder / name, source(results))
    if "full" in profiles:  # verdicts are given on full runs only
        written += write_overview(root, dest)
    return written


def write_overview(root: Path | str = DEFAULT_ROOT, dest: Path | str = "figures") -> list[Path]:
    """``dest/00_claims_overview.png`` and ``.pdf`` (none while nothing is judged)."""
    from .claims import OVERVIEW

    fig = claims_overview(root)
    return plots.save(fig, Path(dest) / OVERVIEW, claims_source(root)) if fig is not None else []


def source(results: Results | None) -> str:
    """What a figure was drawn from: its runs' folders and the commits that trained them."""
    if not results:
        return "clr-repro: no runs (formulas only, reproduce/schedules.py)"
    runs = sorted((r for rs in results.values() for r in rs), key=lambda r: r.path.name)
    return (f"clr-repro runs under experiments/results/{runs[0].path.parent.name}/: "
            + ", ".join(r.path.name for r in runs) + f"; trained at commit(s) {', '.join(_commits(runs))}")


def _commits(runs) -> list[str]:
    """The commits (10 hex digits) that trained ``runs``, sorted: a figure's metadata names them."""
    return sorted({str((r.provenance.get("git") or {}).get("commit", "unknown"))[:10] for r in runs})
