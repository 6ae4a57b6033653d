"""Every claim's rule (C1-C8) on hand-made stored runs: what it reads, and the verdict of the one
rule (reproduce.verdict) in each of its outcomes; CLAIMS.md links only what exists."""

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest

from reproduce import claims, paper
from reproduce.results import study_results


def _store(root, label, seed, evals, profile="full", n=1017):
    """A finished run as the engine leaves it: config, summary and evaluation rows (every test image exact)."""
    d = root / "04_clr_vs_fixed" / f"{label}-s{seed}-0000"
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"label": label, "seed": seed, "profile": profile, "claim": "C3"}))
    last = max(evals)
    (d / "summary.json").write_text(json.dumps({"kind": "train", "iterations_done": last, "test_accuracy": evals[last],
                                                "test_n": n}))
    (d / "metrics.jsonl").write_text("".join(
        json.dumps({"kind": "eval", "iteration": i, "test_accuracy": a, "test_n": n, "test_accuracy_all": a})
        + "\n" for i, a in sorted(evals.items())))


def test_table1_reads_each_policy_at_the_papers_iterations(tmp_path):
    _store(tmp_path, "fixed", 0, {25000: 0.70, 42000: 0.76, 70000: 0.80})
    _store(tmp_path, "fixed", 1, {25000: 0.72, 42000: 0.78, 70000: 0.82})
    _store(tmp_path, "triangular2-3stage", 0, {24000: 0.79, 25000: 0.81})
    _store(tmp_path, "fixed", 2, {25000: 0.1}, profile="quick")  # a smoke run never mixes in
    _store(tmp_path, "triangular2", 0, {25000: 0.785})  # single-stage: not a Table 1 row
    r = study_results(tmp_path, "04_clr_vs_fixed", "full")
    t = claims.table1(r)
    assert list(t.columns) == ["paper (CLR Table 1)", "25k", "42k", "70k", "seeds"]
    assert t.loc["fixed", "25k"] == "71.00 % ± 1.41" and t.loc["fixed", "70k"] == "81.00 % ± 1.41"
    assert t.loc["fixed", "seeds"] == 2 and t.loc["fixed", "paper (CLR Table 1)"] == "81.40 % at 70k"
    assert t.loc["triangular2-3stage", "25k"] == "81.00 %"
    assert t.loc["triangular2-3stage", "42k"] == "–"  # a 25k run has no 42k reading
    assert t.loc["triangular2", "paper (CLR Table 1)"] == "–" and t.loc["triangular2", "25k"] == "78.50 %"

    out = claims.RULES["C3"](r)
    assert "fixed at 70k: 81.00 % ± 12.93 (n=2) (every test image exact)" in out.ours  # t(1) of the pooled spread
    assert "not in Table 1: triangular2 78.50 % at 25,000 it (exact images, n=1)" in out.ours
    assert "triangular2-3stage at 25k minus fixed at 70k: +0.00 points" in out.ours
    assert out.verdict == "inconclusive"  # three Table 1 rows never ran: a table is reproduced only whole


def test_c3_verdict_says_which_policy_misses_and_which_stopped_short(tmp_path):
    for seed, delta in ((0, -0.002), (1, 0.002)):
        _store(tmp_path, "exp_range", seed, {42000: 0.70 + delta})  # paper 82.2 %: 12 points below
        _store(tmp_path, "fixed", seed, {70000: 0.814 + delta})  # paper 81.4 %: on it
    _store(tmp_path, "decay", 0, {20000: 0.785})  # paper 78.5 % at 25k: stopped short of it
    out = claims.RULES["C3"](study_results(tmp_path, "04_clr_vs_fixed", "full"))
    assert out.verdict == "not reproduced"  # every settled part misses; fixed's interval is too wide to settle
    assert "exp_range at 42k: not reproduced" in out.reason and "decay stopped at 20,000 it" in out.reason


def test_c3_reproduced_only_when_all_five_table1_policies_are_within(tmp_path):
    for label, ref in paper.C3.items():
        for seed, delta in enumerate((-0.001, 0.0, 0.001)):
            _store(tmp_path, label, seed, {ref.at: ref.value + 0.003 + delta}, n=10_000)
    out = claims.RULES["C3"](study_results(tmp_path, "04_clr_vs_fixed", "full"))
    assert out.verdict == "reproduced" and len(out.parts) == 6  # five rows and the 25k-vs-70k point


def test_c3_figure_marks_table1_beside_each_policy(tmp_path):
    from reproduce import figures

    _store(tmp_path, "fixed", 0, {35000: 0.75, 70000: 0.80})
    _store(tmp_path, "triangular2", 0, {25000: 0.785})
    ax = figures.clr_vs_fixed(study_results(tmp_path, "04_clr_vs_fixed", "full")).axes[0]
    stars = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in ax.get_lines()
             if line.get_marker() == "*"}
    assert stars == {"fixed: CLR Table 1": ([70000], [0.814])}  # only policies that ran, and only Table 1's
    # the legend: one entry per policy, one for the paper's stars (not one star entry per policy)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["fixed (n=1)", "triangular2 (n=1)", "CLR Table 1 (star in the policy's colour)"]


def _store_range_test(root, seed, plateau_lr, label="C2-cifar10_full-linear", lr_step=1e-4, every=5):
    """A C2 linear range test over LR 0 -> 200 ``lr_step`` whose accuracy, read every ``every``
    iterations, rises linearly from 10 % to 60 % between LR 0 and ``plateau_lr``, then stays: the
    10 %/90 % knees sit at 0.1x and 0.9x of it."""
    d = root / "03_range_tests" / f"{label}-s{seed}-0000"
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"label": label, "seed": seed, "profile": "full",
                                               "claim": "C2", "model": "cifar10_full"}))
    (d / "summary.json").write_text(json.dumps({"kind": "range_test", "mode": "linear", "status": "finished",
                                                "stopped_early": False, "stop_lr": None}))
    rows = []
    for i in range(201):
        lr = i * lr_step
        acc = 0.1 + 0.5 * min(lr / plateau_lr, 1.0) if i % every == 0 else None
        rows.append({"iteration": i, "lr": lr, "loss": 2.3 - lr * 50, "smoothed_loss": 2.3 - lr * 50,
                     "accuracy": acc, "kind": "range"})
    (d / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in rows))


