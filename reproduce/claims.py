"""CLAIMS.md: each claim of the papers (C1-C9), the paper's value beside ours, and a verdict.

One registry, :data:`CLAIMS`: each claim names its setting, its study, its figure, the paper's
values (from :mod:`reproduce.paper`) and its rule. A rule reads stored runs and returns what we
measured and the verdict of :mod:`reproduce.verdict` — one rule for every claim, with the
estimate's 95 % interval from :mod:`reproduce.readings` (seed spread and test-set sampling).
Nothing here is typed by hand: "ours" is computed from the runs each claim id points to. Only
full-profile runs count as a reproduction; quick (CPU smoke) runs are shown as such, without a
verdict.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from . import paper
from .range_test import base_from_zoom, suggest
from .readings import (
    DIVERGED_ACCURACY,
    KINDS,
    NAMES,
    Estimate,
    Reading,
    difference,
    difference_sampling,
    diverged_readings,
    pooled,
    readings,
    run_readings,
    seed_variance,
)
from .results import DEFAULT_ROOT, Results, Run, study_results, write_atomic
from .stepsize import paper_table
from .studies import execute, expand, load_spec
from .train import step_mode_of
from .verdict import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, Part, combine, judge

VERDICT_READING = "corrected"  # the reading the rule judges; the other two are shown beside it
OVERVIEW = "00_claims_overview"  # the figure of every judged part (reproduce.figures.claims_overview draws it)


@dataclass(frozen=True)
class Outcome:
    """What a rule found: our numbers (text), the verdict, why, and the parts it was drawn from."""

    ours: str
    verdict: str
    reason: str
    parts: tuple[Part, ...] = field(default=())


# ---------------------------------------------------------------- helpers: text and estimates


def pct(x: float | None) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{100 * x:.2f} %"


def pm_text(values: list[float]) -> str:
    """Mean ± std (in points) of accuracies, or the single value."""
    m = float(np.mean(values))
    return f"{pct(m)} ± {100 * float(np.std(values, ddof=1)):.2f}" if len(values) > 1 else pct(m)


def eval_at(run: Run, iteration: int) -> tuple[float, int] | None:
    """Test accuracy at the last evaluation at or before ``iteration``, and that iteration."""
    ev = run.evals()
    if ev.empty:
        return None
    ev = ev[ev["iteration"] <= iteration]
    return None if ev.empty else (float(ev["test_accuracy"].iloc[-1]), int(ev["iteration"].iloc[-1]))


def _n_all(run: Run) -> int | None:
    return ((run.provenance.get("data") or {}).get("test") or {}).get("images")


def readings_at(run: Run, iteration: int) -> dict[str, Reading] | None:
    """The three readings of the evaluation made exactly at ``iteration`` (None if the run has none there)."""
    at = run.summary.get("diverged_at_iteration")
    if run.summary.get("status") == "diverged" and at is not None and iteration >= at:
        return diverged_readings()
    ev = run.evals()
    if ev.empty:
        return None
    row = ev[ev["iteration"] == iteration]
    if row.empty:
        return None
    return readings({k: v for k, v in row.iloc[-1].items() if not (isinstance(v, float) and math.isnan(v))}, _n_all(run))


def estimates(per_label: dict[str, list[dict[str, Reading]]]) -> dict[str, dict[str, Estimate]]:
    """``{label: {reading: Estimate}}``: each label's mean over seeds, the seed spread pooled over
    every label given (settings of one network in one study)."""
    out: dict[str, dict[str, Estimate]] = {label: {} for label in per_label}
    for kind in KINDS:
        groups = [[r[kind].value for r in rs if kind in r] for rs in per_label.values()]
        s2, df = seed_variance(groups)
        for label, rs in per_label.items():
            got = [r[kind] for r in rs if kind in r]
            if got:
                out[label][kind] = pooled(got, s2, df, kind)
    return out


def judged(est: dict[str, Estimate]) -> Estimate:
    """The estimate the rule reads: the JPEG-corrected one, else the exact images'."""
    return est.get(VERDICT_READING) or est["exact"]


def three(est: dict[str, Estimate]) -> str:
    """The readings side by side, the one the verdict reads first, then the number of seeds."""
    order = [VERDICT_READING] + [k for k in KINDS if k != VERDICT_READING]
    first, how = est["exact"], judged(est).how
    tail = f" (n={first.n}" + ("; seed spread not measured" if first.half is None else "") + (f"; {how})" if how else ")")
    if all(est[k].value == first.value for k in est):
        return f"{first.text(spread=False)}{tail} (every test image exact)"
    return ", ".join(f"{NAMES[k]} {est[k].text(spread=False)}" for k in order if k in est) + tail


def final_readings(r: Results, labels) -> dict[str, list[dict[str, Reading]]]:
    """Each label's runs' final readings (labels without any left out)."""
    out = {label: [x for x in (run_readings(run) for run in r.get(label, [])) if x] for label in labels}
    return {label: v for label, v in out.items() if v}


def judged_kind(readings_: dict[str, Reading]) -> str:
    """Which reading the rule reads of one run: the JPEG-corrected one, else the exact images'."""
    return VERDICT_READING if VERDICT_READING in readings_ else "exact"


def judged_reading(readings_: dict[str, Reading]) -> Reading:
    """One run's reading the rule reads (as :func:`judged` for estimates)."""
    return readings_[judged_kind(readings_)]


def difference_kind(per: dict[str, list[dict[str, Reading]]], a: str, b: str) -> str:
    """The reading a difference of ``a`` and ``b`` is read on: the JPEG-corrected one where every run has
    it, else the exact images'."""
    return VERDICT_READING if {judged_kind(x) for x in per[a] + per[b]} == {VERDICT_READING} else "exact"


def judged_difference(per: dict[str, list[dict[str, Reading]]], a: str, b: str,
                      est: dict[str, dict[str, Estimate]]) -> Estimate:
    """``a − b`` of two settings on the reading the rule reads, the seed spread pooled over ``per``;
    runs of one seed pair image by image where both kept their verdicts (``difference_sampling``)."""
    s2, df = seed_variance([[judged_reading(x).value for x in v] for v in per.values()])
    kind = difference_kind(per, a, b)
    sampling = difference_sampling(kind, [x[kind] for x in per[a]], [x[kind] for x in per[b]])
    return difference(judged(est[a]), judged(est[b]), s2, df, sampling)


