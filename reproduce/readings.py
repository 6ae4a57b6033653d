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

:func:`pooled` turns one reading of several seeds into an estimate with a 95 % interval that
holds both the seed-to-seed spread (:func:`seed_variance`) and the test-set sampling. Every seed
is scored on the same images, so the part of that sampling that comes from which images the test
set holds never averages out; the part that comes from the seeds erring on different images does,
and is seed spread. Runs that kept their per-image verdicts
(:data:`reproduce.evaluation.VERDICT_FIELDS`) let :func:`image_sampling` tell the two apart: the
formula above with each image's right/wrong and JPEG flip averaged over seeds, less the seeds'
disagreement. A difference of two settings (:func:`difference_sampling`) reads the same off the
per-image differences, so only the images the settings disagree on count. Runs without verdicts
give their own variance instead: an upper bound, as if every seed and setting erred on the same
images.
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
    """One run's score and the sampling variance of that score over test images; its ``seed`` and
    per-image ``verdicts`` let a seed mean, or a difference of two settings, read their sampling
    image by image (:func:`image_sampling`, :func:`difference_sampling`)."""

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
    try:
        out = readings(run.summary, ((run.provenance.get("data") or {}).get("test") or {}).get("images"))
    except ValueError as e:  # a damaged verdict field: name the run, as import-runs would have
        raise ValueError(f"{run.path}/summary.json: {e}") from None
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
    # the half-width of the test-set sampling that no number of seeds removes (every seed is scored on
    # the same images): measured on per-image verdicts (``floor_measured``), else one run's own sampling,
    # which is at least that (its least where bounded)
    floor: float | None = None
    floor_measured: bool = False
    how: str = ""  # how the test sampling was read, where a reader should be told (a difference's pairing)
    read: str = "runs"  # where the test sampling came from: READ_RUNS, READ_PAIRS or READ_IMAGES

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


# where a test sampling came from: each run's own variance; per-image verdicts for the seeds whose
# runs both kept them and own variances for the rest (a difference); every run's per-image verdicts
READ_RUNS, READ_PAIRS, READ_IMAGES = "runs", "pairs", "images"


@dataclass(frozen=True)
class Sampling:
    """The test-set sampling of a seed mean (or of a difference of two): the variance the interval
    takes, the part of it no number of seeds removes, and how it was read."""

    var: float
    floor_var: float
    bounded: bool = False  # ``var`` is an upper bound: a run without its flip count
    measured: bool = False  # ``floor_var`` measured on per-image verdicts of two or more seeds a setting
    how: str = ""
    read: str = READ_RUNS


def runs_sampling(values: list[Reading]) -> Sampling:
    """From each run's own sampling variance: their mean, not divided by the number of seeds, as if
    every seed erred on the same images (an upper bound on what seeds cannot remove)."""
    return Sampling(float(np.mean([r.var for r in values])), float(np.mean([r.floor_var for r in values])),
                    any(r.bounded for r in values))


def _between_images(a: list[np.ndarray], b: list[np.ndarray] | None) -> tuple[float, float | None]:
    """The between-image variance of one per-image quantity's seed mean (minus ``b``'s), and the part
    of it that more seeds would not remove: the seeds' disagreement image by image (within-image
    variance / k) is taken out — it is seed-to-seed spread, which the interval holds already. None
    for that part where a setting ran one seed, as its disagreement is not seen."""
    groups = [np.asarray(a, dtype=float)] + ([] if b is None else [np.asarray(b, dtype=float)])
    out = groups[0].mean(0) - (groups[1].mean(0) if b is not None else 0.0)
    within = None if min(len(g) for g in groups) < 2 else sum(float(np.var(g, axis=0, ddof=1).mean()) / len(g)
                                                             for g in groups)
    total = float(np.var(out))
    return total, None if within is None else max(total - within, 0.0)


def image_sampling(kind: str, a: list[Verdicts], b: list[Verdicts] | None = None) -> Sampling | None:
    """The test-set sampling of one setting's seed mean (or of ``a`` minus ``b``) on reading ``kind``,
    from every run's per-image verdicts: the module docstring's variance with each run's right/wrong
    and JPEG flips replaced by their seed means per image (or the difference of two settings' seed
    means), so that only the images the runs disagree on count. With two or more seeds a setting,
    what is left once the seeds' disagreement is taken out (it is in the seed spread) is both the
    variance the interval takes and its measured floor; with one, the whole between-image variance.
    None where the runs were not scored on the same images or the reading needs JPEG verdicts that
    one of them lacks."""
    runs = a + (b or [])
    if len({len(v.all) for v in runs}) != 1 or len({len(v.exact) for v in runs}) != 1:
        return None
    n_all, n = len(runs[0].all), len(runs[0].exact)

    def term(get, scale: float) -> tuple[float, float | None]:
        total, left = _between_images([get(v) for v in a], None if b is None else [get(v) for v in b])
        return scale * total, None if left is None else scale * left

    if kind == "exact":
        parts = [term(lambda v: v.exact, 1 / n)]
    elif kind == "all" or n == n_all:
        parts = [term(lambda v: v.all, 1 / n_all)]
    elif any(v.exact_as_jpeg is None for v in runs):
        return None
    else:
        f = (n_all - n) / n_all
        parts = [term(lambda v: v.all, 1 / n_all),
                 term(lambda v: v.exact.astype(float) - v.exact_as_jpeg, f * f * (1 / n + 1 / (n_all - n)))]
    # one run: its own variance, as runs_sampling would read it
    how, read = ("", READ_RUNS) if len(runs) == 1 else (f"test sampling from the per-image verdicts of {len(runs)} runs",
                                                         READ_IMAGES)
    if any(left is None for _, left in parts):
        var = sum(total for total, _ in parts)
        return Sampling(var, var, how=how, read=read)
    var = sum(left for _, left in parts)
    return Sampling(var, var, measured=True, how=how, read=read)


