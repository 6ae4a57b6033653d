"""The one rule every claim's verdict follows, written down before any number is read.

A claim compares a value from the papers, P, with our estimate: a mean over seeds with a 95 %
interval [lo, hi] that holds the seed-to-seed spread and the test-set sampling
(:mod:`reproduce.readings`). Each claim states a margin M — how far from P a result may lie and
still count as the same finding — in the quantity's own scale (accuracy points; a factor for
learning rates and iteration counts, compared on a log scale). Then:

- **not reproduced** when P lies outside [lo − M, hi + M]: even the interval's nearest edge
  misses the paper by more than the margin;
- **reproduced** when P lies inside it and the interval is no wider than the margin
  (half-width ≤ M), so that a miss of twice the margin would have been caught;
- **inconclusive** otherwise: P is inside, but the interval is too wide to tell a hit from a
  miss — or there is no interval, because only one seed ran and the spread is unmeasured. Where
  the test-set sampling alone keeps the interval wider than the margin (``Estimate.floor``: every
  seed is scored on the same test images), the reason says so. Measured on runs' per-image
  verdicts, that means more seeds cannot settle the part on this test set, only show a miss; read
  off one run's own sampling, an upper bound, it means more seeds settle it only as far as they
  err on different images.

The test-set sampling is read off per-image verdicts where runs kept them (runs from December 2026
on; :mod:`reproduce.readings`): of a setting's seed mean where all its runs did, from each image's
verdicts averaged over seeds less the seeds' disagreement (which is seed spread); of a difference
of two settings, from the images they disagree on — all runs of both, else seed by seed where both
runs of a seed did. Any other run gives its own sampling variance, an upper bound. This was fixed
before any run with per-image verdicts existed.

A claim of several parts (C3's five policies, C5's two momenta) is **reproduced** when every part
is, **not reproduced** when every part that is settled misses, **partly** when some parts are
reproduced and others not, and **inconclusive** while nothing is settled or only hits are
settled beside unsettled parts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .readings import READ_PAIRS, Estimate

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, PARTLY = "reproduced", "not reproduced", "inconclusive", "partly"


@dataclass(frozen=True)
class Part:
    """One comparison of a claim: what it is, the paper's value, our estimate, the verdict and why."""

    what: str
    paper: float
    estimate: Estimate
    margin: float
    log: bool
    verdict: str
    why: str
    shown: str = ""  # our estimate as a reader should see it (default: an accuracy in %)
    unit: tuple[float, str] = (100, " points")  # the scale and unit a width of this part is given in

    def text(self) -> str:
        return f"{self.what}: {self.shown or self.estimate.text()}"


def judge(what: str, paper: float, est: Estimate, margin: float, log: bool = False, shown: str = "",
          unit: tuple[float, str] = (100, " points")) -> Part:
    """The rule for one comparison. ``log``: compare on a log scale, ``margin`` a factor (2 = within 2x).
    ``unit``: the scale and unit the reason gives a width in (accuracy points unless said)."""
    if log:
        if paper <= 0 or margin <= 1:
            raise ValueError(f"log comparison needs paper > 0 and a factor margin > 1, got {paper!r}, {margin!r}")
        p, m = math.log(paper), math.log(margin)
        lo = math.log(est.lo) if est.lo > 0 else -math.inf
        hi = math.log(est.hi) if est.hi > 0 else -math.inf
    else:
        p, m, lo, hi = paper, margin, est.lo, est.hi
    half = (hi - lo) / 2
    if p < lo - m or p > hi + m:
        verdict, why = NOT_REPRODUCED, "the paper's value lies outside our interval by more than the margin"
    elif est.half is None:
        verdict, why = INCONCLUSIVE, "one seed: the seed-to-seed spread is not measured, so there is no interval"
    elif half <= m:
        verdict, why = REPRODUCED, "the paper's value lies within our interval widened by the margin"
    else:
        verdict, why = INCONCLUSIVE, "the paper's value lies inside, but our interval is wider than the margin"
    if verdict == INCONCLUSIVE and not log and est.floor is not None and est.floor > margin:
        scale, name = unit
        m_name = name.removesuffix("s") if round(scale * margin, 9) == 1 else name
        if est.floor_measured:
            why += (f"; the test-set sampling alone, measured on the runs' per-image verdicts, keeps it at "
                    f"±{scale * est.floor:.2f}{name} or wider, more than the margin ({scale * margin:g}{m_name}), so "
                    "more seeds cannot settle this part on this test set")
        else:
            read = ("read image by image where both runs of a seed kept their per-image verdicts and off single runs "
                    "elsewhere" if est.read == READ_PAIRS else "read off single runs")
            why += (f"; the test-set sampling {read} alone gives ±{scale * est.floor:.2f}{name}, more than the margin "
                    f"({scale * margin:g}{m_name}): more seeds settle this part only as far as they err on different "
                    "images, which only runs that keep their per-image verdicts show")
    return Part(what, paper, est, margin, log, verdict, why, shown, unit)


def combine(verdicts: list[str]) -> str:
    """The verdict of a claim of several parts (module docstring)."""
    if not verdicts:
        raise ValueError("combine() needs at least one verdict")
    hit, miss = REPRODUCED in verdicts, NOT_REPRODUCED in verdicts
    if hit and miss:
        return PARTLY
    if all(v == REPRODUCED for v in verdicts):
        return REPRODUCED
    if miss:
        return NOT_REPRODUCED
    return INCONCLUSIVE