def gap_text(d: Estimate) -> str:
    """A difference in points, and how its test sampling was read where runs kept per-image verdicts."""
    return d.text(100, " points", signed=True) + (f" ({d.how})" if d.how else "")


def _points(margin: float) -> str:
    return f"{100 * margin:g} point" + ("" if round(100 * margin, 9) == 1 else "s")


def _one(r: Results, label: str) -> Run | None:
    return (r.get(label) or [None])[0]


def _parts_reason(parts: list[Part], rule: str) -> str:
    notes = "; ".join(f"{p.what}: {p.verdict} ({p.why})" for p in parts)
    return f"{rule}. {notes}"


# ---------------------------------------------------------------- C1: the ResNet-56 range test


def smith_c1_reading() -> tuple[float, float, float, float]:
    """Peak accuracy, its LR, and accuracy and LR at the end of Smith's logged 0 -> 3 test in 5k it."""
    log = paper.smith_log(paper.C1_LOG_CSV).dropna(subset=["test_accuracy"])
    slope = (log["lr"] / log["iteration"]).median()  # a linear ramp; the log omits the LR on its last line
    log = log.assign(lr=log["lr"].fillna(log["iteration"] * slope))
    peak, last = log.loc[log["test_accuracy"].idxmax()], log.iloc[-1]
    return float(peak["test_accuracy"]), float(peak["lr"]), float(last["test_accuracy"]), float(last["lr"])


C1_MARGIN = 0.06  # of the end-to-peak accuracy ratio: 0.90 still counts as "stays high"


def _c1_diverged(s: dict) -> bool:
    """The linear test stopped (its loss not finite) before reaching its end LR."""
    return bool(s.get("stopped_early")) and s.get("stop_lr") is not None and s["stop_lr"] < s["end_lr"]


def _c1_end_accuracy(s: dict) -> float:
    """Accuracy at the end of the ramp. A test that diverged before it never read one there: its last
    reading came at a lower LR and would flatter it, so the net that diverged counts as chance."""
    return DIVERGED_ACCURACY if _c1_diverged(s) else (s["final_accuracy"] or 0.0)


def _smith_c1_text() -> str:
    p, plr, f, flr = smith_c1_reading()
    return f"Smith's logged 0-3 test in 5k it: peak {pct(p)} at LR {plr:.3g}, {pct(f)} at LR {flr:.3g}"


def _c1(r: Results) -> Outcome | None:
    runs = r.get("C1-resnet56-linear", [])
    if not runs:
        exp = _one(r, "C1-resnet56-exp")
        if exp is None:
            return None
        s = exp.summary
        return Outcome(f"exponential test only ({s['start_lr']:g} -> {s['end_lr']:g} in {s['iterations']:,} it): smoothed "
                       f"loss lowest at LR {s['min_loss_lr']:.3g}; accuracy peak {pct(s['peak_accuracy'])} at LR "
                       f"{s['peak_accuracy_lr']:.3g}" + (f"; diverged at LR {s['stop_lr']:.3g}" if s["stopped_early"] else "")
                       + f" ({_smith_c1_text()})", INCONCLUSIVE,
                       "the rule reads the linear 0 -> 3 test (accuracy at LR 3 against its peak), which has not run")
    p, _, f, _ = smith_c1_reading()
    vals = []
    for run in runs:
        s = run.summary
        n = run.config.get("range_eval_images") or s.get("test_n_all") or _n_all(run) or 10_000
        final = _c1_end_accuracy(s)
        ratio = final / (s["peak_accuracy"] or 1)
        vals.append(Reading(ratio, final * (1 - final) / n / (s["peak_accuracy"] or 1) ** 2))
    s2, df = seed_variance([[v.value for v in vals]])
    est = pooled(vals, s2, df)
    part = judge("accuracy at LR 3 / its peak", f / p, est, C1_MARGIN, shown=est.text(1, "", 3), unit=(1, ""))
    s = runs[0].summary
    end = (f"diverged at LR {s['stop_lr']:.3g}, before the ramp's end at LR {s['end_lr']:.3g} (its accuracy there "
           f"counted as chance, {pct(DIVERGED_ACCURACY)}; last reading {pct(s['final_accuracy'] or 0)})" if _c1_diverged(s)
           else f"{pct(s['final_accuracy'])} at LR {s['end_lr']:.3g}")
    ours = (f"peak accuracy {pct(s['peak_accuracy'])} at LR {s['peak_accuracy_lr']:.3g}; {end}; ratio "
            f"{est.text(1, '', 3)}; smoothed loss lowest at LR {s['min_loss_lr']:.3g} ({_smith_c1_text()})")
    return Outcome(ours, part.verdict, _parts_reason([part], f"accuracy at the end of the ramp over its peak against "
                                                              f"Smith's log ({f / p:.3f}), margin {C1_MARGIN}"), (part,))


# ---------------------------------------------------------------- C2: cifar10-full's range test

C2_FACTOR = 2.0  # a bound within 2x of the paper's reads the same region of the test