def paired_var(kind: str, a: Verdicts, b: Verdicts) -> float | None:
    """The sampling variance of run ``a``'s score minus run ``b``'s on the same test images, for one
    reading ``kind``: :func:`image_sampling` of one run against one."""
    got = image_sampling(kind, [a], [b])
    return None if got is None else got.var


def difference_sampling(kind: str, a: list[Reading], b: list[Reading]) -> Sampling:
    """The test-set sampling of mean(``a``) − mean(``b``) over seeds.

    Where every run of both kept its per-image verdicts: :func:`image_sampling` of the two. Else,
    where both settings ran the same seeds once each, runs pair by seed: a pair with verdicts
    contributes :func:`paired_var`, any other pair the sum of its two runs' variances, and the pairs'
    mean is taken, not divided by their number (as :func:`runs_sampling`). Otherwise the two
    settings' :func:`runs_sampling` add."""
    va, vb = [r.verdicts for r in a], [r.verdicts for r in b]
    if None not in va + vb and (got := image_sampling(kind, va, vb)) is not None:
        return got
    seeds_a, seeds_b = [r.seed for r in a], [r.seed for r in b]
    if None in seeds_a or len(set(seeds_a)) != len(seeds_a) or sorted(seeds_a) != sorted(seeds_b):
        sa, sb = runs_sampling(a), runs_sampling(b)
        return Sampling(sa.var + sb.var, sa.floor_var + sb.floor_var, sa.bounded or sb.bounded)
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
    return Sampling(float(np.mean(var)), float(np.mean(least)), bounded,
                    how=f"paired image by image on {paired} of {len(a)} seeds" if paired else "",
                    read=READ_PAIRS if paired else READ_RUNS)


def difference(a: Estimate, b: Estimate, seed_var: float, df: int, sampling: Sampling) -> Estimate:
    """``a − b`` of two settings scored on the same test images, with its 95 % interval: the seed
    spread of both means plus the test sampling of the difference (:func:`difference_sampling`).
    Read off runs' own variances, that sampling is an upper bound, as two models' errors on the same
    images are positively correlated (so the floor is this interval's, not the truth's)."""
    floor = Z95 * math.sqrt(sampling.floor_var)
    n = min(a.n, b.n)
    common = dict(floor=floor, floor_measured=sampling.measured, how=sampling.how, read=sampling.read)
    if df < 1 or not math.isfinite(seed_var):
        return Estimate(a.value - b.value, None, n, 0, sampling.bounded, **common)
    half = _half(seed_var / a.n + seed_var / b.n, sampling.var, df)
    return Estimate(a.value - b.value, half, n, df, sampling.bounded, **common)


def pooled(values: list[Reading], seed_var: float = float("nan"), df: int = 0, kind: str | None = None) -> Estimate:
    """Mean of one reading over seeds; its half-width is sqrt((t(df) · s/√k)² + (1.96 · √v)²).

    s²/k is the seed-to-seed variance of a mean of k seeds (pooled, ``seed_variance``), taken at
    Student's t quantile for its ``df``; v the test-set sampling, at the normal quantile, as it is
    known rather than estimated from a few seeds: :func:`image_sampling` where every run kept its
    per-image verdicts and ``kind`` names the reading, else :func:`runs_sampling`. With ``df`` = 0
    (no setting ran two seeds) the spread is unmeasured and the estimate has no interval."""
    if not values:
        raise ValueError("pooled() needs at least one reading")
    k = len(values)
    m = float(np.mean([r.value for r in values]))
    vs = [r.verdicts for r in values]
    test = (image_sampling(kind, vs) if kind and None not in vs else None) or runs_sampling(values)
    common = dict(floor=Z95 * math.sqrt(test.floor_var), floor_measured=test.measured, how=test.how, read=test.read)
    if df < 1 or not math.isfinite(seed_var):
        return Estimate(m, None, k, 0, test.bounded, **common)
    return Estimate(m, _half(seed_var / k, test.var, df), k, df, test.bounded, **common)


def _half(seed_part: float, test_part: float, df: int) -> float:
    """95 % half-width of a seed-spread variance (Student's t on ``df``) and a test-sampling variance
    (normal), each at its own quantile, added in quadrature."""
    return math.hypot(float(stats.t.ppf(0.975, df)) * math.sqrt(seed_part), Z95 * math.sqrt(test_part))