def test_c2_reads_each_seed_on_its_grid_and_judges_each_bound_within_a_factor_2(tmp_path):
    _store_range_test(tmp_path, 0, plateau_lr=0.008)  # knees 0.0008 / 0.0072 on a 0.0005 grid
    out = claims.RULES["C2"](study_results(tmp_path, "03_range_tests", "full"))
    assert out.ours.startswith("seed 0: base 0.001, max 0.0075")
    assert out.verdict == "inconclusive"  # one seed: the seed spread is not measured

    _store_range_test(tmp_path, 1, plateau_lr=0.0085)
    out = claims.RULES["C2"](study_results(tmp_path, "03_range_tests", "full"))
    assert "seed 1: base 0.001, max 0.008" in out.ours
    # base: both seeds 0.001, read between 0.0005 and 0.001; max: about [0.007, 0.0085]: both within 2x
    assert [p.verdict for p in out.parts] == ["reproduced", "reproduced"] and out.verdict == "reproduced"

    from reproduce import figures

    fig = figures.range_test_figure(study_results(tmp_path, "03_range_tests", "full"), "C2")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]  # (the accuracy twin axes have none)
    assert titles == ["C2: cifar10-full, linear LR sweep, seeds 0, 1"]  # the seeds share one panel, which names them
    legend = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert legend[:2] == ["seed 0: base 0.001, max 0.0075", "seed 1: base 0.001, max 0.008"]  # each seed's reading


def test_c2_base_capped_by_the_grid_misses_only_when_even_its_cap_is_far_below(tmp_path):
    for seed in (0, 1):  # 10 % knee 0.00045: risen by the first reading, 0.0005; the base lies anywhere below
        _store_range_test(tmp_path, seed, plateau_lr=0.0045)
    out = claims.RULES["C2"](study_results(tmp_path, "03_range_tests", "full"))
    assert "base 0.0005 (capped by the grid)" in out.ours and out.parts[0].verdict == "inconclusive"

    # the same start, 10x finer (LR step 1e-5, accuracy every iteration): the knee is measured, 0.00045
    for seed in (0, 1):
        _store_range_test(tmp_path, seed, plateau_lr=0.0045, label="C2-cifar10_full-linear-start", lr_step=1e-5, every=1)
    out = claims.RULES["C2"](study_results(tmp_path, "03_range_tests", "full"))
    assert "base 0.00045 (zoomed start; coarse grid 0.0005)" in out.ours
    assert out.parts[0].estimate.hi == pytest.approx(0.00045)  # its interval: [0.00044, 0.00045]
    assert out.parts[0].verdict == "not reproduced" and out.parts[1].verdict == "reproduced"
    assert out.verdict == "partly"

    from reproduce import figures

    results = study_results(tmp_path, "03_range_tests", "full")
    fig = figures.range_test_figure(results, "C2")
    panels = [ax.get_title() for ax in fig.axes if ax.get_title()]
    insets = [c.get_title() for ax in fig.axes for c in ax.child_axes]
    assert len(panels) == 1  # the zoom is an inset of its test's panel, not a panel of its own
    assert insets == ["start, accuracy every 1e-05 of LR: each seed's base dashed"]
    assert "seed 1: base 0.00045, max 0.0045" in [t.get_text() for ax in fig.axes if ax.get_legend()
                                                 for t in ax.get_legend().get_texts()]  # the zoomed base, not the cap
    one = {"C2-cifar10_full-linear": results["C2-cifar10_full-linear"][:1],
           "C2-cifar10_full-linear-start": results["C2-cifar10_full-linear-start"][:1]}
    insets = [c.get_title() for ax in figures.range_test_figure(one, "C2").axes for c in ax.child_axes]
    assert insets == ["start, accuracy every 1e-05 of LR: Smith's base = 0.00045"]  # one seed: its base in words


def _c1_store(root, label, seed, summary):
    from reproduce.lease import Job
    from reproduce.studies import expand, load_spec

    cfg, range_args = next((c, g) for c, g in expand(load_spec("03_range_tests", "full")) if c.label == label)
    if seed:
        cfg = dataclasses.replace(cfg, seed=seed)
    d = Job("", cfg, range_args, root=str(root)).path  # the id the full YAML's run is stored under
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"label": label, "seed": seed, "profile": "full", "claim": "C1"}))
    (d / "summary.json").write_text(json.dumps({"kind": "range_test", "status": "finished", **summary}))
    (d / "provenance.json").write_text(json.dumps({"device_name": "NVIDIA H100 80GB HBM3"}))


def test_c1_from_the_exponential_test_alone_is_inconclusive_and_says_what_is_missing(tmp_path):
    _c1_store(tmp_path, "C1-resnet56-exp", 0, {
        "mode": "exp", "start_lr": 1e-4, "end_lr": 10.0, "iterations": 1000,
        "min_loss_lr": 1.36, "peak_accuracy": 0.633, "peak_accuracy_lr": 0.637, "stopped_early": True, "stop_lr": 6.76})
    out = claims.RULES["C1"](study_results(tmp_path, "03_range_tests", "full"))
    assert out.verdict == "inconclusive"
    assert out.ours == ("exponential test only (0.0001 -> 10 in 1,000 it): smoothed loss lowest at LR 1.36; accuracy peak "
                        "63.30 % at LR 0.637; diverged at LR 6.76 (Smith's logged 0-3 test in 5k it: peak 81.56 % at LR 1.2, "
                        "78.44 % at LR 3)")  # the log's own reading, as the SC paper quotes it (81.6 % / 78.4 %)
    row = claims.evaluate(claims.BY_ID["C1"], tmp_path)
    assert row["reason"].endswith("not run yet: C1-resnet56-linear (seed 0), C1-resnet56-linear (seed 1), "
                                  "C1-resnet56-linear (seed 2)")  # the full YAML's C1 runs, less the stored
    assert row["device"] == "NVIDIA H100 80GB HBM3"


def test_the_device_column_says_when_a_run_ran_uncommitted_code(tmp_path):
    _c1_store(tmp_path, "C1-resnet56-exp", 0, {"mode": "exp", "start_lr": 1e-4, "end_lr": 10.0, "iterations": 1000,
                                               "min_loss_lr": 1.0, "peak_accuracy": 0.6, "peak_accuracy_lr": 0.6,
                                               "stopped_early": False})
    (prov,) = tmp_path.glob("03_range_tests/*/provenance.json")
    prov.write_text(json.dumps({"device_name": "GPU X", "segments": [
        {"from_iteration": 0, "device_name": "GPU X", "git": {"commit": "a" * 40, "dirty": False}},
        {"from_iteration": 500, "device_name": "GPU Y", "git": {"commit": "b" * 40, "dirty": True}}]}))
    row = claims.evaluate(claims.BY_ID["C1"], tmp_path)
    assert row["device"] == "GPU X, GPU Y (1 of 1 runs from a tree with uncommitted changes)"


