"""Three readings of one test accuracy on a partly exact test set, and the interval of a mean over seeds.

The offline CIFAR-10 copy the project is developed with has 1,017 exact test images; the other
8,983 are JPEG decodes (quality 75), which cost a model some accuracy. A run therefore records:

- ``exact``: accuracy on the exact images — unbiased, but only 1,017 images (±2 points at 85 %);
- ``all``: accuracy on all 10,000 — ten times the images, biased low by the JPEG ones;
- ``corrected``: the all-10,000 figure with that bias removed. On the exact images the run is
  also scored in their JPEG form, so the per-image difference d_i = [right on exact] − [right as
  JPEG] is measured there; its mean δ estimates what JPEG costs on the 8,983 others, and

      corrected = all + f · δ,      f = (N − n) / N   (n exact images of N)

  Its variance adds the sampling of a N-image score, p(1 − p) / N, and the uncertainty of using
  δ measured on the n exact images for the N − n others, f² · (D/n − δ²) · (1/n + 1/(N − n)),
  with D the number of images whose verdict JPEG flips. (The exact images are the test set's
  first 1,017 in the official order, which has no class or difficulty trend.) A run that
  predates the flip count uses the largest D its accuracies allow, so its interval is wider,
  never narrower, than the truth (``bounded``).

With the official test set (every image exact) the three readings are one and the same.

A difference of two settings is scored on the same images, so their sampling errors are
correlated. Where both runs of a seed recorded their per-image verdicts
(:data:`reproduce.evaluation.VERDICT_FIELDS`), :func:`paired_var` applies the formula above to
the per-image differences — right minus right on every image, and the JPEG flip of one run minus
the other's on the exact images: only the images the two runs disagree on count. Without them
the two runs' variances add, an upper bound (:func:`difference_sampling`).

:func:`pooled` turns one reading of several seeds into an estimate with a 95 % interval that
holds both the seed-to-seed spread and the test-set sampling (:func:`seed_variance`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import stats

from .evaluation import unpack_verdicts

KINDS = ("exact", "all", "corrected")
Z95 = 1.959963984540054
NAMES = {"exact": "exact images", "all": "all 10k", "corrected": "JPEG-corrected"}


@dataclass(frozen=True, eq=False)
class Verdicts:
    """One run's per-image verdicts at its final evaluation: right or wrong on every test image as
    stored (N), on the exact images (n; the same as ``all`` where every image is exact), and on the
    exact images in JPEG form (n; where a JPEG copy exists)."""

    all: np.ndarray
    exact: np.ndarray
    exact_as_jpeg: np.ndarray | None = None


def verdicts(summary: dict) -> Verdicts | None:
    """The per-image verdicts a summary recorded (None where it predates them or lacks a field)."""
    n_all, n = summary.get("test_n_all"), summary.get("test_n")
    if "test_correct_bits" not in summary or not n_all or not n:
        return None
    right = unpack_verdicts(summary["test_correct_bits"], n_all)
    if n == n_all:
        return Verdicts(right, right)
    if "test_exact_correct_bits" not in summary:
        return None
    jpeg = summary.get("test_exact_as_jpeg_correct_bits")
    return Verdicts(right, unpack_verdicts(summary["test_exact_correct_bits"], n),
                    None if jpeg is None else unpack_verdicts(jpeg, n))


@dataclass(frozen=True)
class Reading:
    """One run's score and the sampling variance of that score over test images; ``seed`` and
    ``verdicts`` let a difference pair it with another setting's run of the same seed."""

    value: float
    var: float
    bounded: bool = False  # ``var`` is an upper bound (the run did not record the JPEG flip count)
    least_var: float | None = None  # where ``bounded``: the variance with the fewest flips its accuracies allow
    seed: int | None = field(default=None, compare=False)
    verdicts: Verdicts | None = field(default=None, compare=False, repr=False)

    @property
    def floor_var(self) -> float:
        """The smallest sampling variance this score can have: ``var``, or its lower bound where that is bounded."""
        return self.var if self.least_var is None else self.least_var


def corrected(p_all: float, p_exact: float, p_jpeg: float, n_exact: int, n_all: int,
              flips: int | None = None) -> Reading:
    """The JPEG-corrected full-test accuracy (module docstring). ``p_jpeg``: accuracy on the exact
    images in JPEG form; ``flips``: how many of them JPEG turns right→wrong or wrong→right."""
    f = (n_all - n_exact) / n_all
    delta = p_exact - p_jpeg
    value = min(max(p_all + f * delta, 0.0), 1.0)

    def var(d: float) -> float:  # d flipped verdicts
        return value * (1 - value) / n_all + f * f * max(d / n_exact - delta * delta, 0.0) / n_exact * n_all / (n_all - n_exact)

    if flips is not None:
        return Reading(value, var(flips))
    # unrecorded: the most flips the two accuracies allow (Fréchet: every disagreement a flip), and the fewest
    most = n_exact * (min(p_exact, 1 - p_jpeg) + min(1 - p_exact, p_jpeg))
    return Reading(value, var(most), True, var(n_exact * abs(delta)))