def _c2(r: Results) -> Outcome | None:
    runs = sorted(r.get("C2-cifar10_full-linear", []), key=lambda x: x.config.get("seed", 0))
    if not runs:
        return None
    zooms = {x.config.get("seed", 0): x for x in r.get("C2-cifar10_full-linear-start", [])}
    texts, bounds = [], {"base": [], "max": []}  # per seed: (reading, lo, hi) on the LR grid
    for run in runs:
        seed = run.config.get("seed", 0)
        g = suggest(run.metrics, run.summary["mode"])  # the current rules on the stored history
        base, mx = g.get("smith_base"), g.get("smith_max")
        if base is None or mx is None:
            texts.append(f"seed {seed}: no accuracy rise measured")
            continue
        read_on, how = run.metrics, ""
        if seed in zooms:  # the start read 10x finer: a base the coarse grid can only cap
            zoomed = base_from_zoom(run.metrics, zooms[seed].metrics)
            if zoomed is not None:
                how = f" (zoomed start; coarse grid {base:.3g})"
                base, read_on = zoomed, zooms[seed].metrics
        grid = read_on.dropna(subset=["accuracy"])["lr"].to_numpy()
        step = float(np.median(np.diff(grid))) if len(grid) > 1 else float("nan")
        # the knee lies between the reading before it and the reading itself; a base at the first reading
        # after the start is capped: accuracy had risen already, the true base lies anywhere below
        bounds["base"].append((base, max(base - step, 0.0), base))
        coarse = run.metrics.dropna(subset=["accuracy"])["lr"].to_numpy()
        cstep = float(np.median(np.diff(coarse))) if len(coarse) > 1 else float("nan")
        bounds["max"].append((mx, mx - cstep, mx + cstep))
        capped = base - step <= (grid[0] if len(grid) else 0.0)
        texts.append(f"seed {seed}: base {base:.3g}{how}{' (capped by the grid)' if capped else ''}, max {mx:.3g} "
                     f"(accuracy read every {step:.2g} of LR at the start, {cstep:.2g} elsewhere; loss rules: min/10 "
                     f"{g.get('loss_min_div10') or float('nan'):.3g}, steepest {g.get('steepest') or float('nan'):.3g})")
    if not bounds["base"]:
        return Outcome("; ".join(texts), NOT_REPRODUCED, "accuracy never rose during the test")
    parts = []
    for what, ref in (("base", paper.C2_BASE), ("max", paper.C2_MAX)):
        est = _lr_estimate(bounds[what])
        shown = f"{est.value:.3g} [{est.lo:.2g}, {est.hi:.2g}]" if est.half is not None else f"{est.value:.3g} (one seed)"
        parts.append(judge(f"{what} LR", ref.value, est, C2_FACTOR, log=True, shown=shown))
    rule = (f"each bound against the paper's ({paper.C2_BASE.value:g}, {paper.C2_MAX.value:g}) on a log scale, margin a "
            f"factor {C2_FACTOR:g}; base = 10 %, max = 90 % of the accuracy's rise (fixed after seeing seed 0's curve); "
            "the interval spans the LR grid the accuracy was read on, and the seeds")
    return Outcome("; ".join(texts), combine([p.verdict for p in parts]), _parts_reason(parts, rule), tuple(parts))


def _lr_estimate(readings_: list[tuple[float, float, float]]) -> Estimate:
    """Seeds' LR readings with their grid intervals -> a geometric mean over an interval holding all
    of them, widened by the seed spread (t · s/√k on a log scale) when two or more seeds ran."""
    vals = np.array([v for v, _, _ in readings_])
    lo, hi = min(lo for _, lo, _ in readings_), max(hi for _, _, hi in readings_)
    centre = float(np.exp(np.mean(np.log(vals))))
    k = len(vals)
    if k < 2:  # one seed: the spread is unmeasured (the one rule: no interval)
        return Estimate(centre, None, 1, 0)
    w = float(stats.t.ppf(0.975, k - 1) * np.std(np.log(vals), ddof=1) / math.sqrt(k))
    lo, hi = lo * math.exp(-w), hi * math.exp(w)
    return Estimate(centre, (hi - lo) / 2, k, k - 1, bounds=(lo, hi))


# ---------------------------------------------------------------- C3: CLR Table 1

C3_MARGIN = 0.015  # accuracy, 1.5 points
TABLE1_ITERATIONS = (25000, 42000, 70000)


def _exactly_at(runs, iteration: int) -> list[float]:
    """Exact-image accuracies of the evaluations made exactly at ``iteration`` (a shorter run gives none)."""
    return [a for a, i in (v for v in (eval_at(x, iteration) for x in runs) if v is not None) if i == iteration]


def table1(r: Results) -> pd.DataFrame:
    """CLR Table 1's layout for C3: each policy's test accuracy (exact images) at 25k, 42k and 70k.

    Mean ± std over seeds of the evaluation made exactly at that iteration ("–" where the run is
    shorter), the number of seeds, and the paper's value. Columns hold text so the table reads
    as it does in the paper."""
    rows = []
    for label, runs in r.items():
        runs = [x for x in runs if x.summary.get("kind") != "range_test"]
        if not runs:
            continue
        ref = paper.C3.get(label)
        row = {"policy": label, "seeds": len(runs),
               "paper (CLR Table 1)": f"{pct(ref.value)} at {ref.at // 1000}k" if ref else "–"}
        for at in TABLE1_ITERATIONS:
            got = _exactly_at(runs, at)
            row[f"{at // 1000}k"] = pm_text(got) if got else "–"
        rows.append(row)
    cols = ["policy", "paper (CLR Table 1)", *(f"{at // 1000}k" for at in TABLE1_ITERATIONS), "seeds"]
    return pd.DataFrame(rows, columns=cols).set_index("policy")


def _c3(r: Results) -> Outcome | None:
    # the seed spread, pooled over every policy's runs at the iteration Table 1 reads it at
    per = {label: [x for x in (readings_at(run, ref.at) for run in r.get(label, [])) if x]
           for label, ref in paper.C3.items()}
    per = {k: v for k, v in per.items() if v}
    short = [f"{label} stopped at {max(x.summary.get('iterations_done', 0) for x in r[label]):,} it"
             for label in paper.C3 if r.get(label) and label not in per]
    if not per and not short:
        return None
    est = estimates(per)
    parts, texts = [], []
    for label, e in est.items():
        ref = paper.C3[label]
        parts.append(judge(f"{label} at {ref.at // 1000}k", ref.value, judged(e), C3_MARGIN))
        texts.append(f"{label} at {ref.at // 1000}k: {three(e)}")
    # Table 1's point is relative: triangular2 at 25k matches fixed at 70k (both scored on the same images)
    if "triangular2-3stage" in est and "fixed" in est:
        d = judged_difference(per, "triangular2-3stage", "fixed", est)
        gap = paper.C3["triangular2-3stage"].value - paper.C3["fixed"].value
        parts.append(judge("triangular2-3stage at 25k minus fixed at 70k", gap, d, C3_MARGIN,
                           shown=d.text(100, " points", signed=True)))
        texts.append(f"triangular2-3stage at 25k minus fixed at 70k: {gap_text(d)} (paper {100 * gap:+.1f})")
    extra = [f"{label} {pm_text([x.summary.get('test_accuracy', DIVERGED_ACCURACY) for x in runs])} at "
             f"{max(x.summary.get('iterations_done', 0) for x in runs):,} it (exact images, n={len(runs)})"
             for label, runs in r.items() if label not in paper.C3 and runs and runs[0].summary.get("test_accuracy")]
    if extra:  # e.g. the single-stage triangular2: not a Table 1 row, shown for comparison
        texts.append("not in Table 1: " + ", ".join(extra))
    verdict = combine([p.verdict for p in parts]) if parts else INCONCLUSIVE
    missing = [label for label in paper.C3 if label not in per]
    if missing and verdict == REPRODUCED:
        verdict = INCONCLUSIVE  # a table is reproduced only when all of its rows ran
    rule = (f"each Table 1 policy at its iteration within {100 * C3_MARGIN:.1f} points, and Table 1's relative point "
            "(triangular2 at 25k against fixed at 70k)" + (f"; not at Table 1's iteration: {', '.join(short)}" if short else ""))
    return Outcome("; ".join(texts), verdict, _parts_reason(parts, rule), tuple(parts))


