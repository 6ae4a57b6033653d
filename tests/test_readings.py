"""The JPEG-corrected estimator and the pooled interval, on simulated test sets whose true accuracy
is known; and the verdict rule on hand-made estimates, one row per outcome."""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from reproduce.evaluation import pack_verdicts, unpack_verdicts
from reproduce.readings import (
    READ_PAIRS,
    Z95,
    Estimate,
    Reading,
    corrected,
    difference,
    difference_sampling,
    paired_var,
    pooled,
    readings,
    seed_variance,
    verdicts,
)
from reproduce.verdict import INCONCLUSIVE, NOT_REPRODUCED, PARTLY, REPRODUCED, combine, judge

ROOT = Path(__file__).resolve().parents[1]

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
@pytest.mark.parametrize("measured", [True, False])
def test_an_inconclusive_part_says_when_more_seeds_cannot_settle_it(floor, paper, says, measured):
    est = Estimate(0.88, 0.03, 3, 2, floor=floor, floor_measured=measured)
    part = judge("x", paper, est, 0.01)
    assert part.verdict == (NOT_REPRODUCED if paper == 0.80 else INCONCLUSIVE)
    assert (f"±{100 * floor:.2f} points" in part.why) == says
    if says and measured:  # measured on per-image verdicts: seeds cannot remove it
        assert part.why.endswith(f"measured on the runs' per-image verdicts, keeps it at ±{100 * floor:.2f} points or "
                                 "wider, more than the margin (1 point), so more seeds cannot settle this part on "
                                 "this test set")
    elif says:  # read off single runs, an upper bound: seeds help as far as they err on different images
        assert part.why.endswith(f"read off single runs alone gives ±{100 * floor:.2f} points, more than the margin "
                                 "(1 point): more seeds settle this part only as far as they err on different images, "
                                 "which only runs that keep their per-image verdicts show")
        # a difference paired image by image on some seeds only says so
        mixed = judge("x", paper, dataclasses.replace(est, how="paired image by image on 1 of 3 seeds",
                                                   read=READ_PAIRS), 0.01)
        assert (f"the test-set sampling read image by image where both runs of a seed kept their per-image verdicts "
                f"and off single runs elsewhere alone gives ±{100 * floor:.2f} points") in mixed.why


def test_verdict_bits_round_trip_and_a_wrong_count_is_refused():
    rng = np.random.default_rng(3)
    for size in (1, 8, 1017, 10_000):
        right = rng.random(size) < 0.9
        assert np.array_equal(unpack_verdicts(pack_verdicts(right), size), right)
    assert len(pack_verdicts(np.ones(10_000, bool))) == 1668  # a summary grows by ~1.7 kB
    with pytest.raises(ValueError, match="cannot hold exactly 1030 images"):
        unpack_verdicts(pack_verdicts(np.ones(1017, bool)), 1030)
    with pytest.raises(ValueError, match="cannot hold exactly 1000 images"):
        unpack_verdicts(pack_verdicts(np.ones(1017, bool)), 1000)  # images past the count: a wrong count


def _bits(right, exact_n=None, as_jpeg=None, seed=0):
    """A summary as the engine writes it, from per-image verdicts (the first ``exact_n`` images exact)."""
    n_all = len(right)
    n = exact_n or n_all
    s = {"seed": seed, "test_n_all": n_all, "test_n": n, "test_accuracy": right[:n].mean(), "test_accuracy_all": right.mean(),
         "test_correct_bits": pack_verdicts(right)}
    if exact_n:
        exact = right[:n] if as_jpeg is None else as_jpeg[0]
        s |= {"test_exact_correct_bits": pack_verdicts(exact), "test_accuracy": exact.mean()}
        if as_jpeg is not None:
            j = as_jpeg[1]
            s |= {"test_exact_as_jpeg_correct_bits": pack_verdicts(j), "test_accuracy_exact_as_jpeg": j.mean(),
                  "test_jpeg_lost": int((exact & ~j).sum()), "test_jpeg_gained": int((~exact & j).sum())}
    return s


def test_paired_variance_by_hand_and_against_one_runs_formula():
    # 10 images, all exact: the runs disagree on images 0 and 1 only (a right, b wrong): d = (1, 1, 0, ...)
    a = np.array([1, 1, 1, 1, 1, 1, 1, 0, 0, 1], bool)
    b = np.array([0, 0, 1, 1, 1, 1, 1, 0, 0, 1], bool)
    va, vb = verdicts(_bits(a)), verdicts(_bits(b))
    assert paired_var("exact", va, vb) == pytest.approx((0.2 - 0.2**2) / 10)  # two of ten disagree, one way
    assert paired_var("exact", va, va) == 0.0  # a run against itself: no sampling difference at all
    # against a run wrong everywhere whose JPEG never flips, the paired formula is one run's own (the
    # module docstring's, with the all-images score's variance in its first term)
    rng = np.random.default_rng(4)
    right = rng.random(2000) < 0.85
    exact, as_jpeg = right[:200], right[:200] ^ (rng.random(200) < 0.1)
    one = _bits(right, 200, (exact, as_jpeg))
    none = _bits(np.zeros(2000, bool), 200, (np.zeros(200, bool), np.zeros(200, bool)))
    r = readings(one)["corrected"]
    p_all = right.mean()
    f = 1800 / 2000
    expected = r.var - r.value * (1 - r.value) / 2000 + p_all * (1 - p_all) / 2000
    assert paired_var("corrected", verdicts(one), verdicts(none)) == pytest.approx(expected)
    # a run without JPEG verdicts cannot be paired on the corrected reading, and other test sets never
    assert paired_var("corrected", verdicts(_bits(right, 200)), verdicts(none)) is None
    assert paired_var("all", verdicts(_bits(right[:1000])), verdicts(none)) is None
    assert f == (2000 - 200) / 2000