def readings(summary: dict, n_all: int | None = None) -> dict[str, Reading]:
    """The three readings of a run's final test accuracy (fewer when the run recorded fewer).

    ``n_all``: the size of the whole test set where the summary predates ``test_n_all``
    (``Run.provenance['data']['test']['images']``)."""
    p_e, n_e = summary.get("test_accuracy"), summary.get("test_n")
    if p_e is None or not n_e:
        return {}
    who = {"seed": summary.get("seed"), "verdicts": verdicts(summary)}
    return {kind: replace(r, **who) for kind, r in _scores(summary, p_e, n_e, n_all).items()}


def _scores(summary: dict, p_e: float, n_e: int, n_all: int | None) -> dict[str, Reading]:
    n_all = summary.get("test_n_all") or n_all or n_e
    p_a = summary.get("test_accuracy_all", p_e)
    out = {"exact": Reading(p_e, p_e * (1 - p_e) / n_e)}
    if n_all == n_e:  # every test image exact: one score
        return out | {"all": out["exact"], "corrected": out["exact"]}
    out["all"] = Reading(p_a, p_a * (1 - p_a) / n_all)
    p_j = summary.get("test_accuracy_exact_as_jpeg")
    if p_j is not None:
        lost, gained = summary.get("test_jpeg_lost"), summary.get("test_jpeg_gained")
        flips = None if lost is None or gained is None else lost + gained
        out["corrected"] = corrected(p_a, p_e, p_j, n_e, n_all, flips)
    return out


DIVERGED_ACCURACY = 0.1  # chance on CIFAR-10's ten classes


def diverged_readings(seed: int | None = None) -> dict[str, Reading]:
    """The readings of a run whose loss stopped being finite: chance, with no sampling variance.
    The setting failed on that seed; leaving the run out would report only the seeds that worked."""
    chance = Reading(DIVERGED_ACCURACY, 0.0, seed=seed)
    return {kind: chance for kind in KINDS}


def run_readings(run) -> dict[str, Reading]:
    """:func:`readings` of a stored run, with the test-set size from its provenance (a diverged
    run's: :func:`diverged_readings`)."""
    seed = run.summary.get("seed", run.config.get("seed"))
    if run.summary.get("status") == "diverged":
        return diverged_readings(seed)
    out = readings(run.summary, ((run.provenance.get("data") or {}).get("test") or {}).get("images"))
    return {kind: replace(r, seed=seed) for kind, r in out.items()}


def seed_variance(groups: list[list[float]]) -> tuple[float, int]:
    """Pooled within-group variance and its degrees of freedom: the seed-to-seed spread, read off
    every setting that ran more than one seed (settings of one network and study share it)."""
    ss = sum(float(np.sum((np.asarray(g) - np.mean(g)) ** 2)) for g in groups if len(g) > 1)
    df = sum(len(g) - 1 for g in groups if len(g) > 1)
    return (ss / df if df else float("nan"), df)


@dataclass(frozen=True)
class Estimate:
    """A mean over seeds with its 95 % interval (``half`` is None when the spread is unmeasured)."""

    value: float
    half: float | None
    n: int
    df: int
    bounded: bool = False
    bounds: tuple[float, float] | None = None  # an asymmetric interval (an LR read on a grid), else value ± half
    # the half-width the test-set sampling alone gives, whatever the number of seeds (its least where bounded):
    # every seed is scored on the same test images, so this part never averages out
    floor: float | None = None
    paired: int = 0  # of a difference: how many seed pairs had their test sampling read image by image

    @property
    def lo(self) -> float:
        return self.bounds[0] if self.bounds else -math.inf if self.half is None else self.value - self.half

    @property
    def hi(self) -> float:
        return self.bounds[1] if self.bounds else math.inf if self.half is None else self.value + self.half

    def text(self, scale: float = 100, unit: str = " %", digits: int = 2, signed: bool = False,
             spread: bool = True) -> str:
        """``85.89 % ± 2.10 (n=3)``; ``spread=False`` leaves out the (n=...) note."""
        v = f"{scale * self.value:{'+' if signed else ''}.{digits}f}{unit}"
        if self.half is None:
            return v + (f" (n={self.n}; seed spread not measured)" if spread else "")
        note = f" (n={self.n}{', bound' if self.bounded else ''})" if spread else " (bound)" if self.bounded else ""
        return f"{v} ± {scale * self.half:.{digits}f}{note}"