# ---------------------------------------------------------------- C4-C6: ResNet-56 and the 1cycle policy

ACC_MARGIN = 0.01  # accuracy, 1 point: the papers print one decimal and a ± of 0.1-0.2
# C4's runs at its batch, LR cycle and flips-only augmentation: DA's and Smith's logged schedule, each on
# He et al.'s net and on the net of Smith's log
C4_SETTING = ("one_cycle", "one_cycle-smith-log", "one_cycle-smith-setup", "one_cycle-smith-net")
STUDY05 = (*C4_SETTING, "one_cycle-crop_flip", "one_cycle-momentum0.9",
           "one_cycle-momentum0.95", "step-baseline")

SCHEDULE_NOTE = ("DA Table 1 lists this LR cycle with cyclic momentum 0.95-0.8; Smith's own log of the 91.9 % run "
                 "held momentum at 0.95, and its LR fell from 0.8 to 0, then stayed at base/1000 (run "
                 "one_cycle-smith-log replays that: experiments/reference/). Our ResNet-56 is He et al.'s; the "
                 "net of Smith's log differs (no ReLU after a residual sum, projection shortcuts, Xavier init, "
                 "BatchNorm per GPU of 128): one_cycle-smith-setup trains it with his logged schedule, "
                 "one_cycle-smith-net with DA's")


def _study05_readings(r: Results) -> dict[str, list[dict[str, Reading]]]:
    return final_readings(r, [x for x in STUDY05 if x in r] + [x for x in r if x not in STUDY05])


def _study05(r: Results) -> dict[str, dict[str, Estimate]]:
    return estimates(_study05_readings(r))


# what C4's extra runs separate (not judged: the paper gives neither): the gap the schedule makes on
# He et al.'s net, and the one the network makes under each schedule
C4_SPLITS = (("one_cycle-smith-log", "one_cycle", "Smith's logged schedule minus DA's (He et al.'s net)"),
             ("one_cycle-smith-setup", "one_cycle-smith-log", "the net of Smith's log minus He et al.'s (his schedule)"),
             ("one_cycle-smith-net", "one_cycle", "the net of Smith's log minus He et al.'s (DA's schedule)"))


def c4_start(r: Results) -> str | None:
    """How the two ResNet-56s start under C4's settings, from the stored curves: the training loss of
    the first logged window (chance is ln 10) and the test accuracy at Smith's first logged test,
    beside his log's: where the two nets end apart, a reader sees whether they started apart."""
    log = paper.smith_log(paper.C4_LOG_CSV).dropna(subset=["test_accuracy"])
    at, smith = int(log["iteration"].iloc[0]), float(log["test_accuracy"].iloc[0])
    nets = {}
    for label, runs in r.items():
        if label not in C4_SETTING:
            continue
        for run in runs:
            m = run.metrics
            train = m[m["kind"] == "train"] if "kind" in m else m.iloc[:0]
            acc = eval_at(run, at) if not train.empty else None
            if acc is None:
                continue
            first = train.iloc[0]
            row = nets.setdefault(run.config.get("model"), {"labels": [], "loss": [], "acc": [], "its": set()})
            row["labels"].append(label)
            row["loss"].append(float(first["train_loss"]))
            row["acc"].append(acc[0])
            row["its"].add((int(first["iteration"]), acc[1]))
    he = next((v for k, v in nets.items() if k != "resnet56_smith"), None)
    own = nets.get("resnet56_smith")
    if he is None or own is None or len(he["its"] | own["its"]) != 1:
        return None
    window, it = next(iter(he["its"]))

    def who(v):
        labels = sorted(set(v["labels"]))
        return f"{', '.join(labels)}: {len(v['loss'])} run{'s' * (len(v['loss']) > 1)}"

    return (f"How the two nets start at C4's settings: training loss over the first {window} iterations "
            f"{np.mean(he['loss']):.1f} for He et al.'s net ({who(he)}) and {np.mean(own['loss']):.1f} for the net of "
            f"Smith's log ({who(own)}; chance is ln 10 = {np.log(10):.2f}); test accuracy at iteration {it} "
            f"{100 * np.mean(he['acc']):.0f} % and {100 * np.mean(own['acc']):.0f} % (Smith's log: {100 * smith:.0f} % "
            f"at {at})")


def _c4(r: Results) -> Outcome | None:
    if not r.get("one_cycle"):
        return None
    est = _study05(r)
    part = judge("DA's schedule (one_cycle)", paper.C4.value, judged(est["one_cycle"]), ACC_MARGIN)
    ours = f"DA's schedule (one_cycle, momentum 0.95-0.8, flips only): {three(est['one_cycle'])}"
    for label, what in (("one_cycle-smith-log", "Smith's logged schedule (caffe_1cycle, momentum 0.95)"),
                        ("one_cycle-smith-setup", "Smith's logged schedule on the net of his log (resnet56_smith, "
                                                  "BatchNorm per 128 images, mean-image input)"),
                        ("one_cycle-smith-net", "DA's schedule on the net of Smith's log (the same net and input)"),
                        ("one_cycle-crop_flip", "DA's schedule with pad-4 crop + flip")):
        if label in est:
            ours += f"; {what}: {three(est[label])}"
    per = _study05_readings(r)
    for a, b, what in C4_SPLITS:
        if a in est and b in est:
            ours += f"; {what}: {gap_text(judged_difference(per, a, b, est))}"
    return Outcome(ours, part.verdict, _parts_reason([part], f"the mean of DA's schedule against {paper.C4.text()}, margin "
                                                             f"{_points(ACC_MARGIN)}") + f". {SCHEDULE_NOTE}"
                   + (f". {start}" if (start := c4_start(r)) else ""), (part,))