def _two_models(rng, n_all=N, n_exact=n, gap=0.01, agree=0.9):
    """Two models on one freshly drawn test set: each image has a difficulty q shared by both (most
    easy, some hard); model a is right with probability q + ``gap``, b with q, and the two draw the
    same coin on an image with probability ``agree``, so their errors are correlated as trained
    networks' are. JPEG makes an image fragile for both (10 %), and a fragile image's verdict flips
    with a coin shared the same way. The true difference on exact images is ``gap``."""
    q = np.where(rng.random(n_all) < 0.85, 0.95, 0.35)
    u = rng.random(n_all)
    u_b = np.where(rng.random(n_all) < agree, u, rng.random(n_all))
    right_a, right_b = u < q + gap, u_b < q
    fragile = rng.random(n_all) < 0.10
    w = rng.random(n_all)
    w_b = np.where(rng.random(n_all) < agree, w, rng.random(n_all))
    jpeg_a = right_a ^ (fragile & (w < np.where(right_a, 0.5, 0.2)))
    jpeg_b = right_b ^ (fragile & (w_b < np.where(right_b, 0.5, 0.2)))
    stored_a = np.concatenate([right_a[:n_exact], jpeg_a[n_exact:]])
    stored_b = np.concatenate([right_b[:n_exact], jpeg_b[n_exact:]])
    return (_bits(stored_a, n_exact, (right_a[:n_exact], jpeg_a[:n_exact])),
            _bits(stored_b, n_exact, (right_b[:n_exact], jpeg_b[:n_exact])))


def test_a_difference_paired_image_by_image_covers_the_true_gap_and_is_far_narrower_than_unpaired():
    rng = np.random.default_rng(5)
    sims, gap = 800, 0.01
    covered = {"paired": 0, "unpaired": 0}
    ratio = []
    for _ in range(sims):
        sa, sb = _two_models(rng, gap=gap)
        ra, rb = readings(sa)["corrected"], readings(sb)["corrected"]
        d = ra.value - rb.value
        got = difference_sampling("corrected", [ra], [rb])
        assert got.how == "test sampling from the per-image verdicts of 2 runs" and not got.bounded
        assert not got.measured and got.floor_var == got.var  # one seed a setting: its disagreement is not seen
        var, unpaired = got.var, ra.var + rb.var
        covered["paired"] += abs(d - gap) <= Z95 * math.sqrt(var)
        covered["unpaired"] += abs(d - gap) <= Z95 * math.sqrt(unpaired)
        ratio.append(math.sqrt(var / unpaired))
    assert 0.93 <= covered["paired"] / sims <= 0.975  # honest: about 95 %, as stated
    assert covered["unpaired"] / sims > 0.99  # the sum of both variances over-covers: an upper bound
    assert np.mean(ratio) < 0.6  # and the paired interval is well under two thirds as wide


def test_runs_pair_by_seed_and_a_pair_without_verdicts_adds_its_two_variances():
    rng = np.random.default_rng(6)
    a0, b0 = _two_models(rng, n_all=2000, n_exact=200)
    a1, b1 = _two_models(rng, n_all=2000, n_exact=200)
    a1, b1 = a1 | {"seed": 1}, b1 | {"seed": 1}
    old = {k: v for k, v in b1.items() if not k.endswith("_bits")}  # seed 1 of b predates the verdicts
    ra0, rb0, ra1, rb1, rold = (readings(s)["corrected"] for s in (a0, b0, a1, b1, old))
    mixed = difference_sampling("corrected", [ra1, ra0], [rb0, rold])
    assert mixed.how == "paired image by image on 1 of 2 seeds" and not mixed.bounded and not mixed.measured
    assert mixed.var == pytest.approx((paired_var("corrected", ra0.verdicts, rb0.verdicts) + ra1.var + rold.var) / 2)
    # every run kept its verdicts: the settings' per-image seed means, less the seeds' disagreement
    every = difference_sampling("corrected", [ra0, ra1], [rb0, rb1])
    assert every.measured and every.how == "test sampling from the per-image verdicts of 4 runs"
    assert every.var == every.floor_var < mixed.var
    # seeds that do not match one to one, and a run without verdicts: the settings' mean variances add
    unmatched = difference_sampling("corrected", [ra0, ra1], [rold])
    assert unmatched.how == "" and unmatched.var == pytest.approx((ra0.var + ra1.var) / 2 + rold.var)
    est = difference(Estimate(0.9, 0.01, 2, 2), Estimate(0.89, 0.01, 2, 2), 1e-5, 2, every)
    assert est.floor_measured and est.floor == pytest.approx(Z95 * math.sqrt(every.var))


