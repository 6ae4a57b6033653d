"""The JPEG-corrected estimator and the pooled interval, on simulated test sets whose true accuracy
is known; and the verdict rule on hand-made estimates, one row per outcome."""

import math

import numpy as np
import pytest

from reproduce.readings import Estimate, Reading, corrected, pooled, readings, seed_variance
from reproduce.verdict import INCONCLUSIVE, NOT_REPRODUCED, PARTLY, REPRODUCED, combine, judge

N, n = 10_000, 1_017


def _simulate(rng, p=0.88, lose=0.06, gain=0.15):
    """A model right on each exact image with probability ``p``; JPEG turns a right answer wrong with
    probability ``lose`` and a wrong one right with ``gain``. Returns the summary a run records on
    the offline copy (first ``n`` images exact, the rest JPEG) and the true accuracy on exact images."""
    right = rng.random(N) < p
    flip = np.where(right, rng.random(N) < lose, rng.random(N) < gain)
    as_jpeg = right ^ flip
    mixed = np.concatenate([right[:n], as_jpeg[n:]])
    summary = {"test_accuracy": right[:n].mean(), "test_n": n, "test_accuracy_all": mixed.mean(), "test_n_all": N,
               "test_accuracy_exact_as_jpeg": as_jpeg[:n].mean(),
               "test_jpeg_lost": int((right[:n] & ~as_jpeg[:n]).sum()), "test_jpeg_gained": int((~right[:n] & as_jpeg[:n]).sum())}
    truth = p  # the model's accuracy on exact images, of which the official test set is a sample
    return summary, truth


def test_corrected_reading_is_unbiased_where_the_all_images_reading_is_not_and_its_interval_covers():
    rng = np.random.default_rng(0)
    err = {"exact": [], "all": [], "corrected": []}
    covered = {"corrected": 0, "bound": 0}
    sims = 1500
    for _ in range(sims):
        s, truth = _simulate(rng)
        r = readings(s)
        for k in err:
            err[k].append(r[k].value - truth)
        c = r["corrected"]
        covered["corrected"] += abs(c.value - truth) <= 1.96 * math.sqrt(c.var)
        b = readings({k: v for k, v in s.items() if not k.startswith("test_jpeg_")})["corrected"]
        assert b.bounded and b.value == c.value and b.var >= c.var  # without the flip count: same value, wider
        covered["bound"] += abs(b.value - truth) <= 1.96 * math.sqrt(b.var)
    bias = {k: float(np.mean(v)) for k, v in err.items()}
    # JPEG costs 0.88 * 0.06 - 0.12 * 0.15 = 3.5 points on 89.83 % of the images: the all-images reading is
    # ~3.2 points low; the corrected one and the exact one are centred on the truth
    assert bias["all"] == pytest.approx(-0.8983 * (0.88 * 0.06 - 0.12 * 0.15), abs=0.002)
    assert abs(bias["corrected"]) < 0.002 and abs(bias["exact"]) < 0.002
    # ...and the corrected one is tighter than the exact images alone, which is why the verdict reads it
    assert np.std(err["corrected"]) < 0.9 * np.std(err["exact"])
    assert 0.93 <= covered["corrected"] / sims <= 0.97
    assert covered["bound"] / sims >= 0.97


def test_corrected_reading_formula_by_hand():
    # all 80 %, exact 90 %, the exact images as JPEG 85 %: JPEG costs 5 points on 8,983 of 10,000 images
    r = corrected(0.80, 0.90, 0.85, 1000, 10_000, flips=70)
    assert r.value == pytest.approx(0.80 + 0.9 * 0.05)
    var_delta = (70 / 1000 - 0.05**2) * (1 / 1000 + 1 / 9000)
    assert r.var == pytest.approx(0.845 * 0.155 / 10_000 + 0.81 * var_delta) and not r.bounded
    # every image exact: one reading three times
    one = readings({"test_accuracy": 0.9, "test_n": 500, "test_accuracy_all": 0.9})
    assert one["exact"] == one["all"] == one["corrected"]
    assert one["exact"].value == 0.9 and one["exact"].var == pytest.approx(0.9 * 0.1 / 500)


def test_pooled_interval_holds_seed_spread_and_test_sampling_and_covers_the_mean():
    rng = np.random.default_rng(1)
    hits, trials = 0, 400
    for _ in range(trials):  # 4 settings x 3 seeds, seed sd 0.5 points, one shared test set of 10k images
        mus = [0.80, 0.85, 0.90, 0.92]
        test_offset = rng.normal(0, math.sqrt(0.9 * 0.1 / N))  # the same images score every seed
        groups = [[m + rng.normal(0, 0.005) + test_offset for _ in range(3)] for m in mus]
        s2, df = seed_variance(groups)
        assert df == 8
        est = pooled([Reading(v, v * (1 - v) / N) for v in groups[2]], s2, df)
        hits += est.lo <= mus[2] <= est.hi
    assert hits / trials >= 0.93
    assert pooled([Reading(0.9, 1e-5)]).half is None  # one seed anywhere: no spread, no interval
    with pytest.raises(ValueError, match="at least one"):
        pooled([])