def test_the_device_column_counts_step_modes_once_a_run_compiled():
    """Seeds of one claim trained eagerly on one GPU and with CUDA graphs on another: say so."""
    from types import SimpleNamespace

    def run(mode, device):
        return SimpleNamespace(config={"claim": "C4"}, provenance={"device_name": device}, summary={"mode": mode})

    eager = {"compile": False, "fused": False, "compile_fell_back": None}
    graphs = {"compile": "reduce-overhead", "fused": True, "compile_fell_back": None}
    mixed = {"one_cycle": [run(eager, "GPU X"), run(None, "GPU X"), run(graphs, "GPU Y")]}
    assert claims._devices(mixed, claims.BY_ID["C4"]) == "GPU X, GPU Y; step modes: cudagraphs+fused (1 run), eager (2 runs)"
    fell = {"one_cycle": [run(graphs | {"compile_fell_back": "BackendCompilerFailed: x"}, "GPU Y"), run("exp", "GPU Y")]}
    assert claims._devices(fell, claims.BY_ID["C4"]) == "GPU Y"  # all eager (a range test's mode is its LR ramp)


@pytest.mark.parametrize("finals,expected", [
    ((0.78, 0.785, 0.79), "reproduced"),  # 0.97 of the peak, like Smith's 0.961
    ((0.40, 0.41, 0.42), "not reproduced"),  # accuracy collapses by LR 3
    ((0.60, 0.80), "inconclusive"),  # two seeds that disagree: the interval is wider than the margin
    ((0.78,), "inconclusive"),  # one seed: no interval
])
def test_c1_rule(tmp_path, finals, expected):
    for seed, final in enumerate(finals):
        _c1_store(tmp_path, "C1-resnet56-linear", seed, {
            "mode": "linear", "start_lr": 0.0, "end_lr": 3.0, "iterations": 5000, "min_loss_lr": 1.1,
            "peak_accuracy": 0.81, "peak_accuracy_lr": 1.2, "final_accuracy": final, "stopped_early": False, "stop_lr": None})
    out = claims.RULES["C1"](study_results(tmp_path, "03_range_tests", "full"))
    assert out.verdict == expected, out.reason


def test_c1_a_linear_test_that_diverged_before_lr_3_is_read_at_chance_not_at_its_last_reading(tmp_path):
    """Its last accuracy reading came at a lower LR, where the net still worked: taken as the
    accuracy at LR 3 it would have passed the rule (0.78 / 0.81 is Smith's ratio)."""
    for seed in (0, 1, 2):
        _c1_store(tmp_path, "C1-resnet56-linear", seed, {
            "mode": "linear", "start_lr": 0.0, "end_lr": 3.0, "iterations": 5000, "min_loss_lr": 1.1,
            "peak_accuracy": 0.81, "peak_accuracy_lr": 1.2, "final_accuracy": 0.78, "stopped_early": True,
            "stop_lr": 2.1 + seed / 100})
    out = claims.RULES["C1"](study_results(tmp_path, "03_range_tests", "full"))
    assert out.verdict == "not reproduced", out.reason
    assert "diverged at LR 2.1, before the ramp's end at LR 3 (its accuracy there counted as chance, 10.00 %; " \
           "last reading 78.00 %)" in out.ours


def _final(root, study, label, seed, acc, n=10_000, claim="C4", **config):
    """A finished run scored on a fully exact test set of ``n`` images."""
    d = root / study / f"{label}-s{seed}-0000"
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"label": label, "seed": seed, "profile": "full", "claim": claim, **config}))
    (d / "summary.json").write_text(json.dumps({"kind": "train", "status": "finished", "test_accuracy": acc, "test_n": n,
                                                "test_accuracy_all": acc, "iterations": 9277}))


@pytest.mark.parametrize("accs,expected", [
    ((0.918, 0.920, 0.922), "reproduced"),
    ((0.870, 0.872, 0.874), "not reproduced"),
    ((0.900, 0.920, 0.940), "inconclusive"),  # seeds 2 points apart: wider than the margin
    ((0.918,), "inconclusive"),  # one seed: no interval
])
def test_c4_rule(tmp_path, accs, expected):
    for seed, a in enumerate(accs):
        _final(tmp_path, "05_resnet56_one_cycle", "one_cycle", seed, a)
    assert claims.RULES["C4"](study_results(tmp_path, "05_resnet56_one_cycle", "full")).verdict == expected


