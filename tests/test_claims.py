"""The C3 comparison (CLR Table 1) read from stored runs: the accuracy at each of Table 1's
iterations, averaged over seeds, and the verdict rule applied to it."""

import json
from pathlib import Path

from reproduce import claims
from reproduce.figures import study_results


def _store(root, label, seed, evals, profile="full"):
    """A finished run as the engine leaves it: config, summary and evaluation rows."""
    d = root / "04_clr_vs_fixed" / f"{label}-s{seed}-0000"
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"label": label, "seed": seed, "profile": profile, "claim": "C3"}))
    last = max(evals)
    (d / "summary.json").write_text(json.dumps({"kind": "train", "iterations_done": last, "test_accuracy": evals[last]}))
    (d / "metrics.jsonl").write_text("".join(  # a 95 % interval of +-2.5 points, as on the 1,017 exact images
        json.dumps({"kind": "eval", "iteration": i, "test_accuracy": a, "test_accuracy_lo95": a - 0.025,
                    "test_accuracy_hi95": a + 0.025}) + "\n" for i, a in sorted(evals.items())))


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

    ours, verdict, reason = claims.RULES["C3"](r)
    assert "fixed 81.00 % at 70,000 it (n=2)" in ours  # within 1.5 points of 81.4 %
    assert verdict == "partly" and "2 of the 2 policies run so far (of the 5 in Table 1)" in reason
    assert "not in Table 1: triangular2 78.50 % (n=1) at 25,000 it" in ours
    # Table 1's relative point: 81 % at 25k with CLR against 81 % at 70k fixed; fixed had 71 % at 25k
    assert "triangular2-3stage at 25k minus fixed at 70k: +0.0 points (paper +0.0); fixed at 25k: 71.00 %" in ours


def test_c3_verdict_not_reproduced_when_far_from_the_paper_and_says_which_way(tmp_path):
    _store(tmp_path, "exp_range", 0, {42000: 0.70})  # paper 82.2 %
    _store(tmp_path, "fixed", 0, {70000: 0.84})  # paper 81.4 %: off too, but above it
    _store(tmp_path, "decay", 0, {20000: 0.785})  # paper 78.5 % at 25k: stopped short of it
    _, verdict, reason = claims.RULES["C3"](study_results(tmp_path, "04_clr_vs_fixed", "full"))
    assert verdict == "not reproduced"
    assert ("0 of the 3 policies run so far (of the 5 in Table 1) are within it; off: "
            "fixed +2.6 points (81.40 % inside the 95 % interval of 0 of 1 runs); decay stopped at 20,000 it; "
            "exp_range -12.2 points (82.20 % inside the 95 % interval of 0 of 1 runs)") in reason


def test_c3_reproduced_only_when_all_five_table1_policies_are_within(tmp_path):
    for label, (paper, at) in claims.PAPER_C3.items():
        _store(tmp_path, label, 0, {at: paper + 0.01})
    _, verdict, reason = claims.RULES["C3"](study_results(tmp_path, "04_clr_vs_fixed", "full"))
    assert verdict == "reproduced" and reason.endswith("5 of the 5 policies are within it")


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


def test_c2_reads_each_seed_and_counts_bounds_within_a_factor_2(tmp_path):
    _store_range_test(tmp_path, 0, plateau_lr=0.008)  # knees 0.0008 / 0.0072 on a 0.0005 grid: within 2x
    r = study_results(tmp_path, "03_range_tests", "full")
    ours, verdict, reason = claims.RULES["C2"](r)
    assert verdict == "reproduced" and ours.startswith("Smith's reading from accuracy: base 0.001, max 0.0075")
    assert "seed 0's curve)" in reason and "seeds 1+" not in reason  # one seed: no out-of-sample check yet

    _store_range_test(tmp_path, 1, plateau_lr=0.02)  # base 0.002 (2x: in), max 0.0185 (3.1x: out)
    ours, verdict, reason = claims.RULES["C2"](study_results(tmp_path, "03_range_tests", "full"))
    assert "seed 0: Smith's reading from accuracy: base 0.001, max 0.0075" in ours
    assert "seed 1: Smith's reading from accuracy: base 0.002, max 0.018" in ours
    assert verdict == "partly" and reason.endswith("seeds 1+ test it out of sample); 3 of 4 bounds within; "
                                                   "off: seed 1 max 3.1x the paper's")

    from reproduce import figures

    fig = figures.range_test(study_results(tmp_path, "03_range_tests", "full"), "C2")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]  # (the accuracy twin axes have none)
    assert [t.split(", ")[-1] for t in titles] == ["seed 0", "seed 1"]  # one panel per seed, each says which