def _est(value, half, n=3, df=4):
    return Estimate(value, half, n, df)


@pytest.mark.parametrize("paper,est,margin,log,expected", [
    (0.92, _est(0.915, 0.008), 0.01, False, REPRODUCED),  # inside, narrow
    (0.92, _est(0.905, 0.004), 0.01, False, NOT_REPRODUCED),  # 0.92 > 0.909 + 0.01
    (0.92, _est(0.906, 0.004), 0.01, False, REPRODUCED),  # at the edge of interval + margin, narrow
    (0.92, _est(0.90, 0.03), 0.01, False, INCONCLUSIVE),  # inside, but the interval is wider than the margin
    (0.92, _est(0.85, 0.03), 0.01, False, NOT_REPRODUCED),  # wide, and still misses by more than the margin
    (0.92, Estimate(0.85, None, 1, 0), 0.01, False, INCONCLUSIVE),  # one seed: no interval
    (0.001, Estimate(0.0012, 0.0001, 2, 1, bounds=(0.0011, 0.0013)), 2.0, True, REPRODUCED),  # an LR within 2x
    (0.001, Estimate(0.0001, 0.00005, 2, 1, bounds=(0.0, 0.0001)), 2.0, True, NOT_REPRODUCED),  # capped 10x below
    (0.001, Estimate(0.0004, 0.0002, 2, 1, bounds=(0.0, 0.0005)), 2.0, True, INCONCLUSIVE),  # capped, 2x below
])
def test_the_one_rule(paper, est, margin, log, expected):
    assert judge("x", paper, est, margin, log).verdict == expected


@pytest.mark.parametrize("parts,expected", [
    ([REPRODUCED, REPRODUCED], REPRODUCED),
    ([REPRODUCED, NOT_REPRODUCED], PARTLY),
    ([NOT_REPRODUCED, INCONCLUSIVE], NOT_REPRODUCED),
    ([REPRODUCED, INCONCLUSIVE], INCONCLUSIVE),
    ([INCONCLUSIVE], INCONCLUSIVE),
    ([REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE], PARTLY),
])
def test_parts_combine(parts, expected):
    assert combine(parts) == expected


def test_log_rule_needs_a_factor():
    with pytest.raises(ValueError, match="factor"):
        judge("x", 0.001, _est(0.001, 0.0001), 0.5, log=True)


def test_the_training_path_needs_none_of_the_rendering_libraries():
    """A lent GPU machine lacks scipy, papermill and submitit (and may lack matplotlib): run-study,
    train and the benchmark's imports must work without them; claims, notebooks and figures need them."""
    import subprocess
    import sys

    code = ("import sys\n"
            "BLOCKED = ('scipy', 'papermill', 'submitit', 'matplotlib', 'seaborn', 'nbformat', 'nbconvert')\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in BLOCKED:\n"
            "            raise ImportError(f'no {name} here')\n"
            "sys.meta_path.insert(0, Block())\n"
            "import reproduce.cli, reproduce.lease, reproduce.studies, reproduce.train, reproduce.study_cli\n"
            "import reproduce.train_cli, reproduce.progress\n"
            "reproduce.cli.main(['run-study', '--help'])\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]  # --help exits 0 once every module imported


def test_the_test_sampling_floor_is_what_no_number_of_seeds_removes_and_a_bound_takes_its_least():
    # without the flip count the variance is bounded above by the most flips (every disagreement) and below
    # by the fewest (|exact - JPEG| of the images): the floor takes the least, so a floor above a margin is certain
    most, least = corrected(0.80, 0.90, 0.85, 1000, 10_000), corrected(0.80, 0.90, 0.85, 1000, 10_000, flips=50)
    assert most.bounded and most.least_var == pytest.approx(least.var) and most.floor_var < most.var
    known = corrected(0.80, 0.90, 0.85, 1000, 10_000, flips=70)
    assert known.least_var is None and known.floor_var == known.var
    one = pooled([known] * 2, seed_var=1e-4, df=1)
    many = pooled([known] * 50, seed_var=1e-4, df=49)
    assert one.floor == many.floor == pytest.approx(1.959963984540054 * math.sqrt(known.var))  # seeds share the images
    assert many.half > many.floor and one.half > many.half
    assert pooled([known]).floor == one.floor  # one seed: no interval, but the floor is known


@pytest.mark.parametrize(("floor", "paper", "says"), [
    (0.013, 0.90, True),  # inconclusive, and the sampling alone is wider than the 1-point margin
    (0.008, 0.90, False),  # inconclusive, but enough seeds would narrow it to the margin
    (0.013, 0.80, False),  # a miss is settled whatever the floor
])
def test_an_inconclusive_part_says_when_more_seeds_cannot_settle_it(floor, paper, says):
    est = Estimate(0.88, 0.03, 3, 2, floor=floor)
    part = judge("x", paper, est, 0.01)
    assert part.verdict == (NOT_REPRODUCED if paper == 0.80 else INCONCLUSIVE)
    assert ("more seeds cannot settle this part" in part.why) == says
    if says:
        assert part.why.endswith(f"±{100 * floor:.2f} points or wider, more than the margin (1 point), so more seeds "
                                 "cannot settle this part on this test set")