def pooled(values: list[Reading], seed_var: float = float("nan"), df: int = 0) -> Estimate:
    """Mean of one reading over seeds; its half-width is sqrt((t(df) · s/√k)² + (1.96 · √v̄)²).

    s²/k is the seed-to-seed variance of a mean of k seeds (pooled, ``seed_variance``), taken at
    Student's t quantile for its ``df``; v̄ the mean test-sampling variance of one score — not
    divided by k, because every seed is scored on the same test images, so their sampling error
    does not average out — at the normal quantile, as it is known rather than estimated from a few
    seeds. With ``df`` = 0 (no setting ran two seeds) the spread is unmeasured and the estimate has
    no interval."""
    if not values:
        raise ValueError("pooled() needs at least one reading")
    k = len(values)
    m = float(np.mean([r.value for r in values]))
    bounded = any(r.bounded for r in values)
    floor = Z95 * math.sqrt(float(np.mean([r.floor_var for r in values])))
    if df < 1 or not math.isfinite(seed_var):
        return Estimate(m, None, k, 0, bounded, floor=floor)
    v_test = float(np.mean([r.var for r in values]))
    return Estimate(m, _half(seed_var / k, v_test, df), k, df, bounded, floor=floor)


def _half(seed_part: float, test_part: float, df: int) -> float:
    """95 % half-width of a seed-spread variance (Student's t on ``df``) and a test-sampling variance
    (normal), each at its own quantile, added in quadrature."""
    return math.hypot(float(stats.t.ppf(0.975, df)) * math.sqrt(seed_part), Z95 * math.sqrt(test_part))


def paired_var(kind: str, a: Verdicts, b: Verdicts) -> float | None:
    """The sampling variance of run ``a``'s score minus run ``b``'s on the same test images, for
    one reading ``kind``, from their per-image verdicts: the module docstring's variance with the
    per-image differences in place of one run's right/wrong and flips (population variances, as
    there). None where the two were not scored on the same images or the reading needs JPEG
    verdicts one of them lacks."""
    if len(a.all) != len(b.all) or len(a.exact) != len(b.exact):
        return None
    n_all, n = len(a.all), len(a.exact)
    if kind == "exact":
        return float(np.var(a.exact.astype(float) - b.exact)) / n
    right = float(np.var(a.all.astype(float) - b.all)) / n_all
    if kind == "all" or n == n_all:
        return right
    if a.exact_as_jpeg is None or b.exact_as_jpeg is None:
        return None
    f = (n_all - n) / n_all
    flips = (a.exact.astype(float) - a.exact_as_jpeg) - (b.exact.astype(float) - b.exact_as_jpeg)
    return right + f * f * float(np.var(flips)) * (1 / n + 1 / (n_all - n))


def difference_sampling(kind: str, a: list[Reading], b: list[Reading]) -> tuple[float, float, bool, int]:
    """The test-sampling variance of mean(``a``) − mean(``b``) over seeds (not divided by the
    number of seeds, as in :func:`pooled`), its floor, whether it is a bound, and how many seed
    pairs were paired image by image.

    Where both settings ran the same seeds once each, runs pair by seed: a pair that recorded its
    per-image verdicts contributes :func:`paired_var`, any other pair the sum of its two runs'
    variances. Otherwise the settings' mean variances add."""
    seeds_a, seeds_b = [r.seed for r in a], [r.seed for r in b]
    if None in seeds_a or len(set(seeds_a)) != len(seeds_a) or sorted(seeds_a) != sorted(seeds_b):
        var = float(np.mean([r.var for r in a]) + np.mean([r.var for r in b]))
        least = float(np.mean([r.floor_var for r in a]) + np.mean([r.floor_var for r in b]))
        return var, least, any(r.bounded for r in a + b), 0
    by_b = {r.seed: r for r in b}
    var, least, bounded, paired = [], [], False, 0
    for ra in a:
        rb = by_b[ra.seed]
        v = None if ra.verdicts is None or rb.verdicts is None else paired_var(kind, ra.verdicts, rb.verdicts)
        if v is None:
            var.append(ra.var + rb.var)
            least.append(ra.floor_var + rb.floor_var)
            bounded = bounded or ra.bounded or rb.bounded
        else:
            var.append(v)
            least.append(v)
            paired += 1
    return float(np.mean(var)), float(np.mean(least)), bounded, paired


def difference(a: Estimate, b: Estimate, seed_var: float, df: int,
               sampling: tuple[float, float, bool, int]) -> Estimate:
    """``a − b`` of two settings scored on the same test images, with its 95 % interval: the seed
    spread of both means plus the test sampling of the difference (:func:`difference_sampling`: its
    variance, floor, bound flag and paired seeds). Unpaired, that sampling is an upper bound, as two
    models' errors on the same images are positively correlated (so the floor is this interval's,
    not the truth's)."""
    var, least, bounded, paired = sampling
    floor = Z95 * math.sqrt(least)
    n = min(a.n, b.n)
    if df < 1 or not math.isfinite(seed_var):
        return Estimate(a.value - b.value, None, n, 0, bounded, floor=floor, paired=paired)
    half = _half(seed_var / a.n + seed_var / b.n, var, df)
    return Estimate(a.value - b.value, half, n, df, bounded, floor=floor, paired=paired)