def test_c4_says_how_the_two_nets_start_from_their_stored_curves(tmp_path):
    def curve(label, seed, first_loss, acc_196, **config):
        _final(tmp_path, "05_resnet56_one_cycle", label, seed, 0.9, **config)
        rows = [{"kind": "train", "iteration": 10, "train_loss": first_loss}, {"kind": "train", "iteration": 20, "train_loss": 2.0}]
        rows += [{"kind": "eval", "iteration": i, "test_accuracy": a} for i, a in ((98, 0.1), (196, acc_196), (294, 0.7))]
        run = tmp_path / "05_resnet56_one_cycle" / f"{label}-s{seed}-0000"
        (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    curve("one_cycle", 0, 8.0, 0.20)
    curve("one_cycle", 1, 10.0, 0.30)
    curve("one_cycle-crop_flip", 0, 50.0, 0.0)  # another augmentation: not C4's setting, left out
    r = study_results(tmp_path, "05_resnet56_one_cycle", "full")
    assert claims.c4_start(r) is None  # nothing to set beside He et al.'s net
    curve("one_cycle-smith-setup", 0, 3.0, 0.52, model="resnet56_smith")
    r = study_results(tmp_path, "05_resnet56_one_cycle", "full")
    text = claims.c4_start(r)
    log = paper.smith_log(paper.C4_LOG_CSV).dropna(subset=["test_accuracy"]).iloc[0]  # his first test: 200
    assert text == ("How the two nets start at C4's settings: training loss over the first 10 iterations 9.0 for He et "
                    "al.'s net (one_cycle: 2 runs) and 3.0 for the net of Smith's log (one_cycle-smith-setup: 1 run; "
                    f"chance is ln 10 = 2.30); test accuracy at iteration 196 25 % and 52 % (Smith's log: "
                    f"{100 * log['test_accuracy']:.0f} % at {int(log['iteration'])})")
    assert int(log["iteration"]) == 200  # the last evaluation at or before it is ours at 196
    assert text in claims.RULES["C4"](r).reason


def test_c4_reports_smiths_setup_beside_the_verdict_it_does_not_change(tmp_path):
    for seed, a in enumerate((0.870, 0.872, 0.874)):
        _final(tmp_path, "05_resnet56_one_cycle", "one_cycle", seed, a)
    _final(tmp_path, "05_resnet56_one_cycle", "one_cycle-smith-setup", 0, 0.921, model="resnet56_smith", bn_group=128)
    out = claims.RULES["C4"](study_results(tmp_path, "05_resnet56_one_cycle", "full"))
    assert out.verdict == "not reproduced"  # the rule reads DA's schedule on He et al.'s net, fixed before the runs
    assert "Smith's logged schedule on the net of his log" in out.ours and "92.10 %" in out.ours
    assert "one_cycle-smith-setup trains it" in out.reason
    assert "minus" not in out.ours  # no split without Smith's schedule on He et al.'s net
    _final(tmp_path, "05_resnet56_one_cycle", "one_cycle-smith-log", 0, 0.911)
    out = claims.RULES["C4"](study_results(tmp_path, "05_resnet56_one_cycle", "full"))
    assert out.verdict == "not reproduced"
    # the gap split in two: the schedule on one net (91.1 - 87.2), the net under one schedule (92.1 - 91.1)
    assert "Smith's logged schedule minus DA's (He et al.'s net): +3.90 points ± " in out.ours
    assert "the net of Smith's log minus He et al.'s (his schedule): +1.00 points ± " in out.ours
    assert "DA's schedule)" not in out.ours  # DA's schedule on Smith's net has not run
    _final(tmp_path, "05_resnet56_one_cycle", "one_cycle-smith-net", 0, 0.915, model="resnet56_smith", bn_group=128)
    out = claims.RULES["C4"](study_results(tmp_path, "05_resnet56_one_cycle", "full"))
    assert out.verdict == "not reproduced"  # still DA's schedule on He et al.'s net
    assert "DA's schedule on the net of Smith's log (the same net and input): 91.50 %" in out.ours
    assert "the net of Smith's log minus He et al.'s (DA's schedule): +4.30 points ± " in out.ours  # 91.5 - 87.2


@pytest.mark.parametrize("m09,m095,expected", [
    ((0.913, 0.914, 0.915), (0.920, 0.921, 0.922), "reproduced"),
    ((0.913, 0.914, 0.915), (0.880, 0.881, 0.882), "partly"),
    ((0.880, 0.881, 0.882), (0.880, 0.881, 0.882), "not reproduced"),
    ((0.913, 0.914, 0.915), (), "inconclusive"),  # 0.95 not run: the claim is not settled whole
])
def test_c5_rule(tmp_path, m09, m095, expected):
    for label, accs in (("one_cycle-momentum0.9", m09), ("one_cycle-momentum0.95", m095)):
        for seed, a in enumerate(accs):
            _final(tmp_path, "05_resnet56_one_cycle", label, seed, a, claim="C5")
    assert claims.RULES["C5"](study_results(tmp_path, "05_resnet56_one_cycle", "full")).verdict == expected


@pytest.mark.parametrize("step_curve,expected", [
    # the step schedule reaches the 1cycle's 92 % only at 60k (6.5x its 9,277 it) and ends at 93 %
    (lambda i: 0.80 + 0.12 * min(i / 60000, 1) + (0.01 if i >= 64000 else 0), "reproduced"),
    # it is at 93 % by 10k (1.1x): fast, so the 1cycle's edge is not reproduced
    (lambda i: 0.93 if i >= 10000 else 0.80, "partly"),
    # it never climbs past 92.2 %: whether it would reach the 1cycle's upper end is not measured
    (lambda i: 0.922 if i >= 10000 else 0.80, "inconclusive"),
])
def test_c6_rule(tmp_path, step_curve, expected):
    for seed, a in enumerate((0.919, 0.920, 0.921)):
        _final(tmp_path, "05_resnet56_one_cycle", "one_cycle", seed, a)
    for seed in range(3):
        d = tmp_path / "05_resnet56_one_cycle" / f"step-baseline-s{seed}-0000"
        d.mkdir(parents=True)
        (d / "config.json").write_text(json.dumps({"label": "step-baseline", "seed": seed, "profile": "full", "claim": "C6"}))
        (d / "summary.json").write_text(json.dumps({"kind": "train", "status": "finished", "test_n": 10_000,
                                                    "test_accuracy": 0.930 + 0.001 * (seed - 1),
                                                    "iterations_done": 64000, "iterations": 64000}))
        (d / "metrics.jsonl").write_text("".join(json.dumps({"kind": "eval", "iteration": i, "test_accuracy": step_curve(i)})
                                                 + "\n" for i in range(2000, 64001, 2000)))
    out = claims.RULES["C6"](study_results(tmp_path, "05_resnet56_one_cycle", "full"))
    assert out.verdict == expected, out.reason


def _diverged(root, study, label, seed, at, lr, claim):
    """A run whose loss stopped being finite at iteration ``at``: its summary holds no final scores."""
    d = root / study / f"{label}-s{seed}-0000"
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"label": label, "seed": seed, "profile": "full", "claim": claim}))
    (d / "summary.json").write_text(json.dumps({"kind": "train", "status": "diverged", "iterations": 9277,
                                                "iterations_done": at, "diverged_at_iteration": at,
                                                "diverged_at_lr": lr}))
    (d / "metrics.jsonl").write_text(json.dumps({"kind": "eval", "iteration": 1000, "test_accuracy": 0.6}) + "\n")


def test_a_diverged_run_counts_at_chance_and_the_row_names_it(tmp_path):
    """Momentum 0.95 held constant diverges on one of three seeds: the claim must not be judged on
    the two seeds that worked (they alone would read as DA's 92.1 %)."""
    for seed, a in enumerate((0.913, 0.914, 0.915)):
        _final(tmp_path, "05_resnet56_one_cycle", "one_cycle-momentum0.9", seed, a, claim="C5")
    for seed, a in enumerate((0.920, 0.922)):
        _final(tmp_path, "05_resnet56_one_cycle", "one_cycle-momentum0.95", seed, a, claim="C5")
    _diverged(tmp_path, "05_resnet56_one_cycle", "one_cycle-momentum0.95", 2, 2345, 0.512, "C5")
    out = claims.RULES["C5"](study_results(tmp_path, "05_resnet56_one_cycle", "full"))
    assert "momentum 0.95: 64.73 %" in out.ours and "n=3" in out.ours.split("momentum 0.95")[1]
    # judged on the two seeds that worked, 0.95 would be reproduced; with the diverged one it is not settled
    # (and the seed spread, pooled over the study's settings, widens 0.9's interval too)
    assert out.verdict == "inconclusive", out.reason
    row = claims.evaluate(claims.BY_ID["C5"], tmp_path)
    assert row["ours"].endswith("; diverged, counted as chance (10.00 %): one_cycle-momentum0.95 seed 2 at "
                                "iteration 2,345 (LR 0.512)")
    assert "diverged" not in claims.evaluate(claims.BY_ID["C4"], tmp_path)["ours"]  # another claim's run