def _c5(r: Results) -> Outcome | None:
    labels = {0.9: "one_cycle-momentum0.9", 0.95: "one_cycle-momentum0.95"}
    if not any(r.get(x) for x in labels.values()):
        return None
    est = _study05(r)
    parts, texts = [], []
    for m, label in labels.items():
        if label in est:
            parts.append(judge(f"momentum {m:g}", paper.C5[m].value, judged(est[label]), ACC_MARGIN))
            texts.append(f"momentum {m:g}: {three(est[label])}")
    verdict = combine([p.verdict for p in parts])
    if len(parts) < len(labels) and verdict == REPRODUCED:
        verdict = INCONCLUSIVE
    return Outcome("; ".join(texts) + " (DA's LR cycle: back to 0.08, then annihilation to 0.0008)", verdict,
                   _parts_reason(parts, f"each against DA Table 1, margin {_points(ACC_MARGIN)}. Constant 0.95 is "
                                        "also what Smith's C4 log ran (its LR fell to 0 instead: C4's one_cycle-smith-log)"),
                   tuple(parts))


def _c6(r: Results) -> Outcome | None:
    base, oc = r.get("step-baseline", []), r.get("one_cycle", [])
    if not base or not oc:
        return None
    est = _study05(r)
    target = judged(est["one_cycle"])
    parts = [judge(f"step schedule at {base[0].summary.get('iterations_done', 0):,} it", paper.C6.value,
                   judged(est["step-baseline"]), ACC_MARGIN)]
    # how many iterations the step schedule needs to reach the 1cycle's accuracy, read on its exact-image curve;
    # the interval: where it first reaches the low and the high end of the 1cycle's interval
    ev = base[0].evals()

    def first(acc: float) -> float:
        hit = ev[ev["test_accuracy"] >= acc]
        return float(hit["iteration"].iloc[0]) if len(hit) else math.inf

    oc_it = oc[0].summary["iterations"]
    centre = first(target.value) / oc_it
    if math.isfinite(target.lo) and math.isfinite(target.hi):
        lo, hi = first(target.lo) / oc_it, first(target.hi) / oc_it
        ratio = Estimate(centre, (hi - lo) / 2, len(base), target.df, bounds=(lo, hi))
    else:
        ratio = Estimate(centre, None, len(base), 0)
    paper_ratio = paper.C6_ITERATIONS / paper.C4.at
    parts.append(judge("iterations to reach the 1cycle's accuracy, over the 1cycle's", paper_ratio, ratio, C2_FACTOR, log=True,
                       shown=f"{centre:.2g}x [{ratio.lo:.2g}, {ratio.hi:.2g}]" if ratio.half is not None else f"{centre:.2g}x"))
    reach = f"{centre:.2g}x the 1cycle's iterations" if math.isfinite(centre) else "never"
    ours = (f"step schedule final: {three(est['step-baseline'])}; it first reaches the 1cycle mean {pct(target.value)} "
            f"at {reach}")
    rule = (f"the step schedule's final accuracy against {paper.C6.text()}, margin {_points(ACC_MARGIN)}; and its "
            f"iterations to the 1cycle's accuracy over the 1cycle's against {paper.C6_ITERATIONS:,} / {paper.C4.at:,} "
            f"= {paper_ratio:.1f}x, margin a factor {C2_FACTOR:g}")
    return Outcome(ours, combine([p.verdict for p in parts]), _parts_reason(parts, rule), tuple(parts))


# ---------------------------------------------------------------- C7: weight decay at 50 epochs

C7_MARGINS = {"1e-4 minus 1e-3": 0.15, "1e-5 minus 1e-4": 0.02}  # the blog's running averages: wide


def _c7(r: Results) -> Outcome | None:
    by_wd = {runs[0].config["weight_decay"]: label for label, runs in r.items() if runs}
    if not by_wd:
        return None
    per = final_readings(r, list(r))
    est = estimates(per)
    texts = [f"wd {wd:g}: {three(est[label])}" for wd, label in sorted(by_wd.items(), reverse=True) if label in est]
    parts = []
    for (hi_wd, lo_wd), what in (((1e-4, 1e-3), "1e-4 minus 1e-3"), ((1e-5, 1e-4), "1e-5 minus 1e-4")):
        a, b = by_wd.get(hi_wd), by_wd.get(lo_wd)
        if a in est and b in est:
            d = judged_difference(per, a, b, est)
            gap = paper.C7[hi_wd].value - paper.C7[lo_wd].value
            parts.append(judge(f"wd {what}", gap, d, C7_MARGINS[what], shown=d.text(100, " points", signed=True)))
            texts.append(f"wd {what}: {gap_text(d)} (blog {100 * gap:+.2f})")
    if not parts:
        return Outcome("; ".join(texts), INCONCLUSIVE, "the rule compares wd 1e-3, 1e-4 and 1e-5, which have not all run")
    verdict = combine([p.verdict for p in parts])
    if len(parts) < 2 and verdict == REPRODUCED:
        verdict = INCONCLUSIVE
    rule = ("differences between weight decays against the seed blog's, margins "
            + ", ".join(f"{100 * m:g} points ({w})" for w, m in C7_MARGINS.items())
            + "; the blog's numbers are running averages without augmentation, so the margins are wide")
    return Outcome("; ".join(texts), verdict, _parts_reason(parts, rule), tuple(parts))


# ---------------------------------------------------------------- C8: Adam with CLR

C8_MARGIN = 0.015  # the post's gain is ~1.6 points: "CLR better, by up to about twice that"; two models on the
#                    same 10k images at ~75 % differ by ±1.2 points from test sampling alone