def test_c2_base_capped_by_the_grid_does_not_count_until_a_zoomed_start_measures_it(tmp_path):
    _store_range_test(tmp_path, 0, plateau_lr=0.0045)  # 10 % knee 0.00045: risen by the first reading, 0.0005
    ours, verdict, reason = claims.RULES["C2"](study_results(tmp_path, "03_range_tests", "full"))
    assert "base 0.0005, max 0.0045" in ours  # max within 2x of 0.006, base capped: only that one counts
    assert verdict == "partly" and "(seed 0, grid 0.0005)" in reason and "does not count as within" in reason

    # the same start, 10x finer (LR step 1e-5, accuracy every iteration): the knee is measured
    _store_range_test(tmp_path, 0, plateau_lr=0.0045, label="C2-cifar10_full-linear-start", lr_step=1e-5, every=1)
    ours, verdict, reason = claims.RULES["C2"](study_results(tmp_path, "03_range_tests", "full"))
    assert "base 0.00045 (zoomed start: accuracy 10.00 % at LR 0, 15.00 % by then; coarse grid 0.0005), max 0.0045" in ours
    assert verdict == "partly" and "caps" not in reason  # 0.00045 is more than 2x below 0.001: measured, out
    assert reason.endswith("off: seed 0 base 0.45x the paper's (iteration 45 of the test)")

    from reproduce import figures

    fig = figures.range_test(study_results(tmp_path, "03_range_tests", "full"), "C2")
    panels = [ax.get_title() for ax in fig.axes if ax.get_title()]
    insets = [c.get_title() for ax in fig.axes for c in ax.child_axes]
    assert len(panels) == 1  # the zoom is an inset of its test's panel, not a panel of its own
    assert insets == ["start, accuracy every 1e-05 of LR: smith_base = 0.00045"]


def test_c1_from_the_exponential_test_alone_is_incomplete_and_says_what_is_missing(tmp_path):
    from reproduce.lease import Job
    from reproduce.studies import expand, load_spec

    cfg, rng = next((c, g) for c, g in expand(load_spec("03_range_tests", "full")) if c.label == "C1-resnet56-exp")
    d = Job("", cfg, rng, root=str(tmp_path)).path  # the id the full YAML's run is stored under
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"label": "C1-resnet56-exp", "seed": 0, "profile": "full", "claim": "C1"}))
    (d / "summary.json").write_text(json.dumps({
        "kind": "range_test", "status": "finished", "mode": "exp", "start_lr": 1e-4, "end_lr": 10.0, "iterations": 1000,
        "min_loss_lr": 1.36, "peak_accuracy": 0.633, "peak_accuracy_lr": 0.637, "stopped_early": True, "stop_lr": 6.76}))
    (d / "provenance.json").write_text(json.dumps({"device_name": "NVIDIA H100 80GB HBM3"}))
    r = study_results(tmp_path, "03_range_tests", "full")
    ours, verdict, _ = claims.RULES["C1"](r)
    assert verdict == "incomplete"
    assert ours == ("exponential test only (0.0001 -> 10 in 1,000 it): smoothed loss lowest at LR 1.36; accuracy peak "
                    "63.30 % at LR 0.637; diverged at LR 6.76 (Smith's logged 0-3 test in 5k it: peak 81.56 % at LR 1.2, "
                    "78.44 % at LR 3)")  # the log's own reading, as the SC paper quotes it (81.6 % / 78.4 %)
    row = claims.evaluate(next(c for c in claims.CLAIMS if c.id == "C1"), tmp_path)
    assert row["reason"].endswith("not run yet: C1-resnet56-linear (seed 0)")  # the full YAML's C1 runs, less the stored
    assert row["device"] == "NVIDIA H100 80GB HBM3"


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
    fig = figures.one_cycle(study_results(tmp_path, "05_resnet56_one_cycle", "full"))
    ax, ax2 = fig.axes[0], fig.axes[1]
    smith = next(line for line in ax.get_lines() if line.get_label().startswith("Smith's log"))
    log = figures.smith_log(figures.SMITH_C4[0]).dropna(subset=["test_accuracy"])
    assert list(smith.get_ydata()) == list(log["test_accuracy"]) and max(smith.get_xdata()) == 9200
    assert any(line.get_label() == "Smith's log: LR" for line in ax2.get_lines())
    assert str(figures.REFERENCE).startswith(str(Path(figures.__file__).resolve().parents[1]))  # inside the repository