def test_a_diverged_step_baseline_is_judged_not_a_crash(tmp_path):
    for seed, a in enumerate((0.919, 0.920, 0.921)):
        _final(tmp_path, "05_resnet56_one_cycle", "one_cycle", seed, a)
    _diverged(tmp_path, "05_resnet56_one_cycle", "step-baseline", 0, 300, 0.1, "C6")
    out = claims.RULES["C6"](study_results(tmp_path, "05_resnet56_one_cycle", "full"))
    assert "10.00 %" in out.ours, out.ours


def test_a_run_diverged_before_a_table_1_iteration_reads_chance_there(tmp_path):
    _diverged(tmp_path, "04_clr_vs_fixed", "fixed", 0, 30000, 0.001, "C3")
    (run,) = study_results(tmp_path, "04_clr_vs_fixed", "full")["fixed"]
    assert claims.readings_at(run, 25000) is None  # no evaluation there, and it had not diverged yet
    assert {r.value for r in claims.readings_at(run, 70000).values()} == {0.1}


@pytest.mark.parametrize("accs,expected", [
    ({1e-3: 0.70, 1e-4: 0.90, 1e-5: 0.91}, "reproduced"),  # 1e-3 20 points worse (blog 26), 1e-5 +1 (blog +1.8)
    ({1e-3: 0.895, 1e-4: 0.90, 1e-5: 0.91}, "partly"),  # 1e-3 barely worse: the blog's far-worst is not seen
    ({1e-3: 0.70, 1e-4: 0.90}, "inconclusive"),  # 1e-5 not run
])
def test_c7_rule(tmp_path, accs, expected):
    for wd, a in accs.items():
        for seed, delta in enumerate((-0.001, 0.0, 0.001)):
            _final(tmp_path, "06_weight_decay", f"wd{wd:g}", seed, a + delta, claim="C7", weight_decay=wd)
    assert claims.RULES["C7"](study_results(tmp_path, "06_weight_decay", "full")).verdict == expected


@pytest.mark.parametrize("clr,fixed,expected", [
    ((0.751, 0.752, 0.753), (0.735, 0.736, 0.737), "reproduced"),  # +1.6 points
    ((0.715, 0.716, 0.717), (0.735, 0.736, 0.737), "not reproduced"),  # CLR 2 points worse
    ((0.72, 0.76, 0.80), (0.735, 0.736, 0.737), "inconclusive"),
])
def test_c8_rule(tmp_path, clr, fixed, expected):
    for label, accs in (("adam-clr", clr), ("adam-fixed", fixed)):
        for seed, a in enumerate(accs):
            _final(tmp_path, "07_adam_clr", label, seed, a, claim="C8")
    out = claims.RULES["C8"](study_results(tmp_path, "07_adam_clr", "full"))
    assert out.verdict == expected, out.reason


def test_c8_reads_its_gain_image_by_image_where_every_run_kept_its_verdicts(tmp_path):
    """The same accuracies twice: once as runs that predate per-image verdicts, once with them. Each CLR
    run is its fixed-LR twin plus 160 images more right, so the two disagree on 1.6 % of the images and
    the paired interval of the gain is far narrower than the sum of both runs' variances."""
    from reproduce.evaluation import pack_verdicts

    rng = np.random.default_rng(0)
    half = {}
    for kept in (False, True):
        root = tmp_path / str(kept)
        for seed in range(3):
            fixed = np.zeros(10_000, bool)
            fixed[rng.choice(10_000, 7350 + 10 * seed, replace=False)] = True  # 73.5, 73.6, 73.7 %
            clr = fixed.copy()
            clr[rng.choice(np.flatnonzero(~fixed), 160, replace=False)] = True
            for label, right in (("adam-clr", clr), ("adam-fixed", fixed)):
                _final(root, "07_adam_clr", label, seed, float(right.mean()), claim="C8")
                f = root / "07_adam_clr" / f"{label}-s{seed}-0000" / "summary.json"
                extra = {"seed": seed, "test_n_all": 10_000} | ({"test_correct_bits": pack_verdicts(right)} if kept else {})
                f.write_text(json.dumps(json.loads(f.read_text()) | extra))
        out = claims.RULES["C8"](study_results(root, "07_adam_clr", "full"))
        assert ("(test sampling from the per-image verdicts of 6 runs)" in out.ours) == kept, out.ours
        assert ("(n=3; test sampling from the per-image verdicts of 3 runs)" in out.ours) == kept  # each setting's mean
        half[kept] = float(re.search(r"CLR minus fixed \(every test image exact\): \+1\.60 points ± ([0-9.]+)", out.ours)[1])
    assert half[True] < 0.5 * half[False]