def _c8(r: Results) -> Outcome | None:
    if not r.get("adam-clr") or not r.get("adam-fixed"):
        return None
    per = final_readings(r, ["adam-clr", "adam-fixed"])
    est = estimates(per)
    kind = VERDICT_READING if VERDICT_READING in est["adam-clr"] and VERDICT_READING in est["adam-fixed"] else "exact"
    same = all(e[k].value == e["exact"].value for e in est.values() for k in e)  # every test image exact: one reading
    d = judged_difference(per, "adam-clr", "adam-fixed", est)
    part = judge("CLR minus fixed", paper.C8_GAIN.value, d, C8_MARGIN, shown=d.text(100, " points", signed=True))
    bounds = ""
    range_args = _one(r, "adam-range")
    if range_args is not None:
        g = suggest(range_args.metrics, range_args.summary["mode"])
        if g["smith_base"] and g["smith_max"]:
            bounds = (f"; our range test reads base {g['smith_base']:.2g}, max {g['smith_max']:.2g} "
                      f"(the post chose {paper.C8_BASE.value:g}-{paper.C8_MAX.value:g})")
    ours = (f"CLR (50 epochs): {three(est['adam-clr'])}; fixed (150 epochs): {three(est['adam-fixed'])}; "
            f"CLR minus fixed ({'every test image exact' if same else NAMES[kind]}): {gap_text(d)}"
            f"{bounds}")
    return Outcome(ours, part.verdict, _parts_reason([part], f"CLR's gain over the fixed LR against the post's "
                                                             f"{100 * paper.C8_GAIN.value:+.1f} points, margin "
                                                             f"{_points(C8_MARGIN)}"), (part,))


# ---------------------------------------------------------------- C9: arithmetic


def _c9(_: Results) -> Outcome:
    rows = paper_table()
    ok = all(x["it_per_epoch_match"] for x in rows) and all(
        x["paper_stepsize"] is None or abs(x["stepsize_rel_diff"]) < 0.002 for x in rows)
    ours = "; ".join(f"{x['setting'].split(',')[0]}: {x['it_per_epoch']:,} it/epoch, {x['epochs_per_step']:g} epochs = "
                     f"{x['stepsize']:,}" for x in rows[:5])
    return Outcome(ours, REPRODUCED if ok else NOT_REPRODUCED,
                   "arithmetic, no sampling: every iterations-per-epoch equal to the paper's and every stepsize within "
                   "0.2 % of its round number (reproduce.stepsize, tests/test_stepsize.py)")


# ---------------------------------------------------------------- the registry


def _c3_paper() -> str:
    return "; ".join(f"{k} {100 * v.value:.1f} % ({v.at // 1000}k)" for k, v in paper.C3.items()) + f" ({paper.CLR} Table 1)"


@dataclass(frozen=True)
class Claim:
    id: str
    setting: str
    paper: Callable[[], str]  # the paper's values as text, from reproduce.paper
    rule: Callable[[Results], Outcome | None]
    study: str | None
    figure: str | None
    needs_gpu: bool = True  # ResNet-56 claims; the small networks run on a CPU in about an hour each
    short: Callable[[], str] | None = None  # the paper's value in a few words, for the README's table


CLAIMS = (
    Claim("C1", "LR range test, ResNet-56, batch 512, momentum 0.9, wd 1e-4, LR 0 -> 3",
          lambda: (f"loss still falls up to LR ~1; accuracy stays high up to LR 3 (SC logs: peak "
                   f"{100 * paper.C1_PEAK.value:.1f} %, {100 * paper.C1_AT_3.value:.1f} % at LR 3)"),
          _c1, "03_range_tests", "03_range_test_C1_resnet56",
          short=lambda: f"accuracy at LR 3 is {100 * paper.C1_AT_3.value / paper.C1_PEAK.value:.0f} % of its peak (SC logs)"),
    Claim("C2", "LR range test, cifar10-full, LR rising linearly over 8 epochs",
          lambda: f"base {paper.C2_BASE.value:g}, max {paper.C2_MAX.value:g} ({paper.C2_BASE.source})",
          _c2, "03_range_tests", "03_range_test_C2_cifar10_full", needs_gpu=False,
          short=lambda: f"base {paper.C2_BASE.value:g}, max {paper.C2_MAX.value:g} (CLR Fig. 3)"),
    Claim("C3", "cifar10-full, CLR Table 1 (fixed, triangular2, decay, exp, exp_range)", _c3_paper,
          _c3, "04_clr_vs_fixed", "04_clr_vs_fixed_C3", needs_gpu=False,
          short=lambda: f"{min(100 * v.value for v in paper.C3.values()):.1f}-{max(100 * v.value for v in paper.C3.values()):.1f} % "
                        "(CLR Table 1, five policies)"),
    Claim("C4", "ResNet-56, 1cycle 0.08-0.8, momentum 0.95-0.8, batch 512, wd 1e-4, ~9.3k iterations",
          lambda: f"{paper.C4.text()}; {paper.C4_LOG.text()}", _c4, "05_resnet56_one_cycle", "05_resnet56_one_cycle_C4_C6",
          short=lambda: f"{100 * paper.C4.value:.1f} ± {100 * paper.C4.pm:.1f} % (DA Table 1)"),
    Claim("C5", "same LR cycle, constant momentum 0.9 / 0.95",
          lambda: f"{paper.C5[0.9].text()} / {paper.C5[0.95].text()}", _c5, "05_resnet56_one_cycle",
          "05_resnet56_one_cycle_C4_C6",
          short=lambda: f"{100 * paper.C5[0.9].value:.1f} % / {100 * paper.C5[0.95].value:.1f} % (DA Table 1)"),
    Claim("C6", "ResNet-56, standard step schedule (He et al.)",
          lambda: f"needs ~{paper.C6_ITERATIONS // 1000}k iterations for that accuracy ({paper.C6.text()})",
          _c6, "05_resnet56_one_cycle", "05_resnet56_one_cycle_C4_C6",
          short=lambda: f"{100 * paper.C6.value:.2f} % after {paper.C6_ITERATIONS // 1000}k it (He et al.)"),
    Claim("C7", "ResNet-56, 50 epochs, 1cycle 0.3-3, momentum 0.95-0.8, wd 1e-3 / 1e-4 / 1e-5",
          lambda: " / ".join(f"{100 * paper.C7[w].value:.2f} %" for w in (1e-3, 1e-4, 1e-5)) + f" ({paper.SEED_BLOG})",
          _c7, "06_weight_decay", "06_weight_decay_C7",
          short=lambda: " / ".join(f"{100 * paper.C7[w].value:.1f} %" for w in (1e-3, 1e-4, 1e-5)) + " (seed blog)"),
    Claim("C8", "Keras CNN, Adam, batch 100: fixed LR 150 epochs vs CLR triangular 0.001-0.005, 50 epochs",
          lambda: f"CLR ~{100 * paper.C8_GAIN.value:.1f} points better in a third of the iterations ({paper.SEED_POST})",
          _c8, "07_adam_clr", "07_adam_clr_C8", needs_gpu=False,
          short=lambda: f"CLR {100 * paper.C8_GAIN.value:+.1f} points (seed post)"),
    Claim("C9", "stepsize arithmetic: CIFAR-10 / AlexNet / GoogLeNet iterations per epoch and stepsizes",
          lambda: "; ".join(f"{x.setting.split(',')[0]}: {x.iterations_per_epoch:,}"
                            + (f" (stepsize {x.stepsize:,})" if x.stepsize else "") for x in paper.C9[:5])
          + f" ({paper.C9_SOURCE})", _c9, None, None,
          short=lambda: ", ".join(sorted({f"{x.iterations_per_epoch:,}" for x in paper.C9}, key=len)) + " it/epoch (CLR §3.3, §4.2)"),
)
BY_ID = {c.id: c for c in CLAIMS}