def _seeds(rng, mu, k, n_all=N, n_exact=n):
    """``k`` seeds of one training recipe on one test set: seed s is right on image i with probability
    mu_i (its own coin), and JPEG flips a fragile image's verdict with its own coin too. The recipe's
    accuracy on the population of exact images is the mean of mu over the images mu is drawn from."""
    fragile = rng.random(n_all) < 0.10
    out = []
    for s in range(k):
        right = rng.random(n_all) < mu
        jpeg = right ^ (fragile & (rng.random(n_all) < np.where(right, 0.5, 0.2)))
        stored = np.concatenate([right[:n_exact], jpeg[n_exact:]])
        out.append(_bits(stored, n_exact, (right[:n_exact], jpeg[:n_exact]), seed=s))
    return out


def test_a_seed_mean_read_image_by_image_covers_the_recipes_accuracy_and_its_floor_falls_below_one_runs():
    """Four recipes, three seeds each, on a freshly drawn test set each time: most images easy for
    every seed, some coin flips that seeds decide differently. The interval from per-image verdicts
    covers the recipe's accuracy about 95 % of the time; its measured floor is well under the one a
    single run's variance gives, as the seeds err on different images."""
    rng = np.random.default_rng(7)
    kinds = {0.98: 0.80, 0.55: 0.15, 0.03: 0.05}  # mu of an image: easy, coin-flip, hard; and their shares
    truth = sum(m * w for m, w in kinds.items())
    hits, floors, sims = 0, [], 300
    for _ in range(sims):
        per = []
        for shift in (0.0, -0.02, -0.04, -0.06):  # four recipes: a little worse on the coin-flip images each
            mu = rng.choice(list(kinds), size=N, p=list(kinds.values()))
            mu = np.where(mu == 0.55, 0.55 + shift, mu)
            per.append([readings(x)["corrected"] for x in _seeds(rng, mu, 3)])
        s2, df = seed_variance([[r.value for r in rs] for rs in per])
        est = pooled(per[0], s2, df, "corrected")
        hits += est.lo <= truth <= est.hi
        assert est.floor_measured
        floors.append(est.floor / pooled(per[0], s2, df).floor)  # against one run's own sampling
    assert 0.93 <= hits / sims <= 0.99
    assert np.mean(floors) < 0.8


def test_a_difference_of_seed_means_read_image_by_image_covers_the_true_gap():
    """Two recipes of three seeds each on one test set, b a little worse on the coin-flip images: the
    difference's interval, read from every run's verdicts (seeds' disagreement taken out), covers
    the true gap at least 95 % of the time and is narrower than the one from the runs' own variances."""
    rng = np.random.default_rng(9)
    kinds = {0.98: 0.80, 0.55: 0.15, 0.03: 0.05}
    hits, ratio, sims = 0, [], 300
    for _ in range(sims):
        images = rng.choice(list(kinds), size=N, p=list(kinds.values()))
        per = {shift: [readings(x)["corrected"] for x in _seeds(rng, np.where(images == 0.55, 0.55 + shift, images), 3)]
               for shift in (0.0, -0.05, -0.02, -0.04)}
        s2, df = seed_variance([[r.value for r in rs] for rs in per.values()])
        a, b = (pooled(per[x], s2, df, "corrected") for x in (0.0, -0.05))
        got = difference_sampling("corrected", per[0.0], per[-0.05])
        assert got.measured
        d = difference(a, b, s2, df, got)
        hits += d.lo <= 0.05 * 0.15 <= d.hi  # the gap on the population: 5 points on 15 % of the images
        bare = [[dataclasses.replace(r, verdicts=None) for r in per[x]] for x in (0.0, -0.05)]
        ratio.append(d.half / difference(a, b, s2, df, difference_sampling("corrected", *bare)).half)
    assert 0.95 <= hits / sims <= 0.99
    assert np.mean(ratio) < 0.8


def test_the_notebooks_run_tables_carry_the_reading_the_verdicts_read():
    """summaries() gives each stored run its JPEG-corrected accuracy: the all-10k figure plus 0.8983 x the
    exact-minus-JPEG difference on the exact images, as CLAIMS.md reads it (a run with no JPEG copy has none)."""
    from reproduce.results import find_runs, summaries

    runs = [r for r in find_runs(ROOT / "experiments" / "results", "07_adam_clr")
            if r.summary.get("profile") == "full" and "test_accuracy_exact_as_jpeg" in r.summary]
    assert len(runs) >= 8  # C8's CLR and fixed runs, seeds 0-3
    table = summaries(runs).set_index("path")
    for r in runs:
        s = r.summary
        want = s["test_accuracy_all"] + 0.8983 * (s["test_accuracy"] - s["test_accuracy_exact_as_jpeg"])
        assert table.loc[str(r.path), "test_accuracy_jpeg_corrected"] == pytest.approx(want, abs=1e-12)