def test_compare_prints_two_settings_and_their_difference_read_image_by_image(tmp_path, capsys):
    from reproduce.cli import main
    from reproduce.evaluation import pack_verdicts

    rng = np.random.default_rng(1)
    for seed in range(3):
        fixed = np.zeros(10_000, bool)
        fixed[rng.choice(10_000, 7350 + 10 * seed, replace=False)] = True
        better = fixed.copy()
        better[rng.choice(np.flatnonzero(~fixed), 200, replace=False)] = True
        for label, right in (("better", better), ("base", fixed)):
            _final(tmp_path, "07_adam_clr", label, seed, float(right.mean()), claim="C8")
            f = tmp_path / "07_adam_clr" / f"{label}-s{seed}-0000" / "summary.json"
            f.write_text(json.dumps(json.loads(f.read_text()) | {"seed": seed, "test_n_all": 10_000,
                                                                 "test_correct_bits": pack_verdicts(right)}))
    assert main(["compare", "better", "base", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("A: better (07_adam_clr, seeds 0, 1, 2): 75.60 % ± ")
    assert out[1].startswith("B: base (07_adam_clr, seeds 0, 1, 2): 73.60 % ± ")
    assert re.fullmatch(r"A - B, every test image exact: \+2\.00 points ± 0\.[0-9]{2} \(n=3\) \(test sampling from the "
                        r"per-image verdicts of 6 runs\)", out[2]), out[2]
    assert out[3].endswith("plus the test-set sampling, read image by image from every run's per-image verdicts")
    # seed 0's pair without its verdicts: the other two pair image by image, it adds its two variances
    for label in ("better", "base"):
        f = tmp_path / "07_adam_clr" / f"{label}-s0-0000" / "summary.json"
        f.write_text(json.dumps({k: v for k, v in json.loads(f.read_text()).items() if k != "test_correct_bits"}))
    assert main(["compare", "better", "base", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[2].endswith("(n=3) (paired image by image on 2 of 3 seeds)")
    assert out[3].endswith("read image by image where both runs of a seed kept their per-image verdicts and off each "
                           "run's own variance elsewhere (an upper bound)")
    assert main(["compare", "better", "worse", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: label='worse' is invalid: no full-profile run of it in {tmp_path}; stored labels: base, better"


def test_claims_markdown_links_only_what_exists_and_states_the_rule_first(tmp_path):
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "04_clr_vs_fixed_C3.png").write_bytes(b"")
    (tmp_path / "notebooks" / "executed").mkdir(parents=True)
    (tmp_path / "notebooks" / "executed" / "04_clr_vs_fixed.ipynb").write_text("{}")
    text = claims.claims_markdown(tmp_path / "results", repo=tmp_path)
    assert text.index("**The rule**, one for every claim") < text.index("| C1 |")
    links = re.findall(r"\]\(((?:figures|notebooks)/[^)]+)\)", text)
    assert links == ["notebooks/executed/04_clr_vs_fixed.ipynb", "figures/04_clr_vs_fixed_C3.png"]
    assert "not run yet" in text and "missing: one_cycle (seed 0)" in text
    assert "PAPERS.md" not in text and "shared/" not in text


def test_c4_figure_draws_smiths_logged_run_from_the_repositorys_copy(tmp_path):
    from reproduce import figures

    d = tmp_path / "05_resnet56_one_cycle" / "one_cycle-s0-0000"
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({
        "label": "one_cycle", "seed": 0, "profile": "full", "claim": "C4",
        "schedule": {"policy": "one_cycle", "base_lr": 0.08, "max_lr": 0.8, "stepsize": 4003, "total_iterations": 9277,
                     "final_lr": 0.0008, "momentum": [0.95, 0.8]}}))
    (d / "summary.json").write_text(json.dumps({"status": "finished", "iterations": 9277, "test_accuracy": 0.9}))
    (d / "metrics.jsonl").write_text("".join(json.dumps({"kind": "eval", "iteration": i, "test_accuracy": 0.5 + i / 20000})
                                             + "\n" for i in range(98, 9277, 98)))
    fig = figures.one_cycle_figure(study_results(tmp_path, "05_resnet56_one_cycle", "full"))
    ax, ax2 = fig.axes[0], fig.axes[1]
    smith = next(line for line in ax.get_lines() if line.get_label().startswith("Smith's log"))
    log = figures.smith_log(figures.SMITH_C4[0]).dropna(subset=["test_accuracy"])
    assert list(smith.get_ydata()) == list(log["test_accuracy"]) and max(smith.get_xdata()) == 9200
    assert any(line.get_label() == "Smith's log: LR" for line in ax2.get_lines())
    # one legend for the schedule panel, momentum's line (on the twin axis) in it
    assert [t.get_text() for t in ax2.get_legend().get_texts()] == ["LR", "Smith's log: LR", "momentum"]
    e = tmp_path / "05_resnet56_one_cycle" / "one_cycle-smith-setup-s0-0000"  # the net of his log, beside it
    e.mkdir()
    (e / "config.json").write_text(json.dumps({
        "label": "one_cycle-smith-setup", "seed": 0, "profile": "full", "claim": "C4", "model": "resnet56_smith",
        "schedule": {"policy": "caffe_1cycle", "base_lr": 0.08, "max_lr": 0.8, "stepsize": 4003, "momentum": 0.95}}))
    (e / "summary.json").write_text(json.dumps({"status": "finished", "iterations": 9277, "test_accuracy": 0.92}))
    (e / "metrics.jsonl").write_text((d / "metrics.jsonl").read_text())
    fig = figures.one_cycle_figure(study_results(tmp_path, "05_resnet56_one_cycle", "full"))
    assert "Smith's Caffe ResNet-56" in fig.axes[0].get_title()
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert "Smith's logged schedule on his log's net (one_cycle-smith-setup, n=1)" in labels
    assert "DA's 1cycle, He et al.'s net (one_cycle, n=1)" in labels
    from reproduce import paper

    assert str(paper.REFERENCE).startswith(str(Path(figures.__file__).resolve().parents[1]))  # inside the repository


def test_readme_results_table_is_the_generated_one():
    """The README's results at a glance come from the store, like CLAIMS.md (refresh: python -m reproduce claims)."""
    root = Path(__file__).resolve().parents[1]
    text = (root / "README.md").read_text()
    start = text.index(claims.README_MARKERS[0]) + len(claims.README_MARKERS[0])
    assert text[start:text.index(claims.README_MARKERS[1])] == "\n" + claims.headline_markdown(root / "experiments" / "results")


def test_claims_markdown_in_the_repository_is_the_generated_one():
    root = Path(__file__).resolve().parents[1]
    assert (root / "CLAIMS.md").read_text() == claims.claims_markdown(root / "experiments" / "results", repo=root)


def test_every_stored_full_run_is_a_run_the_full_studies_list_now():
    """Claims read every full-profile run of a study; a run whose config the study files no longer
    produce (a YAML edited after it ran) would be counted silently beside the current ones."""
    from reproduce.results import find_runs
    from reproduce.studies import STUDIES, expand, load_spec
    from reproduce.train import range_key, run_dir

    root = Path(__file__).resolve().parents[1] / "experiments" / "results"
    for study in STUDIES:
        listed = {run_dir(cfg, root, None if ra is None else range_key(**ra)).path.name
                  for cfg, ra in expand(load_spec(study, "full"))}
        stale = [r.path.name for r in find_runs(root, study, profile="full") if r.path.name not in listed]
        assert not stale, (study, stale)


def test_every_committed_figure_names_the_runs_the_store_holds_now():
    """A figure's PNG metadata lists the runs (and commits) it was drawn from; a figure left from
    before a run was added or re-run would cite runs that are gone (regenerate: make figures)."""
    from PIL import Image

    from reproduce.figures import FIGURES, source

    root = Path(__file__).resolve().parents[1]
    for name, (study, _) in FIGURES.items():
        png = root / "figures" / f"{name}.png"
        if study is None or not png.exists():
            continue
        stored = source(study_results(root / "experiments" / "results", study, "full"))
        assert Image.open(png).info.get("Source") == stored, name


def test_every_figure_fits_a_reports_text_width():
    """A figure people cite is printed at a report's text width (about 6.5 in): drawn at most ~10 in
    wide (at the 150 dpi it is saved at), its 8-pt legend still prints at 5 pt or more. Side-by-side
    panels 14-15 in wide did not (C4-C6's and C7's figures now stack their panels)."""
    from PIL import Image

    root = Path(__file__).resolve().parents[1] / "figures"
    pngs = sorted(root.glob("*.png")) + sorted((root / "quick").glob("*.png"))
    assert len(pngs) >= 16
    wide = {p.relative_to(root).as_posix(): Image.open(p).width / 150 for p in pngs if Image.open(p).width > 10 * 150}
    assert not wide, f"wider than 10 in: {wide}"
    # and printed at that width, none is taller than a page's text (9 in): C2's range tests, one panel per
    # seed, once made a 30-in strip; a test's seeds now share a panel
    sizes = {p.relative_to(root).as_posix(): Image.open(p).size for p in pngs}
    tall = {name: round(6.5 * h / w, 1) for name, (w, h) in sizes.items() if 6.5 * h / w > 9}
    assert not tall, f"taller than a page at 6.5 in wide: {tall}"


def test_a_figure_write_interrupted_leaves_the_last_figure_whole(tmp_path, monkeypatch):
    """`make figures` stopped mid-write once could leave half a PNG or PDF where the committed one was."""
    import matplotlib.pyplot as plt

    import reproduce.results as results
    from reproduce.plots import save

    for suffix in (".png", ".pdf"):
        (tmp_path / f"fig{suffix}").write_bytes(b"the last figure")

    def interrupted(_fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(results.os, "fsync", interrupted)  # the file is written, not yet in place
    with pytest.raises(KeyboardInterrupt):
        save(plt.subplots()[0], tmp_path / "fig")
    assert [f.read_bytes() for f in sorted(tmp_path.iterdir())] == [b"the last figure"] * 2  # and no half file beside


def test_figures_are_saved_as_256_colour_pngs_that_look_like_matplotlibs_and_keep_their_source(tmp_path):
    """Every byte of the repository travels with each command to a lent GPU machine, so figures are
    written as palette PNGs: the same picture as matplotlib's own PNG to the eye, its source kept."""
    import io

    import matplotlib.pyplot as plt
    import numpy as np
    from PIL import Image

    from reproduce.plots import save

    def draw():
        fig, ax = plt.subplots(figsize=(5, 3))
        x = np.linspace(0, 10, 400)
        for k in range(6):
            ax.plot(x, np.sin(x + k), label=f"seed {k}")
            ax.fill_between(x, np.sin(x + k) - 0.1, np.sin(x + k) + 0.1, alpha=0.2)
        ax.legend()
        return fig

    png, pdf = save(draw(), tmp_path / "fig", source="runs a-s0, b-s1 @ abc1234")
    assert pdf.exists()
    ours = Image.open(png)
    assert ours.mode == "P" and ours.info.get("Source") == "runs a-s0, b-s1 @ abc1234"
    buf = io.BytesIO()
    draw().savefig(buf, format="png", dpi=150, bbox_inches="tight", facecolor="white")
    plt.close("all")
    theirs = Image.open(buf).convert("RGB")
    assert ours.size == theirs.size
    diff = np.abs(np.asarray(ours.convert("RGB"), float) - np.asarray(theirs, float))
    assert diff.mean() < 1.0 and np.percentile(diff, 99.9) < 40  # no visible change: colours within a few levels
    assert png.stat().st_size < 0.6 * len(buf.getvalue())


@pytest.mark.parametrize("profile", ["full", "quick"])
def test_c7_figure_puts_the_blogs_values_beside_ours_only_at_the_blogs_setting(tmp_path, profile):
    from reproduce import figures

    for wd, acc in ((1e-3, 0.82), (1e-4, 0.86), (1e-5, 0.72)):
        d = tmp_path / "06_weight_decay" / f"wd{wd:g}-s0-0000"
        d.mkdir(parents=True)
        (d / "config.json").write_text(json.dumps({"label": f"wd{wd:g}", "seed": 0, "profile": profile, "claim": "C7",
                                                   "weight_decay": wd}))
        (d / "summary.json").write_text(json.dumps({"status": "finished", "test_accuracy": acc, "test_n": 10_000,
                                                    "test_accuracy_all": acc}))
        (d / "metrics.jsonl").write_text(json.dumps({"kind": "eval", "iteration": 98, "epoch": 1.0, "test_accuracy": acc}) + "\n")
    fig = figures.weight_decay(study_results(tmp_path, "06_weight_decay", profile))
    ax2 = fig.axes[1]
    blog = [line for line in ax2.get_lines() if line.get_label().startswith("seed blog")]
    if profile == "quick":
        assert not blog  # a smoke run is not the blog's setting: nothing to set beside it
        return
    (cross,) = blog
    assert list(cross.get_xdata()) == [1e-3, 1e-4, 1e-5] and list(cross.get_ydata()) == [0.60, 0.8597, 0.8778]
    assert [t.get_text() for t in ax2.get_legend().get_texts()] == [
        "ours: mean over seeds, 95 % interval (none with one seed)", "ours: each run",
        "seed blog (running averages, no augmentation)"]
    # one seed each: the means are CLAIMS.md's values, hollow, with no bar
    means = [line for line in ax2.get_lines() if line.get_marker() == "o"]
    assert [(m.get_xdata()[0], m.get_ydata()[0], m.get_markerfacecolor()) for m in means] == [
        (1e-5, 0.72, "white"), (1e-4, 0.86, "white"), (1e-3, 0.82, "white")]


def test_the_overview_draws_every_judged_part_where_claims_md_puts_it(monkeypatch):
    """One row per judged part, in CLAIMS.md's order: ours minus the paper's value, the interval's ends,
    the margin shaded around zero and the verdict's colour; hollow where one seed gave no interval. Its
    metadata names every full run, so a figure left from before a run came home fails here."""
    import math

    from PIL import Image

    from reproduce.figures import VERDICT_COLOURS, claims_overview, claims_source

    store = Path(__file__).resolve().parents[1] / "experiments" / "results"
    parts = []
    for c in claims.CLAIMS:
        got = c.rule(study_results(store, c.study, "full")) if c.study else None
        parts += [(c.id, p) for p in (got.parts if got else ())]
    fig = claims_overview(store)
    drawn = []
    for ax in fig.axes:
        labels = [t.get_text().replace("\n", " ") for t in ax.get_yticklabels()]
        dots = [ln for ln in ax.lines if ln.get_marker() == "o"]
        bars = {round(ln.get_ydata()[0]): ln.get_xdata() for ln in ax.lines if ln.get_marker() in ("None", "", None)
                and len(ln.get_xdata()) == 2 and ln.get_ydata()[0] == ln.get_ydata()[1]}
        bands = {round(r.get_y() + r.get_height() / 2): (r.get_x(), r.get_x() + r.get_width()) for r in ax.patches}
        for dot in dots:
            y = round(dot.get_ydata()[0])
            drawn.append((labels[y], dot.get_xdata()[0], dot.get_color(), dot.get_markerfacecolor() == "white",
                          bars.get(y), bands[y]))
    by_label = {d[0]: d for d in drawn}
    assert len(drawn) == len(parts) > 0
    for cid, p in parts:
        label, x, colour, hollow, bar, band = by_label[f"{cid}: {p.what} (n={p.estimate.n})"]
        assert colour == VERDICT_COLOURS[p.verdict] and hollow == (p.estimate.half is None) and (bar is None) == hollow
        if p.log:
            assert x == pytest.approx(math.log2(p.estimate.value / p.paper))
            assert band == pytest.approx((-math.log2(p.margin), math.log2(p.margin)))
        else:
            assert x == pytest.approx(100 * (p.estimate.value - p.paper))
            assert band == pytest.approx((-100 * p.margin, 100 * p.margin))
            if bar is not None:
                assert tuple(bar) == pytest.approx((100 * (p.estimate.lo - p.paper), 100 * (p.estimate.hi - p.paper)))
    monkeypatch.chdir(store.parents[1])  # the committed figure names the store as `make figures` does, relatively
    assert Image.open("figures/00_claims_overview.png").info.get("Source") == claims_source("experiments/results")


def test_claims_redraws_its_overview_beside_the_file_it_writes(tmp_path, capsys):
    from reproduce.cli import main

    store = Path(__file__).resolve().parents[1] / "experiments" / "results"
    assert main(["claims", "--results", str(store), "--dest", str(tmp_path / "CLAIMS.md"), "--readme", ""]) == 0
    assert (tmp_path / "figures" / "00_claims_overview.png").exists() and (tmp_path / "figures" / "00_claims_overview.pdf").exists()
    assert "![Every judged part" in (tmp_path / "CLAIMS.md").read_text()


def test_claims_from_another_store_leave_the_repositorys_readme_alone(tmp_path, monkeypatch, capsys):
    """Only the repository's own store refreshes README.md's table unless --readme names a file: a
    claims run on another store (a loan's runs, a smoke study) once overwrote it with 'not run yet'."""
    from reproduce.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "README.md").write_text("<!-- claims: generated by `python -m reproduce claims` -->\nold\n"
                                        "<!-- claims: end -->\n")
    store = tmp_path / "other"
    _final(store, "07_adam_clr", "adam-clr", 0, 0.75, claim="C8")
    assert main(["claims", "--results", str(store), "--dest", "elsewhere/CLAIMS.md"]) == 0
    assert (tmp_path / "README.md").read_text().splitlines()[1] == "old" and (tmp_path / "elsewhere" / "CLAIMS.md").exists()
    assert main(["claims", "--results", str(store), "--dest", "elsewhere/CLAIMS.md", "--readme", "README.md"]) == 0
    assert "old" not in (tmp_path / "README.md").read_text()  # named: refreshed
    # nor the repository's CLAIMS.md and overview figure, unless --dest names them: they go inside the store given
    (tmp_path / "CLAIMS.md").write_text("the repository's")
    assert main(["claims", "--results", str(store)]) == 0
    assert (tmp_path / "CLAIMS.md").read_text() == "the repository's" and not (tmp_path / "figures").exists()
    assert f"from the runs stored under `{store}/`" in (store / "CLAIMS.md").read_text()


def test_the_start_figure_draws_every_c4_run_from_its_first_logged_window(tmp_path):
    """Each run at C4's LR cycle is its own line, coloured by setting (the losses of the first logged
    windows, as the metrics hold them); other study-05 runs (C5, C6) are not drawn; Smith's logged accuracy
    is beside ours only up to the iterations shown."""
    from reproduce import figures

    study = tmp_path / "05_resnet56_one_cycle"

    def run(label, seed, model, losses):
        d = study / f"{label}-s{seed}-0000"
        d.mkdir(parents=True)
        (d / "config.json").write_text(json.dumps({"label": label, "seed": seed, "profile": "full", "model": model}))
        (d / "summary.json").write_text(json.dumps({"status": "finished", "iterations": 9277}))
        rows = [{"kind": "train", "iteration": 10 * (i + 1), "train_loss": v} for i, v in enumerate(losses)]
        rows += [{"kind": "eval", "iteration": i, "test_accuracy": 0.1 + i / 4000} for i in range(98, 2000, 98)]
        (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    for seed in (0, 1):
        run("one_cycle", seed, "resnet56", [9.0 - seed, 2.3, 2.3] + [2.0] * 200)
    run("one_cycle-smith-setup", 0, "resnet56_smith", [3.2, 2.0] + [1.5] * 200)
    run("one_cycle-momentum0.9", 0, "resnet56", [5.0] * 200)
    fig = figures.one_cycle_start(study_results(tmp_path, "05_resnet56_one_cycle", "full"))
    ax, ax2 = fig.axes
    runs = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-"]
    assert [ln.get_ydata()[0] for ln in runs] == [9.0, 8.0, 3.2]  # two He et al. runs, one of Smith's net; no C5
    assert runs[0].get_color() == runs[1].get_color() != runs[2].get_color()
    assert max(max(ln.get_xdata()) for ln in runs) == 1000 and "first 1,000 iterations" in ax.get_title()
    smith = next(ln for ln in ax2.get_lines() if ln.get_label().startswith("Smith's log"))
    assert max(smith.get_xdata()) <= 1000 and len(smith.get_xdata()) >= 3


def test_a_damaged_verdict_field_names_its_run(tmp_path):
    for label in ("adam-clr", "adam-fixed"):
        _final(tmp_path, "07_adam_clr", label, 0, 0.75, claim="C8")
    f = tmp_path / "07_adam_clr" / "adam-fixed-s0-0000" / "summary.json"
    f.write_text(json.dumps(json.loads(f.read_text()) | {"test_n_all": 10_000, "test_correct_bits": "AAAA"}))
    with pytest.raises(ValueError, match=r"adam-fixed-s0-0000/summary\.json: 4 characters of verdict bits cannot hold"):
        claims.RULES["C8"](study_results(tmp_path, "07_adam_clr", "full"))