def missing_for(claim: Claim, root: Path | str = DEFAULT_ROOT, profile: str = "full") -> list[str]:
    """``label (seed N)`` of the profile's runs for this claim that are not stored yet."""
    spec = load_spec(claim.study, profile)
    return [f"{cfg.label} (seed {cfg.seed})" for cfg, range_args in expand(spec)
            if cfg.claim == claim.id and execute(cfg, range_args, str(root), cached_only=True) is None]


def _devices(results: Results, claim: Claim) -> str:
    """Every device the claim's runs trained on (each stretch of a resumed run), how many of those
    runs ran code no commit holds (a tree with uncommitted changes), and, once any run trained in a
    compiled or fused step mode, how many ran in each mode: a reader should know all three."""
    runs = [x for v in results.values() for x in v if x.config.get("claim") in (None, claim.id)]
    segments = [(x, seg) for x in runs for seg in x.provenance.get("segments") or [x.provenance]]
    names = ", ".join(sorted({seg.get("device_name", "?") for _, seg in segments}))
    dirty = {id(x) for x, seg in segments if (seg.get("git") or {}).get("dirty")}
    modes = Counter(step_mode_of(x.summary) for x in runs)
    how = ("; step modes: " + ", ".join(f"{m} ({n} run{'s' if n > 1 else ''})" for m, n in sorted(modes.items()))
           if set(modes) - {"eager"} else "")
    return names + (f" ({len(dirty)} of {len(runs)} runs from a tree with uncommitted changes)" if dirty else "") + how


def _diverged_note(res: Results, claim: Claim) -> str:
    """Which of the claim's runs diverged (their loss stopped being finite), and where: the rules count
    them at chance (:func:`reproduce.readings.diverged_readings`), and the row says so."""
    hits = [run for runs in res.values() for run in runs
            if run.summary.get("status") == "diverged" and run.config.get("claim", claim.id) == claim.id]
    if not hits:
        return ""
    where = ", ".join(f"{run.config.get('label')} seed {run.config.get('seed')} at iteration "
                      f"{run.summary.get('diverged_at_iteration') or 0:,}"
                      + (f" (LR {run.summary['diverged_at_lr']:.3g})" if run.summary.get("diverged_at_lr") else "")
                      for run in hits)
    return f"; diverged, counted as chance ({pct(DIVERGED_ACCURACY)}): {where}"


def evaluate(claim: Claim, root: Path | str = DEFAULT_ROOT, profile: str = "full") -> dict:
    """The row of one claim: ours / verdict / reason from the profile's runs.

    Full profile: a verdict from full runs, the runs still missing listed; with none stored, a
    quick smoke run is mentioned (never judged). Quick profile: the smoke runs, labelled as such."""
    if claim.study is None:
        got = claim.rule({})
        return {"ours": got.ours, "verdict": got.verdict, "reason": got.reason, "device": "no training", "missing": []}
    res = study_results(root, claim.study, profile)
    got = claim.rule(res) if res else None
    if profile != "full":
        ours = f"quick CPU smoke run, not a reproduction: {got.ours}" if got else "no quick run stored"
        return {"ours": ours, "verdict": "smoke run (no verdict)", "reason": "the quick profile checks the pipeline only",
                "device": _devices(res, claim) if got else "", "missing": []}
    missing = missing_for(claim, root)
    if got:
        reason = got.reason + (f"; not run yet: {', '.join(missing)}" if missing else "")
        return {"ours": got.ours + _diverged_note(res, claim), "verdict": got.verdict, "reason": reason,
                "device": _devices(res, claim), "missing": missing}
    note = "no full-profile run stored (quick smoke runs are never shown in their place)"
    need = "a GPU (ResNet-56)" if claim.needs_gpu else "about an hour of CPU per run, or a GPU"
    return {"ours": note, "verdict": "not run yet",
            "reason": f"the full-profile runs need {need}; missing: {', '.join(missing)}", "device": "", "missing": missing}


RULE_TEXT = """\
**The rule**, one for every claim (`reproduce/verdict.py`). It is fixed in code before the runs still to
come, and its margins come from the papers' precision and from synthetic cases, not from our results. Each claim compares a
value from the papers, P, with our estimate: a mean over seeds whose 95 % interval [lo, hi] holds
both the seed-to-seed spread (pooled over the settings of one study; Student's t) and the
test-set sampling. Each claim states a margin M, how far from P a result may lie and still be the
same finding (accuracy points; a factor for learning rates and iteration counts, on a log scale).
**Not reproduced**: P lies outside [lo − M, hi + M]. **Reproduced**: P lies inside and the interval
is no wider than the margin (half-width ≤ M), so a miss of twice the margin would have been caught.
**Inconclusive**: P lies inside but the interval is wider than that — or there is none, because
only one seed ran. Every seed is scored on the same test images, so the part of the test-set
sampling that comes from which images the test set holds never averages out. Runs that keep their
per-image verdicts (from December 2026 on) measure it: each image's verdicts averaged over seeds,
less the seeds' disagreement, which is seed spread; for a difference of two settings, only the
images they disagree on count. For older runs one run's own sampling stands in, an upper bound.
Where that part alone keeps the interval wider than the margin, the reason says so, and whether it
was measured (then more seeds can show a miss, never settle a hit on this test set) or not (then
more seeds help only as far as they err on different images). A claim of several parts is reproduced when all are, **partly** when some parts
are reproduced and others not. A run whose loss stopped being finite (diverged) counts at chance
accuracy (10 %) with no sampling variance, and the row names it: leaving it out would report only
the seeds that worked.

**Three readings of every accuracy.** The offline CIFAR-10 copy the runs used has 1,017 exact test
images; the other 8,983 are JPEG decodes, which cost a model accuracy. So each accuracy is given as
(1) *exact images*: unbiased, but 1,017 images; (2) *all 10k*: biased low by the JPEG images;
(3) *JPEG-corrected*: the all-10k figure plus 0.8983 × the paired exact-minus-JPEG difference
measured on the 1,017 images scored both ways — an estimate of the accuracy on the official test
set, with its own interval (`reproduce/readings.py`; runs that predate the count of flipped images
use its largest possible value, so their interval is wider, marked "bound"). The verdict reads (3).
With the official test set the three readings are one.
"""


def claims_markdown(root: Path | str = DEFAULT_ROOT, repo: Path | str | None = None) -> str:
    """CLAIMS.md. ``repo``: where ``figures/`` and ``notebooks/`` live, so that only files that
    exist are linked (default: this checkout)."""
    repo = Path(repo) if repo else Path(__file__).resolve().parents[1]
    store = "experiments/results/" if Path(root).resolve() == Path(DEFAULT_ROOT).resolve() else f"{root}/"
    lines = [
        "# Claims: paper against reproduction",
        "",
        f"Generated by `python -m reproduce claims` from the runs stored under `{store}`: no number",
        "here is typed by hand, and every paper value comes from `reproduce/paper.py` with its source. Only",
        "full-profile runs count as a reproduction; a claim without them says which runs are missing.",
        "",
        RULE_TEXT,
        "The CLR paper's ImageNet rows (AlexNet, GoogLeNet; Table 1) are **provided, not reproduced**: their configs are",
        "in `experiments/imagenet/`, and there is no ImageNet on this project's machines.",
        "",
    ]
    if (repo / "figures" / f"{OVERVIEW}.png").exists():
        lines += [f"![Every judged part: ours minus the paper's value, 95 % interval, margin, verdict](figures/{OVERVIEW}.png)",
                  ""]
    lines += [
        "| claim | setting | paper | ours | verdict | why / rule | device | notebook · figure |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in CLAIMS:
        row = evaluate(c, root)
        nb = f"notebooks/executed/{c.study or '02_stepsize'}.ipynb"
        links = [f"[notebook]({nb})"] if (repo / nb).exists() else []
        if c.figure and (repo / "figures" / f"{c.figure}.png").exists():
            links.append(f"[figure](figures/{c.figure}.png)")
        cells = [c.id, c.setting, c.paper(), row["ours"], f"**{row['verdict']}**", row["reason"], row["device"],
                 " · ".join(links) or "–"]
        lines.append("| " + " | ".join(str(x).replace("|", "/") for x in cells) + " |")
    return "\n".join(lines) + "\n"


README_MARKERS = ("<!-- claims: generated by `python -m reproduce claims` -->", "<!-- claims: end -->")


def headline_markdown(root: Path | str = DEFAULT_ROOT) -> str:
    """The README's results at a glance: per claim the paper's value, the estimate the verdict read
    (JPEG-corrected accuracy, 95 % interval, seeds) and the verdict; CLAIMS.md has the rest."""
    lines = ["| claim | setting | paper | ours (what the verdict read) | verdict |", "|---|---|---|---|---|"]
    for c in CLAIMS:
        row = evaluate(c, root)
        got = c.rule(study_results(root, c.study, "full")) if c.study else c.rule({})
        if got is None or row["verdict"] == "not run yet":
            ours = "not run yet"
        elif got.parts:
            ours = "; ".join(p.text() for p in got.parts)
        else:  # no comparison was made: why not, or how it was checked
            ours = got.ours if len(got.ours) < 120 else got.reason.split(";")[0]
        cells = [c.id, c.setting, (c.short or c.paper)(), ours, f"**{row['verdict']}**"]
        lines.append("| " + " | ".join(str(x).replace("|", "/") for x in cells) + " |")
    return "\n".join(lines) + "\n"


README = Path(__file__).resolve().parents[1] / "README.md"


def write_readme(root: Path | str = DEFAULT_ROOT, readme: Path | str = README) -> None:
    """Replace the README's generated claims table (between :data:`README_MARKERS`) with the current one."""
    readme = Path(readme)
    text = readme.read_text()
    start, end = text.index(README_MARKERS[0]) + len(README_MARKERS[0]), text.index(README_MARKERS[1])
    write_atomic(readme, text[:start] + "\n" + headline_markdown(root) + text[end:])


def write_claims(root: Path | str = DEFAULT_ROOT, dest: Path | str = "CLAIMS.md") -> Path:
    """CLAIMS.md at ``dest``, linking the notebooks and figures that exist beside it."""
    write_atomic(Path(dest), claims_markdown(root, Path(dest).resolve().parent))
    return Path(dest)


def claim_paragraph(claim_id: str, root: Path | str = DEFAULT_ROOT, profile: str = "full") -> str:
    """The notebook's comparison paragraph for one claim, from the same rules as CLAIMS.md; a
    notebook of one profile shows that profile's runs only."""
    c = BY_ID[claim_id]
    row = evaluate(c, root, profile)
    return (f"**{c.id}** — {c.setting}. **Paper:** {c.paper()}. **Ours ({profile} profile):** {row['ours']}. "
            f"**Verdict:** {row['verdict']} ({row['reason']}).")


# kept for notebooks and tests that read a rule by id
RULES: dict[str, Callable[[Results], Outcome | None]] = {c.id: c.rule for c in CLAIMS}
